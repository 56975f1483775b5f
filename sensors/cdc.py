"""CDC sensors: one per PostgreSQL source with ``cdc: true``, asking for a capture + apply run when the source has
changes its replication slot has not handed to Debezium yet (or when the slot does not exist: the first run takes
the snapshot).

A tick peeks at most one change of the slot (``pg_logical_slot_peek_binary_changes``: nothing is consumed) under a
statement timeout; while a capture runs the slot is busy and the tick skips. The run key is the slot's confirmed
position, so one run is requested per position reached, however many ticks see the same changes waiting.
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from etl_assets.catalog import SourceTable
from etl_assets.cdc.assets import capture_key, cdc_names, replica_key
from etl_assets.config.models import DataSources
from etl_assets.keys import definition_name, source_resource_key
from resources.debezium.capture import CdcNames, pending_changes

TICK_INTERVAL_S = 30
PEEK_TIMEOUT_S = 10


def build_cdc_sensors(datasources: DataSources, tables: list[SourceTable]) -> list[SensorDefinition]:
    sensors = []
    for source, settings in datasources.sources.postgres.items():
        if settings.cdc and datasources.cdc_kafka(source):
            own = [table.name for table in tables if table.source == source]
            sensors.append(_cdc_sensor(source, cdc_names(source, settings), own))
    return sensors


def _cdc_sensor(source: str, names: CdcNames, tables: list[str]) -> SensorDefinition:
    keys = [capture_key(source), *(replica_key(source, table) for table in tables)]

    @sensor(
        name=definition_name("cdc", source),
        description=f"Captures and applies {source}'s changes when its slot {names.slot} holds changes not yet "
                    f"published (peeks one change; nothing is consumed).",
        minimum_interval_seconds=TICK_INTERVAL_S,
        required_resource_keys={source_resource_key(source)},
        asset_selection=AssetSelection.assets(*keys),
        default_status=DefaultSensorStatus.RUNNING,
    )
    def cdc_sensor(context: SensorEvaluationContext) -> RunRequest | SkipReason:
        postgres = getattr(context.resources, source_resource_key(source))
        try:
            with postgres.connect(autocommit=True) as connection:
                state = pending_changes(connection, names, PEEK_TIMEOUT_S)
        except Exception as error:  # a source that is down must not stop the daemon
            return SkipReason(f"CDC source {source}: cannot read slot {names.slot}: {type(error).__name__}: {error}")
        if state.busy:
            return SkipReason(f"CDC source {source}: slot {names.slot} is in use (a capture is running)")
        if state.exists and not state.pending:
            return SkipReason(f"CDC source {source}: no changes waiting in slot {names.slot}")
        position = state.confirmed or "new"
        return RunRequest(run_key=f"cdc.{source}@{position}", asset_selection=keys,
                          tags={"aietl/trigger": "cdc", "aietl/slot": names.slot})

    return cdc_sensor
