"""The statements of key and relationship discovery, as sqlglot trees rendered for PostgreSQL or ClickHouse.

Every identifier is quoted and every value is a literal node, so odd names and values are safe. Each statement
returns a row of aggregates, or one row per dependent checked; the callers compare the numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from sqlglot import exp

SUBSET_ROWS = 20_000
"""Rows of the bounded subset that screens keys (a duplicate there disproves a key)."""
PROBE_ROWS = 2_000
"""First NULL-free rows of a dependent whose values are looked up in a key before the exact check."""


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


def facts_sql(dialect: str, namespace: str, table: str, columns: Sequence[tuple[str, str]],
              distinct: Sequence[str] = ()) -> str:
    """Row count and, per ``(column, family)``: non-NULL count, min, max (and min/max length of strings); for the
    columns named in ``distinct``, their exact distinct count ``c{i}_d`` (each its own sub-select: one sort at a time
    runs faster than several fed row by row side by side, and the aggregates keep their parallel scan)."""
    selections: list[exp.Expression] = [exp.Count(this=exp.Star()).as_("n")]
    for i, (name, family) in enumerate(columns):
        value = _sortable(dialect, family, col(name))
        selections += [exp.Count(this=col(name)).as_(f"c{i}_n"), exp.Min(this=value).as_(f"c{i}_min"),
                       exp.Max(this=value).as_(f"c{i}_max")]
        if family == "string":
            selections += [exp.Min(this=exp.Length(this=col(name))).as_(f"c{i}_minlen"),
                           exp.Max(this=exp.Length(this=col(name))).as_(f"c{i}_len")]
        if name in distinct:
            selections.append(_distinct_count(namespace, table, name).as_(f"c{i}_d"))
    return _render(dialect, exp.select(*selections).from_(table_of(namespace, table)))


def subset_sql(dialect: str, namespace: str, table: str, combos: Sequence[Sequence[str]],
               rows: int = SUBSET_ROWS, strings: Sequence[str] = ()) -> str:
    """Over the first ``rows`` rows: their number ``n``, and per combination its non-NULL rows ``n{i}`` and distinct
    values ``u{i}`` (a combination of NULL-free columns repeats a value there when ``u{i} < n``); per column of
    ``strings`` its longest value ``l{i}`` there."""
    names = list(dict.fromkeys(name for combo in combos for name in combo))
    subset = exp.select(*[col(n) for n in names]).from_(table_of(namespace, table)).limit(rows).subquery("s")
    selections: list[exp.Expression] = [exp.Count(this=exp.Star()).as_("n")]
    for i, combo in enumerate(combos):
        non_null = exp.Sum(this=exp.If(this=_not_null(combo), true=_number(1), false=_number(0)))
        selections += [exp.Coalesce(this=non_null, expressions=[_number(0)]).as_(f"n{i}"),
                       _count_distinct(combo).as_(f"u{i}")]
        if len(combo) == 1 and combo[0] in strings:
            selections.append(exp.Max(this=exp.Length(this=col(combo[0]))).as_(f"l{i}"))
    return _render(dialect, exp.select(*selections).from_(subset))


def _distinct_count(namespace: str, table: str, name: str) -> exp.Expression:
    distinct = exp.Count(this=exp.Distinct(expressions=[col(name)]))
    return exp.select(distinct).from_(table_of(namespace, table)).subquery()


def distinct_sql(dialect: str, namespace: str, table: str, column_sets: Sequence[Sequence[str]],
                 repeated: Collection[str] = ()) -> str:
    """The exact number ``d{i}`` of distinct NULL-free values (tuples) of each column set over the whole table, one
    sub-select each: ``COUNT(DISTINCT)`` (a sort) for single columns, except those of ``repeated`` (few values,
    each many times) and composites, which are grouped (a hash of few groups beats sorting every row)."""
    selections = [(_distinct_count(namespace, table, names[0]) if len(names) == 1 and names[0] not in repeated
                   else _distinct_rows(namespace, table, names).subquery()).as_(f"d{i}")
                  for i, names in enumerate(column_sets)]
    return _render(dialect, exp.select(*selections))


def _distinct_rows(namespace: str, table: str, names: Sequence[str]) -> exp.Expression:
    inner = (exp.select(*[col(n) for n in names]).from_(table_of(namespace, table))
             .where(_not_null(names)).group_by(*[col(n) for n in names]))
    return exp.select(exp.Count(this=exp.Star())).from_(inner.subquery("d"))


def combo_distinct_sql(dialect: str, namespace: str, table: str, names: Sequence[str]) -> str:
    """The exact number ``n`` of distinct NULL-free combinations of ``names``."""
    return _render(dialect, exp.select(_distinct_rows(namespace, table, names).subquery().as_("n")))


def literal(value: Any) -> exp.Expression:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.Literal.number(value) if isinstance(value, int) else exp.Literal.string(str(value))


def _count_if(condition: exp.Expression) -> exp.Expression:
    return exp.Sum(this=exp.If(this=condition, true=_number(1), false=_number(0)))


Side = tuple[str, str, Sequence[str]]
"""``(namespace, table, columns)`` of a dependent column set or of a key."""


def _comparable(value: exp.Expression, family: str) -> exp.Expression:
    """uuids compare as text, so a uuid key and a text column holding uuids meet in one UNION and one join."""
    return exp.cast(value, "TEXT") if family == "uuid" else value


def _tagged(dependents: Sequence[Side], families: Sequence[str], rows: int | None,
            repeated: Collection[int] = ()) -> exp.Expression:
    """``UNION ALL`` of each dependent's NULL-free values as ``(i, v0, v1, ...)``, its first ``rows`` only when
    given, its distinct values for the dependents ``i`` in ``repeated`` (few values, each many times): every
    dependent of one key is then checked against one hash of the key."""
    parts = []
    for i, (namespace, table, columns) in enumerate(dependents):
        values = [_comparable(col(c), f).as_(f"v{j}") for j, (c, f) in enumerate(zip(columns, families))]
        part = exp.select(*values).from_(table_of(namespace, table)).where(_not_null(columns))
        if rows is not None:
            part = part.limit(rows)
        elif i in repeated:
            part = part.distinct()
        names = [col(f"v{j}", "s") for j in range(len(columns))]
        parts.append(exp.select(exp.Literal.number(i).as_("i"), *names).from_(part.subquery("s")))
    union = parts[0]
    for part in parts[1:]:
        union = exp.union(union, part, distinct=False)
    return union


def _in_key(dialect: str, key: Side, families: Sequence[str], source: str) -> exp.Expression:
    namespace, table, key_columns = key
    keys = exp.select(*[_comparable(col(k), f) for k, f in zip(key_columns, families)]).from_(
        table_of(namespace, table))
    values = [col(f"v{j}", source) for j in range(len(key_columns))]
    return exp.In(this=values[0] if len(values) == 1 else exp.Tuple(expressions=values), query=keys.subquery())


def _key_match(key: Side, families: Sequence[str], source: str) -> exp.Expression:
    _, _, key_columns = key
    return exp.and_(*[_comparable(col(k, "k"), f).eq(col(f"v{j}", source))
                      for j, (k, f) in enumerate(zip(key_columns, families))])


def probe_sql(dialect: str, key: Side, families: Sequence[str], dependents: Sequence[Side],
              rows: int = PROBE_ROWS) -> str:
    """Rows ``(i, s, m)`` to be summed per dependent ``i``: ``s`` distinct values among its first ``rows`` NULL-free
    rows, ``m`` how many of them are key values. The small sampled side is the one hashed: PostgreSQL joins it to
    one scan of the key (unique, so a joined row is a matched value), ClickHouse looks it up with ``IN``."""
    namespace, table, key_columns = key
    union = _tagged(dependents, families, rows)
    names = [col(f"v{j}") for j in range(len(key_columns))]
    sampled = exp.select(col("i"), *names).distinct().from_(union.subquery("u"))
    if dialect == "clickhouse":
        matched: exp.Expression = _count_if(_in_key(dialect, key, families, "d"))
        query = (exp.select(col("i", "d"), exp.Count(this=exp.Star()).as_("s"), matched.as_("m"))
                 .from_(sampled.subquery("d")).group_by(col("i", "d")))
        return _render(dialect, query)
    counted = (exp.select(col("i", "d"), exp.Count(this=exp.Star()).as_("s"), _number(0).as_("m"))
               .from_(exp.to_table("d").as_("d")).group_by(col("i", "d")))
    found = (exp.select(col("i", "d"), _number(0).as_("s"), exp.Count(this=exp.Star()).as_("m"))
             .from_(exp.to_table("d").as_("d"))
             .join(table_of(namespace, table, "k"), on=_key_match(key, families, "d"))
             .group_by(col("i", "d")))
    return _render(dialect, exp.union(counted, found, distinct=False).with_("d", as_=sampled))


def in_range_sql(dialect: str, key: Side, ranges: Sequence[tuple[Any, Any]]) -> str:
    """``r{i}``: the key values within each ``(low, high)`` (how dense the key is where a dependent's values lie)."""
    namespace, table, key_columns = key
    selections = [_count_if(exp.Between(this=col(key_columns[0]), low=literal(low), high=literal(high))).as_(f"r{i}")
                  for i, (low, high) in enumerate(ranges)]
    return _render(dialect, exp.select(*selections).from_(table_of(namespace, table)))


def orphans_sql(dialect: str, key: Side, families: Sequence[str], dependents: Sequence[Side],
                repeated: Collection[int] = ()) -> str:
    """Rows ``(i, orphans)``: per dependent ``i`` with any, its distinct NULL-free values (tuples) that the key
    lacks. One anti-join of all the dependents against one hash of the key (PostgreSQL ``NOT EXISTS``, ClickHouse
    ``NOT IN``), the ``repeated`` ones reduced to their distinct values first; only orphan rows reach the final
    ``DISTINCT``."""
    namespace, table, _ = key
    union = _tagged(dependents, families, None, repeated).subquery("u")
    if dialect == "clickhouse":
        missing = exp.not_(_in_key(dialect, key, families, "u"))
    else:
        missing = exp.not_(exp.Exists(this=exp.select(_number(1)).from_(table_of(namespace, table, "k"))
                                      .where(_key_match(key, families, "u"))))
    width = len(key[2])
    orphan_values = (exp.select(col("i", "u"), *[col(f"v{j}", "u") for j in range(width)]).distinct()
                     .from_(union).where(missing))
    query = (exp.select(col("i", "o"), exp.Count(this=exp.Star()).as_("orphans"))
             .from_(orphan_values.subquery("o")).group_by(col("i", "o")))
    return _render(dialect, query)


def outside_sql(dialect: str, dependent: Side, low: Any, high: Any) -> str:
    """``orphans``: distinct values of a single column outside ``[low, high]`` (a gap-free integer key holds exactly
    the values of its range, so no join is needed)."""
    namespace, table, columns = dependent
    outside = exp.or_(col(columns[0]) < literal(low), col(columns[0]) > literal(high))
    values = (exp.select(col(columns[0])).distinct().from_(table_of(namespace, table))
              .where(exp.and_(_not_null(columns), outside)))
    return _render(dialect, exp.select(exp.Count(this=exp.Star()).as_("orphans")).from_(values.subquery("o")))
