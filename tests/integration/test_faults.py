"""Fault tests with their figures (issue 11, point 3; listed in docs/reliability.md): each says rows expected, rows
landed and duplicates.

The PostgreSQL that is restarted is an embedded server of this module's own (the shared test server is never
touched); the warehouse and metadata store are the test's database on the shared server. Retry limits are short,
set as a user sets them: the source's ``retry`` settings in datasources.yaml.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from etl_assets.catalog import SourceTable, source_tables
from etl_assets.config.models import CheckSettings, DataSources, RetrySettings, SyncSettings
from etl_assets.raw.assets import build_raw_assets
from etl_assets.stream.assets import build_stream_assets
from etl_assets.wiring import build_resources
from resources.embedded import EmbeddedKafka, EmbeddedPostgres
from resources.embedded.kafka import free_port
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.schema import Column, TableSchema
from tests.integration.recovery_project import SOURCE, make_project
from tests.integration.test_stream_assets import click, produce
from tests.integration.test_stream_dead_letters import run, stream_metadata

pytestmark = pytest.mark.integration
ROWS = 20_000
"""Read through a view that sleeps 0.2 s every 1,000 rows: ~4 s, so an outage lands inside the read."""
TIMEOUT_S = 2
HANG_BOUND_S = 60
"""A bounded wait, not a timing assert: a call that hangs fails here instead of blocking the suite."""
PASSWORD_ENV = "W_FAULT_PG_PASSWORD"


@pytest.fixture(scope="module")
def own_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("fault-pg"), port=free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def flaky_dsn(own_pg: EmbeddedPostgres) -> str:
    """A source database on the module's own server: ``events`` and the slow view ``slow_events`` over it."""
    name = f"fault_{uuid.uuid4().hex[:8]}"
    own_pg.create_database(name)
    dsn = own_pg.dsn(name)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql.SQL("CREATE TABLE events AS SELECT n AS id, n * 3 AS amount "
                                   "FROM generate_series(1, {}) AS n").format(sql.Literal(ROWS)))
        connection.execute("CREATE VIEW slow_events AS SELECT id, amount FROM events, LATERAL "
                           "(SELECT pg_sleep(CASE WHEN id % 1000 = 0 THEN 0.2 ELSE 0 END)) AS throttle")
    return dsn


def flaky_table(dsn: str, retry: RetrySettings) -> SourceTable:
    schema = PostgresResource.from_dsn(dsn, source_name="flaky").discover_table("slow_events")
    return SourceTable(kind="postgres", schema=replace(schema, primary_key=["id"]), sync=SyncSettings(),
                       batch_size=5000, semantic_search=False, text_columns=(), checks=CheckSettings(),
                       target="warehouse", retry=retry)


def load_flaky(source_dsn: str, pg_dsn: str, retry: RetrySettings) -> dg.ExecuteInProcessResult:
    resources = {"source_flaky": PostgresResource.from_dsn(source_dsn, source_name="flaky",
                                                           connect_timeout_s=TIMEOUT_S),
                 "warehouse": PostgresResource.from_dsn(pg_dsn),
                 "metadata": MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn))}
    return dg.materialize(build_raw_assets([flaky_table(source_dsn, retry)]), resources=resources,
                          instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def landed_figures(pg_dsn: str, relation: str, key: str = "id", summed: str | None = None) -> tuple[int, int, int]:
    """rows landed, duplicates (rows beyond distinct keys), and a checksum: sum(amount), or sum of the key."""
    summed = summed or ("amount" if key == "id" else key)
    with psycopg.connect(pg_dsn, connect_timeout=10) as connection:
        rows, distinct, total = connection.execute(
            sql.SQL("SELECT count(*), count(DISTINCT {}), sum({}) FROM {}").format(
                sql.Identifier(key), sql.Identifier(summed), sql.Identifier(*relation.split(".", 1)))).fetchone()
    return rows, rows - distinct, total


def ingestion_statuses(pg_dsn: str, source: str, table: str) -> list[tuple[str, int]]:
    with psycopg.connect(pg_dsn, connect_timeout=10) as connection:
        return connection.execute("SELECT status, rows_written FROM aietl_meta.ingestion_log WHERE source = %s "
                                  "AND table_name = %s ORDER BY id", (source, table)).fetchall()


def events(result: dg.ExecuteInProcessResult, kind: str) -> list[dg.DagsterEvent]:
    return [e for e in result.all_events if e.event_type_value == kind]


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    return error_text(events(result, "STEP_FAILURE")[-1].step_failure_data.error)


def error_text(error: Any) -> str:
    """The failure's message and its causes' ("Exceeded max_retries" wraps the last attempt's error)."""
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return " ".join(parts)


class Outage(threading.Thread):
    """Stop ``server`` once a COPY is reading from ``database``; start it again after ``seconds`` (None: stay down
    until :meth:`end`)."""

    def __init__(self, server: EmbeddedPostgres, database: str, seconds: float | None):
        super().__init__(daemon=True)
        self.server, self.database, self.seconds = server, database, seconds
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            deadline = time.monotonic() + HANG_BOUND_S
            while not self._copy_running():
                if time.monotonic() > deadline:
                    raise AssertionError("no COPY from the source within the bound")
                time.sleep(0.05)
            self.server.stop()
            self.stopped.set()
            if self.seconds is not None:
                time.sleep(self.seconds)
                self.server.start()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def end(self) -> None:
        self.join(timeout=HANG_BOUND_S)
        if not self.server.is_running():
            self.server.start()
        assert self.error is None, self.error

    def _copy_running(self) -> bool:
        try:
            with psycopg.connect(self.server.dsn(), autocommit=True, connect_timeout=5) as connection:
                return connection.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
                                          "state = 'active' AND query ILIKE 'COPY%%'", (self.database,)
                                          ).fetchone()[0] > 0
        except psycopg.OperationalError:
            return False


def test_postgres_restarted_mid_sync_for_a_short_outage_is_retried_and_lands_every_row_once(
        own_pg: EmbeddedPostgres, flaky_dsn: str, pg_dsn: str) -> None:
    outage = Outage(own_pg, conninfo_to_dict(flaky_dsn)["dbname"], seconds=1.0)
    outage.start()
    result = load_flaky(flaky_dsn, pg_dsn, RetrySettings(max_retries=4, delay_s=1))
    outage.end()
    assert outage.stopped.is_set(), "the server was never stopped"
    assert result.success, failure_text(result)
    assert len(events(result, "STEP_UP_FOR_RETRY")) >= 1, "the outage did not interrupt the load"
    assert landed_figures(pg_dsn, "raw_flaky.slow_events") == (ROWS, 0, 3 * ROWS * (ROWS + 1) // 2)
    statuses = ingestion_statuses(pg_dsn, "flaky", "slow_events")
    assert statuses[-1] == ("success", ROWS) and {s for s, _ in statuses[:-1]} <= {"failed"}, statuses


def test_postgres_down_longer_than_the_retry_limit_fails_clearly_and_a_rerun_lands_every_row_once(
        own_pg: EmbeddedPostgres, flaky_dsn: str, pg_dsn: str) -> None:
    outage = Outage(own_pg, conninfo_to_dict(flaky_dsn)["dbname"], seconds=None)
    outage.start()
    result = load_flaky(flaky_dsn, pg_dsn, RetrySettings(max_retries=2, delay_s=0.5))
    outage.end()
    assert not result.success
    assert len(events(result, "STEP_UP_FOR_RETRY")) == 2, "not the configured two retries"
    message = failure_text(result)
    assert f"source flaky (postgres at 127.0.0.1:{own_pg.port}/" in message, message
    assert "cannot connect" in message or "lost" in message, message

    rerun = load_flaky(flaky_dsn, pg_dsn, RetrySettings(max_retries=0))
    assert rerun.success, failure_text(rerun)
    assert landed_figures(pg_dsn, "raw_flaky.slow_events") == (ROWS, 0, 3 * ROWS * (ROWS + 1) // 2)
    statuses = ingestion_statuses(pg_dsn, "flaky", "slow_events")
    assert [s for s, _ in statuses] == ["failed"] * (len(statuses) - 1) + ["success"] and statuses[-1][1] == ROWS


# ---- a target down while other sources load ---------------------------------------------------------------------

def write_csv(path: Path, rows: int) -> None:
    path.write_text("id,amount\n" + "".join(f"{i},{i * 3}\n" for i in range(1, rows + 1)))


def test_a_target_down_fails_only_the_loads_into_it(tmp_path: Path, pg_dsn: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    info = conninfo_to_dict(pg_dsn)
    monkeypatch.setenv(PASSWORD_ENV, info.get("password", ""))
    for name, rows in (("orders", 300), ("stores", 200), ("archived", 100)):
        write_csv(tmp_path / f"{name}.csv", rows)
    dead_port = free_port()
    datasources = DataSources.model_validate({
        "warehouse": "wh", "metadata": "wh",
        "targets": {"postgres": {
            "wh": {"host": info["host"], "port": int(info["port"]), "database": info["dbname"], "user": info["user"],
                   "password_env": PASSWORD_ENV, "sslmode": "disable"},
            "archive": {"port": dead_port, "database": "archive", "connect_timeout_s": TIMEOUT_S}}},
        "sources": {"files": {
            "shop": {"path": str(tmp_path), "tables": {"orders": {"file": "orders.csv"},
                                                       "stores": {"file": "stores.csv"}}},
            "old": {"path": str(tmp_path), "target": "archive", "retry": {"max_retries": 1, "delay_s": 0.5},
                    "tables": {"archived": {"file": "archived.csv"}}}}},
    })
    catalog = {source: [TableSchema(source, table, [Column("id", "int64"), Column("amount", "int64")],
                                    primary_key=["id"]) for table in tables]
               for source, tables in (("shop", ["orders", "stores"]), ("old", ["archived"]))}
    assets = build_raw_assets(source_tables(datasources, catalog), warehouse_name="wh")
    result = dg.materialize(assets, resources=build_resources(datasources), raise_on_error=False,
                            instance=dg.DagsterInstance.ephemeral())

    assert sorted(e.step_key for e in events(result, "STEP_SUCCESS") if "schema_compatible" not in e.step_key) == [
        "raw__shop__orders", "raw__shop__stores"]
    [failed] = events(result, "STEP_FAILURE")
    assert failed.step_key == "raw__old__archived"
    message = failure_text(result)
    assert f"127.0.0.1:{dead_port}/archive" in message, message
    assert landed_figures(pg_dsn, "raw_shop.orders") == (300, 0, 3 * 300 * 301 // 2)
    assert landed_figures(pg_dsn, "raw_shop.stores") == (200, 0, 3 * 200 * 201 // 2)
    assert ingestion_statuses(pg_dsn, "old", "archived")[-1][0] == "failed"


# ---- two materializations of one asset at once ------------------------------------------------------------------

def test_two_materializations_of_one_asset_at_once_land_every_row_once(tmp_path: Path, pg_dsn: str) -> None:
    rows = 5000
    project = make_project(tmp_path, pg_dsn, rows)
    processes = [project.materialize(f"raw/{SOURCE}/events", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for _ in range(2)]
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=240)[0])
        finally:
            if process.poll() is None:
                process.kill()
    assert [p.returncode for p in processes] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    assert landed_figures(pg_dsn, f"raw_{SOURCE}.events") == (rows, 0, 3 * rows * (rows + 1) // 2)
    assert ingestion_statuses(pg_dsn, SOURCE, "events") == [("success", rows), ("success", rows)]


# ---- a source that accepts TCP and never answers ----------------------------------------------------------------

class BlackHole:
    """A TCP server on loopback that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.held.append(connection)
            self.accepted += 1

    def close(self) -> None:
        self.server.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


def silent_source_run(datasources: DataSources, catalog: dict[str, list[TableSchema]]) -> tuple[Any, float]:
    assets = build_raw_assets(source_tables(datasources, catalog), warehouse_name="wh")
    started = time.monotonic()
    result = dg.materialize(assets, resources=build_resources(datasources), raise_on_error=False,
                            instance=dg.DagsterInstance.ephemeral())
    return result, time.monotonic() - started


def silent_sources(pg_dsn: str, port: int) -> DataSources:
    info = conninfo_to_dict(pg_dsn)
    retry = {"max_retries": 1, "delay_s": 0.5}
    return DataSources.model_validate({
        "warehouse": "wh", "metadata": "wh",
        "targets": {"postgres": {"wh": {"host": info["host"], "port": int(info["port"]), "database": info["dbname"],
                                        "user": info["user"], "password_env": PASSWORD_ENV, "sslmode": "disable"}}},
        "sources": {
            "postgres": {"silent_pg": {"port": port, "database": "shop", "connect_timeout_s": TIMEOUT_S,
                                       "retry": retry}},
            "clickhouse": {"silent_ch": {"url": f"http://127.0.0.1:{port}", "connect_timeout_s": TIMEOUT_S,
                                         "send_receive_timeout_s": TIMEOUT_S, "retry": retry}},
        },
    })


def test_a_postgres_or_clickhouse_source_that_never_answers_fails_with_a_timeout(
        black_hole: BlackHole, pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, conninfo_to_dict(pg_dsn).get("password", ""))
    datasources = silent_sources(pg_dsn, black_hole.port)
    catalog = {source: [TableSchema(source, "orders", [Column("id", "int64", nullable=False)], primary_key=["id"])]
               for source in ("silent_pg", "silent_ch")}
    result, elapsed = silent_source_run(datasources, catalog)
    assert elapsed < HANG_BOUND_S
    failures = {e.step_key: error_text(e.step_failure_data.error) for e in events(result, "STEP_FAILURE")}
    assert set(failures) == {"raw__silent_pg__orders", "raw__silent_ch__orders"}
    assert "source silent_pg" in failures["raw__silent_pg__orders"]
    assert "timeout expired" in failures["raw__silent_pg__orders"], failures
    assert "ClickHouse source 'silent_ch'" in failures["raw__silent_ch__orders"]
    assert "Read timed out" in failures["raw__silent_ch__orders"], failures
    assert len(events(result, "STEP_UP_FOR_RETRY")) == 2, "each timeout is retried once, as configured"
    assert black_hole.accepted >= 4


def test_a_kafka_broker_that_never_answers_fails_the_stream_with_a_timeout(black_hole: BlackHole,
                                                                            pg_dsn: str) -> None:
    datasources = DataSources.model_validate({
        "warehouse": "wh", "metadata": "wh", "targets": {"postgres": {"wh": {"database": "unused"}}},
        "sources": {"kafka": {"silent": {"bootstrap_servers": f"127.0.0.1:{black_hole.port}", "topics": ["clicks"],
                                         "request_timeout_ms": TIMEOUT_S * 1000,
                                         "retry": {"max_retries": 1, "delay_s": 0.5}}}},
    })
    warehouse = PostgresResource.from_dsn(pg_dsn)
    resources = {**build_resources(datasources), "warehouse": warehouse,
                 "metadata": MetadataResource(postgres=warehouse)}
    stream_assets = [a for a in build_stream_assets(datasources) if a.key.path[0] == "stream" and
                     len(a.key.path) == 3]
    started = time.monotonic()
    result = dg.materialize(stream_assets[:1], resources=resources, raise_on_error=False,
                            instance=dg.DagsterInstance.ephemeral())
    assert time.monotonic() - started < HANG_BOUND_S
    assert not result.success
    message = failure_text(result)
    assert "Kafka source 'silent'" in message and "Timeout" in message, message
    assert len(events(result, "STEP_UP_FOR_RETRY")) == 1
    assert black_hole.accepted >= 1


# ---- the broker restarted mid-stream ----------------------------------------------------------------------------

def test_a_broker_restarted_mid_stream_is_reported_and_lands_what_it_holds_once(tmp_path: Path, pg_dsn: str) -> None:
    """Tansu keeps topics in memory: a restart loses them. The stream asset says the offsets went backwards and
    follows ``on_offsets_reset`` (fail with the reason; restart: land the topic again, earlier rows set aside)."""
    broker = EmbeddedKafka(free_port(), tmp_path / "tansu.log").start()
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    try:
        produce(broker.bootstrap, topic, [click(i, "view", "2026-11-01T10:00:00Z") for i in range(40)], partitions=1)
        assert stream_metadata(run(broker.bootstrap, pg_dsn, topic), topic)["rows_written"] == 40
        broker.stop()
        broker.start()
        produce(broker.bootstrap, topic, [click(100 + i, "buy", "2026-11-01T11:00:00Z") for i in range(15)],
                partitions=1)

        failed = run(broker.bootstrap, pg_dsn, topic, on_offsets_reset="fail")
        assert not failed.success
        message = failure_text(failed)
        assert "but offsets up to 40 were landed" in message and "on_offsets_reset: restart" in message, message
        assert not events(failed, "STEP_UP_FOR_RETRY"), "a run that cannot pass is not retried"
        assert landed_figures(pg_dsn, f"stream_events.{topic}", "event_id") == (40, 0, sum(range(40)))

        restarted = run(broker.bootstrap, pg_dsn, topic, on_offsets_reset="restart")
        assert restarted.success, failure_text(restarted)
        meta = stream_metadata(restarted, topic)
        assert (meta["rows_written"], meta["rows_moved_aside"]) == (15, 40)
        assert landed_figures(pg_dsn, f"stream_events.{topic}", "event_id") == (15, 0, sum(range(100, 115)))
        assert landed_figures(pg_dsn, f"stream_events.{topic}__before_reset", "event_id") == (40, 0, sum(range(40)))
        assert stream_metadata(run(broker.bootstrap, pg_dsn, topic), topic)["rows_written"] == 0
    finally:
        broker.stop()
