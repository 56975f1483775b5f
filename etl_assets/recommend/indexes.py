"""Secondary indexes: PostgreSQL BTREE, BRIN, GIN and trigram indexes, ClickHouse data-skipping indexes.

The rows "pg indexes" and "ch indexes" of the rule table in :mod:`etl_assets.recommend.decisions`.
"""

from __future__ import annotations

import re

from etl_assets.profile.model import ColumnProfile
from etl_assets.recommend.facts import BIG_ROWS, SMALL_TABLE_ROWS, TIME_TYPES, Facts, is_low_cardinality, span_text
from etl_assets.recommend.model import Index, Reason, Recommendation

BTREE_MAX_CHARS = 2_000
TRIGRAM_MAX_CHARS = 10_000
NUMERIC_PREFIXES = ("int", "float", "decimal")
_ID_LIKE = re.compile(r"(^id$|_id$|uuid)", re.IGNORECASE)


def choose_indexes(facts: Facts, recommendation: Recommendation) -> None:
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
                   f"append-only (sync {facts.sync_mode}); row_count={facts.rows:,}; {span_text(facts)}")
    for column in _indexable(facts, recommendation):
        method, fact = _postgres_index_rule(facts, column)
        if method:
            _add_index(recommendation, (column.name,), method, fact)


def _postgres_index_rule(facts: Facts, column: ColumnProfile) -> tuple[str, str]:
    usage = facts.usage.column(column.name) if facts.usage else None
    long_text = (column.max_length or 0) > BTREE_MAX_CHARS
    if column.logical_type == "json":
        return "gin", f"{column.name} is json ({column.null_count:,} NULLs of {facts.rows:,}): containment queries"
    if column.logical_type == "string" and (column.max_length or 0) <= TRIGRAM_MAX_CHARS and usage is not None \
            and usage.like:
        return "gin_trgm", f"{column.name}: {usage.describe()}; substring search needs pg_trgm's gin_trgm_ops"
    if usage is not None and (usage.equality or usage.range or usage.join or usage.order_by) and not long_text:
        return "btree", f"{column.name}: {usage.describe()} in the query log"
    if facts.usage is None and _ID_LIKE.search(column.name) and facts.rows >= SMALL_TABLE_ROWS and not long_text:
        return "btree", f"{column.name}: identifier-like name, {column.distinct_count:,} distinct of " \
                        f"{facts.rows:,} rows (likely join key)"
    return "", ""


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
        low = is_low_cardinality(column, facts.rows)
        return ("set" if low else "bloom_filter"), f"{column.name}: {usage.describe()}; {cardinality}"
    numeric = column.logical_type.startswith(NUMERIC_PREFIXES) or column.logical_type in TIME_TYPES
    if usage is not None and usage.range and numeric:
        return "minmax", f"{column.name}: {usage.describe()}; range {column.min}..{column.max}"
    if facts.usage is None and (_ID_LIKE.search(column.name) or column.semantic_type == "uuid") \
            and column.distinct_count >= 100 and not is_low_cardinality(column, facts.rows):
        return "bloom_filter", f"{column.name}: identifier-like, {cardinality} (point lookups and joins)"
    return "", ""
