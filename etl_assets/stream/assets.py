"""Kafka topics as assets: ``stream/<source>/<topic>`` lands micro-batches in ``stream_<source>.<topic>``, and
``stream/<source>/<topic>_per_minute`` keeps 1-minute tumbling-window counts per event type, and
``stream/<source>/<join>`` pairs the events of two topics within a time interval. The event-time windows declared
under ``windows:`` are updated by the stream asset itself, in each micro-batch's transaction.

Each materialization of a stream asset reads one bounded micro-batch from the offsets stored in the warehouse and
commits rows + quarantined messages + new offsets in one transaction, so retries and reruns never duplicate or lose
a message. The Kafka sensor (sensors/kafka.py) asks for runs while messages are waiting.
"""

import gc
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
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

from etl_assets.config.models import DataSources, KafkaSource, StreamJoin, StreamWindow
from etl_assets.conventions import code_reference, source_owners
from etl_assets.keys import STREAM, asset_key, group_name, source_resource_key, stream_pool
from etl_assets.retry import configured_retry_policy
from etl_assets.stream.store import (
    LandingResult,
    WindowLanding,
    apply_offset_resets,
    land_batch,
    refresh_join,
    refresh_per_minute,
    send_dead_letters,
)
from resources.kafka import KafkaResource, MicroBatch, TopicReader
from resources.kafka.resets import OffsetsResetError
from resources.postgres.stream_store import StreamStore, open_stream_store, per_minute_table, stream_namespace

QUARANTINE_LOG_LIMIT = 5
LANDINGS_AHEAD = 2
"""Batches read but not landed yet (waiting for or on the landing thread) while the next one is read: a run holds
at most three batches, so its memory is bounded by the batch size, not by the topic."""


class StreamBatchConfig(Config):
    max_messages: int | None = Field(default=None, gt=0, description=(
        "Stop after this many messages in this run (one micro-batch when below batch_size); default: until "
        "drained."))
    max_seconds: float | None = Field(default=None, gt=0, description="Stop starting new micro-batches after this "
                                                                       "long; default: the source's max_run_seconds.")


def stream_key(source: str, topic: str) -> AssetKey:
    return asset_key(STREAM, source, topic)


def per_minute_key(source: str, topic: str) -> AssetKey:
    return asset_key(STREAM, source, per_minute_table(topic))


def build_stream_assets(datasources: DataSources) -> list[AssetsDefinition]:
    """Two assets per topic of every Kafka source (the landed stream and its per-minute aggregate), and one per
    time-bounded join of two topics."""
    assets = []
    for source, settings in datasources.sources.kafka.items():
        owners = source_owners(datasources, source)
        for topic in settings.topics:
            assets += [_stream_asset(source, topic, settings, owners), _per_minute_asset(source, topic, owners)]
        assets += [_join_asset(source, join, owners) for join in settings.joins]
    return assets


def warehouse_stream_store(context: AssetExecutionContext, source: str) -> AbstractContextManager[StreamStore]:
    """The stream store of ``source`` in the warehouse, which must be PostgreSQL."""
    warehouse = context.resources.warehouse
    if getattr(warehouse, "dialect", None) != "postgres":
        raise RuntimeError(f"Kafka streams land in a PostgreSQL warehouse; the configured warehouse is "
                           f"{getattr(warehouse, 'dialect', type(warehouse).__name__)}")
    return open_stream_store(warehouse, source)


def table_rows(context: AssetExecutionContext, source: str, table: str) -> dict[str, int]:
    """``dagster/row_count`` of a stream table (the rows it holds now, not those this run added); nothing while the
    table does not exist yet (a join without pairs so far)."""
    rows = context.resources.warehouse.row_count(stream_namespace(source), table)
    return {} if rows is None else {"dagster/row_count": rows}


def _stream_asset(source: str, topic: str, settings: KafkaSource, owners: list[str]) -> AssetsDefinition:
    dead_letters = settings.dead_letter_topic.replace("{topic}", topic) if settings.dead_letter_topic else None

    @asset(
        key=stream_key(source, topic),
        group_name=group_name(source),
        owners=owners,
        metadata=code_reference(build_stream_assets),
        kinds={"kafka", "postgres"},
        description=f"Kafka topic {topic!r} of source {source}, landed in {stream_namespace(source)}.{topic} "
                    f"in micro-batches of {settings.batch_size:,} (exactly once: offsets commit with the rows); "
                    f"undecodable messages are quarantined" + (f" and sent to {dead_letters!r}." if dead_letters
                                                               else ".") + _windows_text(source, topic, settings),
        required_resource_keys={source_resource_key(source), "warehouse", "metadata"},
        retry_policy=configured_retry_policy(settings.retry),
        pool=stream_pool(source),
    )
    def stream(context: AssetExecutionContext, config: StreamBatchConfig) -> MaterializeResult:
        kafka: KafkaResource = getattr(context.resources, source_resource_key(source))
        metadata = context.resources.metadata
        started = time.monotonic()
        with warehouse_stream_store(context, source) as store:
            store.ensure_offsets_table()
            start_offsets = store.read_offsets(topic)
            entry = metadata.start_ingestion(source, topic, "stream", watermark_from=_offsets_text(start_offsets),
                                             run_id=context.run_id)
            try:
                run = _land_until_drained(context, kafka, store, topic, start_offsets, settings, config)
                run.dead_lettered = send_dead_letters(store, kafka, dead_letters, topic) if dead_letters else 0
            except Exception as error:
                metadata.finish_ingestion(entry, "failed", error=f"{type(error).__name__}: {error}"[:2000])
                raise
        metadata.finish_ingestion(entry, "success", rows_read=run.messages, rows_written=run.rows_written,
                                  rows_quarantined=len(run.quarantined),
                                  watermark_to=_offsets_text(run.last.next_offsets))
        _log_quarantine(context, source, topic, run.quarantined)
        return MaterializeResult(metadata={**stream_metadata(source, run, time.monotonic() - started),
                                           **table_rows(context, source, topic)})

    return stream


def _windows_text(source: str, topic: str, settings: KafkaSource) -> str:
    windows = settings.windows.get(topic, [])
    if not windows:
        return ""
    tables = ", ".join(f"{stream_namespace(source)}.{topic}__{w.name} ({w.kind})" for w in windows)
    return f" Event-time windows updated with each micro-batch: {tables}; late events in {topic}__late_events."


@dataclass
class StreamRun:
    """What one materialization landed, over all of its micro-batches."""

    last: MicroBatch
    batches: int = 0
    messages: int = 0
    rows_written: int = 0
    quarantined: list = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    landing_seconds: float = 0.0
    drain_wait_seconds: float = 0.0
    """The part of the final empty poll (which found the topic drained) when no batch was landing."""
    rows_moved_aside: int = 0
    resets: list[str] = field(default_factory=list)
    dead_lettered: int = 0
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, batch: MicroBatch, landed: LandingResult, finished: float) -> float:
        """Count one landed batch; returns ``finished``."""
        self.batches, self.last = self.batches + 1, batch
        self.messages += len(batch.messages)
        self.rows_written += landed.rows_written
        self.quarantined += landed.quarantined
        self.added_columns += landed.added_columns
        self.add_windows(landed.windows)
        return finished

    def add_windows(self, landed: dict[str, WindowLanding]) -> None:
        for name, result in landed.items():
            totals = self.windows.setdefault(name, {"rows_upserted": 0, "late_events": 0})
            totals["rows_upserted"] += result.rows_upserted
            totals["late_events"] += result.late_events
            totals["watermark"] = result.watermark.isoformat() if result.watermark else None


def _land_until_drained(context: AssetExecutionContext, kafka: KafkaResource, store: StreamStore, topic: str,
                        start_offsets: dict[int, int], settings: KafkaSource, config: StreamBatchConfig) -> StreamRun:
    """Micro-batches from one consumer, each landed in its own transaction, until the topic is drained, the run's
    message limit is reached or its time is up.

    Batches are parsed and copied on a landing thread, in order, while the next ones are polled here (pyarrow and
    the COPY release the GIL); offsets still commit only with their rows."""
    limit = config.max_messages or None
    deadline = time.monotonic() + (config.max_seconds or settings.max_run_seconds)
    windows = settings.windows.get(topic, ())
    with kafka.open_reader(topic, start_offsets) as reader:
        resets = reader.offset_resets()
        try:
            moved = apply_offset_resets(store, reader, resets, settings.on_offsets_reset, windows, settings.joins)
        except OffsetsResetError as error:
            raise Failure(description=str(error), allow_retries=False) from None
        if resets:
            reasons = "; ".join(reset.reason for reset in resets)
            context.log.warning(f"{store.source}/{topic}: offsets went backwards ({reasons}); landing again from the "
                                f"beginning, {moved} earlier row(s) moved to "
                                f"{stream_namespace(store.source)}.{topic}__before_reset")
        run = StreamRun(last=MicroBatch(topic=topic, next_offsets=dict(reader.positions)), rows_moved_aside=moved,
                        resets=[r.reason for r in resets])
        started = time.monotonic()
        with _older_objects_frozen(), ThreadPoolExecutor(max_workers=1,
                                                         thread_name_prefix="aietl-stream-landing") as lander:
            _read_and_land(reader, lander, run, store, windows, settings, limit, deadline)
        run.landing_seconds = time.monotonic() - started
        run.last.end_offsets = reader.end_offsets()
        return run


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """The objects alive before the batches (Dagster's and the code location's: a few hundred thousand) are left
    out of the cyclic garbage collector while batches are read and landed, and handed back to it after: otherwise
    each of its full passes, set off by the records every batch allocates, walks them all again (measured: reading
    took a third longer than the client's bare loop; with them frozen, as long)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _read_and_land(reader: TopicReader, lander: ThreadPoolExecutor, run: StreamRun, store: StreamStore,
                   windows: Sequence[StreamWindow], settings: KafkaSource, limit: int | None, deadline: float) -> None:
    """Read batches here and land them on ``lander`` in order, with at most LANDINGS_AHEAD of them waiting or
    landing while the next is read; returns when every batch read has landed. After a failure, the batches not
    landed yet are dropped (their offsets were not stored, so the next run reads them again)."""
    pending: deque[Future] = deque()
    try:
        _pipeline(reader, lander, pending, run, store, windows, settings, limit, deadline)
    except BaseException:
        for landing in pending:
            landing.cancel()
        raise


def _pipeline(reader: TopicReader, lander: ThreadPoolExecutor, pending: deque[Future], run: StreamRun,
              store: StreamStore, windows: Sequence[StreamWindow], settings: KafkaSource, limit: int | None,
              deadline: float) -> None:
    read, last_landed = 0, time.monotonic()
    while True:
        wanted = settings.batch_size if limit is None else min(settings.batch_size, limit - read)
        batch = reader.read(wanted, min(deadline, time.monotonic() + settings.batch_max_wait_s),
                            with_end_offsets=False)
        read_end, read = time.monotonic(), read + len(batch.messages)
        stop = batch.drained or read_end >= deadline or (limit is not None and read >= limit)
        while pending and (stop or len(pending) >= LANDINGS_AHEAD):
            last_landed = run.add(*pending.popleft().result())
        if batch.drained_at is not None:
            run.drain_wait_seconds = max(0.0, read_end - max(batch.drained_at, last_landed))
        pending.append(lander.submit(_land, store, batch, windows, run.batches > 0 or len(pending) > 0))
        if stop:
            run.add(*pending.popleft().result())
            return


def _land(store: StreamStore, batch: MicroBatch, windows: Sequence[StreamWindow], tables_exist: bool
          ) -> tuple[MicroBatch, LandingResult, float]:
    """Land one batch (on the landing thread); returns when it finished, for the run's drain wait."""
    landed = land_batch(store, batch, windows=windows, tables_exist=tables_exist)
    return batch, landed, time.monotonic()


def _offsets_text(offsets: dict[int, int]) -> str:
    """Offsets as the ingestion log's watermark: ``partition:next_offset`` pairs."""
    return ",".join(f"{partition}:{offset}" for partition, offset in sorted(offsets.items()))


def stream_metadata(source: str, run: StreamRun, step_seconds: float) -> dict[str, Any]:
    batch = run.last
    offsets = {str(p): {"to": batch.next_offsets[p]} for p in batch.next_offsets}
    return {
        "table": MetadataValue.text(f"{stream_namespace(source)}.{batch.topic}"),
        "messages": MetadataValue.int(run.messages),
        "micro_batches": MetadataValue.int(run.batches),
        "rows_written": MetadataValue.int(run.rows_written),
        "rows_quarantined": MetadataValue.int(len(run.quarantined)),
        "dead_lettered": MetadataValue.int(run.dead_lettered),
        "lag": MetadataValue.int(batch.lag),
        "drained": MetadataValue.bool(batch.drained),
        "offsets": MetadataValue.json(offsets),
        "added_columns": MetadataValue.json(run.added_columns),
        "landing_seconds": MetadataValue.float(round(run.landing_seconds, 3)),
        "landing_msgs_per_s": MetadataValue.float(round(run.messages / run.landing_seconds, 1)
                                                  if run.landing_seconds else 0.0),
        "drain_wait_seconds": MetadataValue.float(round(run.drain_wait_seconds, 3)),
        "step_overhead_seconds": MetadataValue.float(round(step_seconds - run.landing_seconds, 3)),
        "offsets_reset": MetadataValue.json(run.resets),
        "rows_moved_aside": MetadataValue.int(run.rows_moved_aside),
        "windows": MetadataValue.json(run.windows),
    }


def _log_quarantine(context: AssetExecutionContext, source: str, topic: str, quarantined: list) -> None:
    if not quarantined:
        return
    shown = "; ".join(f"partition {m.partition} offset {m.offset}: {m.reason}"
                      for m in quarantined[:QUARANTINE_LOG_LIMIT])
    more = len(quarantined) - QUARANTINE_LOG_LIMIT
    tail = f" (and {more} more)" if more > 0 else ""
    context.log.warning(f"{source}/{topic}: {len(quarantined)} message(s) quarantined in "
                        f"{stream_namespace(source)}._quarantine: {shown}{tail}")


def _per_minute_asset(source: str, topic: str, owners: list[str]) -> AssetsDefinition:
    @asset(
        key=per_minute_key(source, topic),
        group_name=group_name(source),
        owners=owners,
        metadata=code_reference(build_stream_assets),
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
            **table_rows(context, source, per_minute_table(topic)),
        })

    return per_minute


def _join_asset(source: str, join: StreamJoin, owners: list[str]) -> AssetsDefinition:
    left, right = join.left, join.right

    @asset(
        key=asset_key(STREAM, source, join.name),
        group_name=group_name(source),
        owners=owners,
        metadata=code_reference(build_stream_assets),
        kinds={"postgres"},
        deps=list(dict.fromkeys([stream_key(source, left.topic), stream_key(source, right.topic)])),
        description=f"Events of {left.topic} and {right.topic} (source {source}) with equal {left.key}/{right.key} "
                    f"whose {left.event_time}/{right.event_time} are at most {join.within} apart, in "
                    f"{stream_namespace(source)}.{join.name}; each run adds the pairs of newly landed rows.",
        required_resource_keys={"warehouse"},
        pool=stream_pool(source),
        automation_condition=AutomationCondition.eager(),
    )
    def joined(context: AssetExecutionContext) -> MaterializeResult:
        with warehouse_stream_store(context, source) as store:
            store.ensure_offsets_table()
            result = refresh_join(store, join)
        return MaterializeResult(metadata={
            "table": MetadataValue.text(f"{stream_namespace(source)}.{join.name}"),
            "new_left_rows": MetadataValue.int(result.new_left),
            "new_right_rows": MetadataValue.int(result.new_right),
            "pairs_added": MetadataValue.int(result.pairs_added),
            **table_rows(context, source, join.name),
        })

    return joined
