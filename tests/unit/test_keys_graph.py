"""Asset keys for names outside [A-Za-z0-9_]: the whole graph builds and every edge lands on an existing asset."""

from __future__ import annotations

import dagster as dg
import pytest

from etl_assets.catalog import source_tables
from etl_assets.config.models import DataSources
from etl_assets.definitions import build_assets
from etl_assets.keys import DBT, RAW, TABLE_LAYERS, asset_key, key_component
from etl_assets.wiring import build_resources
from resources.schema import Column, TableSchema

HOSTILE = ["shop-db", "sales/orders", "Order Items", "заказы", "select"]


def hostile_datasources() -> DataSources:
    files_tables = {name: {"file": f"t{i}.csv", "format": "csv", "primary_key": ["id"], "semantic_search": True}
                    for i, name in enumerate(HOSTILE)}
    return DataSources.model_validate({
        "warehouse": "warehouse", "metadata": "warehouse",
        "targets": {"postgres": {"warehouse": {"host": "127.0.0.1", "port": 9, "database": "w", "user": "u"}}},
        "sources": {
            "files": {name: {"path": "/nonexistent", "tables": files_tables} for name in HOSTILE},
            "ydb": {"sales/ydb": {"endpoint": "grpc://127.0.0.1:9", "database": "/local", "semantic_search": True}},
            "kafka": {"shop-events": {"bootstrap_servers": "127.0.0.1:9", "topics": ["Order Items", "заказы"]}},
        },
        "qdrant": {"path": "/nonexistent/qdrant"},
    })


def hostile_catalog() -> dict[str, list[TableSchema]]:
    columns = [Column("id", "int64", nullable=False), Column("Order Note", "string"), Column("select", "string")]
    catalog = {source: [TableSchema(source, table, list(columns), primary_key=["id"]) for table in HOSTILE]
               for source in HOSTILE}
    catalog["sales/ydb"] = [TableSchema("sales/ydb", table, list(columns), primary_key=["id"]) for table in HOSTILE]
    return catalog


@pytest.fixture(scope="module")
def assets() -> list[dg.AssetsDefinition]:
    """Every layer but dbt, whose models come from the sample's pipelines.yaml."""
    datasources = hostile_datasources()
    tables = source_tables(datasources, hostile_catalog())
    built = build_assets(datasources, tables)
    return [a for a in built if isinstance(a, dg.AssetsDefinition) and not any(k.path[0] == DBT for k in a.keys)]


@pytest.fixture(scope="module")
def graph(assets: list[dg.AssetsDefinition]) -> dg.Definitions:
    return dg.Definitions(assets=assets, resources=build_resources(hostile_datasources()))


def test_the_hostile_graph_loads(graph: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(graph)


def test_every_edge_lands_on_a_defined_asset(assets: list[dg.AssetsDefinition]) -> None:
    defined = {key for asset in assets for key in asset.keys}
    dangling = [(asset.key.to_user_string(), parent.to_user_string())
                for asset in assets for parent in asset.dependency_keys if parent not in defined]
    assert not dangling
    assert len(defined) > len(HOSTILE) * 6 * len(TABLE_LAYERS)


def test_every_layer_of_every_table_has_one_asset(graph: dg.Definitions) -> None:
    existing = set(graph.resolve_asset_graph().get_all_asset_keys())
    for source in [*HOSTILE, "sales/ydb"]:
        for table in HOSTILE:
            for layer in TABLE_LAYERS:
                assert asset_key(layer, source, table) in existing, (layer, source, table)


def test_keys_are_dagster_names_and_stay_distinct() -> None:
    components = [key_component(name) for name in [*HOSTILE, "sales_orders", "Order_Items"]]
    assert len(set(components)) == len(components)
    assert all(part.replace("_", "").isalnum() and part.isascii() for part in components)
    assert key_component("select") == "select"
    assert asset_key(RAW, "shop-db", "orders").path[1] == key_component("shop-db")
