"""PostgresResource against a real PostgreSQL: discovery, streaming reads, and the three write modes."""

import threading

import psycopg
import pyarrow as pa
import pytest

from resources.embedded.kafka import free_port
from resources.postgres import PostgresResource, SchemaConflictError
from resources.protocol import (
    Destination,
    SourceConnector,
    SourceUnavailableError,
    WriteMode,
)
from resources.schema import Column, TableSchema

pytestmark = pytest.mark.integration

ALL_TYPES = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE everything (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    small       smallint, whole integer, ratio real, amount double precision, price numeric(12,2),
    free_number numeric, flag boolean, label varchar(20), note text, payload bytea, day date, at_time time,
    local_ts    timestamp, updated_at timestamptz, doc jsonb, plain_json json, uid uuid, tags text[],
    feeling     mood, span interval
);
COMMENT ON COLUMN everything.note IS 'free text';
INSERT INTO everything (small, whole, ratio, amount, price, free_number, flag, label, note, payload, day, at_time,
                        local_ts, updated_at, doc, plain_json, uid, tags, feeling, span)
VALUES (1, 2, 1.5, 'NaN', 12.34, 1.2345678901234, true, 'a,b', E'line1\\nline2 "quoted"', '\\x00ff10', '2026-01-02',
        '12:34:56.789', '2026-01-02 03:04:05.123456', '2026-01-02 03:04:05.5+03', '{"a": [1, 2]}', '{"b": null}',
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', ARRAY['x', 'y,z'], 'happy', '1 day 2 hours'),
       (NULL, NULL, NULL, 'Infinity', NULL, NULL, false, '', '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL);
CREATE VIEW happy_things AS SELECT id, note FROM everything WHERE feeling = 'happy';
ANALYZE everything;
"""


@pytest.fixture
def db(pg_dsn: str) -> PostgresResource:
    return PostgresResource.from_dsn(pg_dsn, source_name="shop_db")


def test_the_resource_implements_both_protocols(db):
    assert isinstance(db, SourceConnector)
    assert isinstance(db, Destination)
    assert db.dialect == "postgres"


def test_discovery_reads_columns_types_keys_estimates_and_cursor_candidates(db):
    db.execute(ALL_TYPES)
    tables = {t.name: t for t in db.discover()}
    assert set(tables) == {"everything", "happy_things"}
    table = tables["everything"]
    types = {c.name: c.logical_type for c in table.columns}
    assert types == {
        "id": "int64", "small": "int16", "whole": "int32", "ratio": "float32", "amount": "float64",
        "price": "decimal(12,2)", "free_number": "decimal(38,10)", "flag": "bool", "label": "string",
        "note": "string", "payload": "binary", "day": "date", "at_time": "time", "local_ts": "timestamp",
        "updated_at": "timestamptz", "doc": "json", "plain_json": "json", "uid": "uuid", "tags": "json",
        "feeling": "string", "span": "string",
    }
    assert table.primary_key == ["id"]
    assert table.row_estimate == 2
    assert table.cursor_candidates[0] == "updated_at"
    assert "id" in table.cursor_candidates
    assert table.column("note").description == "free text"
    assert not table.column("id").nullable
    assert table.namespace == "public" and table.source == "shop_db"


def test_every_type_survives_a_round_trip_through_read_and_write(db):
    db.execute(ALL_TYPES)
    table = db.discover_table("everything")
    batches = list(db.read(table))
    assert all(batch.schema == table.arrow_schema() for batch in batches)
    result = db.write("raw_shop_db", table, batches, WriteMode.REPLACE)
    assert result.rows_written == 2
    differences = db.query_arrow("""
        SELECT count(*) AS n FROM everything s FULL JOIN raw_shop_db.everything t USING (id)
        WHERE (s.small, s.whole, s.ratio, s.amount, s.price, round(s.free_number, 10), s.flag, s.label, s.note,
               s.payload, s.day, s.at_time, s.local_ts, s.updated_at, s.doc, s.plain_json::jsonb, s.uid,
               to_jsonb(s.tags), s.feeling::text, s.span::text)
              IS DISTINCT FROM
              (t.small, t.whole, t.ratio, t.amount, t.price, t.free_number, t.flag, t.label, t.note, t.payload,
               t.day, t.at_time, t.local_ts, t.updated_at, t.doc, t.plain_json, t.uid, t.tags, t.feeling, t.span)
    """).column("n")[0].as_py()
    assert differences == 0
    landed = {t.name: t for t in PostgresResource.from_dsn(db.conninfo(), schema_name="raw_shop_db").discover()}
    assert landed["everything"].primary_key == ["id"]


def test_incremental_reads_include_the_boundary_and_null_cursors(db):
    db.execute("""CREATE TABLE events (id int PRIMARY KEY, at int);
                  INSERT INTO events VALUES (1, 10), (2, 20), (3, 20), (4, 30), (5, NULL)""")
    table = TableSchema(**{**db.discover_table("events").__dict__, "cursor_column": "at"})
    ids = sorted(row["id"] for batch in db.read(table, since=20) for row in batch.to_pylist())
    assert ids == [2, 3, 4, 5]
    assert db.max_cursor(table) == 30
    assert db.max_cursor(table, at_least=20) in (20, 30)  # a value that reaches it: no scan for the maximum
    assert db.max_cursor(table, at_least=31) == 30  # none reaches it: the maximum, below it (the cursor went back)


def test_replace_swaps_the_table_in_one_step_and_readers_never_see_half_of_it(db):
    schema = TableSchema("s", "numbers", [Column("n", "int64", False)], primary_key=["n"])
    db.write("raw_s", schema, [pa.record_batch({"n": list(range(100))})], WriteMode.REPLACE)
    seen_mid_load = []

    def new_batches():
        yield pa.record_batch({"n": list(range(1000, 1500))})
        seen_mid_load.append(db.query_arrow('SELECT count(*) AS n FROM raw_s.numbers').column("n")[0].as_py())
        yield pa.record_batch({"n": list(range(1500, 2000))})

    assert db.write("raw_s", schema, new_batches(), WriteMode.REPLACE).rows_written == 1000
    assert seen_mid_load == [100]
    assert db.query_arrow("SELECT count(*) AS n, min(n) AS low FROM raw_s.numbers").to_pylist() == [
        {"n": 1000, "low": 1000}]
    db.write("raw_s", schema, [pa.record_batch({"n": [7]})], WriteMode.REPLACE)
    assert db.query_arrow("SELECT n FROM raw_s.numbers").to_pylist() == [{"n": 7}]


def test_a_failed_replace_leaves_the_old_rows(db):
    schema = TableSchema("s", "numbers", [Column("n", "int64", False)], primary_key=["n"])
    db.write("raw_s", schema, [pa.record_batch({"n": [1, 2, 3]})], WriteMode.REPLACE)

    def broken():
        yield pa.record_batch({"n": [10, 11]})
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        db.write("raw_s", schema, broken(), WriteMode.REPLACE)
    assert db.query_arrow("SELECT array_agg(n ORDER BY n) AS n FROM raw_s.numbers").to_pylist() == [{"n": [1, 2, 3]}]
    leftovers = db.query_arrow("SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'raw_s'").column("n")
    assert leftovers[0].as_py() == 1


def test_replace_keeps_dependent_views_working(db):
    schema = TableSchema("s", "numbers", [Column("n", "int64", False)], primary_key=["n"])
    db.write("raw_s", schema, [pa.record_batch({"n": [1, 2]})], WriteMode.REPLACE)
    db.execute("CREATE VIEW raw_s.doubled AS SELECT n * 2 AS d FROM raw_s.numbers")
    db.write("raw_s", schema, [pa.record_batch({"n": [5, 6, 7]})], WriteMode.REPLACE)
    assert db.query_arrow("SELECT array_agg(d ORDER BY d) AS d FROM raw_s.doubled").to_pylist() == [
        {"d": [10, 12, 14]}]


def test_merge_upserts_on_the_key_and_the_latest_cursor_wins(db):
    schema = TableSchema("s", "orders", [Column("id", "int64", False), Column("status", "string"),
                                         Column("updated_at", "int64")], primary_key=["id"], cursor_column="updated_at")
    first = pa.record_batch({"id": [1, 2], "status": ["new", "new"], "updated_at": [1, 1]})
    db.write("raw_s", schema, [first], WriteMode.MERGE)
    again = pa.record_batch({"id": [2, 2, 3], "status": ["paid", "shipped", "new"], "updated_at": [2, 3, 3]})
    db.write("raw_s", schema, [again], WriteMode.MERGE)
    db.write("raw_s", schema, [again], WriteMode.MERGE)
    rows = db.query_arrow("SELECT id, status FROM raw_s.orders ORDER BY id").to_pylist()
    assert rows == [{"id": 1, "status": "new"}, {"id": 2, "status": "shipped"}, {"id": 3, "status": "new"}]


def test_append_without_a_key_skips_rows_already_landed_at_the_boundary(db):
    schema = TableSchema("s", "clicks", [Column("at", "int64"), Column("page", "string")], cursor_column="at")
    db.write("raw_s", schema, [pa.record_batch({"at": [1, 2, 2, None], "page": ["a", "b", "b", "n"]})],
             WriteMode.APPEND)
    reread = pa.record_batch({"at": [2, 2, 2, 3, None], "page": ["b", "b", "c", "d", "n"]})
    written = db.write("raw_s", schema, [reread], WriteMode.APPEND).rows_written
    assert written == 2
    rows = db.query_arrow("SELECT at, page, count(*) AS n FROM raw_s.clicks GROUP BY 1, 2 ORDER BY 1, 2").to_pylist()
    assert rows == [{"at": 1, "page": "a", "n": 1}, {"at": 2, "page": "b", "n": 2}, {"at": 2, "page": "c", "n": 1},
                    {"at": 3, "page": "d", "n": 1}, {"at": None, "page": "n", "n": 1}]


def test_new_columns_are_added_and_narrower_types_widened(db):
    narrow = TableSchema("s", "t", [Column("id", "int32", False)], primary_key=["id"])
    db.write("raw_s", narrow, [pa.record_batch({"id": pa.array([1], pa.int32())})], WriteMode.MERGE)
    wide = TableSchema("s", "t", [Column("id", "int64", False), Column("extra", "string")], primary_key=["id"])
    result = db.write("raw_s", wide, [pa.record_batch({"id": [2**40], "extra": ["x"]})], WriteMode.MERGE)
    assert result.added_columns == ["extra"]
    columns = db.query_arrow("""SELECT column_name, data_type FROM information_schema.columns
                                WHERE table_schema = 'raw_s' AND table_name = 't' ORDER BY ordinal_position""")
    assert columns.to_pylist() == [{"column_name": "id", "data_type": "bigint"},
                                   {"column_name": "extra", "data_type": "text"}]


def test_names_with_quotes_and_semicolons_are_just_names(db):
    name = 'a"b; DROP TABLE victims; --'
    db.execute("CREATE TABLE victims (id int)")
    db.execute(psycopg.sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, {} text)").format(
        psycopg.sql.Identifier(name), psycopg.sql.Identifier("we'ird")))
    db.execute(psycopg.sql.SQL("INSERT INTO {} VALUES (1, 'x'), (2, 'y')").format(psycopg.sql.Identifier(name)))
    table = db.discover_table(name)
    for mode in (WriteMode.REPLACE, WriteMode.MERGE, WriteMode.MERGE):
        db.write('raw_"odd;', table, db.read(table), mode)
    landed = db.query_arrow(psycopg.sql.SQL("SELECT count(*) AS n FROM {}").format(
        psycopg.sql.Identifier('raw_"odd;', name)))
    assert landed.column("n")[0].as_py() == 2
    assert db.query_arrow("SELECT count(*) AS n FROM victims").column("n")[0].as_py() == 0


def test_a_source_that_is_down_is_a_clear_error_without_the_password():
    down = PostgresResource(host="127.0.0.1", port=free_port(), database="shop", user="u",
                            password="s3cret-pw", source_name="shop_db", connect_timeout_s=2)
    with pytest.raises(SourceUnavailableError) as raised:
        down.discover()
    message = str(raised.value)
    assert "source shop_db" in message and "127.0.0.1" in message
    assert "s3cret-pw" not in message


def test_a_source_that_disappears_mid_read_is_a_clear_error(db):
    db.execute("""CREATE TABLE big AS SELECT n AS id, repeat(md5(n::text), 10) AS filler
                  FROM generate_series(1, 30000) AS n;
                  CREATE VIEW slow_big AS SELECT id, filler FROM big,
                  LATERAL (SELECT pg_sleep(CASE WHEN id % 300 = 0 THEN 0.01 ELSE 0 END)) AS throttle""")
    table = db.discover_table("slow_big")
    batches = db.read(table)
    first = next(batches)
    assert first.num_rows > 0
    killer = threading.Thread(target=db.execute, args=(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'COPY (SELECT%%'",))
    killer.start()
    killer.join()
    with pytest.raises(SourceUnavailableError, match="source shop_db .* lost while reading 'slow_big'"):
        for _ in batches:
            pass


def test_table_columns_and_size_come_from_the_catalog(db):
    db.execute(ALL_TYPES)
    columns = db.table_columns("public", "everything")
    assert columns[:3] == [("id", "bigint"), ("small", "smallint"), ("whole", "integer")]
    assert ("price", "numeric(12,2)") in columns and ("tags", "text[]") in columns
    assert [name for name, _ in db.table_columns("public", "happy_things")] == ["id", "note"]
    assert db.table_columns("public", "missing") == [] and db.table_columns("nowhere", "everything") == []
    assert db.table_size_bytes("public", "everything") > 0
    assert db.table_size_bytes("public", "missing") is None
    assert db.row_count("public", "missing") is None and db.row_count("nowhere", "everything") is None


def test_a_column_that_cannot_hold_the_incoming_type_is_a_conflict_naming_it(db):
    first = TableSchema("s", "t", [Column("id", "int64", False), Column("v", "int64")], primary_key=["id"])
    db.write("raw_s", first, [pa.record_batch({"id": [1], "v": [1]})], WriteMode.MERGE)
    changed = TableSchema("s", "t", [Column("id", "int64", False), Column("v", "timestamptz")], primary_key=["id"])
    with pytest.raises(SchemaConflictError, match=r"raw_s\.t\.v: the target column is bigint \(int64\) "
                                                  r"and cannot hold timestamptz values"):
        db.ensure_table("raw_s", changed)
