"""CDC sensors: one per PostgreSQL source with ``cdc: true``, asking for a capture + apply run when the source has
changes its replication slot has not handed to Debezium yet (or when the slot does not exist: the first run takes
the snapshot); and one per Kafka source with ``debezium_topics`` (``debezium_<source>``), asking for a topic's apply
asset when messages wait past the offsets it applied.

A tick peeks at most one change of the slot (``pg_logical_slot_peek_binary_changes``: nothing is consumed) under a
statement timeout; while a capture runs the slot is busy and the tick skips. The run key is the slot's confirmed
position, so one run is requested per position reached, however many ticks see the same changes waiting.
"""

from __future__ import annotations

from typing import Any

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from etl_assets.catalog import SourceTable
from etl_assets.cdc.apply import CDC_CONSUMER
from etl_assets.cdc.assets import capture_key, cdc_names, debezium_table, replica_key
from etl_assets.config.models import DataSources
from etl_assets.keys import definition_name, source_resource_key
from resources.debezium.capture import CdcNames, pending_changes
from resources.postgres.stream_store import open_stream_store
from sensors.kafka import decode_cursor, encode_cursor, run_key, topic_tick

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


def build_debezium_topic_sensors(datasources: DataSources) -> list[SensorDefinition]:
    return [_topics_sensor(source, settings.debezium_topics)
            for source, settings in datasources.sources.kafka.items() if settings.debezium_topics]


def _topics_sensor(source: str, topics: list[str]) -> SensorDefinition:
    """Like the Kafka sensors (sensors/kafka.py): a tick reads the topics' end offsets and the applied offsets; the
    cursor keeps per topic the end and applied offsets of the last request, so a backlog is requested once, and again
    when more arrives, part of it was applied, or its run ended without applying it. Applied offsets past a
    partition's end (the topic was recreated or truncated) are logged and a run requested: it follows the source's
    ``on_offsets_reset``."""
    keys = {topic: replica_key(source, debezium_table(topic)) for topic in topics}

    @sensor(
        name=definition_name("debezium", source),
        description=f"Applies new Debezium events of Kafka source {source} ({', '.join(topics)}) to their replicas "
                    f"when messages wait past the applied offsets.",
        minimum_interval_seconds=TICK_INTERVAL_S,
        required_resource_keys={source_resource_key(source), "warehouse"},
        asset_selection=AssetSelection.assets(*keys.values()),
        default_status=DefaultSensorStatus.RUNNING,
    )
    def debezium_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        kafka = getattr(context.resources, source_resource_key(source))
        try:
            existing = _existing_topics(kafka)
            ends = {topic: kafka.end_offsets(topic) for topic in topics if topic in existing}
            with open_stream_store(context.resources.warehouse, source) as store:
                applied = {topic: store.read_offsets(topic, CDC_CONSUMER) for topic in topics}
        except Exception as error:  # a broker or warehouse that is down must not stop the daemon
            return SkipReason(f"Kafka source {source}: cannot read offsets: {type(error).__name__}: {error}")
        requested = decode_cursor(context.cursor)
        requests, reasons = [], []
        for topic in topics:
            if topic not in ends:
                reasons.append(f"{topic}: the topic does not exist yet")
                continue
            tick = topic_tick(context, kafka, f"Kafka source {source}, Debezium topic {topic}",
                              f"cdc.{source}.{topic}", topic, keys[topic], requested.get(topic), ends[topic],
                              applied[topic], words=("events", "applied"))
            if tick.state is not None:
                requested[topic] = tick.state
            if tick.reason:
                reasons.append(tick.reason)
                continue
            tags = {"aietl/trigger": "cdc", "aietl/topic": f"{source}.{topic}", "aietl/waiting": str(tick.waiting),
                    "aietl/attempt": str(tick.state["attempt"]),
                    **({"aietl/offsets": "behind-end"} if tick.behind else {})}
            requests.append(RunRequest(run_key=run_key(f"cdc.{source}.{topic}", topic, tick.state),
                                       asset_selection=[keys[topic]], tags=tags))
        skip = None if requests else f"Kafka source {source}: " + "; ".join(reasons)
        return SensorResult(run_requests=requests, skip_reason=skip, cursor=encode_cursor(requested))

    return debezium_sensor


def _existing_topics(kafka: Any) -> set[str]:
    admin = kafka.admin()
    try:
        return set(admin.list_topics())
    finally:
        admin.close()
