"""CDC assets. For a PostgreSQL source with ``cdc: true``: ``cdc/<source>/_capture`` runs the Debezium engine until
it has published every change committed before the run (the first run creates the publication and slot and takes
the initial snapshot), and ``cdc/<source>/<table>`` applies the table's topic ``<prefix>.<schema>.<table>`` to the
replica ``cdc_<source>.<table>``. For a Kafka source, each of its ``debezium_topics`` gets an apply asset too.

An apply run reads micro-batches from the offsets stored in the warehouse and commits each batch's merge with its
offsets (see :mod:`etl_assets.cdc.apply`).
"""


import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from etl_assets.catalog import SourceTable
from etl_assets.cdc.apply import ApplyResult, apply_batch, follow_offset_resets, read_offsets
from etl_assets.cdc.events import DebeziumEventError
from etl_assets.config.models import DataSources, PostgresSource
from etl_assets.conventions import code_reference, source_owners
from etl_assets.keys import CDC, CDC_CAPTURE, asset_key, cdc_pool, group_name, source_resource_key
from etl_assets.paths import state_dir
from resources.debezium.capture import CdcNames, ReplicaIdentityError, run_capture
from resources.kafka import KafkaResource
from resources.kafka.resets import OffsetsResetError
from resources.postgres.replica_store import ReplicaKeyError, replica_namespace

APPLY_BATCH = 20_000


class CdcApplyConfig(Config):
    max_seconds: float = Field(default=120.0, gt=0, description="Stop starting new micro-batches after this long.")


def default_cdc_name(source: str) -> str:
    return ("aietl_" + re.sub(r"[^a-z0-9_]", "_", source.lower()))[:63]


def cdc_names(source: str, settings: PostgresSource) -> CdcNames:
    slot = settings.cdc_slot or default_cdc_name(source)
    return CdcNames(slot=slot, publication=settings.cdc_publication or slot,
                    topic_prefix=settings.cdc_topic_prefix or default_cdc_name(source))


def capture_key(source: str) -> AssetKey:
    return asset_key(CDC, source, CDC_CAPTURE)


def replica_key(source: str, table: str) -> AssetKey:
    return asset_key(CDC, source, table)


def debezium_table(topic: str) -> str:
    """The replica table of a Debezium topic from elsewhere: the topic name's last dot-separated part."""
    return topic.rsplit(".", 1)[-1]


def offsets_file(source: str) -> Path:
    """Debezium's offsets of a source (its own file store, under the state directory)."""
    return state_dir() / "cdc" / default_cdc_name(source) / "offsets.dat"


def build_cdc_assets(datasources: DataSources, tables: Sequence[SourceTable]) -> list[AssetsDefinition]:
    assets = []
    for source, settings in datasources.sources.postgres.items():
        kafka = datasources.cdc_kafka(source)
        if not settings.cdc or kafka is None:
            continue
        names = cdc_names(source, settings)
        own = {table.name: table for table in tables if table.source == source}
        owners = source_owners(datasources, source)
        assets.append(_capture_asset(source, settings, kafka, names, list(own), owners))
        on_reset = datasources.sources.kafka[kafka].on_offsets_reset
        assets += [_apply_asset(source, name, names.topic(settings.schema_name, name), kafka, on_reset,
                                upstream=capture_key(source), owners=owners,
                                known_types={c.name: c.logical_type for c in table.schema.columns})
                   for name, table in own.items()]
    for source, settings in datasources.sources.kafka.items():
        assets += [_apply_asset(source, debezium_table(topic), topic, source, settings.on_offsets_reset,
                                upstream=None, owners=source_owners(datasources, source))
                   for topic in settings.debezium_topics]
    return assets


def _capture_asset(source: str, settings: PostgresSource, kafka_source: str, names: CdcNames,
                   tables: list[str], owners: list[str]) -> AssetsDefinition:
    declared_keys = {name: own.primary_key for name, own in settings.tables.items() if own.primary_key}

    @asset(
        key=capture_key(source),
        metadata=code_reference(_capture_asset),
        group_name=group_name(source),
        owners=owners,
        kinds={"postgres", "kafka"},
        description=f"Debezium (pgoutput) capture of {source}'s tables {', '.join(tables) or '(none yet)'}: slot "
                    f"{names.slot}, publication {names.publication}, events to Kafka topics "
                    f"{names.topic_prefix}.{settings.schema_name}.<table> (source {kafka_source}). Each run publishes "
                    f"every change committed before it began, then stops.",
        required_resource_keys={source_resource_key(source), source_resource_key(kafka_source)},
        pool=cdc_pool(source),
    )
    def capture(context: AssetExecutionContext) -> MaterializeResult:
        postgres = getattr(context.resources, source_resource_key(source))
        kafka: KafkaResource = getattr(context.resources, source_resource_key(kafka_source))
        started = time.monotonic()
        try:
            result = run_capture(postgres, kafka, names, tables, declared_keys, offsets_file(source),
                                 settings.cdc_max_seconds)
        except ReplicaIdentityError as error:
            raise Failure(description=str(error), allow_retries=False) from None
        seconds = time.monotonic() - started
        if result.created:
            context.log.info(f"{source}: created {', '.join(result.created)}")
        return MaterializeResult(metadata={
            "events_published": MetadataValue.int(result.events),
            "events_per_topic": MetadataValue.json(result.published),
            "slot": MetadataValue.text(names.slot), "publication": MetadataValue.text(names.publication),
            "created": MetadataValue.text(", ".join(result.created) or "-"),
            "seconds": MetadataValue.float(round(seconds, 3)),
            "publish_seconds": MetadataValue.float(result.publish_seconds),
        })

    return capture


def _apply_asset(source: str, table: str, topic: str, kafka_source: str, on_reset: str, upstream: AssetKey | None,
                 owners: list[str], known_types: dict[str, str] | None = None) -> AssetsDefinition:
    """``known_types``: the catalog's logical types of a captured source table (its replica gets them); events
    from elsewhere imply their types from their values."""
    namespace = replica_namespace(source)

    @asset(
        key=replica_key(source, table),
        group_name=group_name(source),
        owners=owners,
        kinds={"kafka", "postgres"},
        deps=[upstream] if upstream else [],
        description=f"Replica {namespace}.{table} of the Debezium events in Kafka topic {topic!r}: inserts, updates "
                    f"and deletes merged in commit order, idempotent on each event's LSN; new columns are added.",
        required_resource_keys={source_resource_key(kafka_source), "warehouse"},
        pool=cdc_pool(source),
        automation_condition=AutomationCondition.eager() if upstream else None,
        metadata={**code_reference(_apply_asset), "dagster/table_name": f"{namespace}.{table}"},
    )
    def replica(context: AssetExecutionContext, config: CdcApplyConfig) -> MaterializeResult:
        kafka: KafkaResource = getattr(context.resources, source_resource_key(kafka_source))
        warehouse = context.resources.warehouse
        if getattr(warehouse, "dialect", None) != "postgres":
            raise Failure(description="CDC replicas are applied in a PostgreSQL warehouse", allow_retries=False)
        try:
            total, batches, resets = _apply_topic(kafka, warehouse, source, table, topic, config.max_seconds,
                                                  known_types, on_reset)
        except OffsetsResetError as error:
            raise Failure(description=str(error), allow_retries=False) from None
        except (DebeziumEventError, ReplicaKeyError) as error:
            raise Failure(description=f"{source}/{topic}: {error}; nothing of that batch was applied",
                          allow_retries=False) from None
        return MaterializeResult(metadata={
            "table": MetadataValue.text(f"{namespace}.{table}"), "topic": MetadataValue.text(topic),
            "events_applied": MetadataValue.int(total.events), "rows_upserted": MetadataValue.int(total.upserted),
            "rows_deleted": MetadataValue.int(total.deleted), "messages_skipped": MetadataValue.int(total.skipped),
            "columns_added": MetadataValue.text(", ".join(total.added_columns) or "-"),
            "batches": MetadataValue.int(batches), "offsets_reset": MetadataValue.text("; ".join(resets) or "-"),
            **({"dagster/row_count": warehouse.row_count(namespace, table)} if batches else {}),
        })

    return replica


def _apply_topic(kafka: KafkaResource, warehouse: Any, source: str, table: str, topic: str, max_seconds: float,
                 known_types: dict[str, str] | None, on_reset: str) -> tuple[ApplyResult, int, list[str]]:
    """Micro-batches until the topic is drained (or time is up); a topic not created yet has nothing to apply.
    Also returns why offsets were reset (``on_reset`` ``restart``; ``fail`` raises :class:`OffsetsResetError`)."""
    total, batches = ApplyResult(), 0
    admin = kafka.admin()
    try:
        if topic not in admin.list_topics():
            return total, 0, []
    finally:
        admin.close()
    deadline = time.monotonic() + max_seconds
    with warehouse.connect() as connection:
        with kafka.open_reader(topic, read_offsets(connection, source, topic)) as reader:
            resets = follow_offset_resets(connection, source, reader, on_reset)
            while True:
                batch = reader.read(APPLY_BATCH, deadline)
                result = apply_batch(connection, source, table, batch, known_types)
                batches += 1
                total.events += result.events
                total.skipped += result.skipped
                total.upserted += result.upserted
                total.deleted += result.deleted
                total.added_columns += result.added_columns
                if batch.drained or time.monotonic() >= deadline:
                    return total, batches, resets
