"""The representative queries a proof times on both layouts, as sqlglot trees over a placeholder table.

With a query log, they are the logged statements that read the table (most run first); without one, they are
derived from the profile and the recommendation: a time-range filter on the time column, a GROUP BY on the
low-cardinality columns, a point lookup on the key, and a join on each found relationship. Values come from the
loaded sample (``SampleFacts``), so every filter selects rows that exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from etl_assets.profile.model import COORDINATES, ColumnProfile, TableProfile
from etl_assets.recommend.model import Recommendation
from etl_assets.recommend.querylog import LoggedQuery

PLACEHOLDER = "__aietl_proof_table__"
"""Stands for the measured table (naive or recommended) until :func:`render` puts the real one in."""
LAYOUT_NAMESPACE = "__aietl_proof_layout__"
"""Stands for the measured layout's namespace in a join: each layout joins its own layout of the dimension."""
TIME_WINDOW_SHARE = 0.1
"""The time-range query reads this share of the sample's time span, from its middle."""
GROUP_BY_COLUMNS = 2
GROUP_BY_MAX_DISTINCT = 10_000
"""A GROUP BY on low-cardinality columns makes at most this many groups (product of their distinct counts): two
columns of thousands of values each (postcode halves) group a sample into nearly one group per row, a
deduplication rather than the aggregation a dashboard runs."""
MAX_LOGGED_QUERIES = 10
MAX_JOINS = 2
NUMERIC_TYPES = ("int16", "int32", "int64", "float32", "float64")
TIME_TYPES = ("date", "timestamp", "timestamptz")


@dataclass(frozen=True)
class ProofQuery:
    name: str
    kind: str
    tree: exp.Query


@dataclass(frozen=True)
class JoinTarget:
    """A found relationship: ``columns`` of the measured table reference ``ref_columns`` of ``table``, laid out
    beside it in the same namespace (``etl_assets.proof.dimensions``)."""

    columns: tuple[str, ...]
    table: str
    ref_columns: tuple[str, ...]


@dataclass
class SampleFacts:
    """What the loaded sample holds, read back from the naive table."""

    rows: int
    time_range: tuple[Any, Any] | None = None
    key_row: dict[str, Any] = field(default_factory=dict)


def time_column(profile: TableProfile, recommendation: Recommendation) -> str | None:
    """The partition column when there is one, else the profile's first time column."""
    if recommendation.partition_column:
        return recommendation.partition_column
    names = {c.name for c in profile.columns if c.logical_type in TIME_TYPES}
    return next((name for name in profile.time_columns if name in names), None)


def key_columns(profile: TableProfile, recommendation: Recommendation) -> list[str]:
    if recommendation.primary_key:
        return list(recommendation.primary_key)
    return list(profile.candidate_keys[0]) if profile.candidate_keys else []


def derived_queries(profile: TableProfile, recommendation: Recommendation, facts: SampleFacts,
                    joins: Sequence[JoinTarget] = ()) -> list[ProofQuery]:
    queries = [*_time_range(profile, recommendation, facts), *_group_by(profile, recommendation),
               *_point_lookup(facts), *(_join(target) for target in joins[:MAX_JOINS])]
    return queries


def _time_range(profile: TableProfile, recommendation: Recommendation, facts: SampleFacts) -> list[ProofQuery]:
    column = time_column(profile, recommendation)
    if column is None or facts.time_range is None or None in facts.time_range:
        return []
    low, high = window(*facts.time_range)
    condition = exp.and_(exp.GTE(this=_column(column), expression=_literal(low)),
                         exp.LT(this=_column(column), expression=_literal(high)))
    projections = [exp.Count(this=exp.Star()).as_("row_count"), *_measure_sums(profile, recommendation, 1)]
    tree = exp.select(*projections).from_(_placeholder()).where(condition)
    return [ProofQuery(f"time range on {column} ({TIME_WINDOW_SHARE:.0%} of the span)", "time_range", tree)]


def window(low: Any, high: Any) -> tuple[Any, Any]:
    """The middle ``TIME_WINDOW_SHARE`` of ``low..high`` in whole seconds (a layout may store seconds only);
    dates stay dates, at least one day wide."""
    span = high - low
    width = span * TIME_WINDOW_SHARE
    start = low + (span - width) / 2
    if isinstance(low, date) and not isinstance(low, datetime):
        start = low + timedelta(days=(span.days - max(1, width.days)) // 2)
        return start, start + timedelta(days=max(1, width.days))
    start = start.replace(microsecond=0)
    return start, start + max(timedelta(seconds=round(width.total_seconds())), timedelta(seconds=1))


def _group_by(profile: TableProfile, recommendation: Recommendation) -> list[ProofQuery]:
    columns = group_columns(profile, recommendation)
    if not columns:
        return []
    projections = [*(_column(c) for c in columns), exp.Count(this=exp.Star()).as_("row_count"),
                   *_measure_sums(profile, recommendation, 2)]
    tree = exp.select(*projections).from_(_placeholder()).group_by(*(_column(c) for c in columns))
    return [ProofQuery(f"group by {', '.join(columns)}", "group_by", tree)]


def group_columns(profile: TableProfile, recommendation: Recommendation) -> list[str]:
    """The recommendation's low-cardinality columns, else the profile's columns with few distinct values, fewest
    distinct values first, as many (up to ``GROUP_BY_COLUMNS``) as make at most ``GROUP_BY_MAX_DISTINCT`` groups;
    none that repeats another one to one (grouping by a code and its name makes the groups of the code alone)."""
    by_name = {c.name: c for c in profile.columns}
    candidates = [by_name[name] for name in recommendation.low_cardinality if name in by_name]
    if not candidates:
        rows = max(profile.row_count, 1)
        candidates = [c for c in profile.columns if c.distinct_count / rows <= 0.5
                      and c.logical_type not in (*TIME_TYPES, "float32", "float64", "json", "binary")]
    chosen: list[str] = []
    groups = 1
    for column in sorted((c for c in candidates if c.distinct_count > 1), key=lambda c: c.distinct_count):
        if profile.repeats(column.name, chosen):
            continue
        if len(chosen) == GROUP_BY_COLUMNS or groups * column.distinct_count > GROUP_BY_MAX_DISTINCT:
            break
        chosen.append(column.name)
        groups *= column.distinct_count
    return chosen


def _measure_sums(profile: TableProfile, recommendation: Recommendation, limit: int) -> list[exp.Expr]:
    """Sums of the measures with the most distinct values (quantities, not codes such as a year or a month);
    key, sort, low-cardinality and foreign-key columns and coordinates are never summed."""
    excluded = {*recommendation.primary_key, *recommendation.order_by, *recommendation.low_cardinality,
                *(name for fk in recommendation.foreign_keys for name in fk.columns)}
    candidates = [c for c in profile.columns if _is_measure(c) and c.name not in excluded]
    measures = [c.name for c in sorted(candidates, key=lambda c: -c.distinct_count)][:limit]
    return [exp.Sum(this=_column(name)).as_(f"sum_{i}") for i, name in enumerate(measures)]


def _is_measure(column: ColumnProfile) -> bool:
    numeric = column.logical_type in NUMERIC_TYPES or column.logical_type.startswith("decimal")
    kept = column.semantic_type not in ("identifier", "boolean", *COORDINATES)
    return numeric and kept and column.distinct_count > 1


def _point_lookup(facts: SampleFacts) -> list[ProofQuery]:
    if not facts.key_row or any(value is None for value in facts.key_row.values()):
        return []
    condition = exp.and_(*(exp.EQ(this=_column(name), expression=_literal(value))
                           for name, value in facts.key_row.items()))
    tree = exp.select(exp.Star()).from_(_placeholder()).where(condition)
    return [ProofQuery(f"point lookup on {', '.join(facts.key_row)}", "point_lookup", tree)]


def _join(target: JoinTarget) -> ProofQuery:
    fact, dim = "f", "d"
    on = exp.and_(*(exp.EQ(this=exp.column(c, table=fact, quoted=True), expression=exp.column(r, table=dim,
                                                                                                quoted=True))
                    for c, r in zip(target.columns, target.ref_columns, strict=True)))
    ref = exp.Table(this=_ident(target.table), db=exp.to_identifier(LAYOUT_NAMESPACE),
                    alias=exp.TableAlias(this=_ident(dim)))
    tree = (exp.select(exp.Count(this=exp.Star()).as_("row_count")).from_(_placeholder(fact))
            .join(ref, on=on, join_type="inner"))
    return ProofQuery(f"join on {', '.join(target.columns)} -> {target.table}", "join", tree)


def logged_queries(queries: Iterable[LoggedQuery], table: str, dialect: str, other_tables_namespace: str,
                   problems: list[str] | None = None) -> list[ProofQuery]:
    """The logged statements that read ``table``, most run first, with ``table`` replaced by the placeholder and
    other unqualified tables qualified with ``other_tables_namespace`` (where the source's raw tables are)."""
    counts: dict[str, tuple[int, str]] = {}
    for query in queries:
        calls, location = counts.get(query.sql, (0, query.location))
        counts[query.sql] = (calls + query.calls, location)
    chosen: list[ProofQuery] = []
    for text, (_, location) in sorted(counts.items(), key=lambda item: -item[1][0]):
        try:
            tree = sqlglot.parse_one(text, read=dialect)
        except SqlglotError as error:
            (problems if problems is not None else []).append(f"{location}: {str(error).splitlines()[0]}")
            continue
        if not isinstance(tree, exp.Query) or not _reads(tree, table):
            continue
        chosen.append(ProofQuery(f"logged query {location}", "logged", _retarget(tree, table, other_tables_namespace)))
        if len(chosen) == MAX_LOGGED_QUERIES:
            break
    return chosen


def _reads(tree: exp.Expr, table: str) -> bool:
    return any(t.name.lower() == table.lower() for t in tree.find_all(exp.Table))


def _retarget(tree: exp.Query, table: str, namespace: str) -> exp.Query:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}

    def swap(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Table) or not node.name or node.name.lower() in ctes:
            return node
        if node.name.lower() == table.lower():
            placeholder = _placeholder()
            placeholder.set("alias", node.args.get("alias") or exp.TableAlias(this=_ident(node.name)))
            return placeholder
        if not node.args.get("db"):
            node = node.copy()
            node.set("db", _ident(namespace))
        return node

    return tree.transform(swap)


def render(query: ProofQuery, namespace: str, table: str, dialect: str) -> str:
    """The query's SQL in ``dialect`` with the placeholder replaced by ``namespace.table`` (and a joined
    dimension's placeholder namespace by ``namespace``)."""
    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and node.name == PLACEHOLDER:
            return exp.Table(this=_ident(table), db=_ident(namespace), alias=node.args.get("alias"))
        if isinstance(node, exp.Table) and node.db == LAYOUT_NAMESPACE:
            return exp.Table(this=node.this.copy(), db=_ident(namespace), alias=node.args.get("alias"))
        return node

    return query.tree.transform(swap).sql(dialect=dialect)


def _placeholder(alias: str | None = None) -> exp.Table:
    return exp.Table(this=exp.to_identifier(PLACEHOLDER),
                     alias=exp.TableAlias(this=_ident(alias)) if alias else None)


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _column(name: str) -> exp.Column:
    return exp.Column(this=_ident(name))


def _literal(value: Any) -> exp.Expr:
    """A literal the engines compare with the column's own type (times as text without a zone: both read it)."""
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float, Decimal)):
        return exp.Literal.number(str(value))
    if isinstance(value, datetime):
        utc = value.astimezone(timezone.utc) if value.tzinfo else value
        return exp.Literal.string(utc.replace(tzinfo=None).isoformat(sep=" "))
    if isinstance(value, date):
        return exp.Literal.string(value.isoformat())
    return exp.Literal.string(str(value))
