"""SQL generation: tables of spec -> expected SQL per dialect (the sqlglot way), and the dbt Jinja around it."""

from __future__ import annotations

import pytest

from etl_assets.transform.spec.models import parse_document
from etl_assets.transform.spec.resolver import resolve
from etl_assets.transform.sqlgen import SqlBuilder, render
from tests.support.pipelines import TABLES
from tests.support.sql import assert_same_sql, render_dbt

ORDERS = {"table": "shop_db.orders", "alias": "o"}
CASES = {
    "join_where_group_having": (
        {"from": ORDERS,
         "joins": [{"table": "shop_files.customers", "alias": "c", "type": "left", "on": ["o.customer_id = c.customer_id"]}],
         "where": [{"column": "o.status", "op": "in", "value": ["paid", "shipped"]}],
         "group_by": ["c.city"],
         "aggregations": [{"name": "n", "function": "count_distinct", "column": "o.customer_id"},
                          {"name": "sd", "function": "stddev", "column": "o.total"},
                          {"name": "v", "function": "variance", "column": "o.total"}],
         "having": [{"column": "n", "op": ">=", "value": 2}]},
        {
            "postgres": 'SELECT "c"."city" AS "city", COUNT(DISTINCT "o"."customer_id") AS "n", STDDEV_SAMP("o"."total") '
                        'AS "sd", VAR_SAMP("o"."total") AS "v" FROM "__aietl_rel_0__" AS "o" LEFT JOIN "__aietl_rel_1__" '
                        'AS "c" ON "o"."customer_id" = "c"."customer_id" WHERE "o"."status" IN (\'paid\', \'shipped\') '
                        'GROUP BY "c"."city" HAVING COUNT(DISTINCT "o"."customer_id") >= 2',
            "clickhouse": 'SELECT "c"."city" AS "city", COUNT(DISTINCT "o"."customer_id") AS "n", STDDEV_SAMP("o"."total") '
                          'AS "sd", varSamp("o"."total") AS "v" FROM "__aietl_rel_0__" AS "o" LEFT JOIN "__aietl_rel_1__" '
                          'AS "c" ON "o"."customer_id" = "c"."customer_id" WHERE "o"."status" IN (\'paid\', \'shipped\') '
                          'GROUP BY "c"."city" HAVING COUNT(DISTINCT "o"."customer_id") >= 2',
        },
    ),
    "lag_then_days_between": (
        {"from": ORDERS, "columns": ["o.order_id", "o.customer_id", "o.created_at"],
         "windows": [{"name": "prev", "function": "lag", "column": "created_at", "partition_by": ["customer_id"],
                      "order_by": ["created_at desc"]}],
         "derive": [{"name": "gap", "expr": "days_between(prev, created_at)"}]},
        {
            "postgres": 'WITH "base" AS (SELECT "o"."order_id" AS "order_id", "o"."customer_id" AS "customer_id", '
                        '"o"."created_at" AS "created_at" FROM "__aietl_rel_0__" AS "o"), "windowed" AS (SELECT '
                        '"order_id", "customer_id", "created_at", LAG("created_at", 1) OVER (PARTITION BY "customer_id" '
                        'ORDER BY "created_at" DESC NULLS LAST) AS "prev" FROM "base"), "derived" AS (SELECT "order_id", '
                        '"customer_id", "created_at", "prev", CAST(FLOOR(CAST(EXTRACT(EPOCH FROM ("created_at" - '
                        '"prev")) AS DOUBLE PRECISION) / 86400) AS BIGINT) AS "gap" FROM "windowed") SELECT "order_id", '
                        '"customer_id", "created_at", "prev", "gap" FROM "derived"',
            "clickhouse": 'WITH "base" AS (SELECT "o"."order_id" AS "order_id", "o"."customer_id" AS "customer_id", '
                          '"o"."created_at" AS "created_at" FROM "__aietl_rel_0__" AS "o"), "windowed" AS (SELECT '
                          '"order_id", "customer_id", "created_at", lag(toNullable("created_at"), 1) OVER (PARTITION BY '
                          '"customer_id" ORDER BY "created_at" DESC) AS "prev" FROM "base"), "derived" AS (SELECT '
                          '"order_id", "customer_id", "created_at", "prev", CAST(FLOOR(dateDiff(\'second\', "prev", '
                          '"created_at") / 86400) AS Nullable(Int64)) AS "gap" FROM "windowed") SELECT "order_id", '
                          '"customer_id", "created_at", "prev", "gap" FROM "derived"',
        },
    ),
    "utc_date_and_safe_division": (
        {"from": ORDERS, "columns": [{"expr": "to_date(o.created_at)", "as": "day"},
                                     {"expr": "o.total / o.store_id", "as": "r"}]},
        {
            "postgres": 'SELECT CAST("o"."created_at" AT TIME ZONE \'UTC\' AS DATE) AS "day", CAST("o"."total" AS DOUBLE '
                        'PRECISION) / NULLIF("o"."store_id", 0) AS "r" FROM "__aietl_rel_0__" AS "o"',
            "clickhouse": 'SELECT toDate("o"."created_at", \'UTC\') AS "day", CAST("o"."total" AS Nullable(Float64)) / '
                          'nullIf("o"."store_id", 0) AS "r" FROM "__aietl_rel_0__" AS "o"',
        },
    ),
}


def resolved(name: str, spec: dict):
    return resolve(parse_document({"models": {name: spec}}), TABLES).models[name]


@pytest.mark.parametrize("case", CASES)
def test_spec_renders_to_the_expected_sql_per_dialect(case: str) -> None:
    spec, expected = CASES[case]
    model = resolved(case, spec)
    for dialect, sql in expected.items():
        assert_same_sql(SqlBuilder(model, dialect).select().sql(dialect=dialect, identify=True), sql, dialect)


def test_running_total_and_ranks_get_explicit_rows_frames() -> None:
    model = resolved("m", {"from": ORDERS, "group_by": ["o.store_id"],
                           "aggregations": [{"name": "revenue", "function": "sum", "column": "o.total"}],
                           "windows": [{"name": "running", "function": "sum", "column": "revenue",
                                        "order_by": ["store_id"]},
                                       {"name": "share_base", "function": "sum", "column": "revenue"},
                                       {"name": "last3", "function": "avg", "column": "revenue", "order_by": ["store_id"],
                                        "frame": {"preceding": 2, "following": "current"}},
                                       {"name": "r", "function": "dense_rank", "order_by": ["revenue desc"]}]})
    sql = SqlBuilder(model, "postgres").select().sql(dialect="postgres", identify=True)
    assert_same_sql(sql, """
        WITH "base" AS (
          SELECT "o"."store_id" AS "store_id", SUM("o"."total") AS "revenue"
          FROM "__aietl_rel_0__" AS "o" GROUP BY "o"."store_id"
        ), "windowed" AS (
          SELECT "store_id", "revenue",
            SUM("revenue") OVER (ORDER BY "store_id" ASC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS "running",
            SUM("revenue") OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS "share_base",
            AVG("revenue") OVER (ORDER BY "store_id" ASC ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS "last3",
            DENSE_RANK() OVER (ORDER BY "revenue" DESC NULLS LAST) AS "r"
          FROM "base"
        )
        SELECT "store_id", "revenue", "running", "share_base", "last3", "r" FROM "windowed"
    """, "postgres")


@pytest.mark.parametrize("join_type, keyword", [("inner", "INNER JOIN"), ("left", "LEFT JOIN"),
                                                ("right", "RIGHT JOIN"), ("full", "FULL JOIN"),
                                                ("cross", "CROSS JOIN")])
def test_every_join_type(join_type: str, keyword: str) -> None:
    join = {"table": "shop_files.stores", "alias": "s", "type": join_type}
    condition = ""
    if join_type != "cross":
        join["on"] = ["o.store_id = s.id"]
        condition = 'ON "o"."store_id" = "s"."id"'
    model = resolved("m", {"from": ORDERS, "joins": [join], "columns": ["o.order_id", "s.name"]})
    expected = (f'SELECT "o"."order_id" AS "order_id", "s"."name" AS "name" FROM "__aietl_rel_0__" AS "o" '
                f'{keyword} "__aietl_rel_1__" AS "s" {condition}')
    for dialect in ("postgres", "clickhouse"):
        assert_same_sql(SqlBuilder(model, dialect).select().sql(dialect=dialect, identify=True), expected, dialect)


@pytest.mark.parametrize("incremental, newer_rows", [
    (True, '"o"."updated_at" > (SELECT MAX("updated_at") FROM "this")'),
    (False, "1 = 1"),
])
def test_render_puts_dbt_relations_and_the_incremental_filter(incremental: bool, newer_rows: str) -> None:
    model = resolved("m", {"from": ORDERS, "columns": ["o.order_id", "o.updated_at"], "materialized": "incremental",
                           "incremental": {"cursor": "updated_at", "unique_key": "order_id"}})
    template = render(model, "clickhouse", lambda relation: f"{{{{ ref('stg_{relation.table}') }}}}")
    compiled = render_dbt(template, "clickhouse", incremental=incremental)
    assert_same_sql(compiled.sql, 'SELECT "o"."order_id" AS "order_id", "o"."updated_at" AS "updated_at" '
                                  f'FROM "stg_orders" AS "o" WHERE {newer_rows}', "clickhouse")
