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

from etl_assets.catalog import SourceTable
from etl_assets.profile.model import ColumnProfile, TableProfile
from etl_assets.recommend.facts import (
    BIG_ROWS,
    LOW_CARDINALITY_MAX,
    SMALL_TABLE_ROWS,
    TIME_TYPES,
    Facts,
    find_column,
    gather_facts,
    is_low_cardinality,
    span_text,
)
from etl_assets.recommend.indexes import choose_indexes
from etl_assets.recommend.model import Index, Reason, Recommendation
from etl_assets.recommend.querylog import TableUsage
from etl_assets.recommend.wording import append_only_fact, cadence_words, key_facts, order_facts, summarize

ROWS_PER_DAY_ANALYTICAL = 100_000
PG_PARTITION_ROWS = 10_000_000
DAY_PARTITION_ROWS_PER_MONTH = 50_000_000
CADENCE_ORDER = ("streaming", "*/15 * * * *", "hourly", "daily")


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
    choose_indexes(facts, recommendation)
    _choose_distribution(facts, recommendation)
    _choose_cadence(facts, recommendation)
    recommendation.summary = summarize(facts, recommendation)
    return recommendation


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
            f"source {facts.profile.source} is ClickHouse; {event.name} is an event time ({span_text(facts)})"
    if event is not None and (rows >= BIG_ROWS or (facts.rows_per_day or 0) >= ROWS_PER_DAY_ANALYTICAL):
        growth = f"; {facts.rows_per_day_origin}" if facts.rows_per_day_origin else ""
        return "clickhouse", "ClickHouse: a large time-series table", f"row_count={rows:,}; {span_text(facts)}{growth}"
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


def _choose_primary_key(facts: Facts, recommendation: Recommendation) -> None:
    if not facts.primary_key:
        return
    columns = [find_column(facts.profile, name) for name in facts.primary_key]
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
    recommendation.reasons.append(Reason(claim, f"{facts.primary_key_origin}; {key_facts(facts, columns)}"))


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
    recommendation.reasons.append(Reason("MergeTree (append-only)", append_only_fact(facts)))


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
                f"{span_text(facts)}; row_count={facts.rows:,}{growth}"
        return None
    if target != "postgres":
        return None
    if event is not None and (facts.rows >= PG_PARTITION_ROWS or (per_month or 0) >= PG_PARTITION_ROWS):
        return f"month({event.name})", event.name, f"PARTITION BY RANGE ({event.name}), one partition per month", \
            f"row_count={facts.rows:,}; {span_text(facts)}{growth}"
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
            key_facts(facts, [find_column(facts.profile, name) for name in key]),
        ))
        return
    dimensions = _sort_dimensions(facts)
    event = facts.event_time
    order = [c.name for c in dimensions] + ([event.name] if event is not None else [])
    if not order:
        order = list(recommendation.primary_key)
    recommendation.order_by = order
    if order:
        recommendation.reasons.append(Reason(f"ORDER BY ({', '.join(order)})", order_facts(facts, dimensions)))


def _distinct(facts: Facts, name: str) -> int:
    column = find_column(facts.profile, name)
    return column.distinct_count if column is not None else 0


def _sort_dimensions(facts: Facts) -> list[ColumnProfile]:
    """Up to three low-cardinality, non-NULL columns: the ones the log filters on first, then fewest distinct."""
    candidates = [
        c for c in facts.profile.columns
        if c.name not in facts.unusable and c.null_count == 0 and is_low_cardinality(c, facts.rows)
        and c.logical_type not in ("json", "binary", "float32", "float64", *TIME_TYPES)
    ]
    filtered = {name: rank for rank, name in enumerate(facts.usage.ranked("filtered"))} if facts.usage else {}
    candidates.sort(key=lambda c: (filtered.get(c.name.lower(), len(filtered)), c.distinct_count))
    return candidates[: 3 if filtered else 2]


def _choose_low_cardinality(facts: Facts, recommendation: Recommendation) -> None:
    if recommendation.target_store not in ("clickhouse", "kafka"):
        return
    for column in facts.profile.columns:
        if column.logical_type == "string" and column.null_share < 1 and is_low_cardinality(column, facts.rows):
            recommendation.low_cardinality.append(column.name)
            recommendation.reasons.append(Reason(
                f"LowCardinality(String) for {column.name}",
                f"{column.name}: {column.distinct_count:,} distinct of {facts.rows:,} rows "
                f"(<= {LOW_CARDINALITY_MAX:,})",
            ))


def _choose_distribution(facts: Facts, recommendation: Recommendation) -> None:
    if 0 < facts.rows < SMALL_TABLE_ROWS and recommendation.target_store != "kafka":
        recommendation.distribution = "all"
        recommendation.reasons.append(Reason(
            "MPP stores: copy to every node (DISTSTYLE ALL)", f"row_count={facts.rows:,} < {SMALL_TABLE_ROWS:,}"))
        return
    joined = [n for n in facts.usage.ranked("join") if find_column(facts.profile, n)] if facts.usage else []
    key = joined[:1] or recommendation.primary_key[:1]
    if not key:
        recommendation.distribution = "even"
        return
    recommendation.distribution, recommendation.distribution_key = "key", key
    fact = f"{key[0]}: {facts.usage.column(key[0]).describe()}" if joined and facts.usage else \
        f"{key[0]} is the first primary key column, {_distinct(facts, key[0]):,} distinct of {facts.rows:,} rows"
    recommendation.reasons.append(Reason(f"distribute/shard rows by {key[0]}", fact))


def _choose_cadence(facts: Facts, recommendation: Recommendation) -> None:
    candidates = _cadence_candidates(facts)
    cadence, fact = min(candidates, key=lambda c: CADENCE_ORDER.index(c[0]))
    recommendation.refresh_cadence = cadence
    recommendation.reasons.append(Reason(f"refresh {cadence_words(cadence)}", fact))


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
