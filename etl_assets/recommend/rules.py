"""The deterministic rules that turn a table's profile (+ its settings and query-log usage) into a Recommendation.

Every decision appends a :class:`Reason` whose ``fact`` quotes the profile numbers it rests on. The first rule that
matches in each section wins. ``N`` = row_count; "event time" = the non-NULL date/timestamp column that best marks
when a row happened (the sync cursor of an incremental table, else created/event-like names, never the version
column of a mutable table).

| section      | rule                                                                    | decision                          |
|--------------|-------------------------------------------------------------------------|-----------------------------------|
| target       | source is a Kafka topic                                                 | kafka (+ ClickHouse sink)         |
| target       | N = 0                                                                   | postgres, defaults only           |
| target       | a query log is given, no query reads the table, N >= 1M                 | parquet (raw archive)             |
| target       | query log: >= 50% of executions look up by key, < 20% GROUP BY          | postgres                          |
| target       | source is ClickHouse and the table has an event time                    | clickhouse                        |
| target       | event time and (N >= 1M or >= 100k rows/day)                            | clickhouse                        |
| target       | query log: >= 50% of executions GROUP BY, N >= 100k                     | clickhouse                        |
| target       | otherwise (small or not time-series)                                    | postgres                          |
| engine       | clickhouse, mutable (sync merge / version column) with a primary key    | ReplacingMergeTree(version)       |
| engine       | clickhouse otherwise                                                    | MergeTree                         |
| partition    | clickhouse/parquet: event time, > 50M rows/month                        | day(event time)                   |
| partition    | clickhouse/parquet: event time, N >= 1M or spans >= 60 days             | month(event time)                 |
| partition    | postgres: event time and (N >= 10M or >= 10M rows/month)                | month(event time), RANGE          |
| partition    | postgres: no event time, N >= 10M, primary key                          | hash(first key column, 8)         |
| order by     | ReplacingMergeTree                                                      | primary key, fewest distinct first|
| order by     | otherwise                                                               | <= 3 low-cardinality dims (filtered first), event time; else primary key |
| primary key  | configured/discovered key, else the profile's first candidate key      | kept if it has no NULLs           |
| LowCardinal. | string, 1..10,000 distinct, distinct share <= 50%                       | LowCardinality(String)            |
| pg indexes   | primary key                                                             | BTREE (via PRIMARY KEY)           |
| pg indexes   | event time of an append-only table, N >= 1M                             | BRIN                              |
| pg indexes   | column filtered/joined/sorted in the log; else an *_id column, N >= 100k | BTREE                            |
| pg indexes   | json column / text filtered with LIKE (no log: free text, mean >= 30 chars) | GIN / GIN gin_trgm_ops (pg_trgm) |
| ch indexes   | equality filter, > 10,000 distinct (no log: *_id/uuid, >= 100 distinct) | bloom_filter                      |
| ch indexes   | equality filter, <= 10,000 distinct                                     | set                               |
| ch indexes   | range filter on a number/date not leading the ORDER BY                  | minmax                            |
| ch indexes   | LIKE filter on a string                                                 | ngrambf_v1                        |
| distribution | N < 100k                                                                | all                               |
| distribution | most-joined column (log) or first key column                            | key                               |
| cadence      | Kafka                                                                   | streaming                         |
| cadence      | the most frequent of: >= 1M rows/day: */15 min; >= 10k rows/day or >= 12 loads/day: hourly;   |
|              | freshness check <= 1 h: */15 min, <= 48 h: hourly; sync incremental/merge: hourly; else daily |

Columns that are NULL in every row, or hold one distinct value, never become keys, partitions or indexes; key
columns with NULLs are dropped from keys; string columns longer than 2,000 characters get no BTREE and longer than
10,000 no trigram index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from etl_assets.catalog import SourceTable
from etl_assets.profile.model import ColumnProfile, TableProfile
from etl_assets.recommend.model import Index, Reason, Recommendation
from etl_assets.recommend.querylog import TableUsage

BIG_ROWS = 1_000_000
ROWS_PER_DAY_ANALYTICAL = 100_000
PG_PARTITION_ROWS = 10_000_000
DAY_PARTITION_ROWS_PER_MONTH = 50_000_000
LOW_CARDINALITY_MAX = 10_000
LOW_CARDINALITY_MAX_SHARE = 0.5
SMALL_TABLE_ROWS = 100_000
BTREE_MAX_CHARS = 2_000
TRIGRAM_MAX_CHARS = 10_000
FREE_TEXT_MEAN_CHARS = 30
TIME_TYPES = ("date", "timestamp", "timestamptz")
NUMERIC_PREFIXES = ("int", "float", "decimal")
CADENCE_ORDER = ("streaming", "*/15 * * * *", "hourly", "daily")
_CREATED_LIKE = re.compile(r"(created|inserted|event|occurred|ts$|time|date|day|_at$)", re.IGNORECASE)
_VERSION_LIKE = re.compile(r"(updated|modified|changed|version)", re.IGNORECASE)
_ID_LIKE = re.compile(r"(^id$|_id$|uuid)", re.IGNORECASE)


@dataclass
class Facts:
    """What the rules look at, computed once from the profile, the table's settings and the query log."""

    profile: TableProfile
    kind: str
    sync_mode: str
    sync_cursor: str | None
    freshness_hours: float | None
    primary_key: list[str]
    primary_key_origin: str
    usage: TableUsage | None
    event_time: ColumnProfile | None = None
    version_column: ColumnProfile | None = None
    span_days: float | None = None
    rows_per_day: float | None = None
    rows_per_day_origin: str = ""
    unusable: dict[str, str] = field(default_factory=dict)
    """Column -> why it can never be a key or index (all NULL, constant)."""

    @property
    def rows(self) -> int:
        return self.profile.row_count

    @property
    def rows_per_month(self) -> float | None:
        return None if self.rows_per_day is None else self.rows_per_day * 30

    @property
    def mutable(self) -> bool:
        return self.sync_mode == "merge" or self.version_column is not None


def recommend(
    profile: TableProfile, table: SourceTable | None = None, usage: TableUsage | None = None
) -> Recommendation:
    """The storage recommendation for one table; pure and deterministic (no LLM, no I/O)."""
    facts = gather_facts(profile, table, usage)
    recommendation = Recommendation(source=profile.source, table=profile.table, target_store="postgres")
    _note_unusable_columns(facts, recommendation)
    _choose_target(facts, recommendation)
    _choose_primary_key(facts, recommendation)
    if recommendation.target_store == "clickhouse":
        _choose_engine(facts, recommendation)
    _choose_partitioning(facts, recommendation)
    _choose_order_by(facts, recommendation)
    _choose_low_cardinality(facts, recommendation)
    _choose_indexes(facts, recommendation)
    _choose_distribution(facts, recommendation)
    _choose_cadence(facts, recommendation)
    recommendation.summary = summarize(facts, recommendation)
    return recommendation


# ---------------------------------------------------------------------------------------------------- facts


def gather_facts(profile: TableProfile, table: SourceTable | None, usage: TableUsage | None) -> Facts:
    primary_key, origin = _declared_key(profile, table)
    facts = Facts(
        profile=profile, kind=table.kind if table else "", usage=usage,
        sync_mode=table.sync.mode if table else "full", sync_cursor=table.sync.cursor if table else None,
        freshness_hours=table.checks.freshness_hours if table else None,
        primary_key=primary_key, primary_key_origin=origin,
    )
    facts.unusable = {c.name: why for c in profile.columns if (why := _unusable_reason(c, profile.row_count))}
    facts.version_column = _version_column(facts)
    facts.event_time = _event_time(facts)
    if facts.event_time is not None:
        facts.span_days = _span_days(facts.event_time)
    facts.rows_per_day, facts.rows_per_day_origin = _growth(facts)
    return facts


def _declared_key(profile: TableProfile, table: SourceTable | None) -> tuple[list[str], str]:
    if table and table.schema.primary_key:
        return list(table.schema.primary_key), "declared primary key"
    if profile.candidate_keys:
        return list(profile.candidate_keys[0]), "the profile's first candidate key (unique, no NULLs)"
    return [], ""


def _unusable_reason(column: ColumnProfile, rows: int) -> str:
    if rows and column.null_count >= rows:
        return f"{column.name} is NULL in all {rows:,} rows"
    if rows > 1 and column.distinct_count == 1:
        return f"{column.name} holds one distinct value in {rows:,} rows"
    return ""


def _time_columns(facts: Facts) -> list[ColumnProfile]:
    named = set(facts.profile.time_columns)
    return [
        c for c in facts.profile.columns
        if (c.name in named or c.logical_type in TIME_TYPES) and c.name not in facts.unusable
    ]


def _version_column(facts: Facts) -> ColumnProfile | None:
    if facts.sync_mode == "merge" and facts.sync_cursor:
        cursor = _column(facts.profile, facts.sync_cursor)
        if cursor is not None and cursor.null_count == 0 and _is_orderable(cursor):
            return cursor
    if facts.sync_mode == "incremental":
        return None
    return next((c for c in _time_columns(facts) if _VERSION_LIKE.search(c.name) and c.null_count == 0), None)


def _is_orderable(column: ColumnProfile) -> bool:
    return column.logical_type in TIME_TYPES or column.logical_type.startswith("int")


def _event_time(facts: Facts) -> ColumnProfile | None:
    if facts.sync_mode == "incremental" and facts.sync_cursor:
        cursor = _column(facts.profile, facts.sync_cursor)
        if cursor is not None and cursor.logical_type in TIME_TYPES and cursor.name not in facts.unusable:
            return cursor
    version = facts.version_column.name if facts.version_column else None
    candidates = [c for c in _time_columns(facts) if c.name != version and c.null_count == 0]
    return min(candidates, key=lambda c: (not _CREATED_LIKE.search(c.name), _position(facts.profile, c)), default=None)


def _position(profile: TableProfile, column: ColumnProfile) -> int:
    return next(index for index, c in enumerate(profile.columns) if c.name == column.name)


def _column(profile: TableProfile, name: str) -> ColumnProfile | None:
    return next((c for c in profile.columns if c.name == name), None)


def parse_instant(value: Any) -> datetime | None:
    """A profile min/max (datetime, date, or ISO text) as a naive UTC datetime; None if it is not a time."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _span_days(column: ColumnProfile) -> float | None:
    first, last = parse_instant(column.min), parse_instant(column.max)
    if first is None or last is None or last < first:
        return None
    return (last - first).total_seconds() / 86_400


def _growth(facts: Facts) -> tuple[float | None, str]:
    growth = facts.profile.growth
    if growth.rows_per_day is not None:
        return growth.rows_per_day, f"ingestion log: {growth.rows_per_day:,.0f} rows/day over {growth.loads:,} loads"
    if facts.event_time is not None and facts.span_days and facts.span_days >= 1:
        per_day = facts.rows / facts.span_days
        return per_day, f"{_span_text(facts)}: {facts.rows:,} rows over {facts.span_days:,.0f} days = " \
                        f"{per_day:,.0f} rows/day"
    return None, ""


def _span_text(facts: Facts) -> str:
    column = facts.event_time
    assert column is not None
    return f"{column.name} spans {_day(column.min)}..{_day(column.max)}"


def _day(value: Any) -> str:
    moment = parse_instant(value)
    return moment.date().isoformat() if moment else str(value)


# ---------------------------------------------------------------------------------------------------- target


def _note_unusable_columns(facts: Facts, recommendation: Recommendation) -> None:
    for name, why in facts.unusable.items():
        recommendation.reasons.append(Reason(f"{name}: no key, partition or index on it", why))


def _choose_target(facts: Facts, recommendation: Recommendation) -> None:
    target, claim, fact = _target_rule(facts)
    recommendation.target_store = target
    recommendation.reasons.append(Reason(claim, fact))


def _target_rule(facts: Facts) -> tuple[str, str, str]:
    rows = facts.rows
    if facts.kind == "kafka":
        return "kafka", "keep as a Kafka stream, sunk into ClickHouse MergeTree", "source is a Kafka topic"
    if rows == 0:
        return "postgres", "PostgreSQL with defaults (nothing to optimise for yet)", "row_count=0: the table is empty"
    usage = facts.usage
    if usage is not None and usage.queries == 0 and rows >= BIG_ROWS:
        return "parquet", "Parquet on object storage as a raw archive", \
            f"row_count={rows:,}; no query in the query log reads {facts.profile.table}"
    lookups = _point_lookups(facts)
    if lookups:
        return "postgres", "PostgreSQL: reads are point lookups by key", lookups
    event = facts.event_time
    if event is not None and facts.kind == "clickhouse":
        return "clickhouse", "ClickHouse (keep it analytical)", \
            f"source {facts.profile.source} is ClickHouse; {event.name} is an event time ({_span_text(facts)})"
    if event is not None and (rows >= BIG_ROWS or (facts.rows_per_day or 0) >= ROWS_PER_DAY_ANALYTICAL):
        growth = f"; {facts.rows_per_day_origin}" if facts.rows_per_day_origin else ""
        return "clickhouse", "ClickHouse: a large time-series table", f"row_count={rows:,}; {_span_text(facts)}{growth}"
    if usage is not None and usage.queries and rows >= SMALL_TABLE_ROWS:
        grouped = sum(c.group_by for c in usage.columns.values())
        if grouped * 2 >= usage.queries:
            return "clickhouse", "ClickHouse: aggregation-heavy reads", \
                f"row_count={rows:,}; GROUP BY in {grouped:,} of {usage.queries:,} logged executions"
    shape = "no date/timestamp column" if event is None else f"row_count={rows:,} < {BIG_ROWS:,}"
    return "postgres", "PostgreSQL: small or transactional table", f"row_count={rows:,}; {shape}"


def _point_lookups(facts: Facts) -> str:
    """The fact, if the query log shows mostly equality lookups on the key and few aggregations."""
    usage = facts.usage
    if usage is None or not usage.queries or not facts.primary_key:
        return ""
    by_key = max(usage.column(name).equality for name in facts.primary_key)
    grouped = sum(c.group_by for c in usage.columns.values())
    if by_key * 2 < usage.queries or grouped * 5 >= usage.queries:
        return ""
    return f"row_count={facts.rows:,}; {by_key:,} of {usage.queries:,} logged executions look rows up by " \
           f"{', '.join(facts.primary_key)}; GROUP BY in {grouped:,}"


# ---------------------------------------------------------------------------------------------------- keys


def _choose_primary_key(facts: Facts, recommendation: Recommendation) -> None:
    if not facts.primary_key:
        return
    columns = [_column(facts.profile, name) for name in facts.primary_key]
    nulls = [c for c in columns if c is not None and c.null_count > 0]
    if nulls:
        facts.primary_key = []
        details = "; ".join(f"{c.name} has {c.null_count:,} NULLs" for c in nulls)
        recommendation.reasons.append(Reason("no primary key", f"{facts.primary_key_origin}: {details}"))
        return
    recommendation.primary_key = list(facts.primary_key)
    if recommendation.target_store == "postgres":
        recommendation.indexes.append(Index(tuple(facts.primary_key), "btree"))
        claim = f"PRIMARY KEY ({', '.join(facts.primary_key)}) with its BTREE index"
    else:
        claim = f"primary key ({', '.join(facts.primary_key)})"
    recommendation.reasons.append(Reason(claim, f"{facts.primary_key_origin}; {_key_facts(facts, columns)}"))


def _key_facts(facts: Facts, columns: list[ColumnProfile | None]) -> str:
    present = [c for c in columns if c is not None]
    if facts.rows == 0 or not present:
        return "no rows to check uniqueness on"
    distinct = ", ".join(f"{c.name}: {c.distinct_count:,} distinct" for c in present)
    return f"{distinct} of {facts.rows:,} rows, no NULLs"


def _choose_engine(facts: Facts, recommendation: Recommendation) -> None:
    version = facts.version_column
    if facts.mutable and version is not None and recommendation.primary_key:
        recommendation.engine = f"ReplacingMergeTree({version.name})"
        recommendation.reasons.append(Reason(
            f"ReplacingMergeTree({version.name}) keeps the latest version of each key",
            f"rows change: sync mode {facts.sync_mode} on {facts.sync_cursor or version.name}; "
            f"{version.name} is a non-NULL {version.logical_type}",
        ))
        return
    recommendation.engine = "MergeTree"
    recommendation.reasons.append(Reason("MergeTree (append-only)", _append_only_fact(facts)))


def _append_only_fact(facts: Facts) -> str:
    if facts.sync_mode == "incremental":
        return f"sync mode incremental on {facts.sync_cursor}: rows are only appended"
    if not facts.primary_key:
        return "no primary key to deduplicate on"
    return f"sync mode {facts.sync_mode}; no version column among {', '.join(facts.profile.time_columns) or 'none'}"


def _choose_partitioning(facts: Facts, recommendation: Recommendation) -> None:
    decision = _partition_rule(facts, recommendation.target_store)
    if decision is None:
        return
    expression, column, claim, fact = decision
    recommendation.partition_by, recommendation.partition_column = expression, column
    recommendation.reasons.append(Reason(claim, fact))
    if recommendation.target_store == "postgres" and recommendation.primary_key:
        if column not in recommendation.primary_key:
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


def _partition_rule(facts: Facts, target: str) -> tuple[str, str, str, str] | None:
    event = facts.event_time
    per_month = facts.rows_per_month
    growth = f"; {facts.rows_per_day_origin}" if facts.rows_per_day_origin else ""
    if target in ("clickhouse", "parquet", "kafka") and event is not None:
        if per_month is not None and per_month > DAY_PARTITION_ROWS_PER_MONTH:
            return f"day({event.name})", event.name, f"partition by day of {event.name}", \
                f"{per_month:,.0f} rows/month > {DAY_PARTITION_ROWS_PER_MONTH:,}{growth}"
        if facts.rows >= BIG_ROWS or (facts.span_days or 0) >= 60:
            return f"month({event.name})", event.name, f"partition by month of {event.name}", \
                f"{_span_text(facts)}; row_count={facts.rows:,}{growth}"
        return None
    if target != "postgres":
        return None
    if event is not None and (facts.rows >= PG_PARTITION_ROWS or (per_month or 0) >= PG_PARTITION_ROWS):
        return f"month({event.name})", event.name, f"PARTITION BY RANGE ({event.name}), one partition per month", \
            f"row_count={facts.rows:,}; {_span_text(facts)}{growth}"
    if event is None and facts.rows >= PG_PARTITION_ROWS and facts.primary_key:
        key = facts.primary_key[0]
        return f"hash({key}, 8)", key, f"PARTITION BY HASH ({key}) into 8 partitions", \
            f"row_count={facts.rows:,} >= {PG_PARTITION_ROWS:,}; no date/timestamp column to range-partition on"
    return None


def _choose_order_by(facts: Facts, recommendation: Recommendation) -> None:
    if recommendation.engine and recommendation.engine.startswith("ReplacingMergeTree"):
        key = sorted(recommendation.primary_key, key=lambda name: _distinct(facts, name))
        recommendation.order_by = key
        recommendation.reasons.append(Reason(
            f"ORDER BY ({', '.join(key)}): the deduplication key, fewest distinct values first",
            _key_facts(facts, [_column(facts.profile, name) for name in key]),
        ))
        return
    dimensions = _sort_dimensions(facts)
    event = facts.event_time
    order = [c.name for c in dimensions] + ([event.name] if event is not None else [])
    if not order:
        order = list(recommendation.primary_key)
    recommendation.order_by = order
    if order:
        recommendation.reasons.append(Reason(f"ORDER BY ({', '.join(order)})", _order_facts(facts, dimensions)))


def _distinct(facts: Facts, name: str) -> int:
    column = _column(facts.profile, name)
    return column.distinct_count if column is not None else 0


def _sort_dimensions(facts: Facts) -> list[ColumnProfile]:
    """Up to three low-cardinality, non-NULL columns: the ones the log filters on first, then fewest distinct."""
    candidates = [
        c for c in facts.profile.columns
        if c.name not in facts.unusable and c.null_count == 0 and _is_low_cardinality(c, facts.rows)
        and c.logical_type not in ("json", "binary", "float32", "float64", *TIME_TYPES)
    ]
    filtered = {name: rank for rank, name in enumerate(facts.usage.ranked("filtered"))} if facts.usage else {}
    candidates.sort(key=lambda c: (filtered.get(c.name.lower(), len(filtered)), c.distinct_count))
    return candidates[: 3 if filtered else 2]


def _is_low_cardinality(column: ColumnProfile, rows: int) -> bool:
    return 1 <= column.distinct_count <= LOW_CARDINALITY_MAX and rows > 0 and \
        column.distinct_count / rows <= LOW_CARDINALITY_MAX_SHARE


def _order_facts(facts: Facts, dimensions: list[ColumnProfile]) -> str:
    parts = [f"{c.name}: {c.distinct_count:,} distinct of {facts.rows:,}" for c in dimensions]
    if facts.usage is not None:
        parts += [f"{c.name} filtered: {facts.usage.column(c.name).describe()}" for c in dimensions]
    if facts.event_time is not None:
        parts.append(_span_text(facts))
    return "; ".join(parts) or f"{facts.primary_key_origin}: no low-cardinality or time column"


def _choose_low_cardinality(facts: Facts, recommendation: Recommendation) -> None:
    if recommendation.target_store not in ("clickhouse", "kafka"):
        return
    for column in facts.profile.columns:
        if column.logical_type == "string" and column.null_share < 1 and _is_low_cardinality(column, facts.rows):
            recommendation.low_cardinality.append(column.name)
            recommendation.reasons.append(Reason(
                f"LowCardinality(String) for {column.name}",
                f"{column.name}: {column.distinct_count:,} distinct of {facts.rows:,} rows "
                f"(<= {LOW_CARDINALITY_MAX:,})",
            ))


# ---------------------------------------------------------------------------------------------------- indexes


def _choose_indexes(facts: Facts, recommendation: Recommendation) -> None:
    if facts.rows == 0:
        return
    if recommendation.target_store == "postgres":
        _postgres_indexes(facts, recommendation)
    elif recommendation.target_store in ("clickhouse", "kafka"):
        _clickhouse_indexes(facts, recommendation)


def _add_index(recommendation: Recommendation, columns: tuple[str, ...], method: str, fact: str) -> None:
    if any(index.columns == columns for index in recommendation.indexes):
        return
    recommendation.indexes.append(Index(columns, method))
    recommendation.reasons.append(Reason(f"{method.upper()} index on {', '.join(columns)}", fact))


def _indexable(facts: Facts, recommendation: Recommendation) -> list[ColumnProfile]:
    """Columns that may get a secondary index: usable, and not already leading the primary key."""
    return [c for c in facts.profile.columns if c.name not in facts.unusable and c.name not in
            recommendation.primary_key[:1]]


def _postgres_indexes(facts: Facts, recommendation: Recommendation) -> None:
    event = facts.event_time
    if event is not None and not facts.mutable and facts.rows >= BIG_ROWS:
        _add_index(recommendation, (event.name,), "brin",
                   f"append-only (sync {facts.sync_mode}); row_count={facts.rows:,}; {_span_text(facts)}")
    for column in _indexable(facts, recommendation):
        method, fact = _postgres_index_rule(facts, column)
        if method:
            _add_index(recommendation, (column.name,), method, fact)


def _postgres_index_rule(facts: Facts, column: ColumnProfile) -> tuple[str, str]:
    usage = facts.usage.column(column.name) if facts.usage else None
    long_text = (column.max_length or 0) > BTREE_MAX_CHARS
    if column.logical_type == "json":
        return "gin", f"{column.name} is json ({column.null_count:,} NULLs of {facts.rows:,}): containment queries"
    if column.logical_type == "string" and (column.max_length or 0) <= TRIGRAM_MAX_CHARS and (
        (usage is not None and usage.like) or (facts.usage is None and _is_free_text(column))
    ):
        why = usage.describe() if usage is not None and usage.like else \
            f"free text (semantic type text, mean length {column.mean_length or 0:,.0f} chars)"
        return "gin_trgm", f"{column.name}: {why}; substring search needs pg_trgm's gin_trgm_ops"
    if usage is not None and (usage.equality or usage.range or usage.join or usage.order_by) and not long_text:
        return "btree", f"{column.name}: {usage.describe()} in the query log"
    if facts.usage is None and _ID_LIKE.search(column.name) and facts.rows >= SMALL_TABLE_ROWS and not long_text:
        return "btree", f"{column.name}: identifier-like name, {column.distinct_count:,} distinct of " \
                        f"{facts.rows:,} rows (likely join key)"
    return "", ""


def _is_free_text(column: ColumnProfile) -> bool:
    return column.semantic_type == "text" and (column.mean_length or 0) >= FREE_TEXT_MEAN_CHARS


def _clickhouse_indexes(facts: Facts, recommendation: Recommendation) -> None:
    for column in _indexable(facts, recommendation):
        if column.name in recommendation.order_by or column.logical_type in ("json", "binary"):
            continue
        method, fact = _clickhouse_index_rule(facts, column)
        if method:
            _add_index(recommendation, (column.name,), method, fact)


def _clickhouse_index_rule(facts: Facts, column: ColumnProfile) -> tuple[str, str]:
    usage = facts.usage.column(column.name) if facts.usage else None
    cardinality = f"{column.distinct_count:,} distinct of {facts.rows:,} rows"
    if usage is not None and usage.like and column.logical_type == "string":
        return "ngrambf_v1", f"{column.name}: {usage.describe()}"
    if usage is not None and usage.equality:
        low = _is_low_cardinality(column, facts.rows)
        return ("set" if low else "bloom_filter"), f"{column.name}: {usage.describe()}; {cardinality}"
    numeric = column.logical_type.startswith(NUMERIC_PREFIXES) or column.logical_type in TIME_TYPES
    if usage is not None and usage.range and numeric:
        return "minmax", f"{column.name}: {usage.describe()}; range {column.min}..{column.max}"
    if facts.usage is None and (_ID_LIKE.search(column.name) or column.semantic_type == "uuid") \
            and column.distinct_count >= 100 and not _is_low_cardinality(column, facts.rows):
        return "bloom_filter", f"{column.name}: identifier-like, {cardinality} (point lookups and joins)"
    return "", ""


# ---------------------------------------------------------------------------------------------------- spread


def _choose_distribution(facts: Facts, recommendation: Recommendation) -> None:
    if 0 < facts.rows < SMALL_TABLE_ROWS and recommendation.target_store != "kafka":
        recommendation.distribution = "all"
        recommendation.reasons.append(Reason(
            "MPP stores: copy to every node (DISTSTYLE ALL)", f"row_count={facts.rows:,} < {SMALL_TABLE_ROWS:,}"))
        return
    joined = [n for n in facts.usage.ranked("join") if _column(facts.profile, n)] if facts.usage else []
    key = joined[:1] or recommendation.primary_key[:1]
    if not key:
        recommendation.distribution = "even"
        return
    recommendation.distribution, recommendation.distribution_key = "key", key
    fact = f"{key[0]}: {facts.usage.column(key[0]).describe()}" if joined and facts.usage else \
        f"{key[0]} is the first primary key column, {_distinct(facts, key[0]):,} distinct of {facts.rows:,} rows"
    recommendation.reasons.append(Reason(f"distribute/shard rows by {key[0]}", fact))


# ---------------------------------------------------------------------------------------------------- cadence


def _choose_cadence(facts: Facts, recommendation: Recommendation) -> None:
    candidates = _cadence_candidates(facts)
    cadence, fact = min(candidates, key=lambda c: CADENCE_ORDER.index(c[0]))
    recommendation.refresh_cadence = cadence
    recommendation.reasons.append(Reason(f"refresh {_cadence_words(cadence)}", fact))


def _cadence_candidates(facts: Facts) -> list[tuple[str, str]]:
    if facts.kind == "kafka":
        return [("streaming", "source is a Kafka topic")]
    candidates = [("daily", f"sync mode {facts.sync_mode}; no fast growth or tight freshness")]
    per_day = facts.rows_per_day or 0
    if per_day >= 1_000_000:
        candidates.append(("*/15 * * * *", f"grows {per_day:,.0f} rows/day ({facts.rows_per_day_origin})"))
    elif per_day >= 10_000:
        candidates.append(("hourly", f"grows {per_day:,.0f} rows/day ({facts.rows_per_day_origin})"))
    loads = facts.profile.growth.loads_per_day
    if loads is not None and loads >= 12:
        candidates.append(("hourly", f"loaded {loads:,.1f} times/day (ingestion log)"))
    if facts.freshness_hours is not None:
        fresh = facts.freshness_hours
        if fresh <= 1:
            candidates.append(("*/15 * * * *", f"freshness check allows {fresh:g} h"))
        elif fresh <= 48:
            candidates.append(("hourly", f"freshness check allows {fresh:g} h"))
    if facts.sync_mode in ("incremental", "merge"):
        candidates.append(("hourly", f"sync mode {facts.sync_mode} on {facts.sync_cursor}: each refresh reads only "
                                     "new or changed rows"))
    return candidates


def _cadence_words(cadence: str) -> str:
    return "every 15 minutes" if cadence == "*/15 * * * *" else cadence


# ---------------------------------------------------------------------------------------------------- summary


STORE_NAMES = {"postgres": "PostgreSQL", "clickhouse": "ClickHouse", "parquet": "Parquet", "kafka": "Kafka"}


def summarize(facts: Facts, recommendation: Recommendation) -> str:
    """One line in the product brief's style: shape, growth, filters -> store, engine, partitioning, cadence."""
    shape = "empty" if facts.rows == 0 else "time-series" if facts.event_time is not None else \
        "dimension" if facts.rows < SMALL_TABLE_ROWS else "table"
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
    return f"{', '.join(left)} -> {right}, refreshed {_cadence_words(recommendation.refresh_cadence)}"


def _compact(number: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if number >= limit:
            return f"{number / limit:.3g}{suffix}"
    return f"{number:,.0f}"
