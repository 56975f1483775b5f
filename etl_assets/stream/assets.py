"""Kafka topics as assets: ``stream/<source>/<topic>`` lands micro-batches in ``stream_<source>.<topic>``, and
``stream/<source>/<topic>_per_minute`` keeps 1-minute tumbling-window counts per event type.

Each materialization of a stream asset reads one bounded micro-batch from the offsets stored in the warehouse and
commits rows + quarantined messages + new offsets in one transaction, so retries and reruns never duplicate or lose
a message. The Kafka sensor (sensors/kafka.py) asks for runs while messages are waiting.
"""

from contextlib import AbstractContextManager
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Backoff,
    Config,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)
from pydantic import Field

from etl_assets.config.models import DataSources
from etl_assets.keys import STREAM, asset_key, group_name, source_resource_key, stream_pool
from etl_assets.stream.parse import parse_messages
from etl_assets.stream.store import LandingResult, land_batch, refresh_per_minute
from resources.kafka import KafkaResource, MicroBatch
from resources.postgres.stream_store import StreamStore, open_stream_store, per_minute_table, stream_namespace

QUARANTINE_LOG_LIMIT = 5


class StreamBatchConfig(Config):
    max_messages: int | None = Field(default=None, gt=0, description="Messages per micro-batch; default: batch_size.")
    max_seconds: float = Field(default=30.0, gt=0, description="Stop reading after this long.")


def stream_key(source: str, topic: str) -> AssetKey:
    return asset_key(STREAM, source, topic)


def per_minute_key(source: str, topic: str) -> AssetKey:
    return asset_key(STREAM, source, per_minute_table(topic))


def build_stream_assets(datasources: DataSources) -> list[AssetsDefinition]:
    """Two assets per topic of every Kafka source: the landed stream and its per-minute aggregate."""
    assets = []
    for source, settings in datasources.sources.kafka.items():
        for topic in settings.topics:
            assets += [_stream_asset(source, topic, settings.batch_size), _per_minute_asset(source, topic)]
    return assets


def warehouse_stream_store(context: AssetExecutionContext, source: str) -> AbstractContextManager[StreamStore]:
    """The stream store of ``source`` in the warehouse, which must be PostgreSQL."""
    warehouse = context.resources.warehouse
    if getattr(warehouse, "dialect", None) != "postgres":
        raise RuntimeError(f"Kafka streams land in a PostgreSQL warehouse; the configured warehouse is "
                           f"{getattr(warehouse, 'dialect', type(warehouse).__name__)}")
    return open_stream_store(warehouse, source)


def _stream_asset(source: str, topic: str, batch_size: int) -> AssetsDefinition:
    @asset(
        key=stream_key(source, topic),
        group_name=group_name(source),
        kinds={"kafka", "postgres"},
        description=f"Kafka topic {topic!r} of source {source}, landed in {stream_namespace(source)}.{topic} "
                    f"in bounded micro-batches (exactly once: offsets commit with the rows).",
        required_resource_keys={source_resource_key(source), "warehouse", "metadata"},
        retry_policy=RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL),
        pool=stream_pool(source),
    )
    def stream(context: AssetExecutionContext, config: StreamBatchConfig) -> MaterializeResult:
        kafka: KafkaResource = getattr(context.resources, source_resource_key(source))
        metadata = context.resources.metadata
        with warehouse_stream_store(context, source) as store:
            store.ensure_offsets_table()
            start_offsets = store.read_offsets(topic)
            entry = metadata.start_ingestion(source, topic, "stream", watermark_from=_offsets_text(start_offsets),
                                             run_id=context.run_id)
            try:
                batch = kafka.read_batch(topic, start_offsets, max_messages=config.max_messages or batch_size,
                                         max_seconds=config.max_seconds)
                landed = land_batch(store, batch, parse_messages(batch.messages))
            except Exception as error:
                metadata.finish_ingestion(entry, "failed", error=f"{type(error).__name__}: {error}"[:2000])
                raise
        metadata.finish_ingestion(entry, "success", rows_read=len(batch.messages), rows_written=landed.rows_written,
                                  rows_quarantined=len(landed.quarantined),
                                  watermark_to=_offsets_text(batch.next_offsets))
        _log_quarantine(context, source, topic, landed)
        return MaterializeResult(metadata=stream_metadata(source, batch, landed))

    return stream


def _offsets_text(offsets: dict[int, int]) -> str:
    """Offsets as the ingestion log's watermark: ``partition:next_offset`` pairs."""
    return ",".join(f"{partition}:{offset}" for partition, offset in sorted(offsets.items()))


def stream_metadata(source: str, batch: MicroBatch, landed: LandingResult) -> dict[str, Any]:
    offsets = {str(p): {"from": batch.start_offsets.get(p), "to": batch.next_offsets[p]} for p in batch.next_offsets}
    return {
        "table": MetadataValue.text(f"{stream_namespace(source)}.{batch.topic}"),
        "messages": MetadataValue.int(len(batch.messages)),
        "rows_written": MetadataValue.int(landed.rows_written),
        "rows_quarantined": MetadataValue.int(len(landed.quarantined)),
        "lag": MetadataValue.int(batch.lag),
        "drained": MetadataValue.bool(batch.drained),
        "offsets": MetadataValue.json(offsets),
        "added_columns": MetadataValue.json(landed.added_columns),
    }


def _log_quarantine(context: AssetExecutionContext, source: str, topic: str, landed: LandingResult) -> None:
    if not landed.quarantined:
        return
    shown = "; ".join(f"partition {m.partition} offset {m.offset}: {m.reason}"
                      for m in landed.quarantined[:QUARANTINE_LOG_LIMIT])
    more = len(landed.quarantined) - QUARANTINE_LOG_LIMIT
    tail = f" (and {more} more)" if more > 0 else ""
    context.log.warning(f"{source}/{topic}: {len(landed.quarantined)} message(s) quarantined in "
                        f"{stream_namespace(source)}._quarantine: {shown}{tail}")


def _per_minute_asset(source: str, topic: str) -> AssetsDefinition:
    @asset(
        key=per_minute_key(source, topic),
        group_name=group_name(source),
        kinds={"postgres"},
        deps=[stream_key(source, topic)],
        description=f"Events of {source}/{topic} per event_type per 1-minute tumbling window "
                    f"({stream_namespace(source)}.{per_minute_table(topic)}); only windows with new rows are "
                    f"recomputed.",
        required_resource_keys={"warehouse"},
        pool=stream_pool(source),
    )
    def per_minute(context: AssetExecutionContext) -> MaterializeResult:
        with warehouse_stream_store(context, source) as store:
            store.ensure_offsets_table()
            result = refresh_per_minute(store, topic)
        return MaterializeResult(metadata={
            "table": MetadataValue.text(f"{stream_namespace(source)}.{per_minute_table(topic)}"),
            "windows_recomputed": MetadataValue.int(result.windows_recomputed),
            "new_rows": MetadataValue.int(result.new_rows_seen),
            "time_column": MetadataValue.text(result.time_column or "-"),
            "dimension": MetadataValue.text(result.dimension or "-"),
        })

    return per_minute
