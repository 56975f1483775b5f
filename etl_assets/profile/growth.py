"""Update frequency and growth of a table, from its ingestion log (``MetadataResource.ingestion_history``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from etl_assets.profile.model import GrowthFacts

SUCCESS = "success"
SECONDS_PER_DAY = 86_400.0


def growth_facts(history: Sequence[dict[str, Any]]) -> GrowthFacts:
    """Loads per day and rows per day over the span of the successful loads in ``history`` (any order).

    A full load's ``rows_written`` is the table's size at that time, so growth is the change between the first and
    the last full load; incremental and merge loads write only new or changed rows, so their rows (after the first
    load of the span) are summed. With fewer than two loads, or all at one instant, rates stay unknown.
    """
    loads = sorted((row for row in history if row.get("status") == SUCCESS and row.get("started_at")),
                   key=lambda row: _as_datetime(row["started_at"]))
    if not loads:
        return GrowthFacts()
    last_loaded = max(_as_datetime(row.get("finished_at") or row["started_at"]) for row in loads)
    facts = GrowthFacts(loads=len(loads), last_loaded_at=last_loaded.isoformat(timespec="seconds"))
    span_days = (_as_datetime(loads[-1]["started_at"]) - _as_datetime(loads[0]["started_at"])).total_seconds()
    span_days /= SECONDS_PER_DAY
    if len(loads) < 2 or span_days <= 0:
        return facts
    facts.loads_per_day = (len(loads) - 1) / span_days
    facts.rows_per_day = _rows_added(loads) / span_days
    return facts


def _rows_added(loads: Sequence[dict[str, Any]]) -> float:
    full = [row for row in loads if row.get("mode") == "full"]
    if len(full) == len(loads):
        return float((full[-1].get("rows_written") or 0) - (full[0].get("rows_written") or 0))
    return float(sum(row.get("rows_written") or 0 for row in loads[1:] if row.get("mode") != "full"))


def _as_datetime(value: Any) -> dt.datetime:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
