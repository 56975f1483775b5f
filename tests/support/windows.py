"""A brute-force recomputation of event-time windows, to check the incremental ones against."""

from __future__ import annotations

from datetime import timedelta

from etl_assets.config.models import StreamWindow
from etl_assets.stream.windows import Event

US = timedelta(microseconds=1)


def brute_force(window: StreamWindow, events: list[Event]) -> tuple[dict, set]:
    """Windows ``{(key, start): (end, aggregates, final)}`` and late positions, recomputed from scratch: each event
    is judged against the watermark of the events before it, then the accepted (event, window) pairs are grouped."""
    lateness = window.allowed_lateness // US
    members: dict[tuple, list[Event]] = {}
    late = set()
    seen_max = None
    for event in events:
        watermark = None if seen_max is None else seen_max - lateness
        if window.kind == "session":
            if watermark is not None and event.time < watermark:
                late.add(event.position)
            else:
                members.setdefault((event.key, None), []).append(event)
        else:
            for start in _starts(window, event.time):
                if watermark is not None and start + window.size // US <= watermark:
                    late.add(event.position)
                else:
                    members.setdefault((event.key, start), []).append(event)
        seen_max = event.time if seen_max is None else max(seen_max, event.time)
    if window.kind == "session":
        members = _split_sessions(window, members)
    windows = {}
    for (key, start), group in members.items():
        end = (max(e.time for e in group) + window.gap // US if window.kind == "session"
               else start + window.size // US)
        windows[(key, start)] = (end, aggregate(window, group), end <= seen_max - lateness)
    return windows, late


def _starts(window: StreamWindow, time: int) -> list[int]:
    """Every multiple of the slide whose window [start, start + size) holds ``time``, by scanning."""
    size, slide = window.size // US, (window.slide or window.size) // US
    first = (time // slide - size // slide - 2) * slide
    return [start for start in range(first, time + 1, slide) if start <= time < start + size]


def _split_sessions(window: StreamWindow, members: dict) -> dict:
    sessions = {}
    for (key, _), group in members.items():
        group = sorted(group, key=lambda e: e.time)
        current = [group[0]]
        for event in group[1:]:
            if event.time - current[-1].time >= window.gap // US:
                sessions[(key, current[0].time)] = current
                current = []
            current.append(event)
        sessions[(key, current[0].time)] = current
    return sessions


def aggregate(window: StreamWindow, group: list[Event]) -> dict:
    result = {}
    for column, function, name in window.aggregate_specs():
        if name is None:
            result[column] = len(group)
            continue
        values = [e.values[name] for e in group if e.values.get(name) is not None]
        result[column] = {
            "count": lambda: len(values), "count_distinct": lambda: len(set(values)),
            "sum": lambda: sum(values) if values else None, "min": lambda: min(values, default=None),
            "max": lambda: max(values, default=None),
            "avg": lambda: sum(values) / len(values) if values else None,
        }[function]()
    return result
