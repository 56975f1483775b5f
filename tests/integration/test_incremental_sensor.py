"""The incremental sensor against a real PostgreSQL source, evaluated by Dagster with its cursor carried over."""

import psycopg
from dagster import AssetKey, DagsterInstance, Definitions, build_sensor_context

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, DataSources, SyncSettings
from etl_assets.raw.assets import build_raw_assets
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.schema import Column, TableSchema
from sensors.incremental import build_incremental_sensors

ORDERS = TableSchema("shop", "orders", [Column("id", "int64", False), Column("updated_at", "timestamptz", False)],
                     primary_key=["id"], cursor_column="updated_at", namespace="public")


def source_table() -> SourceTable:
    return SourceTable(kind="postgres", schema=ORDERS, sync=SyncSettings(mode="merge", cursor="updated_at"),
                       batch_size=1000, semantic_search=False, text_columns=(), checks=CheckSettings(),
                       target="warehouse")


def datasources(dsn_port: int) -> DataSources:
    return DataSources.model_validate({
        "warehouse": "wh", "metadata": "wh",
        "targets": {"postgres": {"wh": {"database": "w", "port": dsn_port}}},
        "sources": {"postgres": {"shop": {"database": "shop", "port": dsn_port}}},
    })


def definitions_for(table: SourceTable, sensor, source: PostgresResource, pg_dsn: str) -> Definitions:
    warehouse = PostgresResource.from_dsn(pg_dsn)
    resources = {"source_shop": source, "warehouse": warehouse, "metadata": MetadataResource(postgres=warehouse)}
    return Definitions(assets=build_raw_assets([table]), sensors=[sensor], resources=resources)


def tick(sensor, definitions: Definitions, instance: DagsterInstance, cursor: str | None, source):
    context = build_sensor_context(instance=instance, cursor=cursor, definitions=definitions,
                                   resources={"source_shop": source})
    return sensor.evaluate_tick(context), context


def test_the_sensor_requests_a_load_only_when_the_cursor_moves(pg_dsn):
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE orders (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL)")
        connection.execute("INSERT INTO orders VALUES (1, '2026-01-01T00:00:00Z')")
    source = PostgresResource.from_dsn(pg_dsn, source_name="shop")
    table = source_table()
    [sensor] = build_incremental_sensors(datasources(source.port), [table])
    definitions = definitions_for(table, sensor, source, pg_dsn)
    instance = DagsterInstance.ephemeral()

    first, _ = tick(sensor, definitions, instance, None, source)
    assert [request.asset_selection for request in first.run_requests] == [[AssetKey(["raw", "shop", "orders"])]]

    quiet, _ = tick(sensor, definitions, instance, first.cursor, source)
    assert not quiet.run_requests
    assert "no table of shop has new rows" in quiet.skip_message

    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute("INSERT INTO orders VALUES (2, '2026-01-02T00:00:00Z')")
    moved, _ = tick(sensor, definitions, instance, first.cursor, source)
    assert len(moved.run_requests) == 1
    assert moved.run_requests[0].run_key != first.run_requests[0].run_key


def test_a_source_that_is_down_is_skipped_with_its_reason(pg_dsn):
    source = PostgresResource.from_dsn(pg_dsn, source_name="shop", port=1, connect_timeout_s=2)
    table = source_table()
    [sensor] = build_incremental_sensors(datasources(1), [table])
    definitions = definitions_for(table, sensor, source, pg_dsn)
    result, _ = tick(sensor, definitions, DagsterInstance.ephemeral(), None, source)
    assert not result.run_requests
    assert "source shop is unreachable" in result.skip_message


def test_tables_that_move_in_one_tick_load_in_one_run(pg_dsn):
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        for name in ("orders", "refunds"):
            connection.execute(psycopg.sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, updated_at timestamptz NOT "
                                               "NULL)").format(psycopg.sql.Identifier(name)))
            connection.execute(psycopg.sql.SQL("INSERT INTO {} VALUES (1, '2026-01-01T00:00:00Z')").format(
                psycopg.sql.Identifier(name)))
    source = PostgresResource.from_dsn(pg_dsn, source_name="shop")
    orders = source_table()
    refunds = SourceTable(kind="postgres", schema=TableSchema("shop", "refunds", ORDERS.columns, primary_key=["id"],
                                                              cursor_column="updated_at", namespace="public"),
                          sync=orders.sync, batch_size=1000, semantic_search=False, text_columns=(),
                          checks=CheckSettings(), target="warehouse")
    [sensor] = build_incremental_sensors(datasources(source.port), [orders, refunds])
    warehouse = PostgresResource.from_dsn(pg_dsn)
    definitions = Definitions(assets=build_raw_assets([orders, refunds]), sensors=[sensor],
                              resources={"source_shop": source, "warehouse": warehouse,
                                         "metadata": MetadataResource(postgres=warehouse)})
    instance = DagsterInstance.ephemeral()

    [request] = tick(sensor, definitions, instance, None, source)[0].run_requests
    assert request.asset_selection == [AssetKey(["raw", "shop", "orders"]), AssetKey(["raw", "shop", "refunds"])]
    assert request.tags["aietl/tables"] == "shop.orders, shop.refunds"
    first = tick(sensor, definitions, instance, None, source)[0]
    assert first.run_requests[0].run_key == request.run_key, "one state, one run key"

    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute("INSERT INTO refunds VALUES (2, '2026-01-02T00:00:00Z')")
    [moved] = tick(sensor, definitions, instance, first.cursor, source)[0].run_requests
    assert moved.asset_selection == [AssetKey(["raw", "shop", "refunds"])]
    assert moved.run_key != request.run_key
