"""An embeddings run killed with SIGKILL mid-collection (issue 11, point 2): the sensor ``run_recovery`` releases it,
and the rerun leaves exactly one point per row in Qdrant and an index that agrees with it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from etl_assets.keys import EMBEDDINGS, RAW, asset_key
from resources.qdrant import QdrantResource
from tests.integration.recovery_project import SOURCE, FaultProject, make_project
from tests.integration.test_recovery import tick_recovery_sensor

pytestmark = pytest.mark.integration
ROWS = 15_000
"""With the hashing model, embedding them takes several seconds here: the kill lands mid-collection."""
COLLECTION = f"{SOURCE}__events"


def indexed(project: FaultProject) -> tuple[int, int]:
    """Index entries of the collection, and the distinct primary keys among them."""
    exists = project.query("SELECT to_regclass('aietl_meta.embedding_index')")[0][0]
    if exists is None:
        return 0, 0
    return project.query("SELECT count(*), count(DISTINCT pk) FROM aietl_meta.embedding_index "
                         "WHERE collection = %s", (COLLECTION,))[0]


def semantic_project(root: Path, pg_dsn: str) -> FaultProject:
    project = make_project(root, pg_dsn, ROWS)
    config = project.root / "ds.yaml"
    text = config.read_text().replace("      path:", "      semantic_search: true\n      path:", 1)
    config.write_text(text + "embedder: {model: hashing}\n")
    return project


def test_an_embeddings_run_killed_mid_collection_is_released_and_the_rerun_leaves_one_point_per_row(
        tmp_path: Path, pg_dsn: str) -> None:
    project = semantic_project(tmp_path, pg_dsn)
    raw = project.materialize(asset_key(RAW, SOURCE, "events").to_user_string(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = raw.communicate(timeout=300)
    assert raw.returncode == 0, output[-3000:]
    [(landed,)] = project.query(f"SELECT count(*) FROM raw_{SOURCE}.events")
    assert landed == ROWS

    selection = asset_key(EMBEDDINGS, SOURCE, "events").to_user_string()
    with open(tmp_path / "killed.log", "w") as log:
        killed = project.materialize(selection, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 240
    while indexed(project)[0] < 1_000:
        assert killed.poll() is None, f"the run ended before the kill: {(tmp_path / 'killed.log').read_text()[-3000:]}"
        assert time.monotonic() < deadline, "no points indexed within 240 s"
        time.sleep(0.1)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    partial, distinct = indexed(project)
    assert 0 < partial < ROWS and partial == distinct, (partial, distinct)

    instance = DagsterInstance.from_config(str(project.home))
    dead = next(r for r in instance.get_run_records() if r.dagster_run.status == DagsterRunStatus.STARTED)
    summary = tick_recovery_sensor(instance, pg_dsn)
    assert f"failed 1 run(s) whose process is gone ['{dead.dagster_run.run_id}']" in summary, summary

    rerun = project.materialize(selection, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output[-4000:]
    assert indexed(project) == (ROWS, ROWS)
    with QdrantResource(path=str(project.root / "qdrant")).open() as client:
        assert client.count(COLLECTION, exact=True).count == ROWS
