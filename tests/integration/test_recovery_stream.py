"""A stream run killed with SIGKILL between micro-batches (issue 11, point 2): the sensor ``run_recovery`` releases
it, and the rerun lands every message exactly once, from the offsets committed with the rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance, DagsterRunStatus
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tests.integration.test_recovery import tick_recovery_sensor
from tests.integration.test_stream_assets import click, produce

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]
MESSAGES = 60_000
BATCH = 2_000
"""30 micro-batches of a few hundred milliseconds each: the kill lands between two of them."""


def landed(dsn: str, topic: str) -> tuple[int, int, int]:
    """rows, duplicates (rows beyond distinct event ids), sum of event ids."""
    with psycopg.connect(dsn, connect_timeout=10) as connection:
        exists = connection.execute("SELECT to_regclass(%s)", (f'stream_events."{topic}"',)).fetchone()[0]
        if exists is None:
            return 0, 0, 0
        rows, distinct, total = connection.execute(sql.SQL(
            "SELECT count(*), count(DISTINCT event_id), coalesce(sum(event_id), 0) FROM {}").format(
            sql.Identifier("stream_events", topic))).fetchone()
    return rows, rows - distinct, total


def test_a_stream_run_killed_mid_stream_is_released_and_the_rerun_lands_every_message_once(
        kafka_bootstrap: str, pg_dsn: str, tmp_path: Path) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, [click(i, "view", "2026-11-01T10:00:00Z") for i in range(MESSAGES)])
    info = conninfo_to_dict(pg_dsn)
    (tmp_path / "ds.yaml").write_text(
        "warehouse: wh\nmetadata: wh\ntargets:\n  postgres:\n    wh: {host: 127.0.0.1, port: %s, database: %s, "
        "user: %s, password_env: W_STREAM_PG_PASSWORD}\nsources:\n  kafka:\n    events: {bootstrap_servers: '%s', "
        "topics: ['%s'], batch_size: %d, dead_letter_topic: null}\n"
        % (info["port"], info["dbname"], info["user"], kafka_bootstrap, topic, BATCH))
    (tmp_path / "catalog.json").write_text('{"version": 1, "sources": {}}')
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "AIETL_DATASOURCES": str(tmp_path / "ds.yaml"),
           "AIETL_CATALOG": str(tmp_path / "catalog.json"), "AIETL_HOME": str(tmp_path / "state"),
           "W_STREAM_PG_PASSWORD": str(info.get("password", ""))}
    env.pop("AIETL_EXECUTOR", None)
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "etl_assets.definitions",
               "--select", f"stream/events/{topic}"]

    with open(tmp_path / "killed.log", "w") as log:
        killed = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    deadline = time.monotonic() + 180
    while landed(pg_dsn, topic)[0] < 2 * BATCH:
        assert killed.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no micro-batch landed within 180 s"
        time.sleep(0.1)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    before = landed(pg_dsn, topic)
    assert 0 < before[0] < MESSAGES and before[1] == 0, before
    assert before[0] % BATCH == 0, "a micro-batch landed in part"

    instance = DagsterInstance.from_config(str(home))
    [dead] = instance.get_run_records()
    assert dead.dagster_run.status == DagsterRunStatus.STARTED
    summary = tick_recovery_sensor(instance, pg_dsn)
    assert f"failed 1 run(s) whose process is gone ['{dead.dagster_run.run_id}']" in summary, summary
    assert instance.get_run_by_id(dead.dagster_run.run_id).status == DagsterRunStatus.FAILURE

    rerun = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    assert landed(pg_dsn, topic) == (MESSAGES, 0, MESSAGES * (MESSAGES - 1) // 2)
