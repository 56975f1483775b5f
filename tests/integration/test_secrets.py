"""A secret given through EnvVar reaches neither the event log, nor metadata, nor error messages."""

import uuid

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.paths import SAMPLE_DIR
from etl_assets.raw.assets import build_raw_assets
from resources.files import FilesResource, FileTable
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource


@pytest.fixture
def secret_role(pg_dsn, monkeypatch):
    """A login role whose password is a canary string, exported the way deployments export secrets."""
    name, password = f"r_{uuid.uuid4().hex[:8]}", f"canary-{uuid.uuid4().hex}"
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)))
    monkeypatch.setenv("AIETL_TEST_SECRET", password)
    yield name, password
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def stores_table() -> tuple[SourceTable, FilesResource]:
    files = FilesResource(path=str(SAMPLE_DIR / "files"), source_name="shop_files",
                          tables={"stores": FileTable(file="stores.xml", format="xml", record_path="store")})
    return SourceTable(kind="files", schema=files.discover_table("stores"), sync=SyncSettings(), batch_size=1000,
                       semantic_search=False, text_columns=(), checks=CheckSettings(), target="warehouse"), files


def materialize(pg_dsn: str, user: str, port: int | None = None) -> dg.ExecuteInProcessResult:
    table, files = stores_table()
    overrides = {"user": user, "password": dg.EnvVar("AIETL_TEST_SECRET")}
    if port:
        overrides |= {"port": port, "connect_timeout_s": 2}
    warehouse = PostgresResource.from_dsn(pg_dsn, **overrides)
    return dg.materialize(build_raw_assets([table], retry_policy=None), raise_on_error=False,
                          resources={"source_shop_files": files, "warehouse": warehouse,
                                     "metadata": MetadataResource(postgres=warehouse)})


def logged_text(result: dg.ExecuteInProcessResult) -> str:
    """Every event of the run as stored: messages, metadata, errors with their causes."""
    return "\n".join(repr(event) for event in result.all_events)


def test_a_successful_run_never_shows_the_password(pg_dsn, secret_role):
    user, password = secret_role
    result = materialize(pg_dsn, user)
    assert result.success
    assert password not in logged_text(result)


def test_a_failed_connection_never_shows_the_password(pg_dsn, secret_role):
    user, password = secret_role
    result = materialize(pg_dsn, user, port=1)
    assert not result.success
    failures = [event for event in result.all_events if event.is_step_failure]
    assert failures, "the run with an unreachable warehouse should fail"
    assert password not in logged_text(result)
