"""The pushed-down SQL, for both warehouse dialects: it parses, quotes every identifier, and samples as stated."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from etl_assets.profile.pushdown import PushdownProfiler, WarehouseColumn, dialect_of

COLUMNS = [WarehouseColumn("select", "int64", "bigint"), WarehouseColumn("group by", "string", "text"),
           WarehouseColumn("ok", "bool", "boolean"), WarehouseColumn("doc", "json", "jsonb"),
           WarehouseColumn("at", "timestamptz", "timestamptz"), WarehouseColumn("price", "decimal(12,2)", "numeric")]


def never(sql: str):
    raise AssertionError("no query expected")


@pytest.fixture(params=["postgres", "clickhouse"])
def profiler(request: pytest.FixtureRequest) -> PushdownProfiler:
    return PushdownProfiler(never, request.param, "raw_shop", 'odd "name"')


def statements(profiler: PushdownProfiler) -> list[str]:
    return [
        profiler.stats_sql(COLUMNS), profiler.top_values_sql(list(enumerate(COLUMNS))),
        profiler.sample_sql(COLUMNS, 1_000_000, 1000), profiler.distinct_sql(["select", "group by"]),
        profiler.duplicate_rows_sql(COLUMNS), *profiler.key_sqls(["select", "group by"]),
        profiler.dialect.columns_sql("raw_shop", "it's"), profiler.dialect.size_sql("raw_shop", "it's"),
    ]


def test_every_statement_parses_in_its_dialect(profiler: PushdownProfiler) -> None:
    for statement in statements(profiler):
        assert sqlglot.parse_one(statement, read=profiler.dialect.name) is not None, statement


def test_identifiers_are_quoted_and_literals_escaped(profiler: PushdownProfiler) -> None:
    stats = profiler.stats_sql(COLUMNS)
    assert 'FROM "raw_shop"."odd ""name"""' in stats
    assert 'COUNT("select")' in stats and 'COUNT("group by")' in stats
    tables = [t.name for t in sqlglot.parse_one(stats, read=profiler.dialect.name).find_all(exp.Table)]
    assert tables == ['odd "name"']
    escaped = "'it''s'" if profiler.dialect.name == "clickhouse" else "'\"raw_shop\".\"it''s\"'"
    assert escaped in profiler.dialect.columns_sql("raw_shop", "it's")


def test_stats_cover_each_kind_of_column(profiler: PushdownProfiler) -> None:
    parsed = sqlglot.parse_one(profiler.stats_sql(COLUMNS), read=profiler.dialect.name)
    aliases = {projection.alias for projection in parsed.expressions}

    assert {"row_count", "c0_non_null", "c0_distinct", "c0_min", "c0_p50", "c0_std"} <= aliases
    assert {"c1_min_length", "c1_max_length", "c1_min"} <= aliases and "c1_mean" not in aliases
    assert "c2_mean" in aliases and "c2_min" not in aliases
    assert "c3_min_length" in aliases and "c3_min" not in aliases
    assert {"c4_min", "c4_max"} <= aliases and "c4_mean" not in aliases
    assert {"c5_mean", "c5_p95"} <= aliases


def test_quantiles_and_sampling_per_dialect() -> None:
    postgres = PushdownProfiler(never, "postgres", "raw_s", "t")
    clickhouse = PushdownProfiler(never, "clickhouse", "raw_s", "t")

    assert "PERCENTILE_CONT(0.5) WITHIN GROUP" in postgres.stats_sql(COLUMNS)
    assert "quantileExactInclusive(0.5)(" in clickhouse.stats_sql(COLUMNS)
    assert "TABLESAMPLE BERNOULLI (0.15) REPEATABLE (42) LIMIT 1000" in postgres.sample_sql(COLUMNS, 1_000_000, 1000)
    assert "ORDER BY" in clickhouse.sample_sql(COLUMNS, 1_000_000, 1000)
    assert "TABLESAMPLE" not in postgres.sample_sql(COLUMNS, 500, 1000)
    assert "substringUTF8(" in clickhouse.sample_sql(COLUMNS, 10, 1000)


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="pushes SQL down to"):
        dialect_of("sqlite")
