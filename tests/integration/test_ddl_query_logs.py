"""Query-log readers and server-only DDL against real engines; a ClickHouse server is used only when configured.

Set ``AIETL_TEST_CLICKHOUSE_URL`` (http(s)://host:port; user/password from ``AIETL_TEST_CLICKHOUSE_USER`` /
``AIETL_TEST_CLICKHOUSE_PASSWORD``) and optionally ``AIETL_TEST_CLICKHOUSE_CLUSTER`` to run the server tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlglot import exp

from etl_assets.ddl.build import apply_ddl, build_ddl
from etl_assets.recommend.querylog import (
    QueryLogUnavailable,
    analyze,
    read_clickhouse_query_log,
    read_pg_stat_statements,
)
from resources.clickhouse import ClickHouseResource
from resources.embedded import EmbeddedPostgres
from resources.embedded.kafka import free_port
from resources.postgres import PostgresResource
from tests.support.ddl import CASES

pytestmark = pytest.mark.integration


def test_pg_stat_statements_is_read_or_its_absence_is_explained(pg_dsn: str):
    postgres = PostgresResource.from_dsn(pg_dsn)
    preload = postgres.query_arrow("SHOW shared_preload_libraries").column(0).to_pylist()[0] or ""
    postgres.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    postgres.execute("CREATE TABLE orders (order_id int, status text)")
    for _ in range(3):
        postgres.query_arrow("SELECT * FROM orders WHERE status = 'new'")
    if "pg_stat_statements" not in preload:
        with pytest.raises(QueryLogUnavailable, match="^pg_stat_statements: cannot read the query log: "):
            read_pg_stat_statements(postgres)
        return
    usage = analyze(read_pg_stat_statements(postgres)).for_table("orders")
    assert usage.column("status").equality >= 3


@pytest.fixture(scope="module")
def pg_with_stat_statements(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresResource]:
    """An embedded PostgreSQL restarted with pg_stat_statements preloaded (the shared test server lacks it)."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pgss"), port=free_port()).start()
    try:
        with psycopg.connect(server.dsn(), autocommit=True, connect_timeout=10) as connection:
            connection.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        server.stop()
        server.start()
        yield PostgresResource.from_dsn(server.dsn())
    finally:
        server.stop()


def test_pg_stat_statements_usage_shapes_keys(pg_with_stat_statements: PostgresResource):
    postgres = pg_with_stat_statements
    postgres.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    postgres.execute("CREATE TABLE orders (order_id int, customer_id int, status text)")
    for customer in range(5):
        postgres.query_arrow("SELECT * FROM orders WHERE customer_id = %s", (customer,))
    postgres.query_arrow("SELECT status, count(*) FROM orders GROUP BY status")
    usage = analyze(read_pg_stat_statements(postgres)).for_table("orders")
    assert (usage.column("customer_id").equality, usage.column("status").group_by) == (5, 1)


def test_chdb_has_no_query_log_and_says_so(tmp_path):
    with pytest.raises(QueryLogUnavailable, match="^system.query_log: cannot read the query log: "):
        read_clickhouse_query_log(ClickHouseResource(chdb_path=str(tmp_path / "chdb")))


@pytest.fixture
def clickhouse_server() -> ClickHouseResource:
    url = os.environ.get("AIETL_TEST_CLICKHOUSE_URL")
    if not url:
        pytest.skip("no ClickHouse server configured (set AIETL_TEST_CLICKHOUSE_URL); the DDL ran on chdb instead")
    return ClickHouseResource(url=url, user=os.environ.get("AIETL_TEST_CLICKHOUSE_USER", "default"),
                              password=os.environ.get("AIETL_TEST_CLICKHOUSE_PASSWORD", ""),
                              cluster=os.environ.get("AIETL_TEST_CLICKHOUSE_CLUSTER") or None)


@pytest.mark.parametrize("case", CASES[-3:], ids=[c[0] for c in CASES[-3:]])
def test_clickhouse_server_takes_the_ddl_including_cluster_tables(clickhouse_server: ClickHouseResource, case):
    _, schema, profile, layout = case
    namespace = f"aietl_ddl_test_{uuid.uuid4().hex[:8]}"
    ddl = build_ddl(schema, layout, "clickhouse", namespace=namespace, profile=profile,
                    cluster=clickhouse_server.cluster)
    try:
        assert apply_ddl(clickhouse_server, ddl.sql()) == len(ddl.statements)
        apply_ddl(clickhouse_server, ddl.sql())
        names = clickhouse_server.query_arrow(
            "SELECT name FROM system.tables WHERE database = {database:String} ORDER BY name",
            {"database": namespace}).column(0).to_pylist()
        expected = [schema.name, f"{schema.name}_local"] if clickhouse_server.cluster else [schema.name]
        assert names == sorted(expected)
    finally:
        clickhouse_server.execute(_drop_database(namespace, clickhouse_server.cluster).sql("clickhouse"))


def _drop_database(database: str, cluster: str | None) -> exp.Drop:
    on_cluster = exp.OnCluster(this=exp.to_identifier(cluster, quoted=True)) if cluster else None
    return exp.Drop(tables=[exp.Table(this=exp.to_identifier(database, quoted=True))], kind="DATABASE", exists=True,
                    cluster=on_cluster, sync=True)


def test_clickhouse_server_query_log_is_read(clickhouse_server: ClickHouseResource):
    clickhouse_server.query_arrow("SELECT number FROM system.numbers WHERE number = 3 LIMIT 1")
    clickhouse_server.execute("SYSTEM FLUSH LOGS")
    queries = read_clickhouse_query_log(clickhouse_server, days=1)
    assert any("system.numbers" in q.sql for q in queries)
