"""The code location follows the config: pointed at other sources without pipelines, it shows their tables and no
dbt model of the sample, and `aietl discover` / `aietl validate` say that the dbt manifest is stale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.demo import PROJECT

pytestmark = pytest.mark.e2e

STALE = ("dbt manifest is stale for pipelines.yaml/catalog: run `aietl generate-dbt` (make demo and make ui do it)")
LIST_KEYS = """
import etl_assets.definitions as module
for key in module.defs.resolve_asset_graph().get_all_asset_keys():
    print(key.to_user_string())
"""


@pytest.fixture
def own_project(tmp_path: Path) -> dict[str, str]:
    """A files source of one CSV, its own catalog, no pipelines.yaml; the sample's manifest stays where it is."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "visits.csv").write_text("visit_id,page\n1,/home\n2,/shop\n", encoding="utf-8")
    (tmp_path / "datasources.yaml").write_text(
        "warehouse: wh\nmetadata: wh\ntargets:\n  postgres:\n    wh: {host: 127.0.0.1, port: 5999, database: wh, "
        "user: u}\nsources:\n  files:\n    mine: {path: " + str(data) + "}\nqdrant: {path: " + str(tmp_path / "qdrant")
        + "}\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIETL_", "DAGSTER_"))}
    return env | {"AIETL_DATASOURCES": str(tmp_path / "datasources.yaml"), "AIETL_CATALOG": str(tmp_path / "cat.json"),
                  "AIETL_PIPELINES": str(tmp_path / "pipelines.yaml"), "AIETL_HOME": str(tmp_path / "state")}


def run(env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)


def aietl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run(env, str(Path(sys.executable).parent / "aietl"), *args)


def test_other_sources_without_pipelines_load_no_sample_dbt_models_and_the_cli_says_so(own_project) -> None:
    discovered = aietl(own_project, "discover")
    assert discovered.returncode == 0, discovered.stderr
    assert "mine: 1 tables: visits" in discovered.stdout
    assert f"warning: {STALE}" in discovered.stderr.splitlines()

    validated = aietl(own_project, "validate")
    assert validated.returncode == 0, validated.stderr
    assert f"warning: {STALE}" in validated.stderr.splitlines()

    loaded = run(own_project, sys.executable, "-c", LIST_KEYS)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    keys = set(loaded.stdout.split())
    assert {"raw/mine/visits", "profile/mine/visits", "reports/quality"} <= keys
    assert not [key for key in keys if key.startswith("dbt/")], "models of the sample's manifest were loaded"
    assert "was built for another pipelines.yaml/catalog, so no dbt assets are loaded" in loaded.stderr


def test_the_sample_config_matches_the_built_manifest() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIETL_")}
    validated = aietl(env, "validate")
    assert validated.returncode == 0, validated.stderr
    assert "dbt manifest" not in validated.stderr, "make install builds the manifest for the sample's config"
