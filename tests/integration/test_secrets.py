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


DEFINITIONS = '''
import os
import dagster as dg
from tests.integration.test_secrets import stores_table
from etl_assets.raw.assets import build_raw_assets
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource

table, files = stores_table()
warehouse = PostgresResource.from_dsn(os.environ["W_OPS_DSN"], user=os.environ["W_OPS_USER"],
                                      password=dg.EnvVar("AIETL_TEST_SECRET"), port=1, connect_timeout_s=2)
defs = dg.Definitions(assets=build_raw_assets([table], retry_policy=None),
                      resources={"source_shop_files": files, "warehouse": warehouse,
                                 "metadata": MetadataResource(postgres=warehouse)})
'''
UI_QUERIES = {
    "runs": "{ runsOrError { ... on Runs { results { runId status runConfigYaml tags { key value } } } } }",
    "logs": """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events { __typename
        ... on MessageEvent { message }
        ... on ExecutionStepFailureEvent { error { message stack causes { message stack } } } } } } }""",
    "assets": "{ assetNodes { assetKey { path } description metadataEntries { label __typename } } }",
    "resources": """query($selector: RepositorySelector!) { allTopLevelResourceDetailsOrError(
        repositorySelector: $selector) { ... on ResourceDetailsList { results { name
        configuredValues { key value type } } } } }""",
}


def test_the_ui_graphql_never_shows_the_password(pg_dsn, secret_role, tmp_path, monkeypatch):
    """What the UI would show of a failed run (its events, errors and causes, the assets, the resources' config),
    asked through Dagster's own GraphQL schema over an instance and an in-process code location."""
    from dagster._core.test_utils import in_process_test_workspace
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster_graphql.test.utils import execute_dagster_graphql

    user, password = secret_role
    monkeypatch.setenv("W_OPS_DSN", pg_dsn)
    monkeypatch.setenv("W_OPS_USER", user)
    (tmp_path / "secret_defs.py").write_text(DEFINITIONS)
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        origin = LoadableTargetOrigin(python_file=str(tmp_path / "secret_defs.py"), attribute="defs",
                                      working_directory=str(SAMPLE_DIR.parent.parent))
        with in_process_test_workspace(instance, origin) as context:
            [location_name] = context.code_location_names
            error = context.get_code_location_error(location_name)
            assert error is None, error
            location = context.get_code_location(location_name)
            job = location.get_repository("__repository__").get_full_job("__ASSET_JOB")
            result = dg.materialize(build_raw_assets([stores_table()[0]], retry_policy=None), instance=instance,
                                    raise_on_error=False, resources=_failing_resources(pg_dsn, user))
            assert not result.success and job is not None
            selector = {"repositoryLocationName": location_name, "repositoryName": "__repository__"}
            answers = {name: execute_dagster_graphql(context, query, {"id": result.run_id, "selector": selector})
                       for name, query in UI_QUERIES.items()}
    for name, answer in answers.items():
        assert not answer.errors, (name, answer.errors)
        assert answer.data, name
        assert password not in repr(answer.data), f"the password is in the UI's {name}"
    assert "ExecutionStepFailureEvent" in repr(answers["logs"].data), "the failure should be in the run's events"
    assert "AIETL_TEST_SECRET" in repr(answers["resources"].data), "the UI names the variable, not its value"


def _failing_resources(pg_dsn: str, user: str) -> dict:
    table, files = stores_table()
    warehouse = PostgresResource.from_dsn(pg_dsn, user=user, password=dg.EnvVar("AIETL_TEST_SECRET"), port=1,
                                          connect_timeout_s=2)
    return {"source_shop_files": files, "warehouse": warehouse, "metadata": MetadataResource(postgres=warehouse)}
