"""Event-time windows (tumbling, hop, session) over a stream's events, one micro-batch at a time.

Times are integers: microseconds since the epoch. The watermark is the largest event time seen so far minus the
window's allowed lateness; a window whose end is at or before it is closed: it is emitted as final and leaves the
state. An event arriving for closed windows only is a late event: it is returned with its reason, never dropped.
For session windows an event is late when its time is before the watermark (it could belong to a closed session).
:class:`WindowState` (open windows' partial aggregates + the largest event time) is JSON-serializable, so the next
micro-batch continues where this one stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from etl_assets.config.models import StreamWindow

Key = tuple


@dataclass(frozen=True)
class Event:
    key: Key
    time: int | None
    """Event time (microseconds since the epoch); None when the event has none (it is then late)."""
    values: Mapping[str, Any]
    position: Any = None
    """Where the event came from (e.g. partition and offset), handed back with late events."""
    received: int | None = None
    """Arrival time (the Kafka timestamp); events further than ``max_ahead`` past it are late."""
    untimed: str | None = None
    """Why ``time`` is None, when more is known than that the field is empty."""


@dataclass(frozen=True)
class LateEvent:
    event: Event
    reason: str


@dataclass(frozen=True)
class WindowRow:
    key: Key
    window_start: int
    window_end: int
    aggregates: dict[str, Any]
    final: bool


@dataclass
class OpenWindow:
    end: int
    partials: dict[str, Any]


@dataclass
class WindowState:
    """What a window needs from earlier micro-batches: the largest event time seen and the open windows."""

    max_time: int | None = None
    open: dict[Key, dict[int, OpenWindow]] = field(default_factory=dict)
    """Key -> window start -> the window."""

    def watermark(self, lateness: int) -> int | None:
        return None if self.max_time is None else self.max_time - lateness

    def to_json(self) -> str:
        return json.dumps({"max_time": self.max_time, "open": [
            [list(key), start, window.end, {name: _dump_partial(p) for name, p in window.partials.items()}]
            for key, windows in self.open.items() for start, window in windows.items()]})

    @classmethod
    def from_json(cls, text: str | None) -> WindowState:
        if not text:
            return cls()
        data = json.loads(text)
        state = cls(max_time=data["max_time"])
        for key, start, end, partials in data["open"]:
            state.open.setdefault(tuple(key), {})[start] = OpenWindow(
                end, {name: _load_partial(p) for name, p in partials.items()})
        return state


@dataclass
class WindowBatch:
    rows: list[WindowRow]
    """Windows changed or closed by this batch (upsert by key and window_start)."""
    retracted: list[tuple[Key, int]]
    """(key, window_start) of windows merged away (session windows only): delete them."""
    late: list[LateEvent]
    state: WindowState
    watermark: int | None


def micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def moment(value: int) -> datetime:
    return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)


def _us(length: timedelta) -> int:
    return length // timedelta(microseconds=1)


def events_from_batch(window: StreamWindow, rows: pa.RecordBatch) -> list[Event]:
    """The window's events of landed rows, in their order: key from ``group_by``, time from ``event_time`` (a
    timestamp, or epoch seconds), the aggregated fields, position ``(_partition, _offset)`` and the Kafka
    timestamp as the arrival time."""
    count = rows.num_rows
    times = _micros_column(rows, window.event_time)
    untimed = _untimed_reason(rows, window.event_time)
    received = _micros_column(rows, "_timestamp")
    positions = zip(rows.column("_partition").to_pylist(), rows.column("_offset").to_pylist(), strict=True)
    keys = zip(*(_plain_column(rows, name) for name in window.group_by), strict=True) if window.group_by \
        else iter([()] * count)
    fields = sorted({name for _, _, name in window.aggregate_specs() if name})
    values = {name: _plain_column(rows, name) for name in fields}
    return [Event(key=tuple(key), time=times[i], values={name: values[name][i] for name in fields},
                  position=position, received=received[i], untimed=untimed)
            for i, (key, position) in enumerate(zip(keys, positions, strict=True))]


def _untimed_reason(rows: pa.RecordBatch, name: str) -> str | None:
    if name not in rows.schema.names:
        return None
    kind = rows.schema.field(name).type
    if pa.types.is_timestamp(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return None
    return (f"event time field {name!r} was landed as {kind}, not as a timestamp (ISO 8601) or epoch seconds, "
            f"because some of its values are neither")


def _micros_column(rows: pa.RecordBatch, name: str) -> list[int | None]:
    if name not in rows.schema.names:
        return [None] * rows.num_rows
    column = rows.column(name)
    if pa.types.is_timestamp(column.type):
        return pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64()).to_pylist()
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return pc.cast(pc.multiply(pc.cast(column, pa.float64()), 1_000_000), pa.int64(), safe=False).to_pylist()
    return [None] * rows.num_rows


def _plain_column(rows: pa.RecordBatch, name: str) -> list[Any]:
    """Values that survive the JSON state unchanged (timestamps as ISO text)."""
    if name not in rows.schema.names:
        return [None] * rows.num_rows
    values = rows.column(name).to_pylist()
    return [value.isoformat() if isinstance(value, datetime) else value for value in values]


def window_starts(window: StreamWindow, time: int) -> list[int]:
    """Starts of the tumbling or hop windows that ``time`` falls in (windows start at multiples of the slide)."""
    size = _us(window.size)
    slide = _us(window.slide or window.size)
    last = time // slide
    first = (time - size) // slide + 1
    return [k * slide for k in range(first, last + 1)]


def apply_batch(window: StreamWindow, events: Iterable[Event], state: WindowState | None = None) -> WindowBatch:
    """Add ``events`` (in arrival order) to ``state``'s windows; return the changed and closed windows, the late
    events and the new state. ``state`` is not modified."""
    state = WindowState.from_json(state.to_json()) if state else WindowState()
    specs = window.aggregate_specs()
    lateness, ahead = _us(window.allowed_lateness), _us(window.max_ahead)
    changed: set[tuple[Key, int]] = set()
    retracted: set[tuple[Key, int]] = set()
    late: list[LateEvent] = []
    for event in events:
        if event.time is None:
            late.append(LateEvent(event, event.untimed or f"no event time in field {window.event_time!r}"))
            continue
        if event.received is not None and event.time > event.received + ahead:
            late.append(LateEvent(event, f"event time {_iso(event.time)} is more than {window.max_ahead} ahead of "
                                         f"the message's timestamp {_iso(event.received)}"))
            continue
        watermark = state.watermark(lateness)
        if window.kind == "session":
            reason = _add_to_session(window, specs, state, event, watermark, changed, retracted)
        else:
            reason = _add_to_fixed(window, specs, state, event, watermark, changed)
        if reason:
            late.append(LateEvent(event, reason))
        state.max_time = event.time if state.max_time is None else max(state.max_time, event.time)
    watermark = state.watermark(lateness)
    rows = [_row(specs, key, start, state.open[key][start], watermark) for key, start in sorted(changed, key=_order)
            if start in state.open.get(key, {})]
    emitted = set(changed)
    for key in list(state.open):
        windows = state.open[key]
        for start in sorted(windows):
            if watermark is not None and windows[start].end <= watermark:
                if (key, start) not in emitted:
                    rows.append(_row(specs, key, start, windows[start], watermark))
                del windows[start]
        if not windows:
            del state.open[key]
    return WindowBatch(rows=rows, retracted=sorted(retracted - changed, key=_order), late=late, state=state,
                       watermark=watermark)


def _order(item: tuple[Key, int]) -> tuple:
    return tuple(map(repr, item[0])), item[1]


def _add_to_fixed(window: StreamWindow, specs, state: WindowState, event: Event, watermark: int | None,
                  changed: set) -> str | None:
    size = _us(window.size)
    starts = window_starts(window, event.time)
    closed = [start for start in starts if watermark is not None and start + size <= watermark]
    windows = state.open.setdefault(event.key, {})
    parts = _contribution(specs, event)
    for start in starts:
        if start in closed:
            continue
        if start not in windows:
            windows[start] = OpenWindow(start + size, _empty(specs))
        _accumulate(windows[start].partials, parts)
        changed.add((event.key, start))
    if not windows:
        del state.open[event.key]
    if not closed:
        return None
    counted = len(starts) - len(closed)
    return (f"event time {_iso(event.time)} falls in {len(closed)} window(s) from {_iso(closed[0])} already closed "
            f"by the watermark {_iso(watermark)} (largest event time minus allowed lateness {window.allowed_lateness})"
            + (f"; counted in its {counted} open window(s)" if counted else ""))


def _add_to_session(window: StreamWindow, specs, state: WindowState, event: Event, watermark: int | None,
                    changed: set, retracted: set) -> str | None:
    if watermark is not None and event.time < watermark:
        return (f"event time {_iso(event.time)} is before the watermark {_iso(watermark)} (largest event time minus "
                f"allowed lateness {window.allowed_lateness}): its session may be closed")
    gap = _us(window.gap)
    sessions = state.open.setdefault(event.key, {})
    merging = [start for start, session in sessions.items() if start - gap < event.time < session.end]
    start, end = event.time, event.time + gap
    partials = _empty(specs)
    _accumulate(partials, _contribution(specs, event))
    for old in merging:
        session = sessions.pop(old)
        start, end = min(start, old), max(end, session.end)
        partials = _merge(specs, partials, session.partials)
        changed.discard((event.key, old))
        retracted.add((event.key, old))
    sessions[start] = OpenWindow(end, partials)
    changed.add((event.key, start))
    return None


# ---- partial aggregates ------------------------------------------------------------------------------------------

def _empty(specs) -> dict[str, Any]:
    return {column: _EMPTY[function]() for column, function, _ in specs}


_EMPTY = {"count": lambda: 0, "sum": lambda: None, "min": lambda: None, "max": lambda: None,
          "avg": lambda: [0.0, 0], "count_distinct": set}


def _contribution(specs, event: Event) -> list[tuple[str, str, Any]]:
    """(column, function, value) of what one event adds to a window's aggregates (null values add nothing)."""
    parts = []
    for column, function, name in specs:
        if name is None:
            parts.append((column, "count", 1))
            continue
        value = event.values.get(name)
        if value is None:
            continue
        if function == "count":
            parts.append((column, "count", 1))
        elif function == "count_distinct":
            parts.append((column, function, value))
        else:
            parts.append((column, function, _number(value, name, event)))
    return parts


def _accumulate(partials: dict[str, Any], parts: list[tuple[str, str, Any]]) -> None:
    for column, function, value in parts:
        current = partials[column]
        if function == "count":
            partials[column] = current + 1
        elif function == "count_distinct":
            current.add(value)
        elif function == "avg":
            current[0] += value
            current[1] += 1
        elif current is None:
            partials[column] = value
        elif function == "sum":
            partials[column] = current + value
        elif function == "min":
            partials[column] = value if value < current else current
        else:
            partials[column] = value if value > current else current


def _number(value: Any, name: str, event: Event) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"field {name!r} of the event at {event.position} is {value!r}, not a number")
    return value


def _combine(function: str, left: Any, right: Any) -> Any:
    if left is None:
        return right
    if right is None:
        return left
    if function in ("count", "sum"):
        return left + right
    if function == "min":
        return min(left, right)
    if function == "max":
        return max(left, right)
    if function == "avg":
        return [left[0] + right[0], left[1] + right[1]]
    return left | right


def _merge(specs, left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {column: _combine(function, left[column], right[column]) for column, function, _ in specs}


def _final(function: str, partial: Any) -> Any:
    if function == "avg":
        return partial[0] / partial[1] if partial[1] else None
    if function == "count_distinct":
        return len(partial)
    return partial


def _row(specs, key: Key, start: int, window: OpenWindow, watermark: int | None) -> WindowRow:
    return WindowRow(key=key, window_start=start, window_end=window.end,
                     aggregates={column: _final(function, window.partials[column]) for column, function, _ in specs},
                     final=watermark is not None and window.end <= watermark)


def _dump_partial(partial: Any) -> Any:
    return {"set": sorted(partial, key=repr)} if isinstance(partial, set) else partial


def _load_partial(data: Any) -> Any:
    return set(data["set"]) if isinstance(data, dict) else data


def _iso(value: int) -> str:
    return moment(value).isoformat()
