"""The metadata store on a real PostgreSQL: migrations, ingestion log, schema history, conflicts, watermarks, views."""

import threading

import pytest

from resources.metadata import MetadataResource, migration_files
from resources.postgres import PostgresResource

pytestmark = pytest.mark.integration


@pytest.fixture
def store(pg_dsn: str) -> MetadataResource:
    return MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn))


def test_migrations_apply_once_in_order_and_are_recorded(store):
    applied = store.migrate()
    assert applied == [file.stem.split("_", 1)[0] for file in migration_files()]
    assert applied[:5] == ["0001", "0002", "0003", "0004", "0005"]
    assert store.migrate() == []
    recorded = store.postgres.query_arrow("SELECT version FROM aietl_meta.schema_migrations ORDER BY version")
    assert recorded.column("version").to_pylist() == applied


def test_parallel_migrations_do_not_race(store):
    errors = []

    def migrate():
        try:
            store.migrate()
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    count = store.postgres.query_arrow("SELECT count(*) AS n FROM aietl_meta.schema_migrations").column("n")
    assert count[0].as_py() == len(migration_files())


def test_the_ingestion_log_records_each_load_and_feeds_the_views(store):
    ok = store.start_ingestion("shop_db", "orders", "merge", None, run_id="r1")
    store.finish_ingestion(ok, "success", rows_read=10, rows_written=9, rows_quarantined=1, watermark_to="5")
    bad = store.start_ingestion("shop_db", "orders", "merge", "5", run_id="r2")
    store.finish_ingestion(bad, "failed", error="source shop_db: connection lost")
    history = store.ingestion_history("shop_db", "orders")
    assert [h["status"] for h in history] == ["failed", "success"]
    assert set(history[0]) == {"started_at", "finished_at", "mode", "rows_read", "rows_written", "rows_quarantined",
                               "watermark_from", "watermark_to", "status", "error"}
    assert history[1]["rows_written"] == 9 and history[1]["watermark_to"] == "5"
    assert history[1]["finished_at"] >= history[1]["started_at"]
    assert store.ingestion_history("shop_db", "orders", limit=1)[0]["status"] == "failed"
    summary = store.sync_summary()
    assert summary[0]["source"] == "shop_db" and summary[0]["tables_failing"] == 1
    assert summary[0]["rows_written_24h"] == 9 and summary[0]["rows_quarantined_24h"] == 1
    assert [f["error"] for f in store.recent_failures()] == ["source shop_db: connection lost"]


def test_schema_history_keeps_a_version_per_change(store):
    v1 = {"columns": [{"name": "id", "logical_type": "int32"}]}
    v2 = {"columns": [{"name": "id", "logical_type": "int64"}]}
    assert store.record_schema("s", "t", v1, v1, {}) == 1
    assert store.record_schema("s", "t", v1, v1, {}) == 1
    assert store.record_schema("s", "t", v2, v2, {"widened": {"id": ["int32", "int64"]}}) == 2
    history = store.schema_history("s", "t")
    assert [h["version"] for h in history] == [1, 2]
    assert history[1]["diff"] == {"widened": {"id": ["int32", "int64"]}}
    assert store.latest_schema("s", "t")["landed_schema"] == v2


def test_conflicts_open_once_and_resolving_asks_for_a_full_reload(store):
    conflict = {"column": "qty", "landed_type": "int32", "source_type": "string", "detail": "qty changed"}
    assert store.record_conflicts("s", "t", [conflict]) == 1
    assert store.record_conflicts("s", "t", [conflict]) == 0
    assert [c["column_name"] for c in store.open_conflicts("s", "t")] == ["qty"]
    store.save_watermark("s", "t", "updated_at", "timestamptz", "2026-01-01T00:00:00+00:00")
    assert store.resolve_conflicts("s", "t") == 1
    assert store.open_conflicts("s", "t") == []
    mark = store.watermark("s", "t")
    assert mark["full_reload_requested"] is True and mark["value"] is None
    store.save_watermark("s", "t", "updated_at", "timestamptz", "2026-02-01T00:00:00+00:00")
    assert store.watermark("s", "t")["full_reload_requested"] is False
