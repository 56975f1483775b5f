"""The statements of key and relationship discovery, as sqlglot trees rendered for PostgreSQL or ClickHouse.

Every identifier is quoted and every value is a literal node, so odd names and values are safe. Each statement
returns one row of aggregates; the callers compare the numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlglot import exp

SUBSET_ROWS = 20_000
"""Rows of the bounded subset that screens keys (a duplicate there disproves a key) and probes inclusions."""


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def table_of(namespace: str, table: str, alias: str | None = None) -> exp.Table:
    node = exp.table_(table, db=namespace, quoted=True)
    return node.as_(alias) if alias else node


def _number(value: float) -> exp.Literal:
    return exp.Literal.number(value)


def _not_null(names: Sequence[str], table: str | None = None) -> exp.Expression:
    return exp.and_(*[exp.not_(exp.Is(this=col(n, table), expression=exp.Null())) for n in names])


def _tuple(names: Sequence[str], table: str | None = None) -> exp.Expression:
    return col(names[0], table) if len(names) == 1 else exp.Tuple(expressions=[col(n, table) for n in names])


def _count_distinct(names: Sequence[str]) -> exp.Expression:
    return exp.Count(this=exp.Distinct(expressions=[_tuple(names)]))


def _sortable(dialect: str, family: str, value: exp.Expression) -> exp.Expression:
    """Values as min/max compare them like Python does: PostgreSQL strings in byte order ("C"), uuids as text."""
    if dialect == "postgres" and family in ("string", "uuid"):
        text = exp.cast(value, "TEXT") if family == "uuid" else value
        return exp.Collate(this=text, expression=exp.column("C", quoted=True))
    return value


def _render(dialect: str, expression: exp.Expression) -> str:
    return expression.sql(dialect)


def facts_sql(dialect: str, namespace: str, table: str, columns: Sequence[tuple[str, str]]) -> str:
    """Row count and, per ``(column, family)``: non-NULL count, min, max (and min/max length of strings)."""
    selections: list[exp.Expression] = [exp.Count(this=exp.Star()).as_("n")]
    for i, (name, family) in enumerate(columns):
        value = _sortable(dialect, family, col(name))
        selections += [exp.Count(this=col(name)).as_(f"c{i}_n"), exp.Min(this=value).as_(f"c{i}_min"),
                       exp.Max(this=value).as_(f"c{i}_max")]
        if family == "string":
            selections += [exp.Min(this=exp.Length(this=col(name))).as_(f"c{i}_minlen"),
                           exp.Max(this=exp.Length(this=col(name))).as_(f"c{i}_len")]
    return _render(dialect, exp.select(*selections).from_(table_of(namespace, table)))


def subset_sql(dialect: str, namespace: str, table: str, combos: Sequence[Sequence[str]],
               rows: int = SUBSET_ROWS) -> str:
    """Over the first ``rows`` rows: their number ``n``, and per combination its non-NULL rows ``n{i}`` and distinct
    values ``u{i}`` (a combination of NULL-free columns repeats a value there when ``u{i} < n``)."""
    names = list(dict.fromkeys(name for combo in combos for name in combo))
    subset = exp.select(*[col(n) for n in names]).from_(table_of(namespace, table)).limit(rows).subquery("s")
    selections: list[exp.Expression] = [exp.Count(this=exp.Star()).as_("n")]
    for i, combo in enumerate(combos):
        non_null = exp.Sum(this=exp.If(this=_not_null(combo), true=_number(1), false=_number(0)))
        selections += [exp.Coalesce(this=non_null, expressions=[_number(0)]).as_(f"n{i}"),
                       _count_distinct(combo).as_(f"u{i}")]
    return _render(dialect, exp.select(*selections).from_(subset))


def distinct_sql(dialect: str, namespace: str, table: str, names: Sequence[str]) -> str:
    """The exact distinct count ``d{i}`` of each column over the whole table."""
    selections = [exp.Count(this=exp.Distinct(expressions=[col(n)])).as_(f"d{i}") for i, n in enumerate(names)]
    return _render(dialect, exp.select(*selections).from_(table_of(namespace, table)))


def _distinct_rows(namespace: str, table: str, names: Sequence[str]) -> exp.Expression:
    inner = (exp.select(*[col(n) for n in names]).distinct().from_(table_of(namespace, table))
             .where(_not_null(names)))
    return exp.select(exp.Count(this=exp.Star())).from_(inner.subquery("d"))


def combo_distinct_sql(dialect: str, namespace: str, table: str, names: Sequence[str]) -> str:
    """The exact number ``n`` of distinct NULL-free combinations of ``names``."""
    return _render(dialect, exp.select(_distinct_rows(namespace, table, names).subquery().as_("n")))


def _dependent_subset(namespace: str, table: str, names: Sequence[str], rows: int) -> exp.Select:
    return (exp.select(*[col(n) for n in names]).from_(table_of(namespace, table)).where(_not_null(names))
            .limit(rows))


def literal(value: Any) -> exp.Expression:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.Literal.number(value) if isinstance(value, int) else exp.Literal.string(str(value))


def _count_if(condition: exp.Expression) -> exp.Expression:
    return exp.Sum(this=exp.If(this=condition, true=_number(1), false=_number(0)))


def probe_sql(dialect: str, key: tuple[str, str, Sequence[str]],
              dependents: Sequence[tuple[str, str, Sequence[str], tuple[Any, Any] | None]],
              rows: int = SUBSET_ROWS) -> str:
    """One scan of the referenced table ``key = (namespace, table, columns)``: per dependent ``(namespace, table,
    columns, value range)``, ``s{i}`` its distinct values among its first ``rows`` non-NULL rows, ``m{i}`` how many
    of those are key values (the key is unique, so matching key rows count matching values) and, given a range,
    ``r{i}`` the key values within it (how dense the key is where the dependent's values lie)."""
    namespace, table, key_columns = key
    selections: list[exp.Expression] = []
    for i, (dep_namespace, dep_table, columns, value_range) in enumerate(dependents):
        subset = _dependent_subset(dep_namespace, dep_table, columns, rows)
        sampled = exp.select(_count_distinct(columns)).from_(subset.subquery("s"))
        matched = exp.In(this=_tuple(key_columns), query=subset.subquery())
        selections += [sampled.subquery().as_(f"s{i}"), _count_if(matched).as_(f"m{i}")]
        if value_range is not None:
            within = exp.Between(this=col(key_columns[0]), low=literal(value_range[0]), high=literal(value_range[1]))
            selections.append(_count_if(within).as_(f"r{i}"))
    return _render(dialect, exp.select(*selections).from_(table_of(namespace, table)))


def orphans_sql(dialect: str, dependent: tuple[str, str, Sequence[str]], key: tuple[str, str, Sequence[str]],
                dense_range: tuple[Any, Any] | None = None) -> str:
    """``distinct_values``: distinct NULL-free values (tuples) of the dependent columns; ``orphans``: how many of
    them the key lacks. A gap-free integer key ``dense_range=(low, high)`` holds exactly the values in that range,
    so no join is needed; otherwise an anti-join (PostgreSQL ``NOT EXISTS``, ClickHouse ``NOT IN``)."""
    namespace, table, columns = dependent
    key_namespace, key_table, key_columns = key
    distinct_values = _distinct_rows(namespace, table, columns)
    if dense_range is not None:
        low, high = dense_range
        outside = exp.or_(col(columns[0]) < literal(low), col(columns[0]) > literal(high))
        missing: exp.Expression = outside
    elif dialect == "clickhouse":
        missing = exp.not_(exp.In(this=_tuple(columns),
                                  query=exp.select(*[col(k) for k in key_columns])
                                  .from_(table_of(key_namespace, key_table)).subquery()))
    else:
        match = exp.and_(*[col(k, "k").eq(col(c, "d")) for k, c in zip(key_columns, columns)])
        missing = exp.not_(exp.Exists(this=exp.select(_number(1)).from_(table_of(key_namespace, key_table, "k"))
                                      .where(match)))
    orphan_values = (exp.select(*[col(c, "d") for c in columns]).distinct()
                     .from_(table_of(namespace, table, "d")).where(exp.and_(_not_null(columns, "d"), missing)))
    orphans = exp.select(exp.Count(this=exp.Star())).from_(orphan_values.subquery("o"))
    return _render(dialect, exp.select(distinct_values.subquery().as_("distinct_values"),
                                       orphans.subquery().as_("orphans")))
