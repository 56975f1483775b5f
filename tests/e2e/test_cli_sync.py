"""`aietl sync` and `aietl report` run as a user runs them, over a minimal project (one PostgreSQL source, no
``qdrant:`` key) on the shared PostgreSQL, into a persistent Dagster instance; and the CLI's one-line errors."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from etl_assets.catalog import save_catalog
from resources.embedded.kafka import free_port
from resources.schema import Column, TableSchema
from tests.conftest import PostgresServer

pytestmark = pytest.mark.e2e
PROJECT = Path(__file__).resolve().parents[2]
ROWS, DELETED = 50, 5
PASSWORD_ENV = "H_CLI_PG_PASSWORD"


@dataclass
class Project:
    directory: Path
    dsn: str
    env: dict[str, str]

    def config(self, name: str, extra: dict | None = None, top_key: str = "sources") -> Path:
        """A variant of the project's datasources.yaml (``extra`` merged in; ``top_key`` renames ``sources``)."""
        document = {**json.loads((self.directory / "datasources.yaml").read_text()), **(extra or {})}
        document[top_key] = document.pop("sources")
        path = self.directory / f"{name}.yaml"
        path.write_text(json.dumps(document))
        return path

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(Path(self.env["AIETL_HOME"]) / "dagster_home"))


def aietl(project: Project, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**project.env, **env}
    environment.pop("DAGSTER_HOME", None)
    return subprocess.run([str(Path(sys.executable).parent / "aietl"), *args], cwd=PROJECT, env=environment,
                          capture_output=True, text=True, timeout=600)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def project(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("cli_sync")
    database = f"t_cli_{uuid.uuid4().hex[:12]}"
    dsn = pg_server.create_database(database)
    try:
        yield _prepare(directory, dsn)
    finally:
        pg_server.drop_database(database)


def _prepare(directory: Path, dsn: str) -> Project:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE public.orders (id bigint PRIMARY KEY, amount float8, updated_at timestamptz)")
        connection.execute("INSERT INTO public.orders SELECT g, g * 1.5, now() - (100 - g) * interval '1 minute' "
                           "FROM generate_series(1, %s) g", (ROWS,))
    part = conninfo_to_dict(dsn)
    server = {"host": part["host"], "port": int(part["port"]), "database": part["dbname"], "user": part["user"],
              "password_env": PASSWORD_ENV}
    document = {"warehouse": "wh", "metadata": "wh", "targets": {"postgres": {"wh": server}},
                "sources": {"postgres": {"shop": {**server, "tables": {
                    "orders": {"sync": {"mode": "merge", "cursor": "updated_at"}}}}}}}
    (directory / "datasources.yaml").write_text(json.dumps(document))  # JSON is YAML; no qdrant: key
    save_catalog(directory / "catalog.json", {"shop": [TableSchema("shop", "orders", [
        Column("id", "int64", False), Column("amount", "float64"), Column("updated_at", "timestamptz")],
        primary_key=["id"])]})
    env = {**os.environ, PASSWORD_ENV: part.get("password", ""),
           "AIETL_DATASOURCES": str(directory / "datasources.yaml"), "AIETL_CATALOG": str(directory / "catalog.json"),
           "AIETL_HOME": str(directory / "state")}
    return Project(directory, dsn, env)


def landed_rows(project: Project) -> int:
    with psycopg.connect(project.dsn) as connection:
        return connection.execute("SELECT count(*) FROM raw_shop.orders").fetchone()[0]


def latest_materialization(instance: dg.DagsterInstance, key: str) -> dg.EventLogEntry:
    event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
    assert event is not None, f"{key} was not materialized"
    return event


@pytest.fixture(scope="module")
def first_sync(project: Project) -> subprocess.CompletedProcess:
    return aietl(project, "sync", "shop")


def test_sync_lands_the_source_and_materializes_its_downstream_as_a_dagster_run(project, first_sync):
    assert first_sync.returncode == 0, first_sync.stdout + first_sync.stderr
    assert f"{ROWS} rows landed, 0 checks failed" in first_sync.stdout
    assert "steps [1/" in first_sync.stderr, "no progress line per step when not on a terminal"
    assert landed_rows(project) == ROWS
    instance = project.instance()
    run = instance.get_run_by_id(re.search(r"Run (\S+) succeeded", first_sync.stdout).group(1))
    assert run.status == dg.DagsterRunStatus.SUCCESS and run.job_name == "main"
    for key in ("raw/shop/orders", "profile/shop/orders", "recommendation/shop/orders", "ddl/shop/orders",
                "reports/pipeline", "reports/quality"):
        assert latest_materialization(instance, key).run_id == run.run_id
    raw = latest_materialization(instance, "raw/shop/orders").asset_materialization
    assert raw.metadata["write_mode"].value == "merge"


def test_sync_full_reloads_a_merge_table_once(project, first_sync):
    assert first_sync.returncode == 0
    with psycopg.connect(project.dsn, autocommit=True) as connection:
        connection.execute("DELETE FROM public.orders WHERE id <= %s", (DELETED,))
    result = aietl(project, "sync", "shop", "--table", "orders", "--full")
    assert result.returncode == 0, result.stdout + result.stderr
    assert landed_rows(project) == ROWS - DELETED, "a merge keeps deleted rows; a full reload must not"
    instance = project.instance()
    raw = latest_materialization(instance, "raw/shop/orders")
    assert raw.asset_materialization.metadata["write_mode"].value == "replace"
    assert instance.get_run_by_id(raw.run_id).tags["aietl/full_reload"] == "true"


def test_report_prints_the_path_of_an_existing_file(project, first_sync):
    assert first_sync.returncode == 0
    result = aietl(project, "report", "quality", "--format", "md")
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.name == "quality.md" and path.is_file()
    assert "# Data quality" in path.read_text()
    listing = aietl(project, "report")
    assert listing.returncode == 0 and str(path) in listing.stdout


def test_report_refresh_materializes_the_report_through_dagster(project, first_sync):
    assert first_sync.returncode == 0
    result = aietl(project, "report", "pipeline", "--format", "json", "--refresh")
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    event = latest_materialization(project.instance(), "reports/pipeline")
    assert event.run_id != latest_materialization(project.instance(), "raw/shop/orders").run_id
    assert event.asset_materialization.metadata["path_json"].value == str(path)
    assert json.loads(path.read_text())["name"] == "pipeline"


def test_a_failed_run_names_the_failed_step_and_its_reason_in_one_line(project):
    document = json.loads((project.directory / "datasources.yaml").read_text())
    shop = document["sources"]["postgres"]["shop"]
    shop.update(database=f"{shop['database']}_gone", retry={"max_retries": 0})
    config = project.config("down", {"sources": document["sources"]})
    result = aietl(project, "sync", "shop", AIETL_DATASOURCES=str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Stack Trace" not in result.stderr
    assert "step raw__shop__orders failed: shop.orders: source shop (postgres at " in result.stderr
    assert re.search(r"^Error: run \S+ failed at step\(s\) raw__shop__orders;", result.stderr, re.M)
    assert "0 rows landed" in result.stdout


def test_unknown_names_are_one_line_with_a_suggestion(project):
    assert "unknown table of shop 'order'; did you mean 'orders'?" in one_line_error(
        aietl(project, "sync", "shop", "--table", "order"))
    assert "unknown source 'shp'; did you mean 'shop'?" in one_line_error(aietl(project, "sync", "shp"))
    assert "unknown report 'qualty'; did you mean 'quality'?" in one_line_error(aietl(project, "report", "qualty"))


def test_an_unset_secret_variable_is_named(project):
    environment = {key: value for key, value in project.env.items() if key != PASSWORD_ENV}
    result = subprocess.run([str(Path(sys.executable).parent / "aietl"), "sync", "shop"], cwd=PROJECT,
                            env=environment, capture_output=True, text=True, timeout=120)
    assert f"targets.postgres.wh.password_env names the environment variable {PASSWORD_ENV}, which is not set" in \
        one_line_error(result)


def test_an_llm_endpoint_without_its_key_is_named(project):
    config = project.config("llm", {"llm": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "H_CLI_NO_KEY"}})
    for command in (["sync", "shop"], ["propose-pipeline", "revenue per order"]):
        line = one_line_error(aietl(project, *command, AIETL_DATASOURCES=str(config)))
        assert "llm.api_key_env (llm.base_url is set) names the environment variable H_CLI_NO_KEY" in line


def test_a_config_key_typo_is_one_line(project):
    config = project.config("typo", top_key="sourcs")
    line = one_line_error(aietl(project, "sync", "shop", AIETL_DATASOURCES=str(config)))
    assert "sourcs: Extra inputs are not permitted; did you mean 'sources'?" in line


def test_a_busy_ui_port_is_refused_before_anything_starts(project):
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        line = one_line_error(aietl(project, "ui", "--port", str(port)))
    assert f"port {port} on 127.0.0.1 is already in use" in line


def test_the_daemon_can_evaluate_the_sensors(project):
    """Under ``aietl ui`` the daemon builds each sensor's resources from the code location's (regression: the
    ``stored_or_none`` input manager needs ``io_manager``, which Dagster only adds to jobs)."""
    home = project.directory / "sensor_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text((PROJECT / "dagster.yaml").read_text())
    for sensor in ("run_recovery", "drift_shop"):
        result = subprocess.run([str(Path(sys.executable).parent / "dagster"), "sensor", "preview", "-m",
                                 "etl_assets.definitions", sensor], cwd=PROJECT,
                                env={**project.env, "DAGSTER_HOME": str(home)}, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Traceback" not in result.stdout + result.stderr


def test_make_etl_sync_manual_is_a_thin_wrapper():
    outer = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}  # under `make test` a nested make would print its directory
    environment = {name: value for name, value in os.environ.items() if name not in outer}
    result = subprocess.run(["make", "--no-print-directory", "-n", "etl-sync-manual", "SOURCE=shop", "TABLE=orders",
                             "FULL=1"], cwd=PROJECT, capture_output=True, text=True, timeout=60, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == ".venv/bin/aietl sync shop --table orders --full"
