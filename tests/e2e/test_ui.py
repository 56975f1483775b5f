"""`aietl ui`: the Dagster UI over the embedded services; a run launched through it succeeds; it stops cleanly."""

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from resources.embedded.kafka import free_port, port_open
from tests.support.graphql import graphql, wait_until

PROJECT = Path(__file__).resolve().parents[2]
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUN_STATUS = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""
ASSET_KEYS = "{ assetNodes { assetKey { path } } }"


@pytest.fixture
def ui(tmp_path):
    port = free_port()
    env = {**os.environ, "AIETL_HOME": str(tmp_path), "AIETL_PG_PORT": str(free_port()),
           "AIETL_KAFKA_PORT": str(free_port())}
    env.pop("DAGSTER_HOME", None)
    log = open(tmp_path / "ui.log", "w")
    process = subprocess.Popen([str(Path(sys.executable).parent / "aietl"), "ui", "--port", str(port)], cwd=PROJECT,
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5).status == 200,
                   240, "the UI to serve")
        yield port, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_the_ui_shows_every_layer_and_runs_what_it_launches(ui):
    port, process = ui
    keys = wait_until(lambda: graphql(port, ASSET_KEYS)["assetNodes"], 120, "the code location to load")
    layers = {node["assetKey"]["path"][0] for node in keys}
    assert {"raw", "profile", "recommendation", "ddl", "embeddings", "stream", "dbt", "reports"} <= layers

    params = {"selector": {"repositoryLocationName": "aietl", "repositoryName": "__repository__",
                           "jobName": "__ASSET_JOB", "assetSelection": [{"path": ["raw", "shop_files", "stores"]}]}}
    launched = graphql(port, LAUNCH, {"p": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    status = wait_until(
        lambda: (s := graphql(port, RUN_STATUS, {"id": run_id})["runOrError"]["status"]) in ("SUCCESS", "FAILURE")
        and s, 240, "the launched run to finish")
    assert status == "SUCCESS"

    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the foreground process group
    assert process.wait(timeout=90) == 0
    assert not port_open(port), "the Dagster UI still serves after Ctrl-C"
