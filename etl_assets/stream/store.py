"""Landing a parsed micro-batch, and refreshing the per-minute aggregate, through the warehouse's stream store
(:mod:`resources.postgres.stream_store`, which runs the SQL).

What is decided here: the types of new columns (from the JSON values), the type each landed column's values are
coerced to, and which column is the event time. Rows, quarantined messages and the new offsets commit in one
transaction of the store, so retries and reruns never duplicate or lose a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from etl_assets.config.models import StreamWindow

from etl_assets.stream.parse import (
    ParsedBatch,
    QuarantinedMessage,
    coerce_to_arrow,
    infer_logical_type,
)
from etl_assets.stream.windows import WindowState, apply_batch, events_from_batch, moment
from resources.kafka import KafkaResource, MicroBatch, OffsetReset, TopicReader
from resources.postgres.stream_store import StreamStore
from resources.schema import parse_logical

DEAD_LETTER_CHUNK = 1000
DIMENSION_COLUMN = "event_type"
SYSTEM_COLUMN_TYPES = {"_partition": "int64", "_offset": "int64", "_timestamp": "timestamptz"}
_CARRIED_AS_IS = ("bool", "json")


@dataclass
class LandingResult:
    rows_written: int
    quarantined: list[QuarantinedMessage] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    windows: dict[str, WindowLanding] = field(default_factory=dict)


@dataclass
class WindowLanding:
    """What one micro-batch did to one event-time window."""

    rows_upserted: int
    late_events: int
    watermark: datetime | None


class WindowChangedError(ValueError):
    """A window's definition differs from the one its stored state and table were built with."""


@dataclass
class WindowResult:
    windows_recomputed: int
    new_rows_seen: int
    time_column: str | None
    dimension: str | None


def stream_type(logical: str) -> str:
    """The type a landed column's values are coerced to (the stream's types of :data:`parse.COERCERS`): integers
    as int64, floats and decimals as float64, timestamps as timestamptz, bool and json as themselves, else string."""
    parsed = parse_logical(logical)
    if parsed.is_integer:
        return "int64"
    if parsed.is_decimal or parsed.name in ("float32", "float64"):
        return "float64"
    if parsed.name in ("timestamp", "timestamptz"):
        return "timestamptz"
    return parsed.name if parsed.name in _CARRIED_AS_IS else "string"


def land_batch(store: StreamStore, batch: MicroBatch, parsed: ParsedBatch, windows: Sequence[StreamWindow] = ()
               ) -> LandingResult:
    """Write the batch's rows, its quarantined messages, its event-time windows (with their state) and its next
    offsets in one transaction."""
    topic = batch.topic
    with store.topic_transaction(topic):
        store.check_not_moved(batch)
        existing = store.ensure_topic_tables(topic)
        added = {name: infer_logical_type(row.get(name) for row in parsed.rows)
                 for name in parsed.columns if name not in existing}
        store.add_columns(topic, added)
        landed = {**existing, **added}
        column_types = {**{name: stream_type(landed[name]) for name in parsed.columns}, **SYSTEM_COLUMN_TYPES}
        rows, rejected = coerce_to_arrow(parsed, column_types)
        store.copy_rows(topic, rows)
        quarantined = [*parsed.quarantined, *rejected]
        store.quarantine(topic, quarantined)
        landed_windows = update_windows(store, topic, windows, rows, landed) if rows.num_rows else {}
        store.store_offsets(topic, batch.next_offsets)
    return LandingResult(rows_written=rows.num_rows, quarantined=quarantined, added_columns=list(added),
                         windows=landed_windows)


def update_windows(store: StreamStore, topic: str, windows: Sequence[StreamWindow], rows: pa.RecordBatch,
                   landed_types: dict[str, str]) -> dict[str, WindowLanding]:
    """Add the landed rows to each window of the topic: upsert the windows they changed or closed, delete session
    windows merged away, record late events and store the new state, on the caller's transaction."""
    results = {}
    for window in windows:
        keys = {name: stream_type(landed_types[name]) if name in landed_types else "string"
                for name in window.group_by}
        aggregates = {column: "int64" if function in ("count", "count_distinct") else "float64"
                      for column, function, _ in window.aggregate_specs()}
        store.ensure_window_table(topic, window.name, keys, aggregates)
        spec = window.model_dump(mode="json")
        stored = store.read_window_state(topic, window.name)
        if stored and stored[0] != spec:
            changed = sorted(name for name in spec if stored[0].get(name) != spec[name])
            raise WindowChangedError(
                f"window {window.name!r} of topic {topic} (source {store.source}) changed since its table "
                f"{store.namespace}.{topic}__{window.name} was built (differs in: {', '.join(changed)}); give the "
                f"window a new name to start a new table from the next messages, or revert the change")
        result = apply_batch(window, events_from_batch(window, rows),
                             WindowState.from_json(stored[1] if stored else None))
        store.delete_windows(topic, window.name, list(keys),
                             [(*key, moment(start)) for key, start in result.retracted])
        store.upsert_windows(topic, window.name, list(keys), list(aggregates), [
            (*row.key, moment(row.window_start), moment(row.window_end),
             *(row.aggregates[column] for column in aggregates), row.final) for row in result.rows])
        store.record_late_events(topic, window.name, [
            (*late.event.position, None if late.event.time is None else moment(late.event.time), late.reason)
            for late in result.late])
        watermark = None if result.watermark is None else moment(result.watermark)
        store.store_window_state(topic, window.name, spec, result.state.to_json(), watermark)
        results[window.name] = WindowLanding(len(result.rows), len(result.late), watermark)
    return results


def refresh_per_minute(store: StreamStore, topic: str) -> WindowResult:
    """Recompute the per-minute counts (per ``event_type`` when the topic has one) of every window that rows
    landed since the last refresh fall into."""
    with store.topic_transaction(topic):
        columns = {name: stream_type(logical) for name, logical in store.column_types(topic).items()}
        if not columns:
            return WindowResult(0, 0, None, None)
        time_column = event_time_column(columns)
        dimension = DIMENSION_COLUMN if DIMENSION_COLUMN in columns else None
        windows, new_rows = store.refresh_per_minute(topic, time_column, dimension)
    return WindowResult(windows, new_rows, time_column, dimension)


def event_time_column(columns: dict[str, str]) -> str:
    """The first timestamp among the message's own fields; the Kafka record timestamp when there is none."""
    own = [name for name, logical in columns.items() if logical == "timestamptz" and not name.startswith("_")]
    return own[0] if own else "_timestamp"


class OffsetsResetError(RuntimeError):
    """Stored offsets lie past the end of the topic and the source's policy is to fail."""


def apply_offset_resets(store: StreamStore, reader: TopicReader, resets: list[OffsetReset], policy: str) -> int:
    """Follow ``on_offsets_reset`` for partitions whose offsets went backwards: fail naming them, or land them again
    from their beginning (the earlier rows are kept aside). Returns the rows moved aside."""
    if not resets:
        return 0
    reasons = "; ".join(reset.reason for reset in resets)
    if policy != "restart":
        raise OffsetsResetError(f"topic {reader.topic} of source {store.source}: {reasons}. Nothing was landed; set "
                                f"on_offsets_reset: restart to land the topic again from its beginning")
    gone = {reset.partition: 0 for reset in resets if reset.end is None}
    starts = {**reader.restart([reset.partition for reset in resets if reset.end is not None]), **gone}
    with store.topic_transaction(reader.topic):
        return store.restart_partitions(reader.topic, starts)


def send_dead_letters(store: StreamStore, kafka: KafkaResource, dead_letter_topic: str, topic: str) -> int:
    """Publish the topic's quarantined messages not yet sent, then mark them sent (the quarantine table is the
    outbox: a retry resends only what was not acknowledged). Returns the number sent."""
    sent = 0
    while pending := store.pending_dead_letters(topic, DEAD_LETTER_CHUNK):
        kafka.publish_dead_letters(dead_letter_topic, topic, pending)
        with store.connection.transaction():
            store.mark_dead_lettered(topic, [(partition, offset) for partition, offset, _, _ in pending])
        sent += len(pending)
    return sent
