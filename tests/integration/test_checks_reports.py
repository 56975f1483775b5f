"""Checks and reports tell the truth, with the real profile, recommendation and report assets on a real PostgreSQL:
a NULL share over its limit fails its check at WARN (the default) and the reports still materialize, showing the
failure; with ``checks.severity: {null_share: ERROR}`` the failure blocks and Dagster does not run what depends on
the profile."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.keys import PROFILE, RAW, RECOMMENDATION, asset_key, report_key
from etl_assets.profile.assets import build_profile_assets
from etl_assets.recommend.assets import build_recommendation_assets
from etl_assets.relationships.assets import build_relationship_assets
from etl_assets.reports.assets import build_report_assets
from resources.llm import LlmResource
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.schema import Column, TableSchema

pytestmark = pytest.mark.integration

ROWS, NULL_EMAILS = 200, 50
REPORTS = ("analysis", "quality", "pipeline")


@pytest.fixture
def warehouse(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PostgresResource:
    """raw_shop.customers with 25% NULL emails, in this test's own database."""
    monkeypatch.setenv("AIETL_HOME", str(tmp_path / "home"))
    resource = PostgresResource.from_dsn(pg_dsn)
    resource.execute("CREATE SCHEMA raw_shop")
    resource.execute("CREATE TABLE raw_shop.customers (customer_id bigint NOT NULL, email text, city text)")
    resource.execute("""INSERT INTO raw_shop.customers
                        SELECT n, CASE WHEN n <= %s THEN NULL ELSE 'c' || n || '@example.com' END,
                               (ARRAY['Oslo', 'Lima', 'Pune'])[1 + n %% 3]
                        FROM generate_series(1, %s) AS n""", (NULL_EMAILS, ROWS))
    return resource


def customers(checks: CheckSettings) -> SourceTable:
    schema = TableSchema(source="shop", name="customers", primary_key=["customer_id"],
                         columns=[Column("customer_id", "int64", nullable=False), Column("email", "string"),
                                  Column("city", "string")])
    return SourceTable(kind="files", schema=schema, sync=SyncSettings(), batch_size=1000, semantic_search=False,
                       text_columns=(), checks=checks, target="warehouse")


def run_graph(table: SourceTable, warehouse: PostgresResource, out: Path) -> dg.ExecuteInProcessResult:
    """profile (+ relationships) -> recommendation -> reports, as the code location wires them (raw is landed)."""
    assets = [dg.AssetSpec(asset_key(RAW, table.source, table.name)),
              *build_profile_assets([table], retry_policy=None), *build_relationship_assets([table]),
              *build_recommendation_assets([table]),
              *build_report_assets([table])]
    config = {"ops": {f"reports__{name}": {"config": {"output_dir": str(out), "formats": ["md", "json"]}}
                      for name in REPORTS}}
    return dg.materialize(assets, run_config=config, raise_on_error=False,
                          resources={"warehouse": warehouse, "metadata": MetadataResource(postgres=warehouse),
                                     "llm": LlmResource()},
                          selection=dg.AssetSelection.all() - dg.AssetSelection.keys(asset_key(RAW, "shop",
                                                                                               "customers")))


def null_share(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "null_share"]
    return evaluation


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def test_a_warn_failure_is_in_the_reports_that_still_materialize(warehouse: PostgresResource, tmp_path: Path) -> None:
    result = run_graph(customers(CheckSettings(max_null_share={"email": 0.1})), warehouse, tmp_path / "reports")

    assert result.success
    evaluation = null_share(result)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "email: 25.00% NULL > limit 10.00%" in evaluation.description
    assert {f"reports/{name}" for name in REPORTS} | {"recommendation/shop/customers"} <= materialized(result)
    quality = json.loads((tmp_path / "reports" / "quality.json").read_text(encoding="utf-8"))
    assert quality["counts"]["checks_failed"] == 1
    assert quality["counts"]["checks"] == len([e for e in result.get_asset_check_evaluations()])
    issues = quality["sections"][0]["issues"]
    assert {"level": "warn", "text": f"check null_share on profile/shop/customers failed: "
                                     f"{evaluation.description}"} in issues
    markdown = (tmp_path / "reports" / "quality.md").read_text(encoding="utf-8")
    assert "checks failed: **1**" in markdown
    assert "| null_share | ⚠️ WARN | WARN | shop.customers: email: 25.00% NULL \\> limit 10.00%" in markdown


def test_an_error_failure_blocks_what_depends_on_the_profile(warehouse: PostgresResource, tmp_path: Path) -> None:
    table = customers(CheckSettings(max_null_share={"email": 0.1}, severity={"null_share": "ERROR"}))

    result = run_graph(table, warehouse, tmp_path / "reports")

    assert not result.success
    evaluation = null_share(result)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR and evaluation.blocking
    profile_step = asset_key(PROFILE, "shop", "customers").to_python_identifier()
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert failure.step_key == profile_step
    assert "blocking asset check failed with ERROR severity" in failure.step_failure_data.error.message
    assert materialized(result) == {"profile/shop/customers", "reports/pipeline"}, "pipeline reads raw only"
    started = {event.step_key for event in result.all_events if event.event_type_value == "STEP_START"}
    blocked = {asset_key(RECOMMENDATION, "shop", "customers"), dg.AssetKey(["relationships", "catalog"]),
               report_key("analysis"), report_key("quality")}
    assert not started & {key.to_python_identifier() for key in blocked}
    assert not (tmp_path / "reports" / "quality.json").exists()
