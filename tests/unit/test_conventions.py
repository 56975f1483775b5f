"""Dagster conventions on the whole graph: owners (table > source > top level), kinds and code references on every
asset, freshness policies from checks.freshness_hours, schedule time zones and the automation sensor's default."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from pydantic import ValidationError

from etl_assets.catalog import source_tables
from etl_assets.config.models import DataSources
from etl_assets.conventions import CODE_REFERENCES
from etl_assets.definitions import build_assets
from etl_assets.keys import DBT, PROFILE, RAW, RECOMMENDATION, asset_key, relationships_key, report_key
from resources.schema import Column, TableSchema
from sensors.automation import build_automation_sensor
from sensors.schedules import build_schedules


def config(**top: object) -> dict:
    return {
        "warehouse": "warehouse", "metadata": "warehouse",
        "targets": {"postgres": {"warehouse": {"host": "127.0.0.1", "port": 9, "database": "w", "user": "u"}}},
        "sources": {
            "files": {"shop": {"path": "/nonexistent", "schedule": "0 6 * * *", "timezone": "Europe/Berlin",
                               "owners": ["team:shop"],
                               "tables": {"orders": {"file": "o.csv", "owners": ["ann@example.com"],
                                                     "checks": {"freshness_hours": 6}},
                                          "customers": {"file": "c.csv", "semantic_search": True,
                                                        "text_columns": ["name"]}}},
                      "crm": {"path": "/nonexistent", "schedule": "0 * * * *",
                              "tables": {"leads": {"file": "l.csv"}}}},
            "kafka": {"events": {"bootstrap_servers": "127.0.0.1:9", "topics": ["clicks"]}},
        },
        "qdrant": {"path": "/nonexistent/qdrant"},
        "owners": ["team:data"], "timezone": "America/New_York", **top,
    }


def catalog() -> dict[str, list[TableSchema]]:
    columns = [Column("id", "int64", nullable=False), Column("name", "string"), Column("updated_at", "timestamp")]
    return {"shop": [TableSchema("shop", name, list(columns), primary_key=["id"]) for name in ("orders", "customers")],
            "crm": [TableSchema("crm", "leads", list(columns), primary_key=["id"])]}


@pytest.fixture(scope="module")
def datasources() -> DataSources:
    return DataSources.model_validate(config())


@pytest.fixture(scope="module")
def graph(datasources: DataSources) -> list[dg.AssetSpec]:
    """The spec of every asset but the dbt models (the sample's; dagster-dbt sets their code references)."""
    tables = source_tables(datasources, catalog())
    return [spec for a in build_assets(datasources, tables) if isinstance(a, dg.AssetsDefinition)
            for spec in a.specs if spec.key.path[0] != DBT]


def spec(graph: list[dg.AssetSpec], key: dg.AssetKey) -> dg.AssetSpec:
    return next(s for s in graph if s.key == key)


def test_owners_come_from_the_table_else_its_source_else_the_top_level(graph: list[dg.AssetSpec]) -> None:
    for layer in (RAW, PROFILE, RECOMMENDATION):
        assert spec(graph, asset_key(layer, "shop", "orders")).owners == ["ann@example.com"]
        assert spec(graph, asset_key(layer, "shop", "customers")).owners == ["team:shop"]
        assert spec(graph, asset_key(layer, "crm", "leads")).owners == ["team:data"]
    assert spec(graph, asset_key("stream", "events", "clicks")).owners == ["team:data"]
    expected = ["ann@example.com", "team:data", "team:shop"]
    assert spec(graph, relationships_key()).owners == expected
    assert spec(graph, report_key("quality")).owners == expected


def test_every_asset_has_kinds_and_a_code_reference_to_a_file_that_exists(graph: list[dg.AssetSpec]) -> None:
    assert len(graph) > 20
    for asset in graph:
        assert asset.kinds, f"{asset.key.to_user_string()} has no kinds"
        [reference] = asset.metadata[CODE_REFERENCES].code_references
        assert Path(reference.file_path).is_file() and reference.line_number > 0, asset.key.to_user_string()


def test_freshness_hours_become_the_raw_tables_freshness_policy(graph: list[dg.AssetSpec]) -> None:
    policy = spec(graph, asset_key(RAW, "shop", "orders")).freshness_policy
    assert policy.fail_window.to_timedelta() == timedelta(hours=6)
    assert policy.warn_window.to_timedelta() == timedelta(hours=4.5)
    assert spec(graph, asset_key(RAW, "shop", "customers")).freshness_policy is None


def test_schedules_run_in_the_source_time_zone_else_the_top_level_one(datasources: DataSources) -> None:
    zones = {s.name: s.execution_timezone for s in build_schedules(datasources, [])}
    assert zones == {"reports_health_schedule": "America/New_York", "refresh_shop_schedule": "Europe/Berlin",
                     "refresh_crm_schedule": "America/New_York"}


def test_the_automation_sensor_runs_by_default_and_can_be_turned_off(datasources: DataSources) -> None:
    assert build_automation_sensor(datasources).default_status == dg.DefaultSensorStatus.RUNNING
    off = DataSources.model_validate(config(automation=False))
    assert build_automation_sensor(off).default_status == dg.DefaultSensorStatus.STOPPED


@pytest.mark.parametrize(("top", "message"), [
    ({"owners": ["data team"]}, "owner 'data team' must be an e-mail address or team:<name>"),
    ({"timezone": "Mars/Olympus"}, "'Mars/Olympus' is not an IANA time zone"),
])
def test_bad_owners_and_time_zones_are_rejected_with_the_fix(top: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DataSources.model_validate(config(**top))
