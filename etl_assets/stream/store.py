"""Landing a parsed micro-batch with its event-time windows, and refreshing the per-minute aggregate and the
joins, through the warehouse's stream store (:mod:`resources.postgres.stream_store`, which runs the SQL).

What is decided here: the types of new columns (from the JSON values), the type each landed column's values are
coerced to, which column is the event time, and the types of the window tables' columns. Rows, quarantined
messages, the windows' rows and state and the new offsets commit in one transaction of the store, so retries and
reruns never duplicate or lose a message, nor count it twice in a window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from etl_assets.config.models import StreamJoin, StreamWindow
from etl_assets.stream.parse import (
    ParsedBatch,
    QuarantinedMessage,
    coerce_to_arrow,
    infer_logical_type,
    parse_messages,
)
from etl_assets.stream.windows import WindowState, apply_batch, events_from_batch, moment
from resources.kafka import KafkaMessage, KafkaResource, MicroBatch, OffsetReset, TopicReader
from resources.kafka.resets import restart_positions
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


def land_batch(store: StreamStore, batch: MicroBatch, parsed: ParsedBatch | None = None,
               windows: Sequence[StreamWindow] = (), tables_exist: bool = False) -> LandingResult:
    """Write the batch's rows, its quarantined messages, its event-time windows (with their state) and its next
    offsets in one transaction. Without ``parsed``, the messages are parsed here, knowing the landed columns' types
    (which lets Arrow decode most of them). ``tables_exist``: an earlier batch of this run created the topic's
    tables, so only their columns are looked up."""
    topic = batch.topic
    with store.topic_transaction(topic):
        store.check_not_moved(batch)
        existing = store.column_types(topic) if tables_exist else store.ensure_topic_tables(topic)
        if parsed is None:
            parsed, added = parse_batch(batch.messages, existing)
        else:
            added = new_column_types(parsed, existing)
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


def parse_batch(messages: Sequence[KafkaMessage], existing: dict[str, str]) -> tuple[ParsedBatch, dict[str, str]]:
    """The messages parsed for a table with ``existing`` columns (logical types), and the types of their new keys.
    Parsed again without guessing when a type guessed from the first messages is not the one inferred over all."""
    known = {name: stream_type(logical) for name, logical in existing.items()}
    parsed = parse_messages(messages, known)
    added = new_column_types(parsed, existing)
    if any(added.get(name) != guess for name, guess in parsed.guessed.items() if guess != "null"):
        parsed = parse_messages(messages, known, guess_new_columns=False)
        added = new_column_types(parsed, existing)
    return parsed, added


def new_column_types(parsed: ParsedBatch, existing: dict[str, str]) -> dict[str, str]:
    """The logical types of the batch's keys that are not columns yet, inferred from the rows parsed one by one
    (the values Arrow read all fit the guessed types, which the caller checks against these)."""
    return {name: infer_logical_type(row.get(name) for row in parsed.rows)
            for name in parsed.columns if name not in existing}


def update_windows(store: StreamStore, topic: str, windows: Sequence[StreamWindow], rows: pa.RecordBatch,
                   landed_types: dict[str, str]) -> dict[str, WindowLanding]:
    """Add the landed rows to each window of the topic, on the caller's transaction. A new window, or one whose
    definition changed since its state was stored, is built from all of the topic's landed rows (these included),
    so a window added to a topic covers its history."""
    results = {}
    for window in windows:
        keys, aggregates = _window_columns(window, landed_types)
        store.ensure_window_table(topic, window.name, keys, aggregates)
        stored = store.read_window_state(topic, window.name)
        if stored is not None and stored[0] == window.model_dump(mode="json"):
            results[window.name] = _apply_window(store, topic, window, landed_types, [rows],
                                                 WindowState.from_json(stored[1]))
            continue
        if stored is not None:
            store.drop_window(topic, window.name)
        results[window.name] = _rebuild_window(store, topic, window, landed_types)
    return results


def rebuild_windows(store: StreamStore, topic: str, windows: Sequence[StreamWindow]) -> None:
    """Rebuild every window of the topic from its landed rows (after offsets were reset), on the caller's
    transaction."""
    landed_types = store.column_types(topic)
    for window in windows:
        store.drop_window(topic, window.name)
        if landed_types:
            _rebuild_window(store, topic, window, landed_types)


def _rebuild_window(store: StreamStore, topic: str, window: StreamWindow, landed_types: dict[str, str]
                    ) -> WindowLanding:
    fields = [window.event_time, *window.group_by, *(name for _, _, name in window.aggregate_specs() if name)]
    return _apply_window(store, topic, window, landed_types, store.landed_rows(topic, fields), WindowState())


def _window_columns(window: StreamWindow, landed_types: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Logical types of the window table's key columns (as landed) and aggregate columns."""
    keys = {name: stream_type(landed_types[name]) if name in landed_types else "string" for name in window.group_by}
    aggregates = {column: "int64" if function in ("count", "count_distinct") else "float64"
                  for column, function, _ in window.aggregate_specs()}
    return keys, aggregates


def _apply_window(store: StreamStore, topic: str, window: StreamWindow, landed_types: dict[str, str],
                  batches: Iterable[pa.RecordBatch], state: WindowState) -> WindowLanding:
    """Feed the batches to the window: upsert the windows they changed or closed, delete session windows merged
    away, record late events, then store the new state."""
    keys, aggregates = _window_columns(window, landed_types)
    store.ensure_window_table(topic, window.name, keys, aggregates)
    upserted = late_events = 0
    watermark = None
    for rows in batches:
        result = apply_batch(window, events_from_batch(window, rows), state)
        store.delete_windows(topic, window.name, list(keys),
                             [(*key, moment(start)) for key, start in result.retracted])
        store.upsert_windows(topic, window.name, list(keys), list(aggregates), [
            (*row.key, moment(row.window_start), moment(row.window_end),
             *(row.aggregates[column] for column in aggregates), row.final) for row in result.rows])
        store.record_late_events(topic, window.name, [
            (*late.event.position, None if late.event.time is None else moment(late.event.time), late.reason)
            for late in result.late])
        state, watermark = result.state, result.watermark
        upserted, late_events = upserted + len(result.rows), late_events + len(result.late)
    watermark = None if watermark is None else moment(watermark)
    store.store_window_state(topic, window.name, window.model_dump(mode="json"), state.to_json(), watermark)
    return WindowLanding(upserted, late_events, watermark)


@dataclass
class JoinResult:
    new_left: int
    new_right: int
    pairs_added: int


def refresh_join(store: StreamStore, join: StreamJoin) -> JoinResult:
    """Add the pairs that rows landed since the last refresh form, holding both topics' locks."""
    with store.topic_transaction(join.left.topic, join.right.topic):
        return JoinResult(*store.refresh_join(join.name, join.left, join.right, join.within))


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


def apply_offset_resets(store: StreamStore, reader: TopicReader, resets: list[OffsetReset], policy: str,
                        windows: Sequence[StreamWindow] = (), joins: Sequence[StreamJoin] = ()) -> int:
    """Follow ``on_offsets_reset`` for partitions whose offsets went backwards: fail naming them, or land them again
    from their beginning (the earlier rows are kept aside, and the topic's windows are rebuilt from the rows that
    stay, and its joins forget the pairs of those partitions, so the messages landed again are not counted twice).
    Returns the rows moved aside."""
    if not resets:
        return 0
    starts = restart_positions(reader, resets, policy, store.source, ("land", "landed"))
    with store.topic_transaction(reader.topic):
        moved = store.restart_partitions(reader.topic, starts)
        rebuild_windows(store, reader.topic, windows)
        for join in joins:
            if reader.topic in (join.left.topic, join.right.topic):
                store.reset_join(join.name, join.left, join.right, reader.topic, starts)
        return moved


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
