"""How the metadata store uses PostgreSQL connections, observed on a real server through ``pg_stat_activity``.

Every store here connects under an application name of its own, so the backends it holds can be counted.
"""

import time
import uuid

import dagster as dg
import psycopg
import pytest

import resources.metadata.connection as metadata_connection
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.protocol import SourceUnavailableError

pytestmark = pytest.mark.integration
BACKEND_EXIT_WAIT_S = 10.0


@pytest.fixture
def app_name() -> str:
    return f"aietl_meta_test_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def store(pg_dsn: str, app_name: str) -> MetadataResource:
    store = MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn, application_name=app_name))
    store.migrate()
    return store


def backends(pg_dsn: str, app_name: str) -> list[int]:
    with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=10) as connection:
        rows = connection.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s ORDER BY pid",
                                  (app_name,)).fetchall()
    return [row[0] for row in rows]


def wait_until_no_backends(pg_dsn: str, app_name: str) -> list[int]:
    """A backend leaves pg_stat_activity a moment after its client closed the connection."""
    deadline = time.monotonic() + BACKEND_EXIT_WAIT_S
    while (left := backends(pg_dsn, app_name)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def terminate(pg_dsn: str, pids: list[int]) -> None:
    with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=10) as connection:
        for pid in pids:
            connection.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def test_calls_in_a_session_share_one_connection_closed_at_the_end(store, pg_dsn, app_name):
    with store.session():
        entry = store.start_ingestion("s", "t", "replace")
        store.save_watermark("s", "t", "id", "int64", "7")
        held = backends(pg_dsn, app_name)
        with store.session():
            assert store.watermark("s", "t")["value"] == "7"
        store.finish_ingestion(entry, "success", rows_written=3)
        assert backends(pg_dsn, app_name) == held and len(held) == 1
    assert wait_until_no_backends(pg_dsn, app_name) == []
    assert store.ingestion_history("s", "t")[0]["rows_written"] == 3


def test_outside_a_session_no_connection_is_held(store, pg_dsn, app_name):
    store.start_ingestion("s", "t", "replace")
    assert wait_until_no_backends(pg_dsn, app_name) == []


def test_a_dropped_idle_connection_is_replaced_before_use(store, pg_dsn, app_name, monkeypatch):
    monkeypatch.setattr(metadata_connection, "IDLE_CHECK_S", 0.0)
    with store.session():
        store.save_watermark("s", "t", "id", "int64", "1")
        first = backends(pg_dsn, app_name)
        terminate(pg_dsn, first)
        store.save_watermark("s", "t", "id", "int64", "2")
        second = backends(pg_dsn, app_name)
    assert len(second) == 1 and second != first
    assert store.watermark("s", "t")["value"] == "2"


def test_a_connection_lost_mid_use_fails_clearly_and_the_next_call_reconnects(store, pg_dsn, app_name,
                                                                             monkeypatch):
    monkeypatch.setattr(metadata_connection, "IDLE_CHECK_S", 3600.0)
    with store.session():
        store.save_watermark("s", "t", "id", "int64", "1")
        terminate(pg_dsn, backends(pg_dsn, app_name))
        with pytest.raises(SourceUnavailableError, match=r"PostgreSQL \(postgres at .*\): connection lost"):
            store.save_watermark("s", "t", "id", "int64", "2")
        store.save_watermark("s", "t", "id", "int64", "3")
    assert store.watermark("s", "t")["value"] == "3"


def test_a_run_shares_one_connection_and_closes_it_when_the_run_ends(store, pg_dsn, app_name):
    seen: dict[str, list[int]] = {}

    @dg.asset(required_resource_keys={"metadata"})
    def first(context: dg.AssetExecutionContext) -> None:
        context.resources.metadata.save_watermark("s", "first", "id", "int64", "1")
        seen["first"] = backends(pg_dsn, app_name)

    @dg.asset(deps=[first], required_resource_keys={"metadata"})
    def second(context: dg.AssetExecutionContext) -> None:
        context.resources.metadata.save_watermark("s", "second", "id", "int64", "1")
        seen["second"] = backends(pg_dsn, app_name)

    result = dg.materialize([first, second], resources={"metadata": store},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert len(seen["first"]) == 1 and seen["second"] == seen["first"]
    assert wait_until_no_backends(pg_dsn, app_name) == []


def test_a_sensor_tick_does_not_keep_a_connection(store, pg_dsn, app_name):
    store.start_ingestion("s", "t", "replace")

    @dg.sensor(asset_selection=dg.AssetSelection.all())
    def loads_sensor(context: dg.SensorEvaluationContext, metadata: MetadataResource) -> dg.SkipReason:
        history = metadata.ingestion_history("s", "t")
        return dg.SkipReason(f"{len(history)} load(s) seen")

    with dg.build_sensor_context(resources={"metadata": store}) as context:
        outcome = loads_sensor(context)
        assert "1 load(s) seen" in outcome.skip_message
    assert wait_until_no_backends(pg_dsn, app_name) == []
