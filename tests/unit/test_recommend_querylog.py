"""Query-log parsing: which columns are filtered, joined, grouped and sorted, per table; log readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_assets.recommend.querylog import (
    LoggedQuery,
    QueryLogUnavailable,
    analyze,
    read_pg_stat_statements,
    read_sql_file,
    split_statements,
)


def usage_of(sql: str, table: str, dialect: str = "postgres", calls: int = 1, known=None) -> dict[str, str]:
    usage = analyze([LoggedQuery(sql, calls)], dialect, known_columns=known).for_table(table)
    return {name: counts.describe() for name, counts in usage.columns.items()}


@pytest.mark.parametrize(("sql", "table", "expected"), [
    ("SELECT * FROM orders WHERE status = 'paid' AND created_at >= now() - interval '1 day'", "orders",
     {"status": "equality in 1 executions", "created_at": "range in 1 executions"}),
    ("SELECT o.id FROM public.orders AS o JOIN customers c ON c.id = o.customer_id WHERE c.email ILIKE '%x'",
     "orders", {"customer_id": "join in 1 executions"}),
    ("SELECT o.id FROM public.orders AS o JOIN customers c ON c.id = o.customer_id WHERE c.email ILIKE '%x'",
     "customers", {"id": "join in 1 executions", "email": "like in 1 executions"}),
    ("SELECT city, count(*) FROM customers GROUP BY city ORDER BY city", "customers",
     {"city": "group by in 1, order by in 1 executions"}),
    ("WITH recent AS (SELECT * FROM orders WHERE created_at > $1) SELECT store_id FROM recent WHERE store_id IN (1,2)",
     "orders", {"created_at": "range in 1 executions", "store_id": "equality in 1 executions"}),
    ("SELECT * FROM (SELECT order_id AS oid FROM orders) x WHERE oid = 5", "orders",
     {"order_id": "equality in 1 executions"}),
    ("SELECT * FROM orders JOIN order_items USING (order_id)", "order_items", {"order_id": "join in 1 executions"}),
    ("SELECT count() FROM events WHERE toDate(ts) = today() AND user_id = 7", "events",
     {"ts": "equality in 1 executions", "user_id": "equality in 1 executions"}),
    ("UPDATE orders SET status = 'x' WHERE order_id = 3", "orders", {"order_id": "equality in 1 executions"}),
    ("SELECT store_id, sum(amount), round(avg(tip), 2), count(DISTINCT customer_id) FROM orders "
     "WHERE amount > (SELECT avg(price) FROM items) GROUP BY store_id HAVING max(fee) > 1", "orders",
     {"store_id": "group by in 1 executions", "amount": "range in 1, aggregate in 1 executions",
      "tip": "aggregate in 1 executions", "customer_id": "aggregate in 1 executions",
      "fee": "aggregate in 1 executions"}),
])
def test_column_roles(sql, table, expected):
    assert usage_of(sql, table, "clickhouse" if "today()" in sql else "postgres") == expected


def test_unqualified_columns_of_a_join_are_resolved_only_with_known_columns():
    sql = "SELECT * FROM orders o JOIN customers c ON o.customer_id = c.id WHERE city = 'Rome'"
    assert "city" not in usage_of(sql, "customers")
    known = {"orders": {"order_id", "customer_id"}, "customers": {"id", "city"}}
    assert usage_of(sql, "customers", known=known)["city"] == "equality in 1 executions"


def test_calls_weight_the_counts_and_tables_count_their_readers():
    usage = analyze([LoggedQuery("SELECT * FROM t WHERE a = 1", 40), LoggedQuery("SELECT * FROM t WHERE a > 1", 2)])
    table = usage.for_table("T")
    assert (table.queries, table.column("a").equality, table.column("a").range) == (42, 40, 2)
    assert table.ranked("filtered") == ["a"]
    assert usage.for_table("missing").queries == 0


def test_bad_statements_are_listed_with_their_location_and_the_rest_counts():
    usage = analyze([LoggedQuery("SELECT * FROM t WHERE (a = ", 1, "log.sql:3"), LoggedQuery("SELEC x", 1, "log.sql:5"),
                     LoggedQuery("SELECT * FROM t WHERE a = 1", 1, "log.sql:7")])
    assert usage.statements == 1
    assert [p.split(":")[0:2] for p in usage.problems] == [["log.sql", "3"], ["log.sql", "5"]]
    assert usage.for_table("t").column("a").equality == 1


def test_split_statements_respects_strings_comments_and_reports_lines():
    script = "-- header\nSELECT ';' FROM t;\n\nSELECT 2\n;\n/* trailing */\n"
    assert split_statements(script, "postgres") == [(1, "-- header\nSELECT ';' FROM t"), (4, "SELECT 2")]


def test_read_sql_file(tmp_path: Path):
    log = tmp_path / "queries.sql"
    log.write_text("SELECT * FROM orders WHERE status = 'new';\nSELECT * FROM orders WHERE status = 'new';\n")
    queries = read_sql_file(log)
    assert [q.location for q in queries] == ["queries.sql:1", "queries.sql:2"]
    assert analyze(queries).for_table("orders").column("status").equality == 2


def test_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(QueryLogUnavailable, match=r"query log .*nope\.sql: cannot read"):
        read_sql_file(tmp_path / "nope.sql")


class BrokenRunner:
    dialect = "postgres"

    def query_arrow(self, sql, params=None):
        raise RuntimeError('relation "pg_stat_statements" does not exist\nLINE 1: ...')


def test_reader_errors_name_the_log():
    with pytest.raises(QueryLogUnavailable, match='^pg_stat_statements: cannot read the query log: relation'):
        read_pg_stat_statements(BrokenRunner())
