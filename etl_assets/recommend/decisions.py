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
| target       | event time, numeric measures, N >= 100k (FACT_ANALYTICAL_ROWS)          | clickhouse                        |
| target       | >= 30 columns (WIDE_TABLE_COLUMNS), N >= 100k                           | clickhouse                        |
| target       | query log: >= 50% of executions GROUP BY, N >= 100k                     | clickhouse                        |
| target       | otherwise (small or not time-series)                                    | postgres                          |
| engine       | clickhouse, mutable (sync merge / version column) with a primary key    | ReplacingMergeTree(version)       |
| engine       | clickhouse otherwise                                                    | MergeTree                         |
| role         | see :mod:`etl_assets.recommend.roles` (fact, event_log, dimension, reference, table, empty)  |
| partition    | event time: the finest of day (> 50M rows/month), month, year whose partitions hold >= 10M   |
|              | rows (rows/day from the spread or the ingestion log), >= 2 and <= 1,000 partitions; else none |
| partition    | postgres: no event time, N >= 10M, primary key                          | hash(first key column, 8)         |
| order by     | ReplacingMergeTree                                                      | primary key, fewest distinct first|
| order by     | dimension / reference                                                   | its key                           |
| order by     | fact / event log: logged filter dims (no log: <= 2 balanced short codes), event time, key;    |
|              | otherwise <= 2 low-cardinality dims, event time; else key (Redshift SORTKEY leads with time)  |
| types        | see :mod:`etl_assets.recommend.types` (narrowest type, NOT NULL, lengths, closed sets)       |
| primary key  | declared key, else the candidate key (profile or exact discovery) with fewest, integer columns; |
|              | never one with free text or floats (unique by accident)                  | kept if it has no NULLs           |
| LowCardinal. | string, 1..10,000 distinct, distinct share <= 50%                       | LowCardinality(String)            |
| pg indexes   | primary key                                                             | BTREE (via PRIMARY KEY)           |
| pg indexes   | event time of an append-only table, N >= 1M (and of every time partition) | BRIN                            |
| pg indexes   | column filtered/joined/sorted in the log; else an *_id column, N >= 100k | BTREE                            |
| pg indexes   | json column / text filtered with LIKE in the log (never without a log) | GIN / GIN gin_trgm_ops (pg_trgm)  |
| ch indexes   | equality filter, > 10,000 distinct (no log: *_id/uuid, >= 100 distinct) | bloom_filter                      |
| ch indexes   | equality filter, <= 10,000 distinct                                     | set                               |
| ch indexes   | range filter on a number/date not leading the ORDER BY                  | minmax                            |
| ch indexes   | LIKE filter on a string                                                 | ngrambf_v1                        |
| distribution | N < 100k                                                                | all                               |
| distribution | most-joined column (log), the foreign key with most distinct values, or first key column | key |
| cadence      | Kafka                                                                   | streaming                         |
| cadence      | the most frequent of: >= 1M rows/day: */15 min; >= 10k rows/day: hourly; freshness check      |
|              | <= 1 h: */15 min, <= 48 h: hourly; else daily (never from how often loads ran)                |

Columns that are NULL in every row, or hold one distinct value, never become keys, partitions or indexes; key
columns with NULLs are dropped from keys; string columns longer than 2,000 characters get no BTREE and longer than
10,000 no trigram index.
"""

from __future__ import annotations

from collections.abc import Mapping

from etl_assets.catalog import SourceTable
from etl_assets.profile.model import TableProfile
from etl_assets.recommend.facts import (
    BIG_ROWS,
    LOW_CARDINALITY_MAX,
    SMALL_TABLE_ROWS,
    Facts,
    find_column,
    gather_facts,
    is_low_cardinality,
    span_text,
)
from etl_assets.recommend.indexes import choose_indexes
from etl_assets.recommend.layout import choose_order_by, choose_partitioning
from etl_assets.recommend.model import Index, Reason, Recommendation
from etl_assets.recommend.querylog import TableUsage
from etl_assets.recommend.roles import add_relationships, choose_role, main_join_key, measures
from etl_assets.recommend.types import choose_column_types, match_references
from etl_assets.recommend.wording import append_only_fact, cadence_words, key_facts, summarize
from etl_assets.relationships.model import Relationships

ROWS_PER_DAY_ANALYTICAL = 100_000
FACT_ANALYTICAL_ROWS = 100_000
"""A fact with measures this big goes to the column store (scans and GROUP BY over few columns)."""
WIDE_TABLE_COLUMNS = 30
CADENCE_ORDER = ("streaming", "*/15 * * * *", "hourly", "daily")
ROWS_PER_DAY_15_MIN = 1_000_000
ROWS_PER_DAY_HOURLY = 10_000


def recommend(
    profile: TableProfile, table: SourceTable | None = None, usage: TableUsage | None = None,
    relationships: Relationships | None = None, column_types: Mapping[str, str] | None = None,
) -> Recommendation:
    """The storage recommendation for one table; pure and deterministic (no LLM, no I/O).

    ``column_types``: the table's datasources.yaml override (column -> logical type), which wins over the profile."""
    facts = gather_facts(profile, table, usage, relationships)
    recommendation = Recommendation(source=profile.source, table=profile.table, target_store="postgres")
    _note_unusable_columns(facts, recommendation)
    recommendation.event_time = facts.event_time.name if facts.event_time is not None else None
    choose_role(facts, relationships, recommendation)
    _choose_target(facts, recommendation)
    _choose_primary_key(facts, recommendation)
    if recommendation.target_store == "clickhouse":
        _choose_engine(facts, recommendation)
    add_relationships(facts, relationships, recommendation)
    choose_partitioning(facts, recommendation)
    choose_order_by(facts, recommendation)
    _choose_low_cardinality(facts, recommendation)
    _note_aggregated(facts, recommendation)
    choose_indexes(facts, recommendation)
    _choose_distribution(facts, recommendation)
    _choose_cadence(facts, recommendation)
    _choose_column_types(facts, table, recommendation, column_types)
    recommendation.summary = summarize(facts, recommendation)
    return recommendation


def _choose_column_types(facts: Facts, table: SourceTable | None, recommendation: Recommendation,
                         overrides: Mapping[str, str] | None) -> None:
    keys = {*recommendation.primary_key, *recommendation.order_by,
            *([recommendation.partition_column] if recommendation.partition_column else [])}
    if facts.sync_cursor:
        keys.add(facts.sync_cursor)
    own = choose_column_types(facts.profile, table.schema if table else None, facts.sync_mode, keys, overrides)
    recommendation.column_types = match_references(own, recommendation.foreign_keys)
    for chosen in recommendation.column_types:
        recommendation.reasons.append(Reason(
            f"{chosen.name}: {chosen.logical}{'' if chosen.nullable else ' NOT NULL'}", chosen.reason))


def _note_aggregated(facts: Facts, recommendation: Recommendation) -> None:
    """The columns the query log aggregates, most aggregated first: column stores keep them fast to decode."""
    if facts.usage is None:
        return
    used = {c.name: facts.usage.column(c.name) for c in facts.profile.columns}
    recommendation.aggregated = sorted((name for name, u in used.items() if u.aggregate),
                                       key=lambda name: -used[name].aggregate)
    if recommendation.aggregated:
        recommendation.reasons.append(Reason(
            f"aggregated by the query log: {', '.join(recommendation.aggregated)}",
            "; ".join(f"{name}: {used[name].describe()}" for name in recommendation.aggregated)))


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
    role = _role_target(facts, rows)
    if role:
        return role
    if usage is not None and usage.queries and rows >= SMALL_TABLE_ROWS:
        grouped = sum(c.group_by for c in usage.columns.values())
        if grouped * 2 >= usage.queries:
            return "clickhouse", "ClickHouse: aggregation-heavy reads", \
                f"row_count={rows:,}; GROUP BY in {grouped:,} of {usage.queries:,} logged executions"
    shape = "no date/timestamp column" if event is None else f"row_count={rows:,} < {BIG_ROWS:,}"
    return "postgres", "PostgreSQL: small or transactional table", f"row_count={rows:,}; {shape}"


def _role_target(facts: Facts, rows: int) -> tuple[str, str, str] | None:
    found = measures(facts)
    if facts.event_time is not None and found and rows >= FACT_ANALYTICAL_ROWS:
        return "clickhouse", "ClickHouse: a time-series table of measures", \
            f"row_count={rows:,} >= {FACT_ANALYTICAL_ROWS:,}; {span_text(facts)}; measures " \
            f"{', '.join(c.name for c in found[:5])}"
    width = len(facts.profile.columns)
    if width >= WIDE_TABLE_COLUMNS and rows >= FACT_ANALYTICAL_ROWS:
        return "clickhouse", "ClickHouse: a wide table (columnar reads touch few columns)", \
            f"{width} columns >= {WIDE_TABLE_COLUMNS}; row_count={rows:,}"
    return None


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


def _choose_low_cardinality(facts: Facts, recommendation: Recommendation) -> None:
    for column in facts.profile.columns:
        if column.logical_type == "string" and column.null_share < 1 and is_low_cardinality(column, facts.rows):
            recommendation.low_cardinality.append(column.name)
            recommendation.reasons.append(Reason(
                f"LowCardinality(String) for {column.name}",
                f"{column.name}: {column.distinct_count:,} distinct of {facts.rows:,} rows "
                f"(<= {LOW_CARDINALITY_MAX:,})",
            ))


def _distinct(facts: Facts, name: str) -> int:
    column = find_column(facts.profile, name)
    return column.distinct_count if column is not None else 0


def _choose_distribution(facts: Facts, recommendation: Recommendation) -> None:
    if 0 < facts.rows < SMALL_TABLE_ROWS and recommendation.target_store != "kafka":
        recommendation.distribution = "all"
        recommendation.reasons.append(Reason(
            "MPP stores: copy to every node (DISTSTYLE ALL)", f"row_count={facts.rows:,} < {SMALL_TABLE_ROWS:,}"))
        return
    joined = [n for n in facts.usage.ranked("join") if find_column(facts.profile, n)] if facts.usage else []
    foreign = main_join_key(recommendation, facts)
    key = joined[:1] or ([foreign] if foreign else []) or recommendation.primary_key[:1]
    if not key:
        recommendation.distribution = "even"
        return
    recommendation.distribution, recommendation.distribution_key = "key", key
    fact = f"{key[0]}: {facts.usage.column(key[0]).describe()}" if joined and facts.usage else \
        f"{key[0]} is the foreign key with the most distinct values ({_distinct(facts, key[0]):,})" if foreign else \
        f"{key[0]} is the first primary key column, {_distinct(facts, key[0]):,} distinct of {facts.rows:,} rows"
    recommendation.reasons.append(Reason(f"distribute/shard rows by {key[0]}", fact))


def _choose_cadence(facts: Facts, recommendation: Recommendation) -> None:
    candidates = _cadence_candidates(facts)
    cadence, fact = min(candidates, key=lambda c: CADENCE_ORDER.index(c[0]))
    recommendation.refresh_cadence = cadence
    recommendation.reasons.append(Reason(f"refresh {cadence_words(cadence)}", fact))


def _cadence_candidates(facts: Facts) -> list[tuple[str, str]]:
    """The rate of change (rows/day from the ingestion log or the event time's spread) and the freshness setting;
    never how often loads happened to run."""
    if facts.kind == "kafka":
        return [("streaming", "source is a Kafka topic")]
    candidates = [("daily", f"{_change_text(facts)}; no fast growth or tight freshness")]
    per_day = facts.rows_per_day or 0
    if per_day >= ROWS_PER_DAY_15_MIN:
        candidates.append(("*/15 * * * *", f"grows {per_day:,.0f} rows/day ({facts.rows_per_day_origin})"))
    elif per_day >= ROWS_PER_DAY_HOURLY:
        candidates.append(("hourly", f"grows {per_day:,.0f} rows/day ({facts.rows_per_day_origin})"))
    if facts.freshness_hours is not None:
        fresh = facts.freshness_hours
        if fresh <= 1:
            candidates.append(("*/15 * * * *", f"freshness check allows {fresh:g} h"))
        elif fresh <= 48:
            candidates.append(("hourly", f"freshness check allows {fresh:g} h"))
    return candidates


def _change_text(facts: Facts) -> str:
    if facts.rows_per_day is None:
        return f"sync mode {facts.sync_mode}; no measured growth"
    return f"grows {facts.rows_per_day:,.0f} rows/day ({facts.rows_per_day_origin})"
