"""Partitioning and sort order: the rows "partition" and "order by" of the rule table in
:mod:`etl_assets.recommend.decisions`.

A table with an event time is partitioned on it, in every dialect that partitions, by the finest of day (only above
DAY_PARTITION_ROWS_PER_MONTH), month or year whose partitions hold MIN_ROWS_PER_PARTITION rows on average over at
least MIN_PARTITIONS_SPANNED and at most MAX_PARTITIONS partitions; smaller tables are not partitioned. Facts and
event logs are sorted by their filter columns (the query log's, or without one the balanced low-cardinality codes:
see :func:`sort_dimensions`), then the event time, then their key. Dimensions and reference tables are sorted by
their key.
"""

from __future__ import annotations

import re

from etl_assets.profile.model import ColumnProfile
from etl_assets.recommend.facts import TIME_TYPES, Facts, find_column, is_low_cardinality, span_text
from etl_assets.recommend.model import Index, Reason, Recommendation
from etl_assets.recommend.wording import key_facts, order_facts

PG_PARTITION_ROWS = 10_000_000
DAY_PARTITION_ROWS_PER_MONTH = 50_000_000
"""Day partitions only above this many rows per month (ClickHouse: "no partition key more granular than by month"
unless the volume is that of logs)."""
MIN_ROWS_PER_PARTITION = PG_PARTITION_ROWS
"""A month/year partition must hold this many rows on average, or the table is not partitioned at that granularity
(ClickHouse: "in most cases you do not need a partition key"; small partitions make small parts and, in
PostgreSQL, plans over many near-empty tables). The same size from which PostgreSQL hash-partitions."""
MIN_PARTITIONS_SPANNED = 2
"""... and the event time must touch at least this many partitions (one partition is no partitioning): its span
covers at least MIN_PARTITIONS_SPANNED - 1 partition lengths."""
MAX_PARTITIONS = 1_000
"""A granularity whose partitions over the span (e.g. a few outliers years away) exceed this is skipped."""
GRANULARITY_DAYS = (("day", 1), ("month", 30.44), ("year", 365.25))
FILTER_CODE_MAX_LENGTH = 8
"""A filter code is at most this many characters (letters and digits only)."""
FILTER_CODE_MAX_READ = 0.25
"""... and an equality filter on a typical value of it reads at most this share of the rows."""
SORT_CODES_MAX = 2
"""At most this many filter codes lead the ORDER BY of a time series without a query log (then the time)."""
_CODE_PATTERN = re.compile(r"[A9]+")
TIME_ROLES = ("fact", "event_log")
KEY_ROLES = ("dimension", "reference")


def choose_partitioning(facts: Facts, recommendation: Recommendation) -> None:
    decision = _partition_rule(facts, recommendation)
    if decision is None:
        return
    expression, column, claim, fact = decision
    recommendation.partition_by, recommendation.partition_column = expression, column
    recommendation.reasons.append(Reason(claim, fact))
    if recommendation.target_store == "postgres" and recommendation.primary_key and \
            column not in recommendation.primary_key:
        old_key = Index(tuple(recommendation.primary_key), "btree")
        recommendation.primary_key.append(column)
        recommendation.indexes = [
            Index(tuple(recommendation.primary_key), "btree") if index == old_key else index
            for index in recommendation.indexes
        ]
        recommendation.reasons.append(Reason(
            f"primary key extended with {column}",
            "PostgreSQL requires the partition column in every unique key of a partitioned table",
        ))


def _partition_rule(facts: Facts, recommendation: Recommendation) -> tuple[str, str, str, str] | None:
    event, target = facts.event_time, recommendation.target_store
    growth = f"; {facts.rows_per_day_origin}" if facts.rows_per_day_origin else ""
    chosen = _granularity(facts) if event is not None else None
    if event is not None and chosen is not None:
        granularity, why = chosen
        claim = f"partition by {granularity} of {event.name}"
        if target == "postgres":
            claim = f"PARTITION BY RANGE ({event.name}), one partition per {granularity}"
        return f"{granularity}({event.name})", event.name, claim, \
            f"{recommendation.role} with event time; row_count={facts.rows:,}; {span_text(facts)}; {why}{growth}"
    if target == "postgres" and event is None and facts.rows >= PG_PARTITION_ROWS and facts.primary_key:
        key = facts.primary_key[0]
        return f"hash({key}, 8)", key, f"PARTITION BY HASH ({key}) into 8 partitions", \
            f"row_count={facts.rows:,} >= {PG_PARTITION_ROWS:,}; no date/timestamp column to range-partition on"
    if event is not None and facts.rows:
        recommendation.reasons.append(Reason(f"no partitioning on {event.name}", _too_small(facts)))
    return None


def _granularity(facts: Facts) -> tuple[str, str] | None:
    """The finest of day (above DAY_PARTITION_ROWS_PER_MONTH), month or year whose partitions hold
    MIN_ROWS_PER_PARTITION rows on average (the observed
    density: rows per day of the event time's spread, or of the ingestion log), with at least two partitions over
    the span (unless the ingestion log shows growth: it will span more) and at most MAX_PARTITIONS; None when even
    yearly partitions would be smaller (no partitioning)."""
    per_day, span = facts.rows_per_day, facts.active_days or 0
    if not per_day:
        return None
    for granularity, days in GRANULARITY_DAYS:
        per_partition = per_day * days
        big_enough = per_day * 30 > DAY_PARTITION_ROWS_PER_MONTH if granularity == "day" else \
            per_partition >= MIN_ROWS_PER_PARTITION
        growing = facts.profile.growth.rows_per_day is not None and per_day > 0
        too_short = span < days * (MIN_PARTITIONS_SPANNED - 1) and not growing
        if not big_enough or too_short or span / days > MAX_PARTITIONS:
            continue
        bar = f"{per_day * 30:,.0f} rows/month > {DAY_PARTITION_ROWS_PER_MONTH:,}" if granularity == "day" else \
            f"{per_partition:,.0f} rows per {granularity} >= {MIN_ROWS_PER_PARTITION:,}"
        return granularity, f"{bar}; {span / days:,.0f} {granularity}s of data"
    return None


def _too_small(facts: Facts) -> str:
    per_day = facts.rows_per_day or 0
    return f"{per_day * 365:,.0f} rows per year of {facts.event_time.name if facts.event_time else 'time'} " \
           f"(row_count={facts.rows:,}, spread {facts.span_days or 0:,.0f} days): no day/month/year partition would " \
           f"hold {MIN_ROWS_PER_PARTITION:,} rows over >= {MIN_PARTITIONS_SPANNED} partitions; sorting by time " \
           "prunes as well without small parts"


def choose_order_by(facts: Facts, recommendation: Recommendation) -> None:
    key = list(recommendation.primary_key)
    if recommendation.engine and recommendation.engine.startswith("ReplacingMergeTree"):
        ordered = sorted(key, key=lambda name: _distinct(facts, name))
        _set_order(recommendation, ordered, "the deduplication key, fewest distinct values first",
                   key_facts(facts, [find_column(facts.profile, name) for name in ordered]))
        return
    if recommendation.role in KEY_ROLES and key:
        _set_order(recommendation, key, f"the {recommendation.role}'s key",
                   f"{facts.primary_key_origin}; {key_facts(facts, [find_column(facts.profile, n) for n in key])}")
        return
    dimensions = sort_dimensions(facts, logged_only=recommendation.role in TIME_ROLES)
    event = facts.event_time
    order = [c.name for c in dimensions] + ([event.name] if event is not None else [])
    if event is not None and recommendation.role in TIME_ROLES:
        order += [name for name in key if name not in order]
    if not order:
        order = key
    if order:
        _set_order(recommendation, order, "", order_facts(facts, dimensions))


def _set_order(recommendation: Recommendation, order: list[str], why: str, fact: str) -> None:
    recommendation.order_by = order
    recommendation.reasons.append(Reason(f"ORDER BY ({', '.join(order)}){': ' + why if why else ''}", fact))


def _distinct(facts: Facts, name: str) -> int:
    column = find_column(facts.profile, name)
    return column.distinct_count if column is not None else 0


def sort_dimensions(facts: Facts, logged_only: bool = False) -> list[ColumnProfile]:
    """Up to three low-cardinality, non-NULL columns: the ones the log filters on first, then fewest distinct; never
    one that only repeats another one to one (a carrier's name beside its code: it would sort nothing further).

    ``logged_only`` (a time series): without a query log, only the balanced codes (:func:`filter_codes`), else the
    columns the log filters on; a time series with neither is sorted by time."""
    filtered = {name: rank for rank, name in enumerate(facts.usage.ranked("filtered"))} if facts.usage else {}
    candidates = [
        c for c in facts.profile.columns
        if c.name not in facts.unusable and c.null_count == 0 and is_low_cardinality(c, facts.rows)
        and c.logical_type not in ("json", "binary", "float32", "float64", *TIME_TYPES)
        and (not logged_only or c.name.lower() in filtered or (facts.usage is None and is_filter_code(c, facts.rows)))
    ]
    candidates.sort(key=lambda c: (filtered.get(c.name.lower(), len(filtered)), c.distinct_count))
    chosen: list[ColumnProfile] = []
    for column in candidates:
        if not facts.profile.repeats(column.name, (c.name for c in chosen)):
            chosen.append(column)
    return chosen[: 3 if filtered else SORT_CODES_MAX]


def is_filter_code(column: ColumnProfile, rows: int) -> bool:
    """A short code (letters/digits only: carrier, airport, postcode, country) whose values are balanced enough
    that an equality filter on a typical value reads at most FILTER_CODE_MAX_READ of the rows. Such columns are
    what a time series is sliced by; names and labels (spaces, lower case) describe rather than slice, and a
    skewed code (one value in most rows) prunes little."""
    if column.logical_type != "string" or not column.patterns or (column.max_length or 0) > FILTER_CODE_MAX_LENGTH:
        return False
    if not all(_CODE_PATTERN.fullmatch(pattern) for pattern, _ in column.patterns):
        return False
    return 2 <= column.distinct_count and expected_read_share(column, rows) <= FILTER_CODE_MAX_READ


def expected_read_share(column: ColumnProfile, rows: int) -> float:
    """The share of rows an equality filter on a random row's value matches: sum of squared value shares (the
    profile's top values, the rest spread evenly over the remaining distinct values)."""
    if rows <= 0:
        return 1.0
    shares = [count / rows for _, count in column.top_values]
    rest, others = max(0.0, 1.0 - sum(shares)), max(0, column.distinct_count - len(shares))
    return sum(s * s for s in shares) + (rest * rest / others if others else 0.0)
