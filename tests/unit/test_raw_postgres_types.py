from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.keys import RAW, asset_key, key_component
from etl_assets.raw.assets import CHECK_NAME, build_raw_assets
from etl_assets.raw.load import WriteMode, write_mode
from resources.postgres.catalog import cursor_candidates
from resources.schema import Column, TableSchema


def test_cursor_candidates_prefer_update_timestamps_then_sequence_keys():
    columns = [Column("id", "int64"), Column("created_at", "timestamptz"), Column("name", "string"),
               Column("updated_at", "timestamptz"), Column("day", "date"), Column("qty", "int32")]
    assert cursor_candidates(columns, ["id"], set()) == ["updated_at", "created_at", "day", "id"]
    assert cursor_candidates(columns, [], {"qty"}) == ["updated_at", "created_at", "day", "qty"]


def source_table(mode: str = "full", cursor: str | None = None, key: tuple[str, ...] = ("id",),
                 name: str = "orders") -> SourceTable:
    schema = TableSchema(source="shop_db", name=name, columns=[Column("id", "int64", False),
                                                               Column("updated_at", "timestamptz")],
                         primary_key=list(key), cursor_column=cursor)
    return SourceTable(kind="postgres", schema=schema, sync=SyncSettings(mode=mode, cursor=cursor), batch_size=100,
                       semantic_search=False, text_columns=(), checks=CheckSettings(), target="warehouse")


def test_write_modes_follow_the_sync_mode_and_the_key():
    assert write_mode(source_table("full"), full_reload=False) is WriteMode.REPLACE
    assert write_mode(source_table("merge", "updated_at"), full_reload=False) is WriteMode.MERGE
    assert write_mode(source_table("incremental", "updated_at"), full_reload=False) is WriteMode.MERGE
    assert write_mode(source_table("incremental", "updated_at", key=()), full_reload=False) is WriteMode.APPEND
    assert write_mode(source_table("merge", "updated_at"), full_reload=True) is WriteMode.REPLACE


def test_raw_assets_follow_the_conventions():
    definitions = build_raw_assets([source_table("merge", "updated_at"), source_table(name='we"ird;name')])
    assets = [d for d in definitions if type(d).__name__ == "AssetsDefinition"]
    asset = next(d for d in assets if d.key == asset_key(RAW, "shop_db", "orders"))
    spec = next(iter(asset.specs))
    assert spec.group_name == "shop_db"
    assert spec.kinds == {"postgres"}
    assert asset.required_resource_keys - {"io_manager"} == {"source_shop_db", "warehouse", "metadata"}
    assert asset.op.pool == "source_shop_db"
    assert asset.op.retry_policy.max_retries == 3
    assert spec.metadata["dagster/table_name"] == "raw_shop_db.orders"
    checks = [d for d in definitions if type(d).__name__ == "AssetChecksDefinition"]
    assert {(key.asset_key, key.name) for check in checks for key in check.check_keys} == {
        (asset_key(RAW, "shop_db", "orders"), CHECK_NAME), (asset_key(RAW, "shop_db", 'we"ird;name'), CHECK_NAME)}
    assert all(spec.blocking for check in checks for spec in check.check_specs)


def test_a_table_landing_in_another_target_asks_for_that_target():
    table = source_table()
    other = SourceTable(**{**table.__dict__, "target": "lake"})
    asset = build_raw_assets([other], warehouse_name="warehouse")[0]
    assert "target_lake" in asset.required_resource_keys


def test_table_names_that_dagster_cannot_use_get_a_stable_safe_key():
    assert key_component("orders") == "orders"
    assert key_component('we"ird;name') == key_component('we"ird;name')
    assert key_component('we"ird;name').startswith("we_ird_name_")
    assert key_component('we"ird;name') != key_component("we'ird;name")
