"""raw/<source>/<table> assets materialized by Dagster from a real PostgreSQL source into a real PostgreSQL warehouse.

Source (schema public), warehouse (schema raw_shop_db) and metadata store (schema aietl_meta) share the test's
database; every run uses a fresh ephemeral Dagster instance and fresh resources, as after a restart.
"""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.keys import RAW, asset_key
from etl_assets.raw.assets import CHECK_NAME, build_raw_assets
from resources.embedded.kafka import free_port
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.schema import TableSchema

pytestmark = pytest.mark.integration
SHOP_SQL = Path(__file__).resolve().parents[2] / "data" / "sample" / "shop.sql"
NO_RETRY = None


@pytest.fixture
def source(pg_dsn: str) -> PostgresResource:
    return PostgresResource.from_dsn(pg_dsn, source_name="shop_db")


@pytest.fixture
def shop(source: PostgresResource) -> PostgresResource:
    source.execute(SHOP_SQL.read_text(encoding="utf-8"))
    return source


@pytest.fixture
def store(pg_dsn: str) -> MetadataResource:
    return MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn))


def table(db: PostgresResource, name: str, mode: str = "full", cursor: str | None = None,
          lookback: str | None = None, key: list[str] | None = None) -> SourceTable:
    schema = db.discover_table(name)
    schema = replace(schema, primary_key=key if key is not None else schema.primary_key, cursor_column=cursor)
    return SourceTable(kind="postgres", schema=schema, sync=SyncSettings(mode=mode, cursor=cursor, lookback=lookback),
                       batch_size=50_000, semantic_search=False, text_columns=(), checks=CheckSettings(),
                       target="warehouse")


def materialize(pg_dsn: str, tables: list[SourceTable], sources: dict[str, Any] | None = None,
                retry_policy: dg.RetryPolicy | None = NO_RETRY) -> dg.ExecuteInProcessResult:
    resources = {"source_shop_db": PostgresResource.from_dsn(pg_dsn, source_name="shop_db"),
                 "warehouse": PostgresResource.from_dsn(pg_dsn),
                 "metadata": MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn)), **(sources or {})}
    return dg.materialize(build_raw_assets(tables, retry_policy=retry_policy), resources=resources,
                          instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def landed(result: dg.ExecuteInProcessResult, name: str, source: str = "shop_db") -> dict[str, Any]:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == asset_key(RAW, source, name)]
    assert events, f"raw/{source}/{name} was not materialized"
    return {key: value.value for key, value in events[-1].materialization.metadata.items()}


def check_passed(result: dg.ExecuteInProcessResult, name: str) -> bool:
    evaluations = [e for e in result.get_asset_check_evaluations()
                   if e.asset_key == asset_key(RAW, "shop_db", name) and e.check_name == CHECK_NAME]
    assert len(evaluations) == 1
    return evaluations[0].passed


def failure_message(result: dg.ExecuteInProcessResult, name: str, source: str = "shop_db") -> str:
    step = f"raw__{source}__{name}"
    failures = [e for e in result.all_events if e.is_step_failure and e.step_key == step]
    assert failures, f"{step} did not fail"
    error = failures[-1].step_failure_data.error
    return f"{error.message} {error.cause.message if error.cause else ''}"


def query(db: PostgresResource, statement: str) -> list[dict[str, Any]]:
    return db.query_arrow(statement).to_pylist()


def count(db: PostgresResource, relation: str) -> int:
    return query(db, f"SELECT count(*) AS n FROM {relation}")[0]["n"]


def test_a_full_refresh_lands_every_row_and_a_rerun_leaves_the_same_rows(pg_dsn, shop, store):
    items = table(shop, "order_items")
    for _ in range(2):
        result = materialize(pg_dsn, [items])
        assert result.success
        metadata = landed(result, "order_items")
        assert metadata["rows_read"] == metadata["rows_written"] == metadata["dagster/row_count"] == 7500
        assert metadata["dagster/table_name"] == "raw_shop_db.order_items"
        assert [c.name for c in metadata["dagster/column_schema"].columns][:2] == ["order_id", "line_no"]
        assert check_passed(result, "order_items")
    differences = query(shop, """SELECT count(*) AS n FROM (
        (SELECT * FROM order_items EXCEPT ALL SELECT * FROM raw_shop_db.order_items)
        UNION ALL (SELECT * FROM raw_shop_db.order_items EXCEPT ALL SELECT * FROM order_items)) d""")
    assert differences == [{"n": 0}]
    assert [h["status"] for h in store.ingestion_history("shop_db", "order_items")] == ["success", "success"]


def test_merge_picks_up_changed_and_new_rows_from_the_watermark_after_a_restart(pg_dsn, shop, store):
    orders = table(shop, "orders", "merge", "updated_at", lookback="1 hour")
    first = landed(materialize(pg_dsn, [orders]), "orders")
    assert first["rows_written"] == 3000 and first["watermark_from"] is None
    shop.execute("""UPDATE orders SET status = 'refunded', updated_at = (SELECT max(updated_at) FROM orders)
                    + interval '1 minute' WHERE order_id <= 5;
                    INSERT INTO orders SELECT order_id + 10000, customer_id, store_id, 'placed', total, created_at,
                                              (SELECT max(updated_at) FROM orders) + interval '2 minutes'
                    FROM orders WHERE order_id <= 2""")
    second = landed(materialize(pg_dsn, [orders]), "orders")
    assert second["watermark_from"] == first["watermark_to"]
    assert second["rows_read"] < 50
    assert count(shop, "raw_shop_db.orders") == 3002
    assert first["dagster/row_count"] == 3000 and second["dagster/row_count"] == 3002  # table size, not rows written
    assert query(shop, "SELECT count(*) AS n FROM raw_shop_db.orders WHERE status = 'refunded'") == [{"n": 5}]
    third = landed(materialize(pg_dsn, [orders]), "orders")
    assert count(shop, "raw_shop_db.orders") == 3002
    assert third["watermark_to"] == second["watermark_to"] == store.watermark("shop_db", "orders")["value"]


def test_incremental_append_keeps_boundary_rows_and_null_cursors_exactly_once(pg_dsn, source):
    source.execute("""CREATE TABLE clicks (at timestamptz, page text);
                      INSERT INTO clicks VALUES ('2026-01-01 10:00+00', 'a'), ('2026-01-01 11:00+00', 'b'),
                                                ('2026-01-01 11:00+00', 'b'), (NULL, 'no time')""")
    clicks = table(source, "clicks", "incremental", "at")
    assert landed(materialize(pg_dsn, [clicks]), "clicks")["rows_written"] == 4
    source.execute("""INSERT INTO clicks VALUES ('2026-01-01 11:00+00', 'c'), ('2026-01-01 12:00+00', 'd'),
                                                (NULL, 'no time either')""")
    second = landed(materialize(pg_dsn, [clicks]), "clicks")
    assert second["rows_null_cursor"] == 2
    assert second["rows_written"] == 3
    materialize(pg_dsn, [clicks])
    differences = query(source, """SELECT count(*) AS n FROM (
        (SELECT * FROM clicks EXCEPT ALL SELECT * FROM raw_shop_db.clicks)
        UNION ALL (SELECT * FROM raw_shop_db.clicks EXCEPT ALL SELECT * FROM clicks)) d""")
    assert differences == [{"n": 0}]
    assert count(source, "raw_shop_db.clicks") == 7


def test_a_lookback_window_catches_late_rows(pg_dsn, source):
    source.execute("""CREATE TABLE readings (id int PRIMARY KEY, seq bigint, value text);
                      INSERT INTO readings SELECT n, n, 'v' FROM generate_series(1, 100) AS n""")
    readings = table(source, "readings", "incremental", "seq", lookback="10")
    materialize(pg_dsn, [readings])
    source.execute("INSERT INTO readings VALUES (1001, 95, 'late'), (1002, 50, 'too late'), (1003, 101, 'new')")
    metadata = landed(materialize(pg_dsn, [readings]), "readings")
    assert metadata["read_from"] == "90"
    assert metadata["watermark_to"] == "101"
    ids = {row["id"] for row in query(source, "SELECT id FROM raw_shop_db.readings WHERE id > 1000")}
    assert ids == {1001, 1003}
    assert count(source, "raw_shop_db.readings") == 102


def test_a_new_source_column_is_added_to_the_target_and_recorded(pg_dsn, shop, store):
    orders = table(shop, "orders", "merge", "updated_at")
    materialize(pg_dsn, [orders])
    shop.execute("""ALTER TABLE orders ADD COLUMN channel text;
                    UPDATE orders SET channel = 'web', updated_at = updated_at + interval '1 year'
                    WHERE order_id <= 10""")
    metadata = landed(materialize(pg_dsn, [orders]), "orders")
    assert metadata["added_columns"] == ["channel"]
    assert metadata["schema_version"] == 2
    assert query(shop, "SELECT count(channel) AS n FROM raw_shop_db.orders") == [{"n": 10}]
    history = store.schema_history("shop_db", "orders")
    assert history[-1]["diff"]["added"] == ["channel"]
    assert count(shop, "raw_shop_db.orders") == 3000


def test_a_widened_source_type_widens_the_target(pg_dsn, shop):
    items = table(shop, "order_items")
    materialize(pg_dsn, [items])
    shop.execute("ALTER TABLE order_items ALTER COLUMN quantity TYPE bigint; "
                 "UPDATE order_items SET quantity = 5000000000 WHERE order_id = 1")
    metadata = landed(materialize(pg_dsn, [items]), "order_items")
    assert metadata["widened_columns"] == ["quantity"]
    assert query(shop, "SELECT max(quantity) AS q FROM raw_shop_db.order_items") == [{"q": 5_000_000_000}]


def test_an_incompatible_type_change_is_a_conflict_that_fails_the_check_and_loses_nothing(pg_dsn, shop, store):
    items = table(shop, "order_items")
    materialize(pg_dsn, [items])
    before = query(shop, "SELECT sum(quantity) AS q FROM raw_shop_db.order_items")
    shop.execute("ALTER TABLE order_items ALTER COLUMN quantity TYPE text USING quantity || ' pcs'")
    result = materialize(pg_dsn, [items])
    metadata = landed(result, "order_items")
    assert metadata["status"] == "blocked" and metadata["open_conflicts"] == 1
    assert not check_passed(result, "order_items")
    assert query(shop, "SELECT sum(quantity) AS q FROM raw_shop_db.order_items") == before
    conflicts = store.open_conflicts("shop_db", "order_items")
    assert [(c["column_name"], c["landed_type"], c["source_type"]) for c in conflicts] == [
        ("quantity", "int32", "string")]
    assert store.ingestion_history("shop_db", "order_items")[0]["status"] == "blocked"
    assert not check_passed(materialize(pg_dsn, [items]), "order_items")
    assert len(store.open_conflicts("shop_db", "order_items")) == 1

    store.resolve_conflicts("shop_db", "order_items")
    resolved = materialize(pg_dsn, [items])
    assert check_passed(resolved, "order_items")
    assert landed(resolved, "order_items")["rows_written"] == 7500
    assert query(shop, "SELECT count(*) AS n FROM raw_shop_db.order_items WHERE quantity LIKE '%pcs'") == [{"n": 7500}]


def test_a_source_that_is_down_fails_only_its_own_assets_after_retrying(pg_dsn, shop, store):
    legacy_schema = TableSchema(source="legacy", name="accounts", columns=shop.discover_table("orders").columns,
                                primary_key=["order_id"], namespace="public")
    legacy = SourceTable(kind="postgres", schema=legacy_schema, sync=SyncSettings(), batch_size=100,
                         semantic_search=False, text_columns=(), checks=CheckSettings(), target="warehouse")
    down = PostgresResource(host="127.0.0.1", port=free_port(), database="legacy", user="u", password="pw-123",
                            source_name="legacy", connect_timeout_s=2)
    result = materialize(pg_dsn, [table(shop, "order_items"), legacy], sources={"source_legacy": down},
                         retry_policy=dg.RetryPolicy(max_retries=1, delay=0))
    assert not result.success
    assert landed(result, "order_items")["rows_written"] == 7500
    message = failure_message(result, "accounts", source="legacy")
    assert "source legacy" in message and "cannot connect" in message and "pw-123" not in message
    attempts = store.ingestion_history("legacy", "accounts")
    assert [a["status"] for a in attempts] == ["failed", "failed"]
    assert "cannot connect" in attempts[0]["error"]


def test_a_cursor_that_goes_backwards_fails_clearly_without_retries_and_touches_nothing(pg_dsn, shop, store):
    orders = table(shop, "orders", "merge", "updated_at")
    first = landed(materialize(pg_dsn, [orders]), "orders")
    shop.execute("UPDATE orders SET updated_at = updated_at - interval '5 years'")
    result = materialize(pg_dsn, [orders], retry_policy=dg.RetryPolicy(max_retries=2, delay=0))
    assert not result.success
    assert "went backwards" in failure_message(result, "orders")
    assert [h["status"] for h in store.ingestion_history("shop_db", "orders")] == ["failed", "success"]
    assert store.watermark("shop_db", "orders")["value"] == first["watermark_to"]
    assert query(shop, "SELECT count(*) AS n, max(updated_at) > now() - interval '2 years' AS recent "
                       "FROM raw_shop_db.orders") == [{"n": 3000, "recent": True}]


class DisappearingPostgres(PostgresResource):
    """The real source, whose server drops the connection after the first batch has been read."""

    def read(self, table: TableSchema, since: Any = None, on_bad_record: Any = None) -> Iterator[Any]:
        batches = super().read(table, since, on_bad_record)
        first = next(batches)
        self.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND pid <> pg_backend_pid() AND query LIKE 'COPY (SELECT%%'")
        yield first
        yield from batches

    def read_binary(self, table: TableSchema, since: Any, target_types: dict[str, str]) -> Iterator[bytes]:
        chunks = super().read_binary(table, since, target_types)
        first = next(chunks)
        self.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND pid <> pg_backend_pid() AND query LIKE 'COPY (SELECT%%'")
        yield first
        yield from chunks


def test_a_source_that_disappears_mid_read_leaves_what_was_loaded(pg_dsn, source, store):
    source.execute("""CREATE TABLE big AS SELECT n AS id, repeat(md5(n::text), 10) AS filler
                      FROM generate_series(1, 30000) AS n;
                      CREATE VIEW slow_big AS SELECT id, filler FROM big,
                      LATERAL (SELECT pg_sleep(CASE WHEN id % 300 = 0 THEN 0.01 ELSE 0 END)) AS throttle""")
    big = table(source, "slow_big")
    assert landed(materialize(pg_dsn, [big]), "slow_big")["rows_written"] == 30_000
    source.execute("UPDATE big SET filler = upper(filler)")
    flaky = DisappearingPostgres.from_dsn(pg_dsn, source_name="shop_db")
    result = materialize(pg_dsn, [big], sources={"source_shop_db": flaky})
    assert not result.success
    assert "source shop_db" in failure_message(result, "slow_big")
    assert "lost while reading 'slow_big'" in failure_message(result, "slow_big")
    assert store.ingestion_history("shop_db", "slow_big")[0]["status"] == "failed"
    assert query(source, "SELECT count(*) AS n, count(*) FILTER (WHERE filler <> lower(filler)) AS changed "
                         "FROM raw_shop_db.slow_big") == [{"n": 30_000, "changed": 0}]


def test_a_table_named_with_quotes_and_semicolons_lands_under_its_own_name(pg_dsn, source):
    name = 'odd"name; DROP TABLE victims; --'
    source.execute("CREATE TABLE victims (id int)")
    source.execute(psycopg.sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, note text); INSERT INTO {} VALUES (1, 'x')")
                   .format(psycopg.sql.Identifier(name), psycopg.sql.Identifier(name)))
    odd = table(source, name)
    for _ in range(2):
        result = materialize(pg_dsn, [odd])
        assert result.success
        assert landed(result, name)["dagster/table_name"] == f"raw_shop_db.{name}"
    target = psycopg.sql.Identifier("raw_shop_db", name).as_string()
    assert count(source, target) == 1
    assert count(source, "victims") == 0
