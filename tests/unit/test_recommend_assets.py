"""The recommendation and DDL assets in real Dagster runs, fed by the real profiler over the sample customers file."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow.csv as pacsv
import pytest

from etl_assets.catalog import SourceTable
from etl_assets.ddl.assets import build_ddl_assets
from etl_assets.ddl.types import DIALECTS
from etl_assets.keys import DDL, RECOMMENDATION, asset_key, relationships_key
from etl_assets.profile.model import TableProfile
from etl_assets.profile.profiler import profile_arrow
from etl_assets.recommend.assets import build_recommendation_assets
from etl_assets.recommend.model import Recommendation
from etl_assets.relationships.model import CandidateKey, Relationships, TableRef
from resources.llm import LlmResource
from resources.postgres import PostgresResource
from tests.support.ddl import sample_tables

UNREACHABLE_WAREHOUSE = PostgresResource(host="127.0.0.1", port=9, database="never", connect_timeout_s=1)
"""Never contacted: with apply off the DDL asset only reads the warehouse's dialect and cluster."""


def customers() -> SourceTable:
    return next(t for t in sample_tables() if t.name == "customers")


def profile_asset(table: SourceTable, sample_dir: Path) -> dg.AssetsDefinition:
    @dg.asset(key=["profile", table.source, table.name], group_name=table.source)
    def profile() -> TableProfile:
        data = pacsv.read_csv(sample_dir / "files" / "customers.csv")
        return profile_arrow(data, table.source, table.name, primary_key=table.schema.primary_key)

    return profile


@dg.asset(key=relationships_key())
def relationships() -> dict:
    """Stand-in for the relationships asset: the customers file's declared key, as the IO manager stores it."""
    return Relationships([CandidateKey(TableRef("shop_files", "customers"), ("customer_id",), True)]).to_dict()


def run(assets: list, run_config: dict | None = None, instance: dg.DagsterInstance | None = None,
        **resources) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [relationships, *assets], resources={"llm": LlmResource(), "warehouse": UNREACHABLE_WAREHOUSE, **resources},
        run_config=run_config or {}, instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=True,
    )


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIETL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_factories_build_one_asset_per_table_with_the_agreed_keys():
    tables = sample_tables()
    recommendations = build_recommendation_assets(tables)
    ddls = build_ddl_assets(tables)
    assert {a.key for a in recommendations} == {asset_key(RECOMMENDATION, t.source, t.name) for t in tables}
    assert {a.key for a in ddls} == {asset_key(DDL, t.source, t.name) for t in tables}
    orders = next(a for a in recommendations if a.key.path[-1] == "orders")
    assert orders.required_resource_keys - {"io_manager"} == {"llm", "source_shop_db"}
    customers_keys = next(a for a in recommendations if a.key.path[-1] == "customers").required_resource_keys
    assert customers_keys - {"io_manager"} == {"llm"}
    assert orders.group_names_by_key[orders.key] == "shop_db"


def test_recommendation_and_ddl_assets_materialize(state: Path, sample_dir: Path):
    table = customers()
    assets = [profile_asset(table, sample_dir), *build_recommendation_assets([table]), *build_ddl_assets([table])]
    result = run(assets)
    recommendation = result.output_for_node("recommendation__shop_files__customers")
    assert isinstance(recommendation, Recommendation) and recommendation.target_store == "postgres"
    assert recommendation.narrative is None
    metadata = result.asset_materializations_for_node("recommendation__shop_files__customers")[0].metadata
    assert metadata["target_store"].value == "postgres"
    assert metadata["primary_key"].value == "customer_id"
    assert "| declared primary key; customer_id: 300 distinct of 300 rows, no NULLs |" in metadata["rationale"].value
    scripts = result.output_for_node("ddl__shop_files__customers")
    assert set(scripts) == set(DIALECTS)
    for dialect, sql in scripts.items():
        written = state / "ddl" / "shop_files" / "customers" / f"{dialect}.sql"
        assert written.read_text(encoding="utf-8") == sql
        assert 'CREATE TABLE IF NOT EXISTS' in sql
    ddl_metadata = result.asset_materializations_for_node("ddl__shop_files__customers")[0].metadata
    assert ddl_metadata["postgres"].value.startswith("```sql\nCREATE SCHEMA IF NOT EXISTS \"optimized_shop_files\"")
    assert ddl_metadata["applied"].value == "no (apply is off)"


def test_a_query_log_file_shapes_the_recommendation(state: Path, sample_dir: Path, tmp_path: Path):
    log = tmp_path / "queries.sql"
    log.write_text("SELECT * FROM customers WHERE email = $1;\nSELECT * FROM customers WHERE city = 'Rome';\n"
                   "SELECT * FROM customers WHERE email = $1;\nSELEC broken;\n", encoding="utf-8")
    table = customers()
    assets = [profile_asset(table, sample_dir), *build_recommendation_assets([table], query_log_file=log)]
    result = run(assets)
    recommendation = result.output_for_node("recommendation__shop_files__customers")
    assert ("email",) in [index.columns for index in recommendation.indexes]
    metadata = result.asset_materializations_for_node("recommendation__shop_files__customers")[0].metadata
    assert metadata["query_log"].value == ("queries.sql: 3 statements, 3 executions read this table, 1 unparsable")


def test_a_missing_query_log_is_reported_and_the_rules_still_decide(state: Path, sample_dir: Path, tmp_path: Path):
    table = customers()
    assets = [profile_asset(table, sample_dir), *build_recommendation_assets([table])]
    config = {"ops": {"recommendation__shop_files__customers": {"config": {"query_log_file": str(tmp_path / "x.sql")}}}}
    instance = dg.DagsterInstance.ephemeral()
    result = run(assets, config, instance)
    assert result.output_for_node("recommendation__shop_files__customers").target_store == "postgres"
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("recommending without that query log" in m and "x.sql: cannot read" in m for m in messages)
    assert "query_log" not in result.asset_materializations_for_node("recommendation__shop_files__customers")[0].metadata


def test_the_llm_narrative_lands_in_metadata_and_changes_no_decision(state: Path, sample_dir: Path, chat_stub):
    url, handler = chat_stub
    handler.reply = "Customers is a small dimension; PostgreSQL with a primary key is enough."
    table = customers()
    assets = [profile_asset(table, sample_dir), *build_recommendation_assets([table])]
    with_llm = run(assets, llm=LlmResource(base_url=url, timeout_s=5))
    without_llm = run(assets)
    narrated = with_llm.output_for_node("recommendation__shop_files__customers")
    plain = without_llm.output_for_node("recommendation__shop_files__customers")
    assert narrated.narrative == handler.reply
    assert {**narrated.to_dict(), "narrative": None} == plain.to_dict()
    metadata = with_llm.asset_materializations_for_node("recommendation__shop_files__customers")[0].metadata
    assert metadata["narrative"].value == handler.reply
