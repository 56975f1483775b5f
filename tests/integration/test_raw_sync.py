"""Database sync (issue 14) against a real PostgreSQL: the binary COPY pass-through and its bad inputs."""

from dataclasses import replace

import psycopg
import pytest

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.raw.load import LoadError, load_table
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource

pytestmark = pytest.mark.integration

EVERY_TYPE = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE every_type (
    id bigint PRIMARY KEY, tags text[], scores integer[], doc json, docb jsonb, amount numeric, exact numeric(10,2),
    span interval, period int4range, stamp_range tstzrange, feeling mood, count positive, blob bytea, price money,
    at timestamp, at_tz timestamptz, day date, flag boolean, ip inet, uid uuid, updated_at timestamptz);
INSERT INTO every_type VALUES
 (1, '{a,"b c"}', '{1,2}', '{"k": [1, 2]}', '{"k": null}', 12345678901234567890.123456789012345, 12.34,
  '1 day 02:03:04', '[1,10)', '[2026-01-01,2026-02-01)', 'happy', 7, '\\xdeadbeef', 12.5,
  'infinity', '-infinity', '2026-03-01', true, '10.0.0.1', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '2026-01-01T00:00:00Z'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  '2026-01-02T00:00:00Z');
"""


def execute(dsn: str, statement: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def source_table(source: PostgresResource, name: str, mode: str = "merge", key: list[str] | None = None
                 ) -> SourceTable:
    schema = source.discover_table(name)
    if key is not None:
        schema = replace(schema, primary_key=key)
    sync = SyncSettings(mode="full") if mode == "full" else SyncSettings(mode=mode, cursor="updated_at")
    return SourceTable(kind="postgres", schema=schema, sync=sync, batch_size=1000, semantic_search=False,
                       text_columns=(), checks=CheckSettings(), target="warehouse")


@pytest.fixture
def resources(pg_dsn):
    source = PostgresResource.from_dsn(pg_dsn, source_name="src")
    warehouse = PostgresResource.from_dsn(pg_dsn)
    return source, warehouse, MetadataResource(postgres=warehouse)


@pytest.mark.parametrize("mode", ["full", "incremental", "merge"])
def test_every_postgresql_type_lands_as_is_in_every_mode_and_a_rerun_adds_nothing(pg_dsn, resources, mode):
    source, warehouse, metadata = resources
    execute(pg_dsn, EVERY_TYPE)
    table = source_table(source, "every_type", mode)
    for _ in range(2):
        outcome = load_table(table, source, warehouse, metadata)
        assert outcome.status == "success"
    assert outcome.watermark_to == (None if mode == "full" else "2026-01-02T00:00:00+00:00")
    rows = execute(pg_dsn, "SELECT tags, scores, docb, amount::text, exact, span, period, feeling, count, blob, "
                           "price, at::text, at_tz::text, uid::text FROM raw_src.every_type ORDER BY id")
    assert len(rows) == 2
    tags, scores, docb, amount, exact, span, period, feeling, count, blob, price, at, at_tz, uid = rows[0]
    assert (tags, scores, docb) == (["a", "b c"], [1, 2], {"k": None})
    assert amount == "12345678901234567890.1234567890" and str(exact) == "12.34"
    assert (span, period, feeling, count, blob) == ("1 day 02:03:04", "[1,10)", "happy", 7, b"\xde\xad\xbe\xef")
    assert price.startswith("$12.50") and (at, at_tz) == ("infinity", "-infinity")
    assert uid == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert rows[1][0] is None


def test_an_increment_lands_only_changed_rows_through_one_merge(pg_dsn, resources):
    source, warehouse, metadata = resources
    execute(pg_dsn, "CREATE TABLE orders (id bigint PRIMARY KEY, qty int, updated_at timestamptz NOT NULL); "
                    "INSERT INTO orders SELECT g, g, '2026-01-01'::timestamptz + g * interval '1 s' "
                    "FROM generate_series(1, 5000) g")
    table = source_table(source, "orders")
    assert load_table(table, source, warehouse, metadata).rows_written == 5000
    execute(pg_dsn, "UPDATE orders SET qty = -qty, updated_at = '2027-01-01' WHERE id % 10 = 0")
    outcome = load_table(table, source, warehouse, metadata)
    assert (outcome.rows_read, outcome.watermark_to) == (500, "2027-01-01T00:00:00+00:00")
    assert execute(pg_dsn, "SELECT count(*), count(*) FILTER (WHERE qty < 0) FROM raw_src.orders") == [(5000, 500)]


def test_a_table_dropped_or_renamed_after_discovery_is_named_and_nothing_lands(pg_dsn, resources):
    source, warehouse, metadata = resources
    execute(pg_dsn, "CREATE TABLE gone (id int PRIMARY KEY, updated_at timestamptz); INSERT INTO gone VALUES (1, now())")
    table = source_table(source, "gone")
    execute(pg_dsn, "ALTER TABLE gone RENAME TO moved")
    with pytest.raises(LoadError, match=r"src\.gone: the table is no longer in the source \(dropped or renamed"):
        load_table(table, source, warehouse, metadata)
    assert metadata.ingestion_history("src", "gone")[0]["status"] == "failed"
    live = source.discover_table("moved")
    execute(pg_dsn, "DROP TABLE moved")
    with pytest.raises(ValueError, match=r"table public\.moved no longer exists \(dropped or renamed"):
        list(source.read_binary(live, None, {"id": "integer"}))


def test_rows_with_a_null_merge_key_are_quarantined_with_the_reason_and_the_rest_land_once(pg_dsn, resources):
    source, warehouse, metadata = resources
    execute(pg_dsn, "CREATE TABLE loose (code text, note text, updated_at timestamptz); INSERT INTO loose VALUES "
                    "('a', 'one', '2026-01-01'), (NULL, 'orphan', '2026-01-02'), ('b', 'two', '2026-01-03')")
    table = source_table(source, "loose", key=["code"])
    first = load_table(table, source, warehouse, metadata)
    assert (first.rows_written, first.rows_quarantined) == (2, 1)
    again = load_table(table, source, warehouse, metadata)
    assert (again.rows_read, again.rows_quarantined) == (1, 0)
    assert execute(pg_dsn, "SELECT code FROM raw_src.loose ORDER BY code") == [("a",), ("b",)]
    [(reason, raw)] = execute(pg_dsn, "SELECT reason, raw FROM raw_src._quarantine")
    assert "merge key column(s) ['code'] are NULL" in reason and "orphan" in raw


def test_max_cursors_answers_a_thousand_tables_in_one_query_and_names_the_unreadable_one(pg_dsn):
    execute(pg_dsn, "CREATE SCHEMA many; DO $$ BEGIN FOR i IN 1..1000 LOOP EXECUTE format("
                    "'CREATE TABLE many.%I (id int, updated_at timestamptz); INSERT INTO many.%I VALUES (1, %L)', "
                    "'t' || i, 't' || i, '2026-01-01'::timestamptz + i * interval '1 day'); END LOOP; END $$")
    source = PostgresResource.from_dsn(pg_dsn, source_name="many", schema_name="many")
    tables = [replace(t, cursor_column="updated_at") for t in source.discover()]
    assert len(tables) == 1000
    values = source.max_cursors(tables)
    assert values["t1"] == "2026-01-02 00:00:00+00"
    execute(pg_dsn, "DROP TABLE many.t500")
    values = source.max_cursors(tables)
    assert isinstance(values["t500"], ValueError) and "many.t500" in str(values["t500"])
    assert len([v for v in values.values() if isinstance(v, str)]) == 999
