"""The dbt project as Dagster assets: keys, groups, lineage to raw assets, dbt tests as asset checks, and a real
materialization through DbtCliResource on PostgreSQL."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, materialize
from dagster_dbt import DbtProject

from etl_assets.transform.assets import build_dbt_assets, prepare
from etl_assets.transform.project import dbt_resource
from resources.postgres import PostgresResource
from tests.support.pipelines import PIPELINES, TABLES
from tests.support.sample_warehouse import PROJECT_DIR, load_postgres, pg_environment, sample_tables

pytestmark = pytest.mark.integration
LTV = AssetKey(["dbt", "customer_lifetime_value"])
STAGING = [AssetKey(["dbt", "stg_shop_db__orders"]), AssetKey(["dbt", "stg_shop_files__customers"])]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    project_dir = tmp_path_factory.mktemp("dagster_dbt") / "dbt_project"
    shutil.copytree(PROJECT_DIR / "dbt_project", project_dir, ignore=shutil.ignore_patterns("target", "logs"))
    with pytest.MonkeyPatch.context() as state:
        # the models are generated from these tables alone, not from relationships a demo run left in the
        # clone's own state directory (they would add tests on models this project does not build)
        state.setenv("AIETL_HOME", str(tmp_path_factory.mktemp("state")))
        prepare(project_dir, PIPELINES, TABLES)
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir, target="postgres")


@pytest.fixture
def warehouse(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    needed = [t for t in TABLES if (t.source, t.name) in {("shop_db", "orders"), ("shop_files", "customers")}]
    load_postgres(pg_dsn, needed, sample_tables(needed, pg_dsn))
    for key, value in pg_environment(pg_dsn).items():
        monkeypatch.setenv(key, value)
    yield pg_dsn


def test_models_are_assets_under_the_key_scheme_with_groups_lineage_and_checks(project: DbtProject) -> None:
    [dbt_models] = build_dbt_assets(project)
    specs = {spec.key: spec for spec in dbt_models.specs}
    assert LTV in specs and specs[LTV].group_name == "marts"
    assert specs[STAGING[0]].group_name == "shop_db" and specs[STAGING[1]].group_name == "shop_files"
    assert {dep.asset_key for dep in specs[STAGING[0]].deps} == {AssetKey(["raw", "shop_db", "orders"])}
    assert STAGING[0] in {dep.asset_key for dep in specs[AssetKey(["dbt", "fct_orders"])].deps}
    assert {"dbt", "postgres"} <= set(specs[LTV].kinds)
    checks = {check.key for check in dbt_models.check_specs}
    assert AssetCheckKey(LTV, "unique_customer_lifetime_value_customer_id") in checks
    assert any(key.asset_key == AssetKey(["dbt", "fct_orders"]) and key.name.startswith("accepted_values")
               for key in checks)
    assert any(key.name.startswith("relationships") for key in checks if key.asset_key == LTV)


def test_materialize_runs_dbt_and_reports_checks(project: DbtProject, warehouse: str,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    [dbt_models] = build_dbt_assets(project)
    instance = DagsterInstance.ephemeral()
    result = materialize([dbt_models], selection=[LTV, *STAGING], instance=instance,
                         resources={"dbt": dbt_resource(project.project_dir, "postgres"),
                                    "warehouse": PostgresResource.from_dsn(warehouse)})
    assert result.success
    assert "Done. PASS=" not in capfd.readouterr().out, "dbt's output went to the terminal"
    dbt_lines = [entry for entry in instance.all_logs(result.run_id) if "Done. PASS=" in entry.user_message]
    assert dbt_lines and dbt_lines[0].level == logging.DEBUG, "dbt's output is not in the run's log at DEBUG"
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized == {LTV, *STAGING}
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(evaluation.passed for evaluation in evaluations)
    assert AssetCheckKey(LTV, "unique_customer_lifetime_value_customer_id") in {e.asset_check_key for e in evaluations}
    with psycopg.connect(warehouse, connect_timeout=10) as connection:
        count = connection.execute("SELECT count(*) FROM marts.customer_lifetime_value").fetchone()[0]
    assert count > 250
    row_counts = {event.asset_key: event.materialization.metadata.get("dagster/row_count")
                  for event in result.get_asset_materialization_events()}
    assert row_counts[LTV].value == count  # a table model holds this many rows; a staging view has no count
    assert all(row_counts[key] is None for key in STAGING)


def test_without_a_manifest_no_assets_and_a_clear_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shutil.copytree(PROJECT_DIR / "dbt_project", tmp_path / "p", ignore=shutil.ignore_patterns("target", "logs"))
    with caplog.at_level(logging.WARNING):
        assert build_dbt_assets(DbtProject(project_dir=tmp_path / "p", profiles_dir=tmp_path / "p")) == []
    assert "run `aietl generate-dbt`" in caplog.text
