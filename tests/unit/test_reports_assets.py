"""The report asset definitions: keys, inputs, dependencies, group, kinds and resource needs (no services)."""

from __future__ import annotations

import dagster as dg
import pytest

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.keys import asset_key, key_component
from etl_assets.reports.assets import ReportConfig, build_report_assets
from resources.schema import Column, TableSchema


def table(source: str, name: str) -> SourceTable:
    schema = TableSchema(source, name, [Column("id", "int64")], primary_key=["id"])
    return SourceTable(kind="files", schema=schema, sync=SyncSettings(), batch_size=10, semantic_search=False,
                       text_columns=(), checks=CheckSettings(), target="warehouse")


TABLES = [table("shop_files", "customers"), table("shop-db", "order_items")]


def by_key(assets: list[dg.AssetsDefinition]) -> dict[str, dg.AssetsDefinition]:
    return {a.key.to_user_string(): a for a in assets}


def test_three_report_assets_in_group_reports() -> None:
    assets = by_key(build_report_assets(TABLES))

    assert sorted(assets) == ["reports/analysis", "reports/pipeline", "reports/quality"]
    for asset in assets.values():
        assert asset.group_names_by_key[asset.key] == "reports"
        assert {"html", "markdown", "pdf"} <= set(asset.specs_by_key[asset.key].kinds)
        assert asset.specs_by_key[asset.key].description


def test_inputs_and_dependencies_follow_the_layer_keys() -> None:
    assets = by_key(build_report_assets(TABLES))
    keys = {name: {k.to_user_string() for k in asset.dependency_keys} for name, asset in assets.items()}

    def layer(name: str) -> set[str]:
        return {asset_key(name, t.source, t.name).to_user_string() for t in TABLES}

    assert keys["reports/analysis"] == layer("profile") | layer("recommendation")
    assert keys["reports/quality"] == layer("profile")
    assert keys["reports/pipeline"] == layer("raw")
    assert f"raw/{key_component('shop-db')}/order_items" in keys["reports/pipeline"]


def test_quality_and_pipeline_need_the_metadata_resource_unless_told_otherwise() -> None:
    needs = {k: a.required_resource_keys for k, a in by_key(build_report_assets(TABLES)).items()}
    assert "metadata" in needs["reports/quality"] and "metadata" in needs["reports/pipeline"]
    assert "metadata" not in needs["reports/analysis"]

    without = by_key(build_report_assets(TABLES, ingestion_log=False))
    assert all("metadata" not in a.required_resource_keys for a in without.values())


def test_definitions_without_a_metadata_resource_fail_with_a_clear_error() -> None:
    upstream = [dg.AssetSpec(asset_key(layer, t.source, t.name)) for layer in ("profile", "recommendation", "raw")
                for t in TABLES]
    with pytest.raises(dg.DagsterInvalidDefinitionError, match="metadata"):
        dg.Definitions.validate_loadable(dg.Definitions(assets=[*upstream, *build_report_assets(TABLES)]))
    dg.Definitions.validate_loadable(
        dg.Definitions(assets=[*upstream, *build_report_assets(TABLES, ingestion_log=False)]))


def test_no_tables_still_gives_three_assets() -> None:
    assert len(build_report_assets([])) == 3


def test_config_defaults_to_every_format_in_the_state_directory() -> None:
    config = ReportConfig()
    assert config.output_dir == "" and config.formats == ["html", "md", "json", "pdf"]
