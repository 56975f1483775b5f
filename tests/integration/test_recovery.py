"""A load killed with SIGKILL mid-COPY is noticed and released (issue 11, point 2), and ``dagster asset materialize``
of every layer but the stream (tests/integration/test_stream_cli_exit.py) exits soon after its run ends.

The kill leaves what the issue saw: the run STARTED, its slot in the pool ``source_big`` claimed, its ingestion-log
row ``running``. One tick of the sensor ``run_recovery`` (what the daemon does every 30 s) fails the run with the
reason, frees the slot and closes the row; the rerun then loads every row once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from sensors.recovery import build_recovery_sensor, process_alive
from tests.integration.recovery_project import PROJECT, SOURCE, FaultProject, make_project

pytestmark = pytest.mark.integration
ROWS = 3_000_000
"""Big enough that the COPY takes a few seconds here (~4 s), so the kill lands inside it."""
RERUN_LIMIT_S = 120
BATCH_LAYERS = ("raw", "profile", "relationships", "recommendation", "ddl", "proof", "reports")
EXIT_AFTER_END_S = 60
"""Generous: interpreter shutdown alone takes a few seconds on a loaded 2-core machine (Dagster's heap)."""


@pytest.fixture
def project(tmp_path: Path, pg_dsn: str) -> FaultProject:
    return make_project(tmp_path, pg_dsn, ROWS)


def copy_running(project: FaultProject) -> bool:
    return project.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                         "AND state = 'active' AND query ILIKE 'COPY%%'")[0][0] > 0


def kill_mid_copy(project: FaultProject, log: Path) -> int:
    with open(log, "w") as out:
        process = project.materialize(f"raw/{SOURCE}/events", stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
    deadline = time.monotonic() + 120
    while not copy_running(project):
        assert process.poll() is None, f"the load ended before its COPY was seen: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "no COPY within 120 s"
        time.sleep(0.1)
    time.sleep(1.0)
    assert copy_running(project), "the COPY finished before the kill"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return process.pid


def log_rows(project: FaultProject) -> list[tuple]:
    return project.query("SELECT run_id, status, rows_written, error FROM aietl_meta.ingestion_log "
                         "WHERE source = %s AND table_name = 'events' ORDER BY id", (SOURCE,))


def tick_recovery_sensor(instance: DagsterInstance, pg_dsn: str) -> str:
    metadata = MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn))
    sensor = build_recovery_sensor()
    with dg.build_sensor_context(instance=instance, resources={"metadata": metadata}) as context:
        result = sensor.evaluate_tick(context)
    return result.skip_message or ""


def test_a_load_killed_mid_copy_is_released_and_the_rerun_lands_every_row_once(project: FaultProject,
                                                                               tmp_path: Path) -> None:
    killed_pid = kill_mid_copy(project, tmp_path / "killed.log")
    assert not process_alive(killed_pid, None)
    instance = DagsterInstance.from_config(str(project.home))
    [killed] = instance.get_run_records()
    run_id = killed.dagster_run.run_id
    assert killed.dagster_run.status == DagsterRunStatus.STARTED
    assert run_id in instance.event_log_storage.get_concurrency_run_ids(), "the dead run holds no pool slot"
    assert [(r[0], r[1]) for r in log_rows(project)] == [(run_id, "running")]

    released_at = time.monotonic()
    summary = tick_recovery_sensor(instance, project.pg_dsn)
    assert f"failed 1 run(s) whose process is gone ['{run_id}']" in summary, summary
    failed = instance.get_run_by_id(run_id)
    assert failed.status == DagsterRunStatus.FAILURE
    assert run_id not in instance.event_log_storage.get_concurrency_run_ids()
    [(_, status, written, error)] = log_rows(project)
    assert (status, written) == ("failed", 0)
    assert f"run {run_id} ended FAILURE" in error and f"pid {killed_pid}" in error and "is gone" in error
    assert tick_recovery_sensor(instance, project.pg_dsn).startswith("no dead runs"), "a second tick acted again"

    rerun = project.materialize(f"raw/{SOURCE}/events", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = rerun.communicate(timeout=RERUN_LIMIT_S)
    assert rerun.returncode == 0, output[-4000:]
    assert time.monotonic() - released_at < RERUN_LIMIT_S
    assert project.query(f"SELECT count(*), count(DISTINCT id), sum(amount) FROM raw_{SOURCE}.events") == [
        (ROWS, ROWS, 3 * ROWS * (ROWS + 1) // 2)]
    rows = log_rows(project)
    assert [(r[1], r[2]) for r in rows] == [("failed", 0), ("success", ROWS)]
    assert rows[1][0] != run_id


def test_materialize_of_every_batch_layer_exits_soon_after_its_run_ends(tmp_path: Path, pg_dsn: str) -> None:
    project = make_project(tmp_path, pg_dsn, rows=500)
    keys = [key for key in _asset_keys(project) if key.split("/")[0] in BATCH_LAYERS]
    assert {key.split("/")[0] for key in keys} == set(BATCH_LAYERS), keys
    process = project.materialize(",".join(keys), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ended_at, lines = None, []
    try:
        for line in process.stdout:
            lines.append(line)
            if "RUN_SUCCESS" in line or "RUN_FAILURE" in line:
                ended_at = time.monotonic()
                break
        assert ended_at is not None, "".join(lines[-50:])
        process.wait(timeout=EXIT_AFTER_END_S)
    finally:
        if process.poll() is None:
            process.kill()
    assert "RUN_SUCCESS" in lines[-1], "".join(lines[-80:])
    assert process.returncode == 0


def _asset_keys(project: FaultProject) -> list[str]:
    dagster = Path(sys.executable).parent / "dagster"
    listed = subprocess.run([str(dagster), "asset", "list", "-m", "etl_assets.definitions"], cwd=PROJECT,
                            env=project.environment(), capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr[-3000:]
    return listed.stdout.split()
