"""Stream tables in a PostgreSQL warehouse: landing a micro-batch and its offsets in one transaction, and the
per-minute aggregate recomputed for the windows that new rows touched.

Every function takes an open psycopg connection (from ``PostgresResource.connect()``) and runs its statements
inside ``connection.transaction()``; the offsets of ``aietl_meta.kafka_offsets`` live in the warehouse database
so that they commit together with the rows they cover (exactly-once landing without consumer groups).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
import pyarrow as pa
from psycopg import sql

from etl_assets.stream.parse import (
    ParsedBatch,
    QuarantinedMessage,
    coerce_to_arrow,
    infer_logical_type,
)
from resources.kafka import MicroBatch
from resources.metadata import MIGRATIONS_DIR, apply_migrations
from resources.postgres import copy_batches, copy_target_fields, ddl_type
from resources.schema import Column, TableSchema

OFFSETS_MIGRATION = MIGRATIONS_DIR / "0100_embeddings_streams.sql"
"""Creates ``aietl_meta.kafka_offsets``; applied on the warehouse too, as offsets commit with the rows they cover."""
LANDING = "stream"
PER_MINUTE = "per_minute"
COPY_CHUNK_ROWS = 16_384
"""Rows per encoded COPY chunk: the queued writer sends one chunk while the next is encoded."""
DIMENSION_COLUMN = "event_type"
QUARANTINE_TABLE = "_quarantine"

LOGICAL_TYPES = {
    "boolean": "bool", "smallint": "int64", "integer": "int64", "bigint": "int64", "double precision": "float64",
    "real": "float64", "numeric": "float64", "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamptz", "jsonb": "json", "json": "json",
}
SYSTEM_COLUMN_TYPES = {"_partition": "int64", "_offset": "int64", "_timestamp": "timestamptz"}


class ConcurrentLandingError(RuntimeError):
    """Another run landed messages of the same topic between this run's read and its write."""


def stream_namespace(source: str) -> str:
    """The warehouse schema that a Kafka source's topics land in."""
    return f"stream_{source}"


def per_minute_table(topic: str) -> str:
    return f"{topic}_per_minute"


@dataclass
class LandingResult:
    rows_written: int
    quarantined: list[QuarantinedMessage] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)


@dataclass
class WindowResult:
    windows_recomputed: int
    new_rows_seen: int
    time_column: str | None
    dimension: str | None


def ensure_offsets_table(connection: psycopg.Connection) -> None:
    """Apply the (idempotent) 0100 migration on the warehouse unless it was applied there already."""
    apply_migrations(connection, [OFFSETS_MIGRATION])


def read_offsets(connection: psycopg.Connection, source: str, topic: str, consumer: str = LANDING) -> dict[int, int]:
    """Partition -> next offset to process; empty when nothing was stored (or the table does not exist yet)."""
    with connection.transaction():
        if not connection.execute("SELECT to_regclass('aietl_meta.kafka_offsets') IS NOT NULL").fetchone()[0]:
            return {}
        rows = connection.execute(
            "SELECT partition, next_offset FROM aietl_meta.kafka_offsets "
            "WHERE source = %s AND topic = %s AND consumer = %s", (source, topic, consumer)).fetchall()
    return {partition: offset for partition, offset in rows}


def land_batch(connection: psycopg.Connection, source: str, batch: MicroBatch, parsed: ParsedBatch) -> LandingResult:
    """Write the batch's rows, its quarantined messages and its next offsets in one transaction."""
    namespace, topic = stream_namespace(source), batch.topic
    with connection.transaction():
        _lock_topic(connection, source, topic)
        _check_not_moved(connection, source, batch)
        added, existing = _ensure_stream_table(connection, namespace, topic, parsed)
        column_types = {**{name: existing[name] for name in parsed.columns}, **SYSTEM_COLUMN_TYPES}
        rows, rejected = coerce_to_arrow(parsed, column_types)
        _copy_rows(connection, source, namespace, topic, column_types, rows)
        quarantined = [*parsed.quarantined, *rejected]
        _quarantine(connection, namespace, topic, quarantined)
        _store_offsets(connection, source, topic, LANDING, batch.next_offsets)
    return LandingResult(rows_written=rows.num_rows, quarantined=quarantined, added_columns=added)


def _lock_topic(connection: psycopg.Connection, source: str, topic: str) -> None:
    connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"aietl.stream.{source}.{topic}",))


def _check_not_moved(connection: psycopg.Connection, source: str, batch: MicroBatch) -> None:
    stored = read_offsets(connection, source, batch.topic)
    moved = {p: stored[p] for p, start in batch.start_offsets.items() if p in stored and stored[p] != start}
    if moved:
        raise ConcurrentLandingError(
            f"topic {batch.topic} of source {source}: offsets moved from {batch.start_offsets} to {stored} while "
            f"this batch was read (another run landed it); nothing was written, run again to continue")


def _ensure_stream_table(connection: psycopg.Connection, namespace: str, topic: str,
                         parsed: ParsedBatch) -> tuple[list[str], dict[str, str]]:
    """Create the schema, the topic's table and its quarantine table; add columns for new JSON keys. Returns the
    columns added and every column's logical type (as ``_existing_columns`` would read them now)."""
    connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(namespace)))
    connection.execute(sql.SQL(
        "CREATE TABLE IF NOT EXISTS {}.{} (_partition integer NOT NULL, _offset bigint NOT NULL, "
        "_timestamp timestamptz, _ingested_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (_partition, _offset))"
    ).format(sql.Identifier(namespace), sql.Identifier(topic)))
    connection.execute(sql.SQL(
        "CREATE TABLE IF NOT EXISTS {}.{} (topic text NOT NULL, partition integer NOT NULL, "
        "\"offset\" bigint NOT NULL, reason text NOT NULL, raw text, "
        "quarantined_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (topic, partition, \"offset\"))"
    ).format(sql.Identifier(namespace), sql.Identifier(QUARANTINE_TABLE)))
    existing = _existing_columns(connection, namespace, topic)
    added = [name for name in parsed.columns if name not in existing]
    for name in added:
        logical = infer_logical_type(row.get(name) for row in parsed.rows)
        connection.execute(sql.SQL("ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS {} {}").format(
            sql.Identifier(namespace), sql.Identifier(topic), sql.Identifier(name),
            sql.SQL(ddl_type(logical))))
        existing[name] = logical
    return added, existing


def _existing_columns(connection: psycopg.Connection, namespace: str, table: str) -> dict[str, str]:
    """Column name -> logical type, in table order."""
    rows = connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (namespace, table)).fetchall()
    return {name: LOGICAL_TYPES.get(data_type, "string") for name, data_type in rows}


def _copy_rows(connection: psycopg.Connection, source: str, namespace: str, topic: str,
               column_types: dict[str, str], rows: pa.RecordBatch) -> None:
    """Binary COPY of the rows (pgpq, the warehouse destination's own encoder) on the caller's transaction."""
    if not rows.num_rows:
        return
    schema = TableSchema(source=source, name=topic, namespace=namespace,
                         columns=[Column(name, logical_type) for name, logical_type in column_types.items()])
    fields = copy_target_fields(connection, namespace, topic, schema)
    chunks = pa.Table.from_batches([rows]).to_batches(max_chunksize=COPY_CHUNK_ROWS)
    copy_batches(connection, sql.Identifier(namespace, topic), fields, chunks)


def _quarantine(connection: psycopg.Connection, namespace: str, topic: str,
                messages: list[QuarantinedMessage]) -> None:
    if not messages:
        return
    statement = sql.SQL(
        "INSERT INTO {}.{} (topic, partition, \"offset\", reason, raw) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (topic, partition, \"offset\") DO NOTHING").format(
        sql.Identifier(namespace), sql.Identifier(QUARANTINE_TABLE))
    with connection.cursor() as cursor:
        cursor.executemany(statement, [(topic, m.partition, m.offset, m.reason, m.raw.replace("\x00", "\\0"))
                                       for m in messages])


def _store_offsets(connection: psycopg.Connection, source: str, topic: str, consumer: str,
                   next_offsets: dict[int, int]) -> None:
    if not next_offsets:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO aietl_meta.kafka_offsets (source, topic, consumer, partition, next_offset) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source, topic, consumer, partition) "
            "DO UPDATE SET next_offset = excluded.next_offset, updated_at = now()",
            [(source, topic, consumer, partition, offset) for partition, offset in next_offsets.items()])


def refresh_per_minute(connection: psycopg.Connection, source: str, topic: str) -> WindowResult:
    """Recompute the per-minute counts (per ``event_type`` when the topic has one) of every window that rows
    landed since the last refresh fall into, and remember how far the refresh got per partition."""
    namespace = stream_namespace(source)
    with connection.transaction():
        _lock_topic(connection, source, topic)
        columns = _existing_columns(connection, namespace, topic)
        if not columns:
            return WindowResult(0, 0, None, None)
        time_column = _event_time_column(columns)
        dimension = DIMENSION_COLUMN if DIMENSION_COLUMN in columns else None
        _ensure_per_minute_table(connection, namespace, topic, time_column)
        new_rows = _collect_new_rows(connection, source, namespace, topic, time_column)
        windows = _recompute_windows(connection, namespace, topic, time_column, dimension)
        connection.execute(
            "INSERT INTO aietl_meta.kafka_offsets (source, topic, consumer, partition, next_offset) "
            "SELECT %s, %s, %s, _partition, max(_offset) + 1 FROM _aietl_new_rows GROUP BY _partition "
            "ON CONFLICT (source, topic, consumer, partition) "
            "DO UPDATE SET next_offset = excluded.next_offset, updated_at = now()", (source, topic, PER_MINUTE))
    return WindowResult(windows, new_rows, time_column, dimension)


def _event_time_column(columns: dict[str, str]) -> str:
    """The first timestamp among the message's own fields; the Kafka record timestamp when there is none."""
    own = [name for name, logical in columns.items() if logical == "timestamptz" and not name.startswith("_")]
    return own[0] if own else "_timestamp"


def _ensure_per_minute_table(connection: psycopg.Connection, namespace: str, topic: str, time_column: str) -> None:
    connection.execute(sql.SQL(
        "CREATE TABLE IF NOT EXISTS {}.{} (window_start timestamptz NOT NULL, event_type text, "
        "events bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), "
        "UNIQUE NULLS NOT DISTINCT (window_start, event_type))"
    ).format(sql.Identifier(namespace), sql.Identifier(per_minute_table(topic))))
    connection.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} ({})").format(
        sql.Identifier(f"{topic}__{time_column}"[:63]), sql.Identifier(namespace), sql.Identifier(topic),
        sql.Identifier(time_column)))


def _collect_new_rows(connection: psycopg.Connection, source: str, namespace: str, topic: str,
                      time_column: str) -> int:
    """Rows landed past the aggregate's stored offsets, into a temporary table dropped at commit.

    Per partition, the rows between the aggregate's offset and the landing's offset are read as a range of the
    primary key ``(_partition, _offset)``, so the cost follows the new rows, not the size of the table."""
    connection.execute(sql.SQL(
        "CREATE TEMPORARY TABLE _aietl_new_rows ON COMMIT DROP AS "
        "SELECT t._partition, t._offset, date_trunc('minute', t.{time}) AS window_start "
        "FROM aietl_meta.kafka_offsets landed "
        "LEFT JOIN aietl_meta.kafka_offsets done ON done.source = landed.source AND done.topic = landed.topic "
        "AND done.consumer = %s AND done.partition = landed.partition "
        "CROSS JOIN LATERAL (SELECT _partition, _offset, {time} FROM {ns}.{topic} WHERE _partition = landed.partition "
        "AND _offset >= coalesce(done.next_offset, 0) AND _offset < landed.next_offset) t "
        "WHERE landed.source = %s AND landed.topic = %s AND landed.consumer = %s"
    ).format(time=sql.Identifier(time_column), ns=sql.Identifier(namespace), topic=sql.Identifier(topic)),
        (PER_MINUTE, source, topic, LANDING))
    return connection.execute("SELECT count(*) FROM _aietl_new_rows").fetchone()[0]


def _recompute_windows(connection: psycopg.Connection, namespace: str, topic: str, time_column: str,
                       dimension: str | None) -> int:
    aggregate = sql.Identifier(namespace, per_minute_table(topic))
    connection.execute(
        "CREATE TEMPORARY TABLE _aietl_windows ON COMMIT DROP AS "
        "SELECT DISTINCT window_start FROM _aietl_new_rows WHERE window_start IS NOT NULL")
    connection.execute(sql.SQL("DELETE FROM {} a USING _aietl_windows w WHERE a.window_start = w.window_start")
                       .format(aggregate))
    dimension_sql = sql.SQL("t.{}::text").format(sql.Identifier(dimension)) if dimension else sql.SQL("NULL::text")
    connection.execute(sql.SQL(
        "INSERT INTO {aggregate} (window_start, event_type, events) "
        "SELECT w.window_start, {dimension}, count(*) FROM _aietl_windows w JOIN {ns}.{topic} t "
        "ON t.{time} >= w.window_start AND t.{time} < w.window_start + interval '1 minute' GROUP BY 1, 2"
    ).format(aggregate=aggregate, dimension=dimension_sql, ns=sql.Identifier(namespace),
             topic=sql.Identifier(topic), time=sql.Identifier(time_column)))
    return connection.execute("SELECT count(*) FROM _aietl_windows").fetchone()[0]
