"""The Dagster UI over the demo's instance, driven in headless Chromium: every layer is shown, a profile's metadata
table renders, a recommendation's reasons are readable, a report opens from its asset's metadata, and a
materialization launched by clicking *Materialize* succeeds. Screenshots land in the test's temporary directory.

Select it with ``-m browser``; it shares the session's ``aietl demo`` run with test_demo.py.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
from pathlib import Path

import pytest

from resources.embedded.kafka import free_port
from tests.support.graphql import graphql, wait_until
from tests.support import browser
from tests.support.demo import AIETL, PROJECT, aietl_env

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

GROUPS = ["shop_db", "shop_files", "analytics", "events", "marts", "relationships", "reports"]
LAYERS = ["raw", "profile", "recommendation", "ddl", "dbt", "embeddings", "stream", "relationships", "proof",
          "reports"]
PROFILE = "profile/shop_db/orders"
RECOMMENDATION = "recommendation/shop_db/orders"
CLICKED = "raw/shop_files/stores"


@pytest.fixture
def ui_over_demo(demo_home, demo_first_run, tmp_path):
    """``aietl ui`` (webserver + daemon) over the instance the demo materialized; its port."""
    assert demo_first_run.returncode == 0, demo_first_run.stdout[-3000:] + demo_first_run.stderr[-3000:]
    browser.chromium(), browser.playwright()  # install (or skip) before starting anything
    port = free_port()
    log = open(tmp_path / "ui.log", "w")
    process = subprocess.Popen([str(AIETL), "ui", "--port", str(port)], cwd=PROJECT, env=aietl_env(demo_home),
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: graphql(port, "{ assetNodes { id } }")["assetNodes"], 240, "the UI to load the code")
        yield port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _stored(home: Path, key: str):
    with (home / "dagster_home" / "storage" / key).open("rb") as stored:
        return pickle.load(stored)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def test_the_ui_in_a_browser_shows_every_layer_and_runs_what_is_clicked(ui_over_demo, demo_home, tmp_path):
    home = Path(demo_home["AIETL_HOME"])
    recommendation = _stored(home, RECOMMENDATION)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    seen = browser.walk_ui({
        "base": f"http://127.0.0.1:{ui_over_demo}", "shots": str(shots), "groups": GROUPS, "layers": LAYERS,
        "profile": PROFILE, "recommendation": RECOMMENDATION, "reason_text": recommendation.reasons[0].claim,
        "report_asset": "reports/analysis", "materialize": CLICKED, "run_timeout_ms": 240_000,
    })

    assert "failed" not in seen, f"{seen['failed']} (screenshots in {shots})"
    graph = seen["asset_graph"].split()
    assert all(group in graph for group in GROUPS), seen["asset_graph"]
    assert all(f"{layer}/" in seen["layers"].split() for layer in LAYERS), seen["layers"]

    profile_page = seen["profile"]
    assert "Metadata" in profile_page and "profile_json" in profile_page and "candidate_keys" in profile_page
    assert str(home / "profiles" / "shop_db" / "orders.json") in profile_page
    assert "order_id" in profile_page and "3,000" in profile_page

    reasons = _one_line(seen["reasons"])
    assert recommendation.reasons, "the stored recommendation has no reasons"
    for reason in recommendation.reasons:
        assert _one_line(reason.claim) in reasons and _one_line(reason.fact) in reasons, reason

    assert seen["report_path"] == str(home / "reports" / "analysis.html")
    assert "Data analysis" in seen["report"] and "shop_db" in seen["report"]
    assert seen["report_images"] and all(image["loaded"] for image in seen["report_images"]), seen["report_images"]

    assert "Success" in seen["run_page"].split() and "stores" in seen["run_page"]
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus

    instance = DagsterInstance.from_config(str(home / "dagster_home"))
    run = instance.get_run_by_id(seen["run_id"])
    assert run is not None and run.status == DagsterRunStatus.SUCCESS
    materialized = instance.get_latest_materialization_event(AssetKey(CLICKED.split("/")))
    assert materialized is not None and materialized.run_id == run.run_id

    taken = sorted(path.name for path in shots.glob("*.png") if path.stat().st_size > 10_000)
    assert taken == ["01-asset-graph.png", "02-layers.png", "03-profile-metadata.png",
                     "04-recommendation-reasons.png", "05-report.png", "06-before-materialize.png", "07-run.png"]
