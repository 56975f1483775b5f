"""ClickHouseResource as a source and as a destination, with the same test bodies on three backends: the embedded
chdb engine (in process), ClickHouse's HTTP interface served over chdb by tests/support/chdb_http.py (the path a
server takes: HTTP, ArrowStream, Arrow inserts, bound parameters), and a real ClickHouse server when CLICKHOUSE_URL
is set (plus CLICKHOUSE_USER / CLICKHOUSE_PASSWORD)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from resources.clickhouse import ClickHouseQueryError, ClickHouseResource
from resources.protocol import Period, SourceUnavailableError, WriteMode
from resources.schema import Column, QuarantinedRecord, TableSchema
from tests.support.sample_warehouse import ChdbHttpFront

pytestmark = pytest.mark.integration

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def chdb_http_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chdb HTTP front as a child process on a free port (one engine for the module; databases per test)."""
    front = ChdbHttpFront(tmp_path_factory.mktemp("chdb_http") / "data").start()
    try:
        yield f"http://127.0.0.1:{front.port}"
    finally:
        front.stop()


@pytest.fixture(params=["chdb", "chdb-http", "server"])
def clickhouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClickHouseResource]:
    """A resource on a fresh database of the backend under test; the database is dropped afterwards."""
    database = f"src_{uuid.uuid4().hex[:10]}"
    if request.param == "chdb-http":
        resource = ClickHouseResource(url=request.getfixturevalue("chdb_http_url"), database=database,
                                      source_name="analytics", compress=False, connect_timeout_s=5)
    elif request.param == "server":
        url = os.environ.get("CLICKHOUSE_URL")
        if not url:
            pytest.skip("CLICKHOUSE_URL not set: no ClickHouse server is configured (the chdb run covers the engine)")
        resource = ClickHouseResource(url=url, user=os.environ.get("CLICKHOUSE_USER", "default"),
                                      password=os.environ.get("CLICKHOUSE_PASSWORD", ""), database=database,
                                      source_name="analytics",
                                      verify_tls=os.environ.get("CLICKHOUSE_VERIFY", "1") == "1")
    else:
        resource = ClickHouseResource(chdb_path=str(tmp_path / "chdb"), database=database, source_name="analytics")
    resource.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    yield resource
    for name in (database, f"raw_{database}"):
        resource.execute(f"DROP DATABASE IF EXISTS {name} SYNC")


def sql(resource: ClickHouseResource, statement: str) -> None:
    resource.execute(statement.replace("DB.", f"{resource.database}."))


def rows(resource: ClickHouseResource, query: str) -> list[dict]:
    return resource.query_arrow(query.replace("DB.", f"{resource.database}.")).to_pylist()


def schema_of(resource: ClickHouseResource, name: str, cursor: str | None = None) -> TableSchema:
    table = next(t for t in resource.discover() if t.name == name)
    return replace(table, cursor_column=cursor)


def read_all(resource: ClickHouseResource, table: TableSchema, since=None, **kwargs) -> pa.Table:
    return pa.Table.from_batches(list(resource.read(table, since=since, **kwargs)), schema=table.arrow_schema())


def seed_versions(resource: ClickHouseResource) -> None:
    """Three inserts (three parts, so nothing is merged yet) with older and newer versions of the same keys."""
    sql(resource, "CREATE TABLE DB.sessions (day Date, store_id UInt32, sessions UInt64, "
                  "updated_at DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (day, store_id)")
    for version, sessions in ((1, 10), (3, 30), (2, 20)):
        sql(resource, f"INSERT INTO DB.sessions SELECT toDate('2026-01-01') + number, 1, {sessions}, "
                      f"toDateTime64('2026-01-0{version} 00:00:00', 3, 'UTC') FROM numbers(5)")


# --------------------------------------------------------------------------------------------------------------
# source
# --------------------------------------------------------------------------------------------------------------

def test_discover_maps_types_keys_cursors_and_skips_views(clickhouse: ClickHouseResource) -> None:
    sql(clickhouse, """CREATE TABLE DB.events (
        id UInt64, small Int8, amount Decimal(12, 2), ratio Nullable(Float32), name LowCardinality(String),
        code FixedString(3), day Date, at DateTime, at_tz DateTime64(3, 'Europe/Berlin'), uid UUID,
        tags Array(String), attrs Map(String, String), flag Bool, kind Enum8('a' = 1, 'b' = 2), ip IPv4,
        version UInt32) ENGINE = ReplacingMergeTree(version) ORDER BY (id)""")
    sql(clickhouse, "CREATE TABLE DB.log (message String, at DateTime) ENGINE = MergeTree ORDER BY at")
    sql(clickhouse, "CREATE MATERIALIZED VIEW DB.log_count ENGINE = SummingMergeTree ORDER BY at "
                    "AS SELECT at, count() AS n FROM DB.log GROUP BY at")
    sql(clickhouse, "INSERT INTO DB.log VALUES ('a', now()), ('b', now())")

    tables = {t.name: t for t in clickhouse.discover()}

    assert "log_count" not in tables and not any(name.startswith(".inner") for name in tables)
    events = tables["events"]
    logical = {c.name: c.logical_type for c in events.columns}
    assert logical == {
        "id": "int64", "small": "int16", "amount": "decimal(12,2)", "ratio": "float32", "name": "string",
        "code": "string", "day": "date", "at": "timestamp", "at_tz": "timestamptz", "uid": "uuid", "tags": "json",
        "attrs": "json", "flag": "bool", "kind": "string", "ip": "string", "version": "int64",
    }
    assert events.column("ratio").nullable and not events.column("id").nullable
    assert events.column("at_tz").source_type == "DateTime64(3, 'Europe/Berlin')"
    assert events.primary_key == ["id"]
    assert events.cursor_candidates[0] == "version" and {"at", "at_tz", "day"} <= set(events.cursor_candidates)
    assert events.namespace == clickhouse.database and events.source == "analytics"
    assert tables["log"].primary_key == [], "a plain MergeTree's sorting key is not unique"
    assert tables["log"].row_estimate == 2


def test_table_columns_and_size_read_the_catalog(clickhouse: ClickHouseResource) -> None:
    sql(clickhouse, "CREATE TABLE DB.`odd name` (id UInt64, label LowCardinality(Nullable(String)), "
                    "at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY id")
    sql(clickhouse, "INSERT INTO DB.`odd name` SELECT number, toString(number), now() FROM numbers(100)")

    assert clickhouse.table_columns(clickhouse.database, "odd name") == [
        ("id", "UInt64"), ("label", "LowCardinality(Nullable(String))"), ("at", "DateTime64(3, 'UTC')")]
    size = clickhouse.table_size_bytes(clickhouse.database, "odd name")
    assert isinstance(size, int) and size > 0
    assert clickhouse.table_columns(clickhouse.database, "missing") == []
    assert clickhouse.table_size_bytes(clickhouse.database, "missing") is None
    assert clickhouse.table_size_bytes("no_such_database", "odd name") is None
    assert clickhouse.row_count(clickhouse.database, "odd name") == 100
    assert clickhouse.row_count(clickhouse.database, "missing") is None


def test_read_replacing_table_is_deduplicated_with_final(clickhouse: ClickHouseResource) -> None:
    seed_versions(clickhouse)
    assert rows(clickhouse, "SELECT count() AS n FROM DB.sessions")[0]["n"] == 15

    table = read_all(clickhouse, schema_of(clickhouse, "sessions"))

    assert table.num_rows == 5
    assert set(table.column("sessions").to_pylist()) == {30}
    assert set(table.column("updated_at").to_pylist()) == {dt.datetime(2026, 1, 3, tzinfo=UTC)}


def test_read_streams_batches_of_the_table_schema(clickhouse: ClickHouseResource) -> None:
    sql(clickhouse, "CREATE TABLE DB.big (id UInt64, label String, at DateTime) ENGINE = MergeTree ORDER BY id")
    sql(clickhouse, "INSERT INTO DB.big SELECT number, toString(number), toDateTime('2026-01-01 00:00:00') + number "
                    "FROM numbers(200000)")
    table = schema_of(clickhouse, "big")

    batches = list(clickhouse.read(table))

    assert len(batches) > 1
    assert all(batch.schema == table.arrow_schema() for batch in batches)
    assert sum(batch.num_rows for batch in batches) == 200_000
    ids = pa.chunked_array([b.column("id") for b in batches])
    assert pa.compute.sum(ids).as_py() == sum(range(200_000))


def test_read_converts_every_type_to_its_logical_arrow_type(clickhouse: ClickHouseResource) -> None:
    sql(clickhouse, """CREATE TABLE DB.typed (id Int32, amount Decimal(12, 2), naive DateTime,
        aware DateTime('Asia/Tokyo'), precise DateTime64(6), uid UUID, tags Array(Nullable(Int32)),
        attrs Map(String, Int32), pair Tuple(a Int32, b String), kind Enum8('red' = 1, 'blue' = 2), ip IPv4,
        code FixedString(2), maybe Nullable(String), day Date32, flag Bool, huge Int128)
        ENGINE = MergeTree ORDER BY id""")
    sql(clickhouse, """INSERT INTO DB.typed VALUES (1, 12.5, '2026-03-04 05:06:07', '2026-03-04 05:06:07',
        '2026-03-04 05:06:07.123456', '0f0e0d0c-0b0a-0908-0706-050403020100', [1, NULL], {'k': 2}, (3, 'x'),
        'blue', '10.0.0.1', 'ab', NULL, '1900-01-02', true, 170141183460469231731687303715884105727)""")

    [row] = read_all(clickhouse, schema_of(clickhouse, "typed")).to_pylist()

    assert row == {
        "id": 1, "amount": Decimal("12.50"), "naive": dt.datetime(2026, 3, 4, 5, 6, 7),
        "aware": dt.datetime(2026, 3, 3, 20, 6, 7, tzinfo=UTC),
        "precise": dt.datetime(2026, 3, 4, 5, 6, 7, 123456), "uid": "0f0e0d0c-0b0a-0908-0706-050403020100",
        "tags": "[1,null]", "attrs": '{"k":2}', "pair": '{"a":3,"b":"x"}', "kind": "blue", "ip": "10.0.0.1",
        "code": "ab", "maybe": None, "day": dt.date(1900, 1, 2), "flag": True,
        "huge": "170141183460469231731687303715884105727",
    }


def test_incremental_read_by_cursor_and_max_cursor(clickhouse: ClickHouseResource) -> None:
    seed_versions(clickhouse)
    sql(clickhouse, "CREATE TABLE DB.naive (id UInt32, at DateTime) ENGINE = MergeTree ORDER BY id")
    sql(clickhouse, "INSERT INTO DB.naive SELECT number, toDateTime('2026-01-01 00:00:00') + number * 60 "
                    "FROM numbers(10)")
    aware = schema_of(clickhouse, "sessions", cursor="updated_at")
    naive = schema_of(clickhouse, "naive", cursor="at")
    by_id = schema_of(clickhouse, "naive", cursor="id")

    assert clickhouse.max_cursor(aware) == dt.datetime(2026, 1, 3, tzinfo=UTC)
    assert clickhouse.max_cursor(naive) == dt.datetime(2026, 1, 1, 0, 9)
    assert clickhouse.max_cursor(by_id) == 9
    assert read_all(clickhouse, aware, since=dt.datetime(2026, 1, 3, tzinfo=UTC)).num_rows == 5
    assert read_all(clickhouse, aware, since=dt.datetime(2026, 1, 3, 0, 0, 0, 1, tzinfo=UTC)).num_rows == 0
    late = read_all(clickhouse, naive, since=dt.datetime(2026, 1, 1, 0, 7))
    assert late.column("id").to_pylist() == [7, 8, 9]
    assert read_all(clickhouse, by_id, since=8).column("id").to_pylist() == [8, 9]


def test_a_period_read_returns_exactly_the_rows_of_that_time_partition(clickhouse: ClickHouseResource) -> None:
    sql(clickhouse, "CREATE TABLE DB.visits (id UInt32, at DateTime64(3, 'UTC'), naive DateTime, day Date) "
                    "ENGINE = MergeTree ORDER BY id")
    sql(clickhouse, "INSERT INTO DB.visits SELECT number, toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + "
                    "number * 21600, toDateTime('2026-01-01 00:00:00', 'UTC') + number * 21600, "
                    "toDate('2026-01-01') + intDiv(number, 4) FROM numbers(12)")
    visits = schema_of(clickhouse, "visits")
    day = dt.datetime(2026, 1, 2, tzinfo=UTC), dt.datetime(2026, 1, 3, tzinfo=UTC)
    assert read_all(clickhouse, visits, period=Period("at", *day)).column("id").to_pylist() == [4, 5, 6, 7]
    naive = Period("naive", *(bound.replace(tzinfo=None) for bound in day))
    assert read_all(clickhouse, visits, period=naive).column("id").to_pylist() == [4, 5, 6, 7]
    dates = Period("day", dt.date(2026, 1, 3), dt.date(2026, 2, 1))
    assert read_all(clickhouse, visits, period=dates).column("id").to_pylist() == [8, 9, 10, 11]


def test_max_cursor_of_an_empty_table_is_none(clickhouse: ClickHouseResource) -> None:
    sql(clickhouse, "CREATE TABLE DB.empty (id UInt32, at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY id")
    assert clickhouse.max_cursor(schema_of(clickhouse, "empty", cursor="at")) is None


def test_value_out_of_range_is_quarantined_or_named(clickhouse: ClickHouseResource) -> None:
    sql(clickhouse, "CREATE TABLE DB.counters (id UInt32, hits UInt64) ENGINE = MergeTree ORDER BY id")
    sql(clickhouse, "INSERT INTO DB.counters VALUES (1, 5), (2, 18446744073709551615), (3, 7)")
    table = schema_of(clickhouse, "counters")

    with pytest.raises(ValueError, match=r"analytics\.counters: row 1: column 'hits' \(uint64\): value does not fit"):
        read_all(clickhouse, table)

    quarantined: list[QuarantinedRecord] = []
    landed = read_all(clickhouse, table, on_bad_record=quarantined.append)
    assert landed.column("id").to_pylist() == [1, 3]
    assert [(q.table, q.location) for q in quarantined] == [("counters", "row 1")]
    assert "18446744073709551615" in quarantined[0].raw and "hits" in quarantined[0].reason


def test_missing_table_is_a_clear_error(clickhouse: ClickHouseResource) -> None:
    ghost = TableSchema(source="analytics", name="ghost", columns=[Column("id", "int64")],
                        namespace=clickhouse.database)
    with pytest.raises(ClickHouseQueryError, match="ghost does not exist"):
        list(clickhouse.read(ghost))


def test_discovering_a_missing_database_is_a_clear_error(clickhouse: ClickHouseResource) -> None:
    missing = clickhouse.model_copy(update={"database": "no_such_db"})
    with pytest.raises(ClickHouseQueryError, match="database 'no_such_db' does not exist"):
        missing.discover()


def test_sample_clickhouse_source_is_discovered(clickhouse: ClickHouseResource, sample_dir: Path) -> None:
    script = (sample_dir / "clickhouse.sql").read_text().replace("analytics", clickhouse.database)
    for statement in script.split(";"):
        code = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--")).strip()
        if code:
            clickhouse.execute(code)

    [daily] = clickhouse.discover()

    assert daily.name == "daily_sessions" and daily.primary_key == ["day", "store_id"]
    assert daily.cursor_candidates[0] == "updated_at" and daily.row_estimate == 2400
    assert read_all(clickhouse, daily).num_rows == 2400


# --------------------------------------------------------------------------------------------------------------
# destination
# --------------------------------------------------------------------------------------------------------------

ORDERS = TableSchema(
    source="shop", name="orders",
    columns=[Column("id", "int64", nullable=False), Column("status", "string"), Column("amount", "decimal(10,2)"),
             Column("placed_at", "timestamptz"), Column("note", "json"), Column("ref", "uuid"),
             Column("opened", "time"), Column("day", "date"), Column("local", "timestamp")],
    primary_key=["id"],
)


def orders(ids: range, status: str) -> pa.RecordBatch:
    count = len(ids)
    return pa.RecordBatch.from_pydict({
        "id": list(ids), "status": [status] * count, "amount": [Decimal("1.50")] * count,
        "placed_at": [dt.datetime(2026, 1, 1, 12, tzinfo=UTC)] * count, "note": ['{"a": 1}'] * count,
        "ref": [str(uuid.UUID(int=i)) for i in ids], "opened": [dt.time(9, 30)] * count,
        "day": [dt.date(2026, 1, 1)] * count, "local": [dt.datetime(2026, 1, 1, 8, 0)] * count,
    }, schema=ORDERS.arrow_schema())


def warehouse_rows(resource: ClickHouseResource, table: str = "orders", final: bool = False) -> list[dict]:
    namespace = f"raw_{resource.database}"
    return resource.query_arrow(f"SELECT * FROM {namespace}.{table}{' FINAL' if final else ''} ORDER BY id").to_pylist()


def test_replace_is_repeatable_and_swaps_the_whole_table(clickhouse: ClickHouseResource) -> None:
    namespace = f"raw_{clickhouse.database}"

    first = clickhouse.write(namespace, ORDERS, iter([orders(range(0, 50), "new"), orders(range(50, 100), "new")]),
                             WriteMode.REPLACE)
    again = clickhouse.write(namespace, ORDERS, iter([orders(range(0, 100), "new")]), WriteMode.REPLACE)
    smaller = clickhouse.write(namespace, ORDERS, iter([orders(range(0, 10), "paid")]), WriteMode.REPLACE)

    assert (first.rows_written, again.rows_written, smaller.rows_written) == (100, 100, 10)
    landed = warehouse_rows(clickhouse)
    assert len(landed) == 10 and {r["status"] for r in landed} == {"paid"}
    assert landed[3] == {
        "id": 3, "status": "paid", "amount": Decimal("1.50"), "placed_at": dt.datetime(2026, 1, 1, 12, tzinfo=UTC),
        "note": '{"a": 1}', "ref": uuid.UUID(int=3), "opened": "09:30:00.000000", "day": dt.date(2026, 1, 1),
        "local": landed[3]["local"],
    }
    assert landed[3]["local"].replace(tzinfo=None) == dt.datetime(2026, 1, 1, 8, 0)
    leftovers = clickhouse.query_arrow(f"SELECT name FROM system.tables WHERE database = '{namespace}'")
    assert leftovers.column("name").to_pylist() == ["orders"]


def test_failed_replace_keeps_the_old_table(clickhouse: ClickHouseResource) -> None:
    namespace = f"raw_{clickhouse.database}"
    clickhouse.write(namespace, ORDERS, iter([orders(range(0, 20), "old")]), WriteMode.REPLACE)

    def broken_source() -> Iterator[pa.RecordBatch]:
        yield orders(range(0, 5), "new")
        raise ConnectionError("source went away")

    with pytest.raises(ConnectionError):
        clickhouse.write(namespace, ORDERS, broken_source(), WriteMode.REPLACE)

    assert [r["status"] for r in warehouse_rows(clickhouse)] == ["old"] * 20
    names = clickhouse.query_arrow(f"SELECT name FROM system.tables WHERE database = '{namespace}'")
    assert names.column("name").to_pylist() == ["orders"]


def test_append_adds_rows_and_a_failed_append_adds_none(clickhouse: ClickHouseResource) -> None:
    namespace = f"raw_{clickhouse.database}"
    log = replace(ORDERS, name="order_log", primary_key=[])
    clickhouse.write(namespace, log, iter([orders(range(0, 30), "a")]), WriteMode.APPEND)
    clickhouse.write(namespace, log, iter([orders(range(30, 40), "b")]), WriteMode.APPEND)

    def broken_source() -> Iterator[pa.RecordBatch]:
        yield orders(range(40, 45), "c")
        raise ConnectionError("source went away")

    with pytest.raises(ConnectionError):
        clickhouse.write(namespace, log, broken_source(), WriteMode.APPEND)

    landed = warehouse_rows(clickhouse, "order_log")
    assert [r["id"] for r in landed] == list(range(40))
    engine = clickhouse.query_arrow(f"SELECT engine FROM system.tables WHERE database = '{namespace}'")
    assert engine.column("engine").to_pylist() == ["MergeTree"], "no staging table is left behind"


def test_merge_upserts_on_the_primary_key_and_reruns_do_not_duplicate(clickhouse: ClickHouseResource) -> None:
    namespace = f"raw_{clickhouse.database}"
    clickhouse.write(namespace, ORDERS, iter([orders(range(0, 10), "new")]), WriteMode.MERGE)
    changes = [orders(range(5, 15), "paid")]

    clickhouse.write(namespace, ORDERS, iter(changes), WriteMode.MERGE)
    result = clickhouse.write(namespace, ORDERS, iter(changes), WriteMode.MERGE)

    assert result.rows_written == 10
    landed = warehouse_rows(clickhouse, final=True)
    assert [r["id"] for r in landed] == list(range(15))
    assert [r["status"] for r in landed] == ["new"] * 5 + ["paid"] * 10


def test_merge_needs_a_primary_key(clickhouse: ClickHouseResource) -> None:
    with pytest.raises(ValueError, match="needs a primary key"):
        clickhouse.write(f"raw_{clickhouse.database}", replace(ORDERS, primary_key=[]),
                         iter([orders(range(3), "x")]), WriteMode.MERGE)


def test_new_columns_are_added_and_reported(clickhouse: ClickHouseResource) -> None:
    namespace = f"raw_{clickhouse.database}"
    assert clickhouse.ensure_table(namespace, ORDERS) == []
    wider = replace(ORDERS, columns=[*ORDERS.columns, Column("channel", "string"), Column("score", "float64")])
    batch = orders(range(0, 3), "new")
    wide_batch = pa.RecordBatch.from_arrays(
        [*batch.columns, pa.array(["web"] * 3), pa.array([0.5] * 3)], schema=wider.arrow_schema())

    result = clickhouse.write(namespace, wider, iter([wide_batch]), WriteMode.MERGE)

    assert result.added_columns == ["channel", "score"]
    assert clickhouse.ensure_table(namespace, wider) == []
    assert {r["channel"] for r in warehouse_rows(clickhouse, final=True)} == {"web"}


def test_replace_with_a_new_column_reports_it(clickhouse: ClickHouseResource) -> None:
    namespace = f"raw_{clickhouse.database}"
    clickhouse.write(namespace, ORDERS, iter([orders(range(0, 3), "new")]), WriteMode.REPLACE)
    wider = replace(ORDERS, columns=[*ORDERS.columns, Column("channel", "string")])
    batch = orders(range(0, 3), "new")
    wide_batch = pa.RecordBatch.from_arrays([*batch.columns, pa.array(["app"] * 3)], schema=wider.arrow_schema())

    result = clickhouse.write(namespace, wider, iter([wide_batch]), WriteMode.REPLACE)

    assert result.added_columns == ["channel"]
    assert {r["channel"] for r in warehouse_rows(clickhouse)} == {"app"}


def test_round_trip_source_to_warehouse(clickhouse: ClickHouseResource) -> None:
    seed_versions(clickhouse)
    table = schema_of(clickhouse, "sessions", cursor="updated_at")
    namespace = f"raw_{clickhouse.database}"

    result = clickhouse.write(namespace, table, clickhouse.read(table), WriteMode.MERGE)

    assert result.rows_written == 5
    landed = clickhouse.query_arrow(f"SELECT sessions FROM {namespace}.sessions FINAL").column("sessions")
    assert set(landed.to_pylist()) == {30}


def test_resources_work_inside_a_dagster_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Source and warehouse as Dagster resources (the password comes from an EnvVar) in a real materialization."""
    monkeypatch.setenv("AIETL_TEST_CH_PASSWORD", "not-used-by-chdb")
    path = str(tmp_path / "chdb")
    source = ClickHouseResource(chdb_path=path, database="analytics", source_name="analytics",
                                password=dg.EnvVar("AIETL_TEST_CH_PASSWORD"))
    seeding = ClickHouseResource(chdb_path=path, database="analytics")
    seeding.execute("CREATE DATABASE analytics")
    seed_versions(seeding)

    @dg.asset(key=["raw", "analytics", "sessions"], required_resource_keys={"source_analytics", "warehouse"},
              kinds={"clickhouse"})
    def raw_sessions(context):  # noqa: ANN001 - Dagster reads the annotation; string annotations are refused
        connector = getattr(context.resources, "source_analytics")
        table = next(t for t in connector.discover() if t.name == "sessions")
        result = context.resources.warehouse.write("raw_analytics", table, connector.read(table), WriteMode.MERGE)
        return dg.MaterializeResult(metadata={"rows": result.rows_written})

    outcome = dg.materialize([raw_sessions], resources={
        "source_analytics": source, "warehouse": ClickHouseResource(chdb_path=path)})

    assert outcome.success
    [materialization] = outcome.asset_materializations_for_node("raw__analytics__sessions")
    assert materialization.metadata["rows"].value == 5
    assert "not-used-by-chdb" not in str(materialization.metadata)
    landed = seeding.query_arrow("SELECT count() AS n FROM raw_analytics.sessions FINAL").to_pylist()
    assert landed == [{"n": 5}]


def test_close_releases_the_chdb_data_path(tmp_path: Path) -> None:
    """chdb holds one data path per process while a client is open; ``close()`` lets another path open."""
    first = ClickHouseResource(chdb_path=str(tmp_path / "first"))
    second = ClickHouseResource(chdb_path=str(tmp_path / "second"), source_name="other")
    held = first.client()
    held.command("SELECT 1")

    with pytest.raises(SourceUnavailableError, match=r"ClickHouse source 'other': cannot connect to chdb:.*second"):
        second.discover()
    first.close()

    assert second.discover() == []
