"""Time-partitioned raw tables: real PostgreSQL source and warehouse, real Dagster partitions, runs and sensor ticks.

A table with ``partition: daily`` lands one day per materialization; each rerun replaces exactly its day.
"""

from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner

from etl_assets.catalog import SourceTable, save_catalog, source_tables
from etl_assets.cli import main
from etl_assets.config.models import CheckSettings, DataSources, PartitionSettings, SyncSettings
from etl_assets.definitions import MAIN_JOB, build_assets
from etl_assets.keys import RAW, asset_key, report_key
from etl_assets.raw.assets import build_raw_assets
from etl_assets.raw.partitions import EAGER_OVER_PARTITIONS, partitions_def, whole_table_selection
from etl_assets.wiring import build_resources
from resources.files import FilesResource
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.schema import Column, TableSchema
from sensors.automation import build_automation_sensor
from sensors.drift import requested_keys
from sensors.files import build_file_sensors
from sensors.incremental import build_incremental_sensors, partition_requests
from sensors.schedules import build_schedules

pytestmark = pytest.mark.integration
DAILY = PartitionSettings(grain="daily", column="at", start=date(2026, 1, 1))
EVENTS_KEY = asset_key(RAW, "shop", "events")
EVENTS_SQL = """CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, kind text);
    INSERT INTO events SELECT i, timestamptz '2026-01-01 00:00+00' + (i * interval '3 hours'), 'view'
    FROM generate_series(0, 31) i"""
"""Eight rows a day over 2026-01-01 .. 2026-01-04, the first at exactly midnight (a period's inclusive start)."""


def events_table(db: PostgresResource, partition: PartitionSettings = DAILY) -> SourceTable:
    schema = db.discover_table("events")
    return SourceTable(kind="postgres", schema=schema, sync=SyncSettings(mode="incremental", cursor="at"),
                       batch_size=1000, semantic_search=False, text_columns=(), checks=CheckSettings(),
                       target="warehouse", partition=partition)


@pytest.fixture
def source(pg_dsn: str) -> PostgresResource:
    db = PostgresResource.from_dsn(pg_dsn, source_name="shop")
    db.execute(EVENTS_SQL)
    return db


def resources(pg_dsn: str, source: Any) -> dict[str, Any]:
    warehouse = PostgresResource.from_dsn(pg_dsn)
    return {"source_shop": source, "warehouse": warehouse, "metadata": MetadataResource(postgres=warehouse)}


def load(pg_dsn: str, table: SourceTable, key: str, source: Any, instance: dg.DagsterInstance) -> dict[str, Any]:
    result = dg.materialize(build_raw_assets([table], retry_policy=None), partition_key=key, instance=instance,
                            resources=resources(pg_dsn, source))
    assert result.success
    [event] = result.get_asset_materialization_events()
    assert event.partition == key
    return {name: value.value for name, value in event.materialization.metadata.items()}


def rows(db: PostgresResource, statement: str) -> list[dict[str, Any]]:
    return db.query_arrow(statement).to_pylist()


def per_day(db: PostgresResource, relation: str) -> dict[str, int]:
    found = rows(db, f"SELECT (at AT TIME ZONE 'UTC')::date::text AS day, count(*) AS n FROM {relation} GROUP BY 1")
    return {row["day"]: row["n"] for row in found}


def test_each_partition_of_a_range_lands_exactly_its_period_and_a_rerun_replaces_it(pg_dsn, source):
    table = events_table(source)
    instance = dg.DagsterInstance.ephemeral()
    keys = partitions_def(DAILY).get_partition_keys_in_range(dg.PartitionKeyRange("2026-01-01", "2026-01-03"))
    landed = [load(pg_dsn, table, key, source, instance) for key in keys]
    assert per_day(source, "raw_shop.events") == {"2026-01-01": 8, "2026-01-02": 8, "2026-01-03": 8}
    assert [m["partition_rows"] for m in landed] == [8, 8, 8]
    assert [m["dagster/row_count"] for m in landed] == [8, 16, 24], "row_count is the whole table's"
    assert (landed[1]["period_start"], landed[1]["period_end"]) == ("2026-01-02 00:00:00+00:00",
                                                                   "2026-01-03 00:00:00+00:00")
    assert instance.get_materialized_partitions(EVENTS_KEY) == set(keys)

    again = load(pg_dsn, table, "2026-01-02", source, instance)
    assert again["rows_written"] == 8 and again["dagster/row_count"] == 24, "a rerun does not duplicate"

    source.execute("""UPDATE events SET kind = 'buy' WHERE id = 1; DELETE FROM events WHERE id = 2;
                      INSERT INTO events VALUES (100, '2026-01-01 23:59:59.999+00', 'late')""")
    load(pg_dsn, table, "2026-01-01", source, instance)
    difference = rows(source, """SELECT count(*) AS n FROM (
        (SELECT * FROM events WHERE at < '2026-01-04' EXCEPT ALL SELECT * FROM raw_shop.events)
        UNION ALL (SELECT * FROM raw_shop.events EXCEPT ALL SELECT * FROM events WHERE at < '2026-01-04')) d""")
    assert difference == [{"n": 0}], "the changed day is re-landed as the source has it, the others untouched"
    log = rows(source, """SELECT partition_key, mode, status FROM aietl_meta.ingestion_log ORDER BY id""")
    assert [r["partition_key"] for r in log] == [*keys, "2026-01-02", "2026-01-01"]
    assert {(r["mode"], r["status"]) for r in log} == {("replace_period", "success")}


def test_a_run_without_a_partition_key_fails_with_a_clear_message(pg_dsn, source):
    table = events_table(source)
    job = dg.Definitions(assets=build_raw_assets([table], retry_policy=None), resources=resources(pg_dsn, source),
                         jobs=[dg.define_asset_job("all", selection=dg.AssetSelection.all())]).resolve_job_def("all")
    result = job.execute_in_process(raise_on_error=False)
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "is time-partitioned (daily on 'at'): materialize one partition" in failure.step_failure_data.error.message


def test_a_files_source_with_a_date_column_partitions_by_month(pg_dsn, tmp_path: Path):
    (tmp_path / "readings.csv").write_text(
        "day,sensor,value\n2026-01-30,a,1.5\n2026-01-31,b,2.5\n2026-02-01,a,3.0\n2026-03-15,c,4.0\n", encoding="utf-8")
    files = FilesResource(path=str(tmp_path), source_name="shop")
    schema = files.discover_table("readings")
    assert schema.column("day").logical_type == "date"
    table = SourceTable(kind="files", schema=schema, sync=SyncSettings(), batch_size=1000, semantic_search=False,
                        text_columns=(), checks=CheckSettings(), target="warehouse",
                        partition=PartitionSettings(grain="monthly", column="day", start=date(2026, 1, 1)))
    instance = dg.DagsterInstance.ephemeral()
    january = load(pg_dsn, table, "2026-01-01", files, instance)
    february = load(pg_dsn, table, "2026-02-01", files, instance)
    assert (january["partition_rows"], february["partition_rows"]) == (2, 1)
    assert (january["period_start"], january["period_end"]) == ("2026-01-01", "2026-02-01")
    assert build_file_sensors([table]) == [], "a changed file does not say which periods it holds: backfill them"
    warehouse = PostgresResource.from_dsn(pg_dsn)
    landed = rows(warehouse, "SELECT day::text AS day, sensor FROM raw_shop.readings ORDER BY day")
    assert landed == [{"day": "2026-01-30", "sensor": "a"}, {"day": "2026-01-31", "sensor": "b"},
                      {"day": "2026-02-01", "sensor": "a"}]


def test_a_clickhouse_source_partition_reads_only_its_period_from_the_engine(pg_dsn, tmp_path: Path):
    from resources.clickhouse import ClickHouseResource

    clickhouse = ClickHouseResource(chdb_path=str(tmp_path / "chdb"), database="analytics", source_name="shop")
    clickhouse.execute("CREATE DATABASE IF NOT EXISTS analytics")
    clickhouse.execute("CREATE TABLE analytics.events (id UInt32, at DateTime64(3, 'UTC'), kind String) "
                       "ENGINE = MergeTree ORDER BY id")
    clickhouse.execute("INSERT INTO analytics.events SELECT number, toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + "
                       "number * 10800, 'view' FROM numbers(32)")
    schema = next(s for s in clickhouse.discover() if s.name == "events")
    table = SourceTable(kind="clickhouse", schema=schema, sync=SyncSettings(mode="incremental", cursor="at"),
                        batch_size=1000, semantic_search=False, text_columns=(), checks=CheckSettings(),
                        target="warehouse", partition=DAILY)
    instance = dg.DagsterInstance.ephemeral()
    try:
        for key in ("2026-01-02", "2026-01-02", "2026-01-03"):
            metadata = load(pg_dsn, table, key, clickhouse, instance)
            assert metadata["partition_rows"] == 8
    finally:
        clickhouse.close()
    assert per_day(PostgresResource.from_dsn(pg_dsn), "raw_shop.events") == {"2026-01-02": 8, "2026-01-03": 8}


def datasources(port: int, partitioned: dict[str, Any]) -> DataSources:
    return DataSources.model_validate({
        "warehouse": "wh", "metadata": "wh",
        "targets": {"postgres": {"wh": {"database": "w", "port": port}}},
        "sources": {"postgres": {"shop": {"database": "shop", "port": port, "schedule": "0 * * * *",
                                          "semantic_search": False, "tables": partitioned}}},
        "qdrant": {"path": "/nonexistent/qdrant"},
    })


def tick(sensor, definitions: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None, source):
    context = build_context(definitions, instance, cursor, source)
    return sensor.evaluate_tick(context)


def build_context(definitions, instance, cursor, source):
    return dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions,
                                   resources={"source_shop": source})


def test_the_sensor_requests_exactly_the_partitions_the_cursor_moved_through(pg_dsn, source):
    config = datasources(source.port, {"events": {"sync": {"mode": "incremental", "cursor": "at"},
                                                  "partition": {"grain": "daily", "start": "2026-01-01"}}})
    [table] = source_tables(config, {"shop": [source.discover_table("events")]})
    [sensor] = build_incremental_sensors(config, [table])
    definitions = dg.Definitions(assets=build_raw_assets([table]), sensors=[sensor],
                                 resources=resources(pg_dsn, source))
    instance = dg.DagsterInstance.ephemeral()

    first = tick(sensor, definitions, instance, None, source)
    assert [(r.partition_key, r.asset_selection) for r in first.run_requests] == [("2026-01-04", [EVENTS_KEY])]
    assert "no table of shop has new rows" in tick(sensor, definitions, instance, first.cursor, source).skip_message

    source.execute("INSERT INTO events VALUES (200, '2026-01-06 08:00+00', 'view'), (201, '2026-01-06 09:00+00', "
                   "'view')")
    moved = tick(sensor, definitions, instance, first.cursor, source)
    assert [r.partition_key for r in moved.run_requests] == ["2026-01-04", "2026-01-05", "2026-01-06"]
    run_keys = [r.run_key for r in [*first.run_requests, *moved.run_requests]]
    assert len(set(run_keys)) == len(run_keys)
    for request in moved.run_requests:  # each request is a real run: its partition's period lands
        result = dg.materialize(build_raw_assets([table], retry_policy=None), partition_key=request.partition_key,
                                instance=instance, resources=resources(pg_dsn, source))
        assert result.success
    assert per_day(source, "raw_shop.events") == {"2026-01-04": 8, "2026-01-06": 2}

    source.execute("INSERT INTO events VALUES (202, '2025-06-01 00:00+00', 'before the first partition')")
    assert "no table of shop has new rows" in tick(sensor, definitions, instance, moved.cursor, source).skip_message


def test_a_long_range_is_requested_a_hundred_partitions_a_tick_then_the_rest(pg_dsn, source):
    table = events_table(source)
    seen, moved = {"events": "2026-01-01 10:00:00+00:00"}, {"events": "2026-06-30 12:00:00+00:00"}
    first, kept = partition_requests({"events": table}, seen, moved, limit=100)
    assert [key for _, key in first][:2] == ["2026-01-01", "2026-01-02"] and len(first) == 100
    assert kept == {"events": "2026-04-11T00:00:00+00:00"}, "the next tick starts at the first key not requested"
    rest, kept = partition_requests({"events": table}, kept, moved, limit=100)
    assert [key for _, key in rest][0] == "2026-04-11" and [key for _, key in rest][-1] == "2026-06-30"
    assert kept == moved

    two = {"a": table, "b": table}
    shared, kept = partition_requests(two, {"a": "2026-01-01", "b": "2026-01-01"},
                                      {"a": "2026-01-02", "b": "2026-01-03"}, limit=3)
    assert shared == [("a", "2026-01-01"), ("a", "2026-01-02"), ("b", "2026-01-01")], "one budget per tick"
    assert kept == {"a": "2026-01-02", "b": "2026-01-02T00:00:00+00:00"}
    assert partition_requests(two, {}, {"a": "2026-01-02", "b": "2026-01-03"}, limit=1)[1] == {"a": "2026-01-02"}


def test_definitions_with_daily_and_monthly_tables_keep_the_main_job_schedules_and_sensor_working(pg_dsn, source):
    source.execute("CREATE TABLE invoices (id bigint PRIMARY KEY, issued date NOT NULL); "
                   "CREATE TABLE customers (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL)")
    config = datasources(source.port, {
        "events": {"sync": {"mode": "incremental", "cursor": "at"}, "partition": "daily"},
        "invoices": {"partition": {"grain": "monthly", "column": "issued"}},
        "customers": {"sync": {"mode": "merge", "cursor": "updated_at"}}})
    tables = source_tables(config, {"shop": [source.discover_table(n) for n in ("events", "invoices", "customers")]})
    assert partitions_def(tables[0].partition) is partitions_def(PartitionSettings(grain="daily")), "shared"
    main_job = dg.define_asset_job(MAIN_JOB, selection=whole_table_selection(dg.AssetSelection.all(), tables))
    definitions = dg.Definitions(assets=build_assets(config, tables), jobs=[main_job],
                                 schedules=build_schedules(config, tables),
                                 sensors=[*build_incremental_sensors(config, tables), build_automation_sensor(config)],
                                 resources=build_resources(config))
    repository = definitions.get_repository_def()
    main_keys = repository.get_job(MAIN_JOB).asset_layer.executable_asset_keys
    assert EVENTS_KEY not in main_keys and asset_key(RAW, "shop", "customers") in main_keys
    assert asset_key("profile", "shop", "events") in main_keys, "the whole-table layers stay in the main job"
    refresh = repository.get_job("refresh_shop").asset_layer.executable_asset_keys
    assert EVENTS_KEY not in refresh and asset_key("profile", "shop", "invoices") in refresh
    profile = repository.assets_defs_by_key[asset_key("profile", "shop", "events")]
    assert profile.partitions_def is None
    for follower in (asset_key("profile", "shop", "events"), report_key("pipeline")):
        assert repository.assets_defs_by_key[follower].automation_conditions_by_key[follower] is EAGER_OVER_PARTITIONS
    customers = asset_key("profile", "shop", "customers")
    assert repository.assets_defs_by_key[customers].automation_conditions_by_key[customers] \
        is not EAGER_OVER_PARTITIONS
    assert EVENTS_KEY not in requested_keys(tables[0]), "a schema change refreshes the layers, the next partition " \
                                                        "lands the new columns"

    [sensor] = build_incremental_sensors(config, tables)
    result = tick(sensor, definitions, dg.DagsterInstance.ephemeral(), None, source)
    [events_run] = [r for r in result.run_requests if r.partition_key]
    assert EVENTS_KEY in events_run.asset_selection and asset_key("profile", "shop", "events") in \
        events_run.asset_selection, "the newest partition's run refreshes the whole-table layers too"
    assert asset_key(RAW, "shop", "invoices") not in events_run.asset_selection


def test_the_profile_follows_a_landed_partition_by_its_automation_condition(pg_dsn, source):
    table = events_table(source)
    from etl_assets.profile.assets import build_profile_assets

    definitions = dg.Definitions(assets=[*build_raw_assets([table], retry_policy=None),
                                         *build_profile_assets([table])], resources=resources(pg_dsn, source))
    instance = dg.DagsterInstance.ephemeral()
    before = dg.evaluate_automation_conditions(defs=definitions, instance=instance)
    assert before.total_requested == 0
    load(pg_dsn, table, "2026-01-02", source, instance)
    after = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=before.cursor)
    assert after.get_requested_partitions(asset_key("profile", "shop", "events")) == {None}


VALIDATE_YAML = """
warehouse: wh
metadata: wh
targets:
  postgres:
    wh: {{database: warehouse}}
sources:
  {kind}:
    shop:
      {connection}
      tables:
        events: {{sync: {{mode: incremental, cursor: at}}, partition: {partition}}}
"""
CONNECTIONS = {"postgres": "database: shop", "ydb": "endpoint: grpc://127.0.0.1:1\n      database: /local"}


@pytest.mark.parametrize(("kind", "partition", "key_path", "reason"), [
    ("postgres", "{grain: daily, column: kind}", "sources.postgres.shop.tables.events.partition.column",
     "column 'kind' is text, not a date or timestamp column"),
    ("postgres", "weekly", "sources.postgres.shop.tables.events.partition.grain",
     "Input should be 'daily' or 'monthly'"),
    ("postgres", "{grain: daily, column: missing}", "sources.postgres.shop.tables.events.partition.column",
     "column 'missing' is not in the table"),
    ("ydb", "daily", "sources.ydb.shop.tables.events.partition",
     "time partitions are not supported for ydb sources yet"),
])
def test_aietl_validate_names_the_key_path_of_a_bad_partition(tmp_path: Path, kind, partition, key_path, reason):
    datasources_file, catalog_file = tmp_path / "datasources.yaml", tmp_path / "catalog.json"
    datasources_file.write_text(VALIDATE_YAML.format(kind=kind, connection=CONNECTIONS[kind], partition=partition),
                                encoding="utf-8")
    save_catalog(catalog_file, {"shop": [TableSchema("shop", "events", [
        Column("id", "int64", False), Column("at", "timestamptz", False), Column("kind", "text")])]})
    result = CliRunner().invoke(main, ["validate", "--datasources", str(datasources_file), "--catalog",
                                       str(catalog_file), "--pipelines", str(tmp_path / "none.yaml")])
    assert result.exit_code != 0
    assert f"{key_path}: {reason}" in result.output


def test_a_backfill_of_a_range_lands_each_partition_through_dagsters_backfill_machinery(pg_dsn, source, monkeypatch,
                                                                                          tmp_path: Path):
    """What the UI's "Materialize partitions" does: a backfill stored on the instance, then the backfill daemon's
    iterations (run here in the test process, launching each run synchronously) submit one run per partition."""
    import logging
    import time

    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._daemon.backfill import execute_backfill_iteration

    from tests.support import partitioned_location

    monkeypatch.setenv("AIETL_TEST_PARTITION_DSN", pg_dsn)
    origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=partitioned_location.__file__,
                                                              attribute="defs"), location_name="partitioned")
    overrides = {"run_launcher": {"module": "dagster._core.launcher.sync_in_memory_run_launcher",
                                  "class": "SyncInMemoryRunLauncher"},
                 "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}}
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides=overrides) as instance, \
            WorkspaceProcessContext(instance, InProcessTestWorkspaceLoadTarget(origin)) as workspace:
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id="jan", asset_graph=workspace.create_request_context().asset_graph,
            partition_names=["2026-01-02", "2026-01-03", "2026-01-04"], asset_selection=[EVENTS_KEY],
            backfill_timestamp=time.time(), tags={}, dynamic_partitions_store=instance, all_partitions=False,
            title=None, description=None, run_config=None)
        instance.add_backfill(backfill)
        for _ in range(5):
            errors = [e for e in execute_backfill_iteration(workspace, logging.getLogger("backfill")) if e]
            assert not errors
            if instance.get_backfill("jan").status is BulkActionStatus.COMPLETED_SUCCESS:
                break
        assert instance.get_backfill("jan").status is BulkActionStatus.COMPLETED_SUCCESS
        runs = instance.get_runs()
        assert sorted(run.tags["dagster/partition"] for run in runs) == ["2026-01-02", "2026-01-03", "2026-01-04"]
        assert instance.get_materialized_partitions(EVENTS_KEY) == {"2026-01-02", "2026-01-03", "2026-01-04"}
    assert per_day(source, "raw_shop.events") == {"2026-01-02": 8, "2026-01-03": 8, "2026-01-04": 8}
