"""``dagster asset materialize`` of a stream asset, in a subprocess: the process ends soon after RUN_SUCCESS
(issue 11: a stream run whose process stayed alive after its run had succeeded)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.test_stream_assets import click, produce, query

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]
EXIT_AFTER_SUCCESS_S = 60
"""Generous: interpreter shutdown alone takes a few seconds on a loaded 2-core machine (Dagster's heap)."""


def test_dagster_asset_materialize_of_a_stream_exits_after_run_success(kafka_bootstrap: str, pg_dsn: str,
                                                                       tmp_path: Path) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, [click(i, "view", "2026-11-01T10:00:00Z") for i in range(50)])
    dbname = _part(pg_dsn, "dbname")
    (tmp_path / "ds.yaml").write_text(
        "warehouse: wh\nmetadata: wh\ntargets:\n  postgres:\n    wh: {host: 127.0.0.1, port: %s, database: %s, "
        "user: %s, password_env: W_STREAM_PG_PASSWORD}\nsources:\n  kafka:\n    events: {bootstrap_servers: '%s', "
        "topics: ['%s']}\n" % (_part(pg_dsn, "port"), dbname, _part(pg_dsn, "user"), kafka_bootstrap, topic))
    (tmp_path / "catalog.json").write_text('{"version": 1, "sources": {}}')
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "AIETL_DATASOURCES": str(tmp_path / "ds.yaml"),
           "AIETL_CATALOG": str(tmp_path / "catalog.json"), "W_STREAM_PG_PASSWORD": _part(pg_dsn, "password")}
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "etl_assets.definitions",
               "--select", f"stream/events/{topic}"]
    with subprocess.Popen(command, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        succeeded_at = None
        try:
            for line in process.stdout:
                if "RUN_SUCCESS" in line or "RUN_FAILURE" in line:
                    assert "RUN_SUCCESS" in line, line
                    succeeded_at = time.monotonic()
                    break
            assert succeeded_at is not None, "the run never finished"
            process.wait(timeout=EXIT_AFTER_SUCCESS_S)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0
    assert query(pg_dsn, f'SELECT count(*) FROM stream_events."{topic}"') == [(50,)]


def _part(dsn: str, name: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(dsn)[name])
