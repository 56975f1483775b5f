"""A small project for the fault tests: one files source (a big CSV and a small one) landing in a test database,
its catalog, a Dagster home with the project's dagster.yaml, and ``dagster asset materialize`` in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg.conninfo import conninfo_to_dict

PROJECT = Path(__file__).resolve().parents[2]
PASSWORD_ENV = "W_OPS_PG_PASSWORD"
SOURCE = "big"


@dataclass
class FaultProject:
    root: Path
    pg_dsn: str
    rows: int

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    def environment(self) -> dict[str, str]:
        env = {**os.environ, "DAGSTER_HOME": str(self.home), "AIETL_DATASOURCES": str(self.root / "ds.yaml"),
               "AIETL_CATALOG": str(self.root / "catalog.json"), "AIETL_HOME": str(self.root / "state"),
               PASSWORD_ENV: str(conninfo_to_dict(self.pg_dsn).get("password", "")), "DO_NOT_TRACK": "1"}
        env.pop("AIETL_EXECUTOR", None)
        return env

    def materialize(self, selection: str, **popen: object) -> subprocess.Popen:
        command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m",
                   "etl_assets.definitions", "--select", selection]
        return subprocess.Popen(command, cwd=PROJECT, env=self.environment(), text=True, **popen)

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.pg_dsn, autocommit=True, connect_timeout=10) as connection:
            return connection.execute(statement, params).fetchall()


def make_project(root: Path, pg_dsn: str, rows: int) -> FaultProject:
    """Write the CSVs (``rows`` rows in events.csv), the config, the catalog (by discovery) and the Dagster home."""
    from etl_assets.discovery import discover_sources

    files = root / "files"
    files.mkdir(parents=True)
    _write_csv(files / "events.csv", rows)
    _write_csv(files / "small.csv", 200)
    info = conninfo_to_dict(pg_dsn)
    (root / "ds.yaml").write_text(
        "warehouse: wh\nmetadata: wh\ntargets:\n  postgres:\n    wh: {host: '%s', port: %s, database: '%s', user: '%s',"
        " password_env: %s, sslmode: disable}\nsources:\n  files:\n    %s:\n      path: '%s'\n      tables:\n"
        "        events: {file: events.csv, format: csv, primary_key: [id]}\n"
        "        small: {file: small.csv, format: csv, primary_key: [id]}\nqdrant: {path: '%s'}\n"
        % (info.get("host", "127.0.0.1"), info.get("port", 5432), info["dbname"], info["user"], PASSWORD_ENV,
           SOURCE, files, root / "qdrant"))
    _, problems = discover_sources(datasources_file=root / "ds.yaml", catalog_file=root / "catalog.json")
    assert problems == [], problems
    project = FaultProject(root, pg_dsn, rows)
    project.home.mkdir()
    shutil.copyfile(PROJECT / "dagster.yaml", project.home / "dagster.yaml")
    # Create the instance's SQLite storages once, as the webserver or daemon of a deployment has: two first-ever
    # processes on an empty Dagster home race on stamping Dagster's own schema, which is not what these tests are about.
    subprocess.run([str(Path(sys.executable).parent / "dagster"), "instance", "migrate"], env=project.environment(),
                   cwd=PROJECT, check=True, capture_output=True, timeout=120)
    return project


def _write_csv(path: Path, rows: int) -> None:
    ids = pa.array(range(1, rows + 1), pa.int64())
    table = pa.table({"id": ids, "amount": pa.compute.multiply(ids, 3),
                      "label": pa.compute.binary_join_element_wise("row-", pa.compute.cast(ids, pa.string()), "")})
    pacsv.write_csv(table, path)
