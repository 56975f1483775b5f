"""The profile asset and its quality checks, materialized by Dagster against a real PostgreSQL warehouse + metadata
store: metadata in the UI's shapes, the JSON artifact, blocking checks stopping a downstream asset, history-based
row-count anomalies, and a clear failure when the raw table is missing."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.keys import PROFILE, asset_key
from etl_assets.profile.assets import build_profile_assets
from etl_assets.profile.model import TableProfile
from resources.clickhouse import ClickHouseResource
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.schema import Column, TableSchema

pytestmark = pytest.mark.integration

ORDERS_COLUMNS = [
    Column("order_id", "int64", nullable=False), Column("email", "string"), Column("status", "string"),
    Column("total", "decimal(12,2)"), Column("updated_at", "timestamptz"),
]


@pytest.fixture
def warehouse(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PostgresResource:
    monkeypatch.setenv("AIETL_HOME", str(tmp_path / "home"))
    resource = PostgresResource.from_dsn(pg_dsn)
    resource.execute("CREATE SCHEMA raw_shop")
    resource.execute("""CREATE TABLE raw_shop.orders (order_id bigint NOT NULL, email text, status text,
                        total numeric(12,2), updated_at timestamptz)""")
    return resource


def fill_orders(warehouse: PostgresResource, rows: int, duplicate_ids: int = 0, null_emails: int = 0) -> None:
    warehouse.execute("TRUNCATE raw_shop.orders")
    warehouse.execute(
        """INSERT INTO raw_shop.orders
           SELECT CASE WHEN n <= %s THEN 1 ELSE n END,
                  CASE WHEN n <= %s THEN NULL ELSE 'user' || n || '@example.com' END,
                  (ARRAY['paid', 'shipped', 'returned'])[1 + n %% 3], n * 1.5,
                  now() - (n || ' minutes')::interval
           FROM generate_series(1, %s) AS n""", (duplicate_ids, null_emails, rows))


def orders_table(checks: CheckSettings, columns: list[Column] = ORDERS_COLUMNS) -> SourceTable:
    schema = TableSchema(source="shop", name="orders", columns=columns, primary_key=["order_id"],
                         cursor_column="updated_at")
    return SourceTable(kind="postgres", schema=schema, sync=SyncSettings(mode="incremental", cursor="updated_at"),
                       batch_size=1000, semantic_search=False, text_columns=(), checks=checks, target="warehouse")


def materialize(table: SourceTable, warehouse: PostgresResource, *extra: dg.AssetsDefinition,
                instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*build_profile_assets([table], retry_policy=None), *extra],
        resources={"warehouse": warehouse, "metadata": MetadataResource(postgres=warehouse)},
        instance=instance, raise_on_error=False,
    )


def checks_by_name(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def test_profile_asset_outputs_profile_metadata_json_and_passing_checks(warehouse: PostgresResource) -> None:
    fill_orders(warehouse, 500)
    table = orders_table(CheckSettings(max_null_share={"email": 0.0}, freshness_hours=24))
    key = asset_key(PROFILE, "shop", "orders")

    result = materialize(table, warehouse)

    assert result.success
    profile = result.output_for_node(key.to_python_identifier())
    assert isinstance(profile, TableProfile)
    assert profile.row_count == 500
    assert profile.candidate_keys[0] == ["order_id"]
    assert profile.column("email").semantic_type == "email"
    assert profile.column("status").semantic_type == "category"
    assert profile.column("status").top_values[0][1] == 167
    assert profile.time_columns == ["updated_at"]
    materialization = result.get_asset_materialization_events()[0].materialization
    schema = materialization.metadata["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == ["order_id", "email", "status", "total", "updated_at"]
    assert "email" in schema.columns[1].description and "0.0% null" in schema.columns[1].description
    assert materialization.metadata["dagster/row_count"].value == 500
    assert "| `email` |" in materialization.metadata["summary"].value
    artifact = json.loads(Path(materialization.metadata["profile_json"].value).read_text(encoding="utf-8"))
    assert artifact["row_count"] == 500 and artifact["table"] == "orders"
    evaluations = checks_by_name(result)
    assert set(evaluations) == {"null_share", "primary_key_unique", "cursor_freshness", "schema_drift",
                                "row_count_anomaly"}
    assert all(evaluation.passed for evaluation in evaluations.values())
    stored = warehouse.query_arrow("SELECT check_name, passed FROM aietl_meta.latest_check_results").to_pylist()
    assert {row["check_name"] for row in stored} == set(evaluations)


def test_blocking_checks_fail_with_reasons_and_stop_downstream(warehouse: PostgresResource) -> None:
    fill_orders(warehouse, 300, duplicate_ids=3, null_emails=30)
    table = orders_table(CheckSettings(max_null_share={"email": 0.05}, freshness_hours=24, blocking=True))
    key = asset_key(PROFILE, "shop", "orders")

    @dg.asset(key=["recommendation", "shop", "orders"], deps=[key])
    def downstream() -> None:
        raise AssertionError("a failed blocking check must stop this asset")

    result = materialize(table, warehouse, downstream)

    assert not result.success
    evaluations = checks_by_name(result)
    assert not evaluations["null_share"].passed
    assert "email: 10.00% NULL > limit 5.00%" in evaluations["null_share"].description
    assert not evaluations["primary_key_unique"].passed
    assert "order_id=1 (3 rows)" in evaluations["primary_key_unique"].description
    assert evaluations["primary_key_unique"].metadata["duplicate_keys"].value == 1
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized == {key}
    assert dg.AssetKey(["recommendation", "shop", "orders"]) not in materialized


def test_non_blocking_failures_let_downstream_run(warehouse: PostgresResource) -> None:
    fill_orders(warehouse, 100, null_emails=50)
    table = orders_table(CheckSettings(max_null_share={"email": 0.0}, blocking=False))
    ran = []

    @dg.asset(key=["recommendation", "shop", "orders"], deps=[asset_key(PROFILE, "shop", "orders")])
    def downstream() -> None:
        ran.append(True)

    result = materialize(table, warehouse, downstream)

    assert result.success and ran == [True]
    assert not checks_by_name(result)["null_share"].passed


def test_row_count_anomaly_against_profile_history(warehouse: PostgresResource) -> None:
    table = orders_table(CheckSettings(row_count_tolerance=0.5, blocking=False))
    instance = dg.DagsterInstance.ephemeral()
    for rows in (1000, 1010, 990):
        fill_orders(warehouse, rows)
        assert checks_by_name(materialize(table, warehouse, instance=instance))["row_count_anomaly"].passed

    fill_orders(warehouse, 200)
    anomaly = checks_by_name(materialize(table, warehouse, instance=instance))["row_count_anomaly"]

    assert not anomaly.passed
    assert "200 rows vs median 1,000 of the last 3 profiles: -80.0%" in anomaly.description
    assert anomaly.metadata["history"].value == [990, 1010, 1000]


def test_schema_drift_and_stale_cursor_fail(warehouse: PostgresResource) -> None:
    fill_orders(warehouse, 50)
    warehouse.execute("UPDATE raw_shop.orders SET updated_at = updated_at - interval '10 days'")
    warehouse.execute("ALTER TABLE raw_shop.orders DROP COLUMN total")
    warehouse.execute("ALTER TABLE raw_shop.orders ALTER COLUMN status TYPE integer USING 1")
    table = orders_table(CheckSettings(freshness_hours=24))

    evaluations = checks_by_name(materialize(table, warehouse))

    drift = evaluations["schema_drift"]
    assert not drift.passed
    assert "removed ['total']" in drift.description and "status" in drift.description
    assert not evaluations["cursor_freshness"].passed
    assert "h old > limit 24 h" in evaluations["cursor_freshness"].description


def test_missing_raw_table_fails_with_a_clear_message(pg_dsn: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIETL_HOME", str(tmp_path))
    warehouse = PostgresResource.from_dsn(pg_dsn)

    result = materialize(orders_table(CheckSettings()), warehouse)

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "raw_shop.orders does not exist" in str(failure) and "raw/shop/orders first" in str(failure)


def test_profile_asset_on_a_clickhouse_warehouse(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same asset with the embedded ClickHouse engine as the warehouse (metadata stays in PostgreSQL)."""
    monkeypatch.setenv("AIETL_HOME", str(tmp_path / "home"))
    warehouse = ClickHouseResource(chdb_path=str(tmp_path / "chdb"))
    warehouse.execute("CREATE DATABASE IF NOT EXISTS raw_shop")
    warehouse.execute("""CREATE TABLE raw_shop.orders (order_id Int64, email Nullable(String), status Nullable(String),
                         total Nullable(Decimal(12, 2)), updated_at Nullable(DateTime64(6, 'UTC')))
                         ENGINE = MergeTree ORDER BY order_id""")
    warehouse.execute("""INSERT INTO raw_shop.orders SELECT number + 1, concat('u', toString(number), '@example.com'),
                         ['paid', 'shipped', 'returned'][1 + number % 3], number * 1.5,
                         now64(6, 'UTC') - toIntervalMinute(number) FROM numbers(300)""")
    table = orders_table(CheckSettings(max_null_share={"email": 0.0}, freshness_hours=1))

    result = dg.materialize(build_profile_assets([table], warehouse_kind="clickhouse", retry_policy=None),
                            resources={"warehouse": warehouse,
                                       "metadata": MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn))})

    assert result.success
    profile = result.output_for_node(asset_key(PROFILE, "shop", "orders").to_python_identifier())
    assert profile.row_count == 300 and profile.column("total").physical_type == "Nullable(Decimal(12, 2))"
    assert profile.column("email").semantic_type == "email" and profile.candidate_keys[0] == ["order_id"]
    assert all(evaluation.passed for evaluation in checks_by_name(result).values())
