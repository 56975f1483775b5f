"""What `aietl sync` selects: a source's raw assets, named tables only, and no time-partitioned table (those land
by partition)."""

import pytest
from dagster import AssetKey

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, DataSources, PartitionSettings, SyncSettings
from etl_assets.sync import SelectionError, start_keys
from resources.schema import Column, TableSchema

DATASOURCES = DataSources.model_validate({
    "warehouse": "wh", "metadata": "wh", "targets": {"postgres": {"wh": {"database": "w"}}},
    "sources": {"postgres": {"shop": {"database": "shop"}}}})


def table(name: str, grain: str | None = None) -> SourceTable:
    schema = TableSchema("shop", name, [Column("at", "timestamptz", False)], cursor_column="at")
    return SourceTable(kind="postgres", schema=schema, sync=SyncSettings(mode="incremental", cursor="at"),
                       batch_size=10, semantic_search=False, text_columns=(), checks=CheckSettings(),
                       target="wh", partition=PartitionSettings(grain=grain, column="at") if grain else None)


TABLES = [table("orders"), table("events", "daily"), table("customers")]


def test_a_source_syncs_its_whole_tables_and_leaves_partitioned_ones_to_their_partitions():
    assert start_keys(DATASOURCES, TABLES, "shop") == [AssetKey(["raw", "shop", "orders"]),
                                                      AssetKey(["raw", "shop", "customers"])]
    assert start_keys(DATASOURCES, TABLES, "shop", ["customers"]) == [AssetKey(["raw", "shop", "customers"])]


def test_naming_a_partitioned_or_unknown_table_is_refused_with_the_reason():
    with pytest.raises(SelectionError, match=r"shop.events \(daily\): time-partitioned .* backfill"):
        start_keys(DATASOURCES, TABLES, "shop", ["events"])
    with pytest.raises(SelectionError, match="did you mean 'orders'"):
        start_keys(DATASOURCES, TABLES, "shop", ["order"])
    with pytest.raises(SelectionError, match="did you mean 'shop'"):
        start_keys(DATASOURCES, TABLES, "shopp")
