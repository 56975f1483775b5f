"""Update frequency and growth of a table, from its ingestion log (``MetadataResource.ingestion_history``).

Growth is the change in content between loads, never how often loads ran: a snapshot load (mode ``replace``,
logged as ``full`` before) writes the whole table, so its growth is the change in size between the first and the
last snapshot (a reload of the same rows is 0); an append or merge load writes only new or changed rows. Loads
closer together than MIN_WINDOW_HOURS give no rate (minutes apart say nothing about a day), and the recommendation
then reads growth from the event time's spread instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from etl_assets.profile.model import GrowthFacts

SUCCESS = "success"
SECONDS_PER_DAY = 86_400.0
SNAPSHOT_MODES = ("replace", "full")
MIN_WINDOW_HOURS = 24.0
"""The ingestion log must span at least this long before it gives rows/day and loads/day."""


def growth_facts(history: Sequence[dict[str, Any]]) -> GrowthFacts:
    """Loads per day and rows per day over the span of the successful loads in ``history`` (any order).

    A snapshot load's ``rows_written`` is the table's size at that time, so growth is the change between the first
    and the last snapshot; append and merge loads write only new or changed rows, so their rows (after the first
    load of the span) are summed. With fewer than two loads, or a span under MIN_WINDOW_HOURS, rates stay unknown.
    """
    loads = sorted((row for row in history if row.get("status") == SUCCESS and row.get("started_at")),
                   key=lambda row: _as_datetime(row["started_at"]))
    if not loads:
        return GrowthFacts()
    last_loaded = max(_as_datetime(row.get("finished_at") or row["started_at"]) for row in loads)
    facts = GrowthFacts(loads=len(loads), last_loaded_at=last_loaded.isoformat(timespec="seconds"))
    span_days = (_as_datetime(loads[-1]["started_at"]) - _as_datetime(loads[0]["started_at"])).total_seconds()
    span_days /= SECONDS_PER_DAY
    if len(loads) < 2 or span_days * 24 < MIN_WINDOW_HOURS:
        return facts
    facts.loads_per_day = (len(loads) - 1) / span_days
    facts.rows_per_day = _rows_added(loads) / span_days
    return facts


def _rows_added(loads: Sequence[dict[str, Any]]) -> float:
    snapshots = [row for row in loads if row.get("mode") in SNAPSHOT_MODES]
    if len(snapshots) == len(loads):
        return float((snapshots[-1].get("rows_written") or 0) - (snapshots[0].get("rows_written") or 0))
    return float(sum(row.get("rows_written") or 0 for row in loads[1:] if row.get("mode") not in SNAPSHOT_MODES))


def _as_datetime(value: Any) -> dt.datetime:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
