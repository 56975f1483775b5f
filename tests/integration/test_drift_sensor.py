"""The schema-drift sensor against a real PostgreSQL source, evaluated by Dagster with its cursor carried across ticks.

The source table is landed once first (a real materialization), so the schema history has a version to extend.
"""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, build_sensor_context, materialize

from etl_assets.catalog import load_catalog, save_catalog, source_tables
from etl_assets.config.models import DataSources
from etl_assets.ddl.assets import build_ddl_assets
from etl_assets.keys import relationships_key
from etl_assets.profile.assets import build_profile_assets
from etl_assets.raw.assets import build_raw_assets
from etl_assets.recommend.assets import build_recommendation_assets
from etl_assets.relationships.assets import build_relationship_assets
from resources.files import FilesResource, FileTable
from resources.llm import LlmResource
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from sensors.drift import build_drift_sensors

LAYERS = ("profile", "recommendation", "ddl")


def keys(*layers: str) -> list[AssetKey]:
    return [AssetKey([layer, "shop", "orders"]) for layer in layers]


def sql(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def datasources(source: PostgresResource) -> DataSources:
    return DataSources.model_validate({
        "warehouse": "wh", "metadata": "wh",
        "targets": {"postgres": {"wh": {"database": source.database, "port": source.port}}},
        "sources": {"postgres": {"shop": {"database": source.database, "port": source.port}}},
    })


class Project:
    """A code location of one source table's raw, profile, recommendation and DDL assets plus the drift sensor."""

    def __init__(self, pg_dsn: str, catalog_file: Path, source: PostgresResource | None = None,
                 probe_timeout_s: float = 30):
        self.catalog_file = catalog_file
        self.source = source or PostgresResource.from_dsn(pg_dsn, source_name="shop")
        self.datasources = datasources(PostgresResource.from_dsn(pg_dsn))
        warehouse = PostgresResource.from_dsn(pg_dsn)
        self.metadata = MetadataResource(postgres=warehouse)
        self.resources = {"source_shop": self.source, "warehouse": warehouse, "metadata": self.metadata,
                          "llm": LlmResource()}
        [self.sensor] = build_drift_sensors(self.datasources, self.tables(), catalog_file,
                                            probe_timeout_s=probe_timeout_s)
        self.instance = DagsterInstance.ephemeral()
        self.definitions = Definitions(assets=self.assets(), sensors=[self.sensor], resources=self.resources)
        self.cursor: str | None = None

    def tables(self):
        """The tables as a freshly started run worker sees them: from the catalog file as it is now."""
        return source_tables(self.datasources, load_catalog(self.catalog_file))

    def assets(self) -> list:
        tables = self.tables()
        return [*build_raw_assets(tables, retry_policy=None), *build_profile_assets(tables, retry_policy=None),
                *build_relationship_assets(tables), *build_recommendation_assets(tables), *build_ddl_assets(tables)]

    def tick(self):
        with build_sensor_context(instance=self.instance, cursor=self.cursor, definitions=self.definitions,
                                  resources={"source_shop": self.source, "metadata": self.metadata}) as context:
            result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return result

    def materialize(self, selection: list[AssetKey], tags: dict[str, str] | None = None) -> None:
        outcome = materialize(self.assets(), selection=selection, resources=self.resources, instance=self.instance,
                              tags=tags)
        assert outcome.success

    def catalog_columns(self) -> dict[str, str]:
        [orders] = load_catalog(self.catalog_file)["shop"]
        return {column.name: column.logical_type for column in orders.columns}


@pytest.fixture
def project(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("AIETL_HOME", str(tmp_path / "state"))
    sql(pg_dsn, "CREATE TABLE orders (id bigint PRIMARY KEY, status integer NOT NULL, total numeric(12, 2), "
                "note text)",
        "INSERT INTO orders VALUES (1, 1, 10.50, 'first'), (2, 2, 20.00, NULL)")
    catalog_file = tmp_path / "catalog.json"
    save_catalog(catalog_file, {"shop": PostgresResource.from_dsn(pg_dsn, source_name="shop").discover()})
    landed = Project(pg_dsn, catalog_file)
    landed.materialize(keys("raw"))
    return landed


def test_an_added_column_is_recorded_catalogued_shown_and_refreshes_the_table(project: Project,
                                                                               pg_dsn: str) -> None:
    baseline = project.tick()
    assert not baseline.run_requests
    assert "no column changed in the 1 table(s) of shop probed" in baseline.skip_message

    sql(pg_dsn, "ALTER TABLE orders ADD COLUMN phone text", "UPDATE orders SET phone = '+1 555 0100'")
    drift = project.tick()
    [request] = drift.run_requests
    assert request.asset_selection == keys("raw", *LAYERS)
    assert request.tags["aietl/schema_change"] == "added phone (string)"
    assert request.tags["aietl/schema_version"] == "2"
    [event] = drift.asset_events
    assert event.asset_key == AssetKey(["raw", "shop", "orders"])
    assert "| phone | | string | added |" in event.metadata["schema_change"].value
    assert event.metadata["schema_diff"].value["added"] == ["phone"]

    history = project.metadata.schema_history("shop", "orders")
    assert [row["version"] for row in history] == [1, 2]
    assert history[-1]["diff"]["added"] == ["phone"] and history[-1]["diff"]["detected_by"] == "drift_shop"
    assert "phone" in [c["name"] for c in history[-1]["source_schema"]["columns"]]
    assert "phone" not in [c["name"] for c in history[-1]["landed_schema"]["columns"]]
    assert project.catalog_columns()["phone"] == "string"

    quiet = project.tick()
    assert not quiet.run_requests and "no column changed" in quiet.skip_message

    project.materialize([*request.asset_selection, relationships_key()], tags=request.tags)  # in-memory inputs
    with psycopg.connect(pg_dsn) as connection:
        assert connection.execute("SELECT phone FROM raw_shop.orders WHERE id = 1").fetchone() == ("+1 555 0100",)
    ddl = project.instance.get_latest_materialization_event(AssetKey(["ddl", "shop", "orders"]))
    assert "phone" in ddl.asset_materialization.metadata["postgres"].value


def test_a_dropped_column_and_type_changes_are_named_and_a_conflict_skips_the_load(project: Project,
                                                                                    pg_dsn: str) -> None:
    project.tick()
    sql(pg_dsn, "ALTER TABLE orders DROP COLUMN note",
        "ALTER TABLE orders ALTER COLUMN status TYPE text USING status::text",
        "ALTER TABLE orders ALTER COLUMN total TYPE numeric(18, 2)")
    [request] = project.tick().run_requests
    change = request.tags["aietl/schema_change"]
    assert "removed note" in change
    assert "total decimal(12,2) -> decimal(18,2) (widened)" in change
    assert "status int32 -> string (conflict" in change
    assert request.asset_selection == keys(*LAYERS)
    diff = project.metadata.latest_schema("shop", "orders")["diff"]
    assert diff["removed"] == ["note"] and [c["column"] for c in diff["conflicts"]] == ["status"]
    assert project.catalog_columns() == {"id": "int64", "status": "string", "total": "decimal(18,2)"}
    assert not project.tick().run_requests


def test_a_dropped_and_a_new_table_are_reported_not_requested(project: Project, pg_dsn: str) -> None:
    project.tick()
    sql(pg_dsn, "ALTER TABLE orders RENAME TO orders_2026", "CREATE TABLE refunds (id bigint PRIMARY KEY)")
    result = project.tick()
    assert not result.run_requests
    assert "no column changed in the 0 table(s) of shop probed" in result.skip_message
    assert "orders: no longer in the source (dropped or renamed); run `aietl discover`" in result.skip_message
    assert "new table(s) ['orders_2026', 'refunds'] are not in the catalog yet" in result.skip_message


def test_a_source_that_is_down_or_hangs_is_skipped_with_the_reason(project: Project, pg_dsn: str,
                                                                   tmp_path: Path) -> None:
    down = Project(pg_dsn, project.catalog_file,
                   source=PostgresResource.from_dsn(pg_dsn, source_name="shop", port=1, connect_timeout_s=2))
    result = down.tick()
    assert not result.run_requests
    assert "source shop: cannot discover its schema" in result.skip_message

    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        hanging = PostgresResource.from_dsn(pg_dsn, source_name="shop", port=silent.getsockname()[1],
                                            connect_timeout_s=3)
        stuck = Project(pg_dsn, project.catalog_file, source=hanging, probe_timeout_s=0.5)
        result = stuck.tick()
    assert not result.run_requests
    assert "discovery did not answer within 0.5s" in result.skip_message


def test_a_csv_header_that_gains_a_column_is_drift_of_a_files_table_not_landed_yet(pg_dsn: str,
                                                                                    tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "orders.csv").write_text("id,amount\n1,10\n", encoding="utf-8")
    warehouse = PostgresResource.from_dsn(pg_dsn)
    config = DataSources.model_validate({
        "warehouse": "wh", "metadata": "wh",
        "targets": {"postgres": {"wh": {"database": warehouse.database, "port": warehouse.port}}},
        "sources": {"files": {"drop": {"path": str(landing), "tables": {"orders": {"file": "orders.csv"}}}}},
    })
    files = FilesResource(path=str(landing), source_name="drop", tables={"orders": FileTable(file="orders.csv")})
    catalog_file = tmp_path / "catalog.json"
    save_catalog(catalog_file, {"drop": files.discover()})
    tables = source_tables(config, load_catalog(catalog_file))
    [sensor] = build_drift_sensors(config, tables, catalog_file)
    metadata = MetadataResource(postgres=warehouse)
    definitions = Definitions(assets=[*build_raw_assets(tables), *build_profile_assets(tables),
                                      *build_relationship_assets(tables), *build_recommendation_assets(tables),
                                      *build_ddl_assets(tables)], sensors=[sensor],
                              resources={"source_drop": files, "warehouse": warehouse, "metadata": metadata,
                                         "llm": LlmResource()})

    def tick(cursor: str | None):
        with build_sensor_context(instance=DagsterInstance.ephemeral(), cursor=cursor, definitions=definitions,
                                  resources={"source_drop": files, "metadata": metadata}) as context:
            return sensor.evaluate_tick(context)

    baseline = tick(None)
    assert not baseline.run_requests
    (landing / "orders.csv").write_text("id,amount,currency\n1,10,EUR\n", encoding="utf-8")
    [request] = tick(baseline.cursor).run_requests
    assert request.tags["aietl/schema_change"] == "added currency (string)"
    assert request.tags["aietl/schema_version"] == "not landed yet"
    assert metadata.schema_history("drop", "orders") == []
    assert [c.name for c in load_catalog(catalog_file)["drop"][0].columns] == ["id", "amount", "currency"]


def test_a_change_seen_while_the_metadata_store_is_down_is_handled_on_the_next_tick(project: Project,
                                                                                     pg_dsn: str) -> None:
    project.tick()
    sql(pg_dsn, "ALTER TABLE orders ADD COLUMN phone text")
    store = project.metadata
    project.metadata = MetadataResource(postgres=PostgresResource(port=1, database="down", connect_timeout_s=1))
    result = project.tick()
    assert not result.run_requests
    assert "1 table(s) changed but the schema history cannot be written" in result.skip_message
    assert "phone" not in project.catalog_columns()

    project.metadata = store
    [request] = project.tick().run_requests
    assert request.tags["aietl/schema_change"] == "added phone (string)"
    assert "phone" in project.catalog_columns()
