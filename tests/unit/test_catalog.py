from pathlib import Path

import pytest

from etl_assets.catalog import load_catalog, save_catalog, selected, source_tables
from etl_assets.config.loader import load_datasources
from etl_assets.config.models import SourceDefaults
from etl_assets.paths import CATALOG_FILE, DATASOURCES_FILE
from resources.schema import Column, TableSchema, from_arrow, to_arrow


def sample_tables():
    return source_tables(load_datasources(DATASOURCES_FILE), load_catalog(CATALOG_FILE))


def test_every_sample_table_gets_its_settings():
    tables = {(t.source, t.name): t for t in sample_tables()}
    assert set(tables) == {("shop_files", "customers"), ("shop_files", "products"), ("shop_files", "stores"),
                           ("shop_db", "orders"), ("shop_db", "order_items"), ("analytics", "daily_sessions")}
    orders = tables["shop_db", "orders"]
    assert (orders.sync.mode, orders.schema.cursor_column, orders.schema.primary_key) == ("merge", "updated_at",
                                                                                            ["order_id"])
    assert orders.raw_namespace == "raw_shop_db"
    assert tables["shop_files", "products"].semantic_search
    assert tables["shop_files", "customers"].checks.max_null_share == {"email": 0.0, "phone": 0.3}


@pytest.mark.parametrize(("include", "exclude", "name", "expected"), [
    (["*"], [], "orders", True),
    (["ord*"], [], "customers", False),
    (["*"], ["tmp_*"], "tmp_orders", False),
])
def test_include_and_exclude_filters(include, exclude, name, expected):
    assert selected(name, SourceDefaults(include=include, exclude=exclude)) is expected


def test_a_configured_column_missing_from_the_table_is_a_clear_error(tmp_path, monkeypatch):
    catalog = load_catalog(CATALOG_FILE)
    orders = next(t for t in catalog["shop_db"] if t.name == "orders")
    orders.columns = [c for c in orders.columns if c.name != "updated_at"]
    with pytest.raises(ValueError, match="shop_db.orders: configured column 'updated_at' is not in the table"):
        source_tables(load_datasources(DATASOURCES_FILE), catalog)


def test_the_catalog_round_trips(tmp_path: Path):
    schema = TableSchema("s", 'we"ird;name', [Column("id", "int64", False), Column("amount", "decimal(12,2)")],
                         primary_key=["id"], row_estimate=10)
    save_catalog(tmp_path / "catalog.json", {"s": [schema]})
    assert load_catalog(tmp_path / "catalog.json") == {"s": [schema]}


@pytest.mark.parametrize("logical", ["bool", "int16", "int32", "int64", "float32", "float64", "decimal(18,4)",
                                     "string", "binary", "date", "time", "timestamp", "timestamptz"])
def test_logical_types_round_trip_through_arrow(logical):
    assert from_arrow(to_arrow(logical)) == logical


def test_an_unknown_logical_type_is_refused():
    with pytest.raises(ValueError, match="unknown logical type 'varchar2'"):
        to_arrow("varchar2")
