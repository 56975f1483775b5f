"""The pushed-down SQL, for both warehouse dialects: it parses, quotes every identifier, and samples as stated.

Statements are compared by meaning (sqlglot trees), never by text."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlglot
from sqlglot import exp

from etl_assets.profile.pushdown import PushdownProfiler, WarehouseColumn, dialect_of
from tests.support.sql import assert_same_sql

COLUMNS = [WarehouseColumn("select", "int64", "bigint"), WarehouseColumn("group by", "string", "text"),
           WarehouseColumn("ok", "bool", "boolean"), WarehouseColumn("doc", "json", "jsonb"),
           WarehouseColumn("at", "timestamptz", "timestamptz"), WarehouseColumn("price", "decimal(12,2)", "numeric")]
SAMPLED_COLUMNS = {
    "postgres": 'SELECT "select" AS "select", SUBSTRING(CAST("group by" AS TEXT) FROM 1 FOR 4096) AS "group by", '
                '"ok" AS "ok", SUBSTRING(CAST("doc" AS TEXT) FROM 1 FOR 4096) AS "doc", "at" AS "at", '
                '"price" AS "price"',
    "clickhouse": 'SELECT "select" AS "select", substringUTF8(CAST("group by" AS Nullable(String)), 1, 4096) AS '
                  '"group by", "ok" AS "ok", substringUTF8(CAST("doc" AS Nullable(String)), 1, 4096) AS "doc", '
                  '"at" AS "at", "price" AS "price"',
}


@dataclass
class OfflineWarehouse:
    """A warehouse that must not be asked anything: these tests only build statements."""

    dialect: str

    def query_arrow(self, statement: str):
        raise AssertionError("no query expected")

    def table_columns(self, namespace: str, table: str):
        raise AssertionError("no catalog read expected")

    def table_size_bytes(self, namespace: str, table: str):
        raise AssertionError("no catalog read expected")


def profiler_for(dialect: str, namespace: str = "raw_s", table: str = "t") -> PushdownProfiler:
    return PushdownProfiler(OfflineWarehouse(dialect), namespace, table)


@pytest.fixture(params=["postgres", "clickhouse"])
def profiler(request: pytest.FixtureRequest) -> PushdownProfiler:
    return profiler_for(request.param, "raw_shop", 'odd "name"')


def statements(profiler: PushdownProfiler) -> list[str]:
    return [
        profiler.stats_sql(COLUMNS), profiler.top_values_sql(list(enumerate(COLUMNS))),
        profiler.sample_sql(COLUMNS, 1_000_000, 1000), profiler.distinct_sql(["select", "group by"]),
        profiler.duplicate_rows_sql(COLUMNS), *profiler.key_sqls(["select", "group by"]),
    ]


def tree(statement: str, dialect: str) -> exp.Expression:
    return sqlglot.parse_one(statement, read=dialect)


def contains(statement: str, fragment: str, dialect: str) -> bool:
    """Whether the tree of ``statement`` holds a node equal to the tree of the expression ``fragment``."""
    wanted = tree(fragment, dialect)
    return any(node == wanted for node in tree(statement, dialect).walk())


def test_every_statement_parses_in_its_dialect(profiler: PushdownProfiler) -> None:
    for statement in statements(profiler):
        assert tree(statement, profiler.dialect.name) is not None, statement


def test_identifiers_are_quoted_and_escaped(profiler: PushdownProfiler) -> None:
    dialect = profiler.dialect.name
    stats = profiler.stats_sql(COLUMNS)
    [table] = tree(stats, dialect).find_all(exp.Table)
    assert table == sqlglot.parse_one('"raw_shop"."odd ""name"""', read=dialect, into=exp.Table)
    assert table.name == 'odd "name"' and table.db == "raw_shop"
    assert all(part.quoted for part in table.find_all(exp.Identifier))
    assert contains(stats, 'COUNT("select")', dialect) and contains(stats, 'COUNT("group by")', dialect)
    assert not contains(stats, "COUNT(select)", dialect)
    for statement in statements(profiler):
        columns = list(tree(statement, dialect).find_all(exp.Column))
        assert columns and all(column.this.quoted for column in columns
                               if column.name not in {"n", "value", "*"}), statement


def test_stats_cover_each_kind_of_column(profiler: PushdownProfiler) -> None:
    parsed = tree(profiler.stats_sql(COLUMNS), profiler.dialect.name)
    aliases = {projection.alias for projection in parsed.expressions}

    assert {"row_count", "c0_non_null", "c0_distinct", "c0_min", "c0_p50", "c0_std"} <= aliases
    assert {"c1_min_length", "c1_max_length", "c1_min"} <= aliases and "c1_mean" not in aliases
    assert "c2_mean" in aliases and "c2_min" not in aliases
    assert "c3_min_length" in aliases and "c3_min" not in aliases
    assert {"c4_min", "c4_max"} <= aliases and "c4_mean" not in aliases
    assert {"c5_mean", "c5_p95"} <= aliases


def test_quantiles_per_dialect() -> None:
    postgres, clickhouse = profiler_for("postgres"), profiler_for("clickhouse")

    assert contains(postgres.stats_sql(COLUMNS),
                    'PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY CAST("select" AS DOUBLE PRECISION))', "postgres")
    assert contains(clickhouse.stats_sql(COLUMNS),
                    'quantileExactInclusive(0.5)(CAST("select" AS Nullable(Float64)))', "clickhouse")


def test_sampling_per_dialect() -> None:
    postgres, clickhouse = profiler_for("postgres"), profiler_for("clickhouse")

    assert_same_sql(postgres.sample_sql(COLUMNS, 1_000_000, 1000),
                    SAMPLED_COLUMNS["postgres"] + ' FROM "raw_s"."t" TABLESAMPLE BERNOULLI (0.15) REPEATABLE (42) '
                                                  "LIMIT 1000", "postgres")
    assert_same_sql(postgres.sample_sql(COLUMNS, 500, 1000),
                    SAMPLED_COLUMNS["postgres"] + ' FROM "raw_s"."t" LIMIT 1000', "postgres")
    assert_same_sql(clickhouse.sample_sql(COLUMNS, 1_000_000, 1000),
                    SAMPLED_COLUMNS["clickhouse"] + ' FROM "raw_s"."t" ORDER BY rand() LIMIT 1000', "clickhouse")
    assert_same_sql(clickhouse.sample_sql(COLUMNS, 10, 1000),
                    SAMPLED_COLUMNS["clickhouse"] + ' FROM "raw_s"."t" LIMIT 1000', "clickhouse")


def test_native_types_are_read_by_the_warehouse_type_mapper() -> None:
    assert profiler_for("postgres").dialect.logical_type("numeric(12,2)") == "decimal(12,2)"
    assert profiler_for("clickhouse").dialect.logical_type("Nullable(Decimal(12, 2))") == "decimal(12,2)"
    assert profiler_for("clickhouse").dialect.logical_type("LowCardinality(Nullable(String))") == "string"


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="pushes SQL down to"):
        dialect_of("sqlite")
