"""The file-arrival sensor over a real directory, evaluated by Dagster with its cursor carried across ticks.

Modification times are set with ``os.utime`` (an hour ago: settled; now: still being written), so no test waits.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, build_sensor_context, materialize
from dagster._core.storage.tags import RUN_KEY_TAG

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.raw.assets import build_raw_assets
from resources.files import FilesResource, FileTable
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from sensors import files as file_sensors
from sensors.files import build_file_sensors

HOUR_NS = 3600 * 10**9
ORDERS_KEY = AssetKey(["raw", "drop", "orders"])


def write(path: Path, text: str, age_ns: int = HOUR_NS) -> None:
    path.write_text(text, encoding="utf-8")
    stamp = time.time_ns() - age_ns
    os.utime(path, ns=(stamp, stamp))


def orders_csv(*ids: int) -> str:
    return "id,amount\n" + "".join(f"{i},{i * 10}\n" for i in ids)


def resource(directory: Path) -> FilesResource:
    return FilesResource(path=str(directory), source_name="drop", tables={
        "orders": FileTable(file="orders_*.csv"), "customers": FileTable(file="customers.csv")})


def source_tables(files: FilesResource) -> list[SourceTable]:
    return [SourceTable(kind="files", schema=files.discover_table(name), sync=SyncSettings(), batch_size=1000,
                        semantic_search=False, text_columns=(), checks=CheckSettings(), target="warehouse")
            for name in ("orders", "customers")]


class Ticker:
    """The sensor of source ``drop`` in a code location of its raw assets, ticked with the cursor carried over."""

    def __init__(self, directory: Path, warehouse: PostgresResource | None = None):
        self.files = resource(directory)
        self.tables = source_tables(self.files)
        [self.sensor] = build_file_sensors(self.tables)
        self.warehouse = warehouse or PostgresResource(database="not_used_by_sensor_ticks")
        self.resources = {"source_drop": self.files, "warehouse": self.warehouse,
                          "metadata": MetadataResource(postgres=self.warehouse)}
        self.assets = build_raw_assets(self.tables, retry_policy=None)
        self.definitions = Definitions(assets=self.assets, sensors=[self.sensor], resources=self.resources)
        self.instance = DagsterInstance.ephemeral()
        self.cursor: str | None = None

    def tick(self):
        context = build_sensor_context(instance=self.instance, cursor=self.cursor, definitions=self.definitions,
                                       resources={"source_drop": self.files})
        result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return result

    def requested(self, result) -> dict[str, dict]:
        return {request.tags["aietl/table"]: request for request in result.run_requests}

    def run(self, request) -> bool:
        """Launch what was requested as the daemon would (run key tag included); whether the run succeeded."""
        outcome = materialize(self.assets, selection=request.asset_selection, resources=self.resources,
                              instance=self.instance, tags={**request.tags, RUN_KEY_TAG: request.run_key},
                              raise_on_error=False)
        return outcome.success


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    write(tmp_path / "orders_1.csv", orders_csv(1, 2))
    write(tmp_path / "orders_2.csv", orders_csv(3))
    write(tmp_path / "customers.csv", "customer_id,name\n1,Ada\n")
    return tmp_path


def test_new_files_load_once_after_a_quiet_tick_and_unchanged_files_never_again(landing: Path) -> None:
    ticker = Ticker(landing)
    first = ticker.tick()
    assert not first.run_requests
    assert "orders_1.csv is new (checked again next tick)" in first.skip_message

    second = ticker.requested(ticker.tick())
    assert set(second) == {"drop.orders", "drop.customers"}
    orders = second["drop.orders"]
    assert orders.asset_selection == [ORDERS_KEY]
    assert orders.tags["aietl/files"] == "orders_1.csv, orders_2.csv"
    assert orders.run_key.startswith("files:drop.orders@")

    quiet = ticker.tick()
    assert not quiet.run_requests
    assert "orders: no new or changed file" in quiet.skip_message
    assert "customers: no new or changed file" in quiet.skip_message


def test_a_new_and_a_changed_file_each_bring_one_run_naming_only_that_file(landing: Path) -> None:
    ticker = Ticker(landing)
    ticker.tick()
    loaded = ticker.requested(ticker.tick())["drop.orders"]

    write(landing / "orders_3.csv", orders_csv(4))
    assert not ticker.tick().run_requests
    new = ticker.requested(ticker.tick())
    assert set(new) == {"drop.orders"}
    assert new["drop.orders"].tags["aietl/files"] == "orders_3.csv"
    assert new["drop.orders"].run_key != loaded.run_key

    write(landing / "orders_1.csv", orders_csv(1, 2, 5), age_ns=HOUR_NS - 10**9)
    assert not ticker.tick().run_requests
    changed = ticker.requested(ticker.tick())
    assert changed["drop.orders"].tags["aietl/files"] == "orders_1.csv"
    assert len({loaded.run_key, new["drop.orders"].run_key, changed["drop.orders"].run_key}) == 3


def test_a_file_still_being_written_waits_until_it_settles(landing: Path) -> None:
    ticker = Ticker(landing)
    ticker.tick()
    ticker.tick()
    growing = landing / "orders_9.csv"
    write(growing, orders_csv(90), age_ns=0)
    assert "orders_9.csv is new" in ticker.tick().skip_message
    young = ticker.tick()
    assert not young.run_requests
    assert "orders_9.csv was modified" in young.skip_message and "settle time 30s" in young.skip_message

    with growing.open("a", encoding="utf-8") as handle:
        handle.write("91,910\n")
    grew = ticker.tick()
    assert "orders_9.csv changed size or mtime since the last tick" in grew.skip_message

    stamp = time.time_ns() - HOUR_NS
    os.utime(growing, ns=(stamp, stamp))
    assert "orders_9.csv changed size or mtime since the last tick" in ticker.tick().skip_message
    settled = ticker.requested(ticker.tick())
    assert settled["drop.orders"].tags["aietl/files"] == "orders_9.csv"


def test_each_version_has_one_run_key_even_when_the_cursor_is_lost(landing: Path) -> None:
    ticker = Ticker(landing)
    ticker.tick()
    before = ticker.requested(ticker.tick())["drop.orders"].run_key
    ticker.cursor = None
    ticker.tick()
    again = ticker.requested(ticker.tick())["drop.orders"].run_key
    assert again == before


def test_a_missing_file_is_named_and_the_other_tables_go_on(landing: Path) -> None:
    ticker = Ticker(landing)
    (landing / "customers.csv").unlink()
    ticker.tick()
    result = ticker.tick()
    assert set(ticker.requested(result)) == {"drop.orders"}
    ticker.tick()
    quiet = ticker.tick()
    assert "customers: cannot list its files" in quiet.skip_message
    assert "customers.csv" in quiet.skip_message


def test_a_missing_directory_is_a_skip_naming_it(landing: Path) -> None:
    ticker = Ticker(landing)
    for path in landing.iterdir():
        path.unlink()
    landing.rmdir()
    result = ticker.tick()
    assert not result.run_requests
    assert f"directory not found: {landing}" in result.skip_message


def test_the_cursor_stays_bounded_with_many_files(landing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_sensors, "MAX_TRACKED_FILES", 3)
    for number in range(3, 10):
        write(landing / f"orders_{number}.csv", orders_csv(number), age_ns=HOUR_NS - number * 10**9)
    ticker = Ticker(landing)
    assert "waiting for 9 file(s) to settle" in ticker.tick().skip_message
    assert len(json.loads(ticker.cursor)["orders"]["seen"]) == 3
    assert "drop.orders" in ticker.requested(ticker.tick())
    state = json.loads(ticker.cursor)["orders"]
    assert len(state["loaded"]) == 3 and state["floor"] > 0
    assert "orders: no new or changed file" in ticker.tick().skip_message

    write(landing / "orders_1.csv", orders_csv(1, 2, 3), age_ns=300 * 10**9)  # untracked, now newer than the floor
    ticker.tick()
    assert ticker.requested(ticker.tick())["drop.orders"].tags["aietl/files"] == "orders_1.csv"


def test_requested_runs_land_every_file_of_the_table_once(landing: Path, pg_dsn: str) -> None:
    ticker = Ticker(landing, PostgresResource.from_dsn(pg_dsn))

    def landed_ids() -> list[int]:
        with psycopg.connect(pg_dsn) as connection:
            return [row[0] for row in connection.execute("SELECT id FROM raw_drop.orders ORDER BY id")]

    ticker.tick()
    assert ticker.run(ticker.requested(ticker.tick())["drop.orders"])
    assert landed_ids() == [1, 2, 3]
    write(landing / "orders_3.csv", orders_csv(4, 5))
    ticker.tick()
    assert ticker.run(ticker.requested(ticker.tick())["drop.orders"])
    assert landed_ids() == [1, 2, 3, 4, 5]
    assert "orders: no new or changed file" in ticker.tick().skip_message
    assert json.loads(ticker.cursor)["orders"]["key"] == ""


def test_a_failed_load_is_requested_again_up_to_three_runs(landing: Path) -> None:
    ticker = Ticker(landing, PostgresResource(port=1, database="unreachable", connect_timeout_s=1))
    ticker.tick()
    first = ticker.requested(ticker.tick())["drop.orders"]
    assert not ticker.run(first)

    second = ticker.requested(ticker.tick())["drop.orders"]
    assert second.run_key == first.run_key + "#2" and second.tags["aietl/attempt"] == "2"
    assert not ticker.run(second)
    third = ticker.requested(ticker.tick())["drop.orders"]
    assert third.run_key == first.run_key + "#3"
    assert not ticker.run(third)

    given_up = ticker.tick()
    assert not given_up.run_requests
    assert "orders: no new or changed file; the last 3 load(s) of these files failed (run " in given_up.skip_message
