"""The words of a recommendation: its one-line summary and the facts its reasons quote."""

from __future__ import annotations

from etl_assets.profile.model import ColumnProfile
from etl_assets.recommend.facts import Facts, span_text
from etl_assets.recommend.model import Recommendation

STORE_NAMES = {"postgres": "PostgreSQL", "clickhouse": "ClickHouse", "parquet": "Parquet", "kafka": "Kafka"}


def summarize(facts: Facts, recommendation: Recommendation) -> str:
    """One line in the product brief's style: shape, growth, filters -> store, engine, partitioning, cadence."""
    series = " time-series" if facts.event_time is not None and recommendation.role != "empty" else ""
    shape = f"{recommendation.role.replace('_', ' ')}{series}"
    left = [f"{shape} ({facts.rows:,} rows)"]
    if facts.rows_per_day:
        left.append(f"grows {_compact(facts.rows_per_day)} rows/day")
    if facts.usage is not None and facts.usage.ranked("filtered"):
        left.append(f"filtered by {', '.join(facts.usage.ranked('filtered')[:2])}")
    right = STORE_NAMES[recommendation.target_store]
    if recommendation.engine:
        right += f" {recommendation.engine}"
    if recommendation.partition_by:
        right += f" partitioned by {recommendation.partition_by.split('(')[0]}"
    return f"{', '.join(left)} -> {right}, refreshed {cadence_words(recommendation.refresh_cadence)}"


def _compact(number: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if number >= limit:
            return f"{number / limit:.3g}{suffix}"
    return f"{number:,.0f}"


def cadence_words(cadence: str) -> str:
    return "every 15 minutes" if cadence == "*/15 * * * *" else cadence


def key_facts(facts: Facts, columns: list[ColumnProfile | None]) -> str:
    present = [c for c in columns if c is not None]
    if facts.rows == 0 or not present:
        return "no rows to check uniqueness on"
    distinct = ", ".join(f"{c.name}: {c.distinct_count:,} distinct" for c in present)
    return f"{distinct} of {facts.rows:,} rows, no NULLs"


def append_only_fact(facts: Facts) -> str:
    if facts.sync_mode == "incremental":
        return f"sync mode incremental on {facts.sync_cursor}: rows are only appended"
    if not facts.primary_key:
        return "no primary key to deduplicate on"
    return f"sync mode {facts.sync_mode}; no version column among {', '.join(facts.profile.time_columns) or 'none'}"


def order_facts(facts: Facts, dimensions: list[ColumnProfile]) -> str:
    parts = [f"{c.name}: {c.distinct_count:,} distinct of {facts.rows:,}" for c in dimensions]
    if facts.usage is not None:
        parts += [f"{c.name} filtered: {facts.usage.column(c.name).describe()}" for c in dimensions]
    if facts.event_time is not None:
        parts.append(span_text(facts))
    return "; ".join(parts) or f"{facts.primary_key_origin}: no low-cardinality or time column"
