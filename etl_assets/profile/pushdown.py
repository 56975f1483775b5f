"""Profile a table where it lives: aggregate queries built with sqlglot and run by the warehouse (PostgreSQL or
ClickHouse), so only one row of aggregates, a few top-value rows and a bounded sample travel back.

Exact in SQL: row count, size, per column NULLs, distincts, min/max, mean/std, quantiles, lengths, top values,
duplicate rows and key uniqueness. From a bounded random sample (``sample_rows``): semantic types and patterns.
Identifiers are always quoted, so reserved words and odd names (``select``, ``group by``) are safe. What the
warehouse's catalog says (columns, native types, size) comes from its resource, and native types are read by its
connector's type mapper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa
from sqlglot import exp

from etl_assets.profile.model import ColumnProfile, GrowthFacts, TableProfile
from etl_assets.profile.profiler import (
    NUMERIC,
    QUANTILES,
    SAMPLE_ROWS,
    TEMPORAL,
    TEXTUAL,
    TOP_VALUES,
    annotate,
    arrow_column_profile,
    histogram_edges,
    candidate_keys,
    equivalent_columns,
    now_iso,
    quantile_label,
    shown,
    time_columns,
)
from etl_assets.profile.semantic import base_logical
from resources.clickhouse.types import CLICKHOUSE as CLICKHOUSE_TYPES
from resources.postgres.types import POSTGRES_TYPES_MAPPER as POSTGRES_TYPES
from resources.schema import TypeMapper


class Warehouse(Protocol):
    """What profiling uses of the warehouse resource (``PostgresResource`` / ``ClickHouseResource``)."""

    dialect: str

    def query_arrow(self, statement: str) -> pa.Table:
        """One SQL statement's result as Arrow."""

    def table_columns(self, namespace: str, table: str) -> list[tuple[str, str]]:
        """(name, native type) of each column in order; empty when the table does not exist."""

    def table_size_bytes(self, namespace: str, table: str) -> int | None: ...


SHOWN_CHARS = 80
SAMPLE_TEXT_CHARS = 4096
"""Text values in the sample are cut to this many characters: huge values cost no more than short ones."""
TOP_VALUES_MAX_DISTINCT = 1_000_000
"""Above this many distinct values a column's top values come from the sample instead of an exact GROUP BY."""
KEY_EXAMPLES = 5


class TableNotFoundError(LookupError):
    """The table to profile is not in the warehouse (not landed yet, or dropped)."""


@dataclass(frozen=True)
class Dialect:
    """What differs between the warehouses: function names, sampling, and the type mapper of native types."""

    name: str
    types: TypeMapper

    def logical_type(self, native_type: str) -> str:
        """The logical type of a native column type, as the warehouse's connector maps it."""
        return str(self.types.from_native(native_type))

    def text(self, column: exp.Expression) -> exp.Expression:
        return exp.cast(column, "TEXT")

    def prefix(self, column: exp.Expression, chars: int) -> exp.Expression:
        """The first ``chars`` characters of the value as text (UTF-8 safe)."""
        if self.name == "clickhouse":
            return exp.Anonymous(this="substringUTF8", expressions=[self.text(column), _number(1), _number(chars)])
        return exp.Substring(this=self.text(column), start=_number(1), length=_number(chars))

    def number(self, column: exp.Expression, logical: str) -> exp.Expression:
        """The value as a double; dates and timestamps as seconds since the epoch."""
        if logical not in TEMPORAL:
            return exp.cast(column, "DOUBLE")
        if self.name == "clickhouse":
            seconds = exp.Anonymous(this="toUnixTimestamp", expressions=[
                exp.Anonymous(this="toDateTime", expressions=[column, exp.Literal.string("UTC")])])
        else:
            seconds = exp.Extract(this=exp.var("EPOCH"), expression=column)
        return exp.cast(seconds, "DOUBLE")

    def quantile(self, column: exp.Expression, q: float) -> exp.Expression:
        if self.name == "clickhouse":
            return exp.ParameterizedAgg(this="quantileExactInclusive", expressions=[_number(q)], params=[column])
        return exp.PercentileCont(this=column, expression=_number(q))

    def sample_source(self, table: exp.Table, row_count: int, rows: int
                      ) -> tuple[exp.Expression, exp.Expression | None]:
        """The FROM clause and ORDER BY of a random sample of about ``rows`` rows."""
        if row_count <= rows:
            return table, None
        if self.name == "clickhouse":
            return table, exp.func("rand")
        share = min(100.0, 100.0 * rows * 1.5 / row_count)
        sampled = exp.TableSample(method=exp.var("BERNOULLI"), percent=exp.Literal.number(round(share, 6)),
                                  seed=_number(42))
        sampled_table = table.copy()
        sampled_table.set("sample", sampled)
        return sampled_table, None


POSTGRES = Dialect("postgres", POSTGRES_TYPES)
CLICKHOUSE = Dialect("clickhouse", CLICKHOUSE_TYPES)
DIALECTS = {"postgres": POSTGRES, "clickhouse": CLICKHOUSE}


def dialect_of(name: str) -> Dialect:
    if name not in DIALECTS:
        raise ValueError(f"profiling pushes SQL down to {sorted(DIALECTS)}; the warehouse dialect is {name!r}")
    return DIALECTS[name]


@dataclass(frozen=True)
class WarehouseColumn:
    name: str
    logical_type: str
    native_type: str


@dataclass
class KeyFacts:
    """Exact uniqueness facts about a (declared) key, for the primary-key check."""

    columns: list[str]
    rows: int
    null_keys: int
    duplicate_keys: int
    rows_in_duplicates: int
    examples: list[dict[str, Any]] = field(default_factory=list)


def _number(value: float) -> exp.Literal:
    return exp.Literal.number(value)


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _table(namespace: str, table: str) -> exp.Table:
    return exp.table_(table, db=namespace, quoted=True)


class PushdownProfiler:
    """Profiles ``namespace.table`` of ``warehouse``; every fact is one of a handful of SQL statements."""

    def __init__(self, warehouse: Warehouse, namespace: str, table: str):
        self.warehouse = warehouse
        self.query = warehouse.query_arrow
        self.dialect = dialect_of(warehouse.dialect)
        self.namespace = namespace
        self.table_name = table
        self.table = _table(namespace, table)

    def sql(self, expression: exp.Expression) -> str:
        return expression.sql(self.dialect.name)

    def warehouse_columns(self, known_types: dict[str, str] | None = None) -> list[WarehouseColumn]:
        """The table's columns as the warehouse has them; logical types from ``known_types`` (the catalog) where
        given, else mapped from the native type by the warehouse's type mapper."""
        known_types = known_types or {}
        listed = self.warehouse.table_columns(self.namespace, self.table_name)
        if not listed:
            raise TableNotFoundError(
                f"table {self.namespace}.{self.table_name} does not exist in the {self.dialect.name} warehouse"
            )
        return [WarehouseColumn(name, known_types.get(name) or self.dialect.logical_type(str(native)),
                                str(native))
                for name, native in listed]

    def stats_sql(self, columns: Sequence[WarehouseColumn]) -> str:
        selections: list[exp.Expression] = [exp.Count(this=exp.Star()).as_("row_count")]
        for i, column in enumerate(columns):
            selections.extend(self._column_aggregates(i, column))
        return self.sql(exp.select(*selections).from_(self.table))

    def _column_aggregates(self, i: int, column: WarehouseColumn) -> list[exp.Expression]:
        value = _col(column.name)
        logical = base_logical(column.logical_type)
        distinct_over = self.dialect.text(value) if logical == "json" else value
        aggregates = {
            "non_null": exp.Count(this=value),
            "distinct": exp.Count(this=exp.Distinct(expressions=[distinct_over])),
        }
        if logical in NUMERIC:
            number = exp.cast(value, "DOUBLE")
            aggregates |= {"min": exp.Min(this=value), "max": exp.Max(this=value),
                           "mean": exp.cast(exp.Avg(this=number), "DOUBLE"),
                           "std": exp.cast(exp.StddevSamp(this=number), "DOUBLE")}
            aggregates |= {quantile_label(q): exp.cast(self.dialect.quantile(number, q), "DOUBLE") for q in QUANTILES}
        elif logical in TEMPORAL:
            aggregates |= {"min": exp.Min(this=value), "max": exp.Max(this=value)}
        elif logical == "bool":
            aggregates["mean"] = exp.Avg(this=exp.If(this=value, true=_number(1.0), false=_number(0.0)))
        if logical in TEXTUAL:
            length = exp.Length(this=self.dialect.text(value))
            aggregates |= {"min_length": exp.Min(this=length), "max_length": exp.Max(this=length),
                           "mean_length": exp.cast(exp.Avg(this=length), "DOUBLE")}
            if logical != "json":
                shown_text = self.dialect.prefix(value, SHOWN_CHARS)
                aggregates |= {"min": exp.Min(this=shown_text), "max": exp.Max(this=shown_text)}
        return [expression.as_(f"c{i}_{stat}") for stat, expression in aggregates.items()]

    def top_values_sql(self, columns: Sequence[tuple[int, WarehouseColumn]]) -> str:
        """One statement: for each column, its ``TOP_VALUES`` most frequent non-null values with counts."""
        parts = []
        for i, column in columns:
            grouped = self.dialect.text(_col(column.name))
            part = (exp.select(_number(i).as_("column_index"),
                               self.dialect.prefix(_col(column.name), SHOWN_CHARS).as_("value"),
                               exp.Count(this=exp.Star()).as_("n"))
                    .from_(self.table).where(exp.not_(exp.Is(this=_col(column.name), expression=exp.Null())))
                    .group_by(grouped).order_by(exp.Ordered(this=exp.column("n"), desc=True), "value")
                    .limit(TOP_VALUES))
            parts.append(exp.select("*").from_(part.subquery(f"t{i}")))
        union = parts[0]
        for part in parts[1:]:
            union = exp.union(union, part, distinct=False)
        return self.sql(union)

    def histogram_sql(self, columns: Sequence[tuple[int, WarehouseColumn, list[float]]]) -> str:
        """One statement: for each (index, column, bin edges), the non-NULL values per equal-width bin.

        Columns are qualified by a table alias, so a column named like an output alias (``n``) stays a column in
        ClickHouse, where aliases are visible in WHERE."""
        parts = []
        source = self.table.copy()
        source.set("alias", exp.TableAlias(this=exp.to_identifier("aietl_src")))
        for i, column, edges in columns:
            value = exp.column(column.name, table="aietl_src", quoted=True)
            low, width, bins = edges[0], (edges[-1] - edges[0]) / (len(edges) - 1), len(edges) - 1
            offset = exp.Sub(this=self.dialect.number(value, base_logical(column.logical_type)),
                             expression=_number(low))
            bucket = exp.cast(exp.func("LEAST", exp.Floor(this=exp.Div(this=exp.paren(offset),
                                                                       expression=_number(width))),
                                       _number(bins - 1)), "BIGINT")
            part = (exp.select(_number(i).as_("column_index"), bucket.as_("bucket"),
                               exp.Count(this=exp.Star()).as_("n"))
                    .from_(source.copy()).where(exp.not_(exp.Is(this=value, expression=exp.Null())))
                    .group_by(bucket.copy()))
            parts.append(exp.select("*").from_(part.subquery(f"h{i}")))
        union = parts[0]
        for part in parts[1:]:
            union = exp.union(union, part, distinct=False)
        return self.sql(union)

    def sample_sql(self, columns: Sequence[WarehouseColumn], row_count: int, rows: int) -> str:
        selections = [
            (self.dialect.prefix(_col(c.name), SAMPLE_TEXT_CHARS) if base_logical(c.logical_type) in TEXTUAL
             else _col(c.name)).as_(c.name, quoted=True)
            for c in columns
        ]
        source, order = self.dialect.sample_source(self.table, row_count, rows)
        statement = exp.select(*selections).from_(source)
        if order is not None:
            statement = statement.order_by(order)
        return self.sql(statement.limit(rows))

    def distinct_sql(self, names: Sequence[str]) -> str:
        not_null = exp.and_(*[exp.not_(exp.Is(this=_col(n), expression=exp.Null())) for n in names])
        inner = exp.select(*[_col(n) for n in names]).distinct().from_(self.table).where(not_null)
        return self.sql(exp.select(exp.Count(this=exp.Star()).as_("n")).from_(inner.subquery("d")))

    def duplicate_rows_sql(self, columns: Sequence[WarehouseColumn]) -> str:
        groups = (exp.select(exp.Count(this=exp.Star()).as_("n")).from_(self.table)
                  .group_by(*[self.dialect.text(_col(c.name)) for c in columns])
                  .having(exp.Count(this=exp.Star()) > 1))
        total = exp.Coalesce(this=exp.Sum(this=exp.column("n") - 1), expressions=[_number(0)])
        return self.sql(exp.select(exp.cast(total, "BIGINT").as_("duplicates")).from_(groups.subquery("d")))

    def key_sqls(self, key: Sequence[str]) -> tuple[str, str, str]:
        """Statements for: rows and rows with a NULL key part; duplicate keys; examples of duplicate keys."""
        any_null = exp.or_(*[exp.Is(this=_col(n), expression=exp.Null()) for n in key])
        counts = exp.select(exp.Count(this=exp.Star()).as_("row_count"),
                            exp.Sum(this=exp.If(this=any_null, true=_number(1), false=_number(0))).as_("null_keys"))
        groups = (exp.select(*[_col(n) for n in key], exp.Count(this=exp.Star()).as_("n")).from_(self.table)
                  .where(exp.not_(any_null)).group_by(*[_col(n) for n in key])
                  .having(exp.Count(this=exp.Star()) > 1))
        duplicates = exp.select(exp.Count(this=exp.Star()).as_("duplicate_keys"),
                                exp.cast(exp.Coalesce(this=exp.Sum(this=exp.column("n")), expressions=[_number(0)]),
                                         "BIGINT").as_("rows_in_duplicates")).from_(groups.subquery("d"))
        examples = groups.order_by(exp.Ordered(this=exp.column("n"), desc=True),
                                   *[_col(n) for n in key]).limit(KEY_EXAMPLES)
        return self.sql(counts.from_(self.table)), self.sql(duplicates), self.sql(examples)

    def key_facts(self, key: Sequence[str]) -> KeyFacts:
        counts_sql, duplicates_sql, examples_sql = self.key_sqls(key)
        counts = self.query(counts_sql).to_pylist()[0]
        duplicates = self.query(duplicates_sql).to_pylist()[0]
        examples = self.query(examples_sql).to_pylist() if duplicates["duplicate_keys"] else []
        return KeyFacts(
            columns=list(key), rows=int(counts["row_count"]), null_keys=int(counts["null_keys"] or 0),
            duplicate_keys=int(duplicates["duplicate_keys"]), rows_in_duplicates=int(duplicates["rows_in_duplicates"]),
            examples=[{k: shown(v) for k, v in row.items()} for row in examples],
        )

    def profile(
        self,
        source: str,
        *,
        primary_key: Sequence[str] = (),
        known_types: dict[str, str] | None = None,
        sample_rows: int = SAMPLE_ROWS,
        growth: GrowthFacts | None = None,
    ) -> TableProfile:
        columns = self.warehouse_columns(known_types)
        stats = self.query(self.stats_sql(columns)).to_pylist()[0]
        row_count = int(stats["row_count"])
        profiles = [_column_from_stats(i, column, stats, row_count) for i, column in enumerate(columns)]
        sample = self.query(self.sample_sql(columns, row_count, sample_rows))
        notes = self._add_top_values(columns, profiles, sample, row_count)
        self._add_histograms(columns, profiles, row_count)
        def count(names: Sequence[str]) -> int:
            return self._count(self.distinct_sql(names))

        keys = candidate_keys(profiles, row_count, primary_key, count)
        for column, profile in zip(columns, profiles):
            is_key = [column.name] in keys or list(primary_key) == [column.name]
            annotate(profile, sample.column(column.name), row_count=row_count, is_key=is_key)
        sampled = sample.num_rows < row_count
        return TableProfile(
            source=source, table=self.table_name, row_count=row_count, size_bytes=self._size_bytes(),
            columns=profiles, candidate_keys=keys, time_columns=time_columns(profiles),
            equivalent_columns=equivalent_columns(profiles, row_count, count),
            duplicate_rows=self._duplicate_rows(columns, keys, row_count), sampled=sampled,
            sample_rows=sample.num_rows, growth=growth or GrowthFacts(), profiled_at=now_iso(),
            notes=[f"exact, computed in {self.dialect.name}: counts, nulls, distincts, min/max, mean/std, quantiles, "
                   "lengths, top values, duplicates, keys",
                   f"from {'a random sample of ' if sampled else 'all '}{sample.num_rows} rows: semantic types and "
                   "patterns", *notes],
        )

    def _count(self, sql: str) -> int:
        return int(self.query(sql).column(0)[0].as_py() or 0)

    def _size_bytes(self) -> int | None:
        size = self.warehouse.table_size_bytes(self.namespace, self.table_name)
        return int(size) if size is not None else None

    def _duplicate_rows(self, columns: Sequence[WarehouseColumn], keys: list[list[str]], row_count: int) -> int:
        if row_count < 2 or any(len(key) == 1 for key in keys):
            return 0
        return self._count(self.duplicate_rows_sql(columns))

    def _add_top_values(self, columns: Sequence[WarehouseColumn], profiles: list[ColumnProfile], sample: pa.Table,
                        row_count: int) -> list[str]:
        """Exact top values where the GROUP BY is bounded; from the sample for very high cardinality; none for
        columns whose values are all distinct (every count would be 1)."""
        exact, from_sample = [], []
        for i, (column, profile) in enumerate(zip(columns, profiles)):
            non_null = row_count - profile.null_count
            if non_null == 0 or profile.distinct_count == non_null:
                continue
            (exact if profile.distinct_count <= TOP_VALUES_MAX_DISTINCT else from_sample).append((i, column))
        if exact:
            for row in self.query(self.top_values_sql(exact)).to_pylist():
                profiles[int(row["column_index"])].top_values.append((str(row["value"]), int(row["n"])))
            for _, column in exact:
                _sort_top(profiles[[c.name for c in columns].index(column.name)])
        for i, column in from_sample:
            profiles[i].top_values = arrow_column_profile(column.name, sample.column(column.name),
                                                          column.logical_type).top_values
        return [f"top values from the sample for {[c.name for _, c in from_sample]} (over "
                f"{TOP_VALUES_MAX_DISTINCT:,} distinct values)"] if from_sample else []


    def _add_histograms(self, columns: Sequence[WarehouseColumn], profiles: list[ColumnProfile],
                        row_count: int) -> None:
        """Exact counts per bin between each numeric, date or timestamp column's min and max, in one statement."""
        wanted = []
        for i, (column, profile) in enumerate(zip(columns, profiles)):
            edges = histogram_edges(profile)
            if edges and edges[0] == edges[-1]:
                profile.histogram_edges, profile.histogram_counts = edges, [row_count - profile.null_count]
            elif edges:
                profile.histogram_edges, profile.histogram_counts = edges, [0] * (len(edges) - 1)
                wanted.append((i, column, edges))
        if not wanted:
            return
        for row in self.query(self.histogram_sql(wanted)).to_pylist():
            counts = profiles[int(row["column_index"])].histogram_counts
            counts[min(max(int(row["bucket"]), 0), len(counts) - 1)] += int(row["n"])


def _sort_top(profile: ColumnProfile) -> None:
    profile.top_values.sort(key=lambda pair: (-pair[1], pair[0]))


def _column_from_stats(i: int, column: WarehouseColumn, stats: dict[str, Any], row_count: int) -> ColumnProfile:
    def stat(name: str) -> Any:
        return stats.get(f"c{i}_{name}")

    non_null = int(stat("non_null") or 0)
    distinct = int(stat("distinct") or 0)
    profile = ColumnProfile(
        name=column.name, logical_type=column.logical_type, semantic_type="", null_count=row_count - non_null,
        null_share=(row_count - non_null) / row_count if row_count else 0.0, distinct_count=distinct,
        distinct_share=distinct / non_null if non_null else 0.0, min=shown(stat("min")), max=shown(stat("max")),
        mean=_maybe_float(stat("mean")), std=_maybe_float(stat("std")),
        quantiles={quantile_label(q): float(stat(quantile_label(q))) for q in QUANTILES
                   if stat(quantile_label(q)) is not None and non_null},
        min_length=_maybe_int(stat("min_length")), max_length=_maybe_int(stat("max_length")),
        mean_length=_maybe_float(stat("mean_length")), physical_type=column.native_type,
    )
    return profile


def _maybe_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else number


def _maybe_int(value: Any) -> int | None:
    return None if value is None else int(value)
