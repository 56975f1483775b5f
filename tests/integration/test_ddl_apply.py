"""The DDL asset applies the recommended target's script to a real warehouse (opt-in), idempotently."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from etl_assets.catalog import SourceTable
from etl_assets.ddl.assets import build_ddl_assets
from etl_assets.profile.model import TableProfile
from etl_assets.recommend.assets import build_recommendation_assets
from resources.clickhouse import ClickHouseResource
from resources.llm import LlmResource
from resources.postgres import PostgresResource
from tests.support.ddl import relationships_asset, sample_tables, synthetic_profile

pytestmark = pytest.mark.integration


def table_named(name: str) -> SourceTable:
    return next(t for t in sample_tables() if t.name == name)


def assets_for(table: SourceTable) -> list:
    @dg.asset(key=["profile", table.source, table.name], group_name=table.source)
    def profile() -> TableProfile:
        return synthetic_profile(table.schema)

    return [relationships_asset(), profile, *build_recommendation_assets([table]), *build_ddl_assets([table])]


def materialize(table: SourceTable, warehouse: object, apply: bool = True) -> dg.ExecuteInProcessResult:
    node = f"ddl__{table.source}__{table.name}"
    resources = {"llm": LlmResource(), "warehouse": warehouse}
    if table.kind in ("postgres", "clickhouse"):
        resources[f"source_{table.source}"] = PostgresResource(host="127.0.0.1", port=9, database="unused")
    return dg.materialize(assets_for(table), resources=resources, instance=dg.DagsterInstance.ephemeral(),
                          run_config={"ops": {node: {"config": {"apply": apply}}}})


def applied(result: dg.ExecuteInProcessResult, table: SourceTable) -> str:
    node = f"ddl__{table.source}__{table.name}"
    return result.asset_materializations_for_node(node)[0].metadata["applied"].value


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIETL_HOME", str(tmp_path / "home"))


def test_postgres_target_is_applied_to_a_postgres_warehouse_twice(pg_dsn: str):
    table = table_named("customers")
    warehouse = PostgresResource.from_dsn(pg_dsn)
    first = materialize(table, warehouse)
    assert applied(first, table).startswith("yes: ")
    assert applied(materialize(table, warehouse), table) == applied(first, table)
    rows = warehouse.query_arrow(
        "SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = '\"optimized_shop_files\".\"customers\"'::regclass "
        "AND i.indisprimary").column("name").to_pylist()
    assert rows == ["customer_id"]


def test_clickhouse_target_is_applied_on_chdb(tmp_path: Path):
    table = table_named("daily_sessions")
    warehouse = ClickHouseResource(chdb_path=str(tmp_path / "chdb"))
    result = materialize(table, warehouse)
    assert applied(result, table).startswith("yes: ")
    engines = warehouse.query_arrow(
        "SELECT engine, sorting_key FROM system.tables WHERE database = 'optimized_analytics' "
        "AND name = 'daily_sessions'").to_pylist()
    assert engines == [{"engine": "ReplacingMergeTree", "sorting_key": "day, store_id"}]


def test_nothing_is_applied_when_the_warehouse_is_another_store(tmp_path: Path):
    table = table_named("daily_sessions")
    warehouse = PostgresResource(host="127.0.0.1", port=9, database="never", connect_timeout_s=1)
    result = materialize(table, warehouse)
    assert applied(result, table) == "no: the recommended store is clickhouse, the warehouse is postgres"
