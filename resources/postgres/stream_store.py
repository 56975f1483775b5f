"""Kafka stream tables in a PostgreSQL warehouse: a topic's table and quarantine, the offsets of
``aietl_meta.kafka_offsets``, the event-time window tables with their late events and state, the tables of joins
of two topics, and the per-minute aggregate recomputed for the windows that new rows touched.

A :class:`StreamStore` works on one open connection (from ``PostgresResource.connect()``). The offsets live in the
warehouse database so that they commit in the same transaction as the rows they cover (exactly-once landing without
consumer groups): callers run a landing's steps inside :meth:`StreamStore.topic_transaction`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.types.json import Jsonb

from resources.kafka import MicroBatch
from resources.metadata import MIGRATIONS_DIR, apply_migrations
from resources.postgres import sql as statements
from resources.postgres.catalog import target_columns
from resources.postgres.copy import copy_batches, copy_target_fields
from resources.postgres.types import ddl_type, logical_type

OFFSETS_MIGRATION = MIGRATIONS_DIR / "0100_embeddings_streams.sql"
"""Creates ``aietl_meta.kafka_offsets``; applied on the warehouse too, as offsets commit with the rows they cover."""
LANDING = "stream"
PER_MINUTE = "per_minute"
"""The two readers of a topic whose offsets are kept: the landing and the per-minute aggregate."""
COPY_CHUNK_ROWS = 16_384
"""Rows per encoded COPY chunk: the queued writer sends one chunk while the next is encoded."""
QUARANTINE_TABLE = "_quarantine"
REPLAY_CHUNK_ROWS = 50_000
"""Landed rows per chunk when a window is rebuilt from the topic's table."""


def stream_namespace(source: str) -> str:
    """The warehouse schema that a Kafka source's topics land in."""
    return f"stream_{source}"


def per_minute_table(topic: str) -> str:
    return f"{topic}_per_minute"


def window_table(topic: str, window: str) -> str:
    return f"{topic}__{window}"


def late_events_table(topic: str) -> str:
    return f"{topic}__late_events"


def join_consumer(join: str) -> str:
    """The consumer name under which a join's offsets are kept."""
    return f"join:{join}"


class JoinSide(Protocol):
    topic: str
    key: str
    event_time: str


WINDOW_STATE_TABLE = "_window_state"
"""One row per (topic, window): the open windows' partial aggregates and the largest event time, committed with
the offsets of the micro-batch they cover."""


class ConcurrentLandingError(RuntimeError):
    """Another run landed messages of the same topic between this run's read and its write."""


class QuarantineEntry(Protocol):
    partition: int
    offset: int
    reason: str
    raw: str


@contextmanager
def open_stream_store(warehouse: Any, source: str) -> Iterator[StreamStore]:
    """The stream store of ``source`` on a new connection of the ``warehouse`` resource."""
    with warehouse.connect() as connection:
        yield StreamStore(connection, source)


_OFFSETS_TABLE_EXISTS = "SELECT to_regclass('aietl_meta.kafka_offsets') IS NOT NULL"
_READ_OFFSETS = ("SELECT partition, next_offset FROM aietl_meta.kafka_offsets "
                 "WHERE source = %s AND topic = %s AND consumer = %s")
_UPSERT_OFFSET = ("INSERT INTO aietl_meta.kafka_offsets (source, topic, consumer, partition, next_offset) "
                  "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source, topic, consumer, partition) "
                  "DO UPDATE SET next_offset = excluded.next_offset, updated_at = now()")
_STORE_AGGREGATED_OFFSETS = (
    "INSERT INTO aietl_meta.kafka_offsets (source, topic, consumer, partition, next_offset) "
    "SELECT %s, %s, %s, _partition, max(_offset) + 1 FROM _aietl_new_rows GROUP BY _partition "
    "ON CONFLICT (source, topic, consumer, partition) "
    "DO UPDATE SET next_offset = excluded.next_offset, updated_at = now()")
_LOCK_TOPIC = "SELECT pg_advisory_xact_lock(hashtext(%s))"


class StreamStore:
    """One Kafka source's stream tables and offsets, on an open connection."""

    def __init__(self, connection: psycopg.Connection, source: str):
        self.connection = connection
        self.source = source
        self.namespace = stream_namespace(source)

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.namespace, name)

    # ---- offsets -----------------------------------------------------------------------------------------------

    def ensure_offsets_table(self) -> None:
        """Apply the (idempotent) 0100 migration on the warehouse unless it was applied there already."""
        apply_migrations(self.connection, [OFFSETS_MIGRATION])

    def read_offsets(self, topic: str, consumer: str = LANDING) -> dict[int, int]:
        """Partition -> next offset to process; empty when nothing was stored (or the table does not exist yet)."""
        with self.connection.transaction():
            if not self.connection.execute(_OFFSETS_TABLE_EXISTS).fetchone()[0]:
                return {}
            rows = self.connection.execute(_READ_OFFSETS, (self.source, topic, consumer)).fetchall()
        return {partition: offset for partition, offset in rows}

    def store_offsets(self, topic: str, next_offsets: Mapping[int, int], consumer: str = LANDING) -> None:
        if not next_offsets:
            return
        with self.connection.cursor() as cursor:
            cursor.executemany(_UPSERT_OFFSET, [(self.source, topic, consumer, partition, offset)
                                                for partition, offset in next_offsets.items()])

    @contextmanager
    def topic_transaction(self, *topics: str) -> Iterator[None]:
        """A transaction holding the topics' advisory locks (taken in name order), so landings and refreshes of a
        topic never interleave."""
        with self.connection.transaction():
            for topic in sorted(set(topics)):
                self.connection.execute(_LOCK_TOPIC, (f"aietl.stream.{self.source}.{topic}",))
            yield

    def check_not_moved(self, batch: MicroBatch) -> None:
        """Raise :class:`ConcurrentLandingError` when the stored offsets are no longer where ``batch`` started."""
        stored = self.read_offsets(batch.topic)
        moved = {p: stored[p] for p, start in batch.start_offsets.items() if p in stored and stored[p] != start}
        if moved:
            raise ConcurrentLandingError(
                f"topic {batch.topic} of source {self.source}: offsets moved from {batch.start_offsets} to {stored} "
                f"while this batch was read (another run landed it); nothing was written, run again to continue")

    # ---- the topic's tables ------------------------------------------------------------------------------------

    def ensure_topic_tables(self, topic: str) -> dict[str, str]:
        """Create the schema, the topic's table and the quarantine table; returns :meth:`column_types`."""
        self.connection.execute(statements.create_schema(self.namespace))
        self.connection.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (_partition integer NOT NULL, _offset bigint NOT NULL, "
            "_timestamp timestamptz, _ingested_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (_partition, _offset))").format(self._table(topic)))
        self.connection.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (topic text NOT NULL, partition integer NOT NULL, "
            "\"offset\" bigint NOT NULL, reason text NOT NULL, raw text, "
            "quarantined_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (topic, partition, \"offset\"))"
        ).format(self._table(QUARANTINE_TABLE)))
        self.connection.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS dead_lettered_at timestamptz")
                                .format(self._table(QUARANTINE_TABLE)))
        return self.column_types(topic)

    def column_types(self, topic: str) -> dict[str, str]:
        """Column name -> logical type of the topic's table, in table order (empty when it does not exist)."""
        return {name: logical_type(native)
                for name, native in target_columns(self.connection, self.namespace, topic).items()}

    def add_columns(self, topic: str, columns: Mapping[str, str]) -> None:
        """Add a column of each logical type in ``columns`` (new JSON keys)."""
        for name, logical in columns.items():
            self.connection.execute(
                statements.add_column(self.namespace, topic, name, ddl_type(logical), if_not_exists=True))

    def copy_rows(self, topic: str, rows: pa.RecordBatch) -> None:
        """Binary COPY of the rows (pgpq, the warehouse destination's own encoder) on the caller's transaction."""
        if not rows.num_rows:
            return
        fields = copy_target_fields(self.connection, self.namespace, topic, set(rows.schema.names))
        chunks = pa.Table.from_batches([rows]).to_batches(max_chunksize=COPY_CHUNK_ROWS)
        copy_batches(self.connection, self._table(topic), fields, chunks)

    def quarantine(self, topic: str, messages: Iterable[QuarantineEntry]) -> None:
        values = [(topic, m.partition, m.offset, m.reason, m.raw.replace("\x00", "\\0")) for m in messages]
        if not values:
            return
        statement = sql.SQL(
            "INSERT INTO {} (topic, partition, \"offset\", reason, raw) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (topic, partition, \"offset\") DO NOTHING").format(self._table(QUARANTINE_TABLE))
        with self.connection.cursor() as cursor:
            cursor.executemany(statement, values)

    # ---- dead letters (the quarantine table is their outbox) ---------------------------------------------------

    def pending_dead_letters(self, topic: str, limit: int) -> list[tuple[int, int, str, str]]:
        """Quarantined messages of ``topic`` not yet sent to the dead-letter topic: (partition, offset, reason, raw)."""
        with self.connection.transaction():
            if not self._exists(QUARANTINE_TABLE):
                return []
            self.connection.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS dead_lettered_at timestamptz")
                                    .format(self._table(QUARANTINE_TABLE)))
            return self.connection.execute(sql.SQL(
                "SELECT partition, \"offset\", reason, raw FROM {} WHERE topic = %s AND dead_lettered_at IS NULL "
                "ORDER BY partition, \"offset\" LIMIT %s").format(self._table(QUARANTINE_TABLE)),
                (topic, limit)).fetchall()

    def mark_dead_lettered(self, topic: str, positions: Iterable[tuple[int, int]]) -> None:
        statement = sql.SQL("UPDATE {} SET dead_lettered_at = now() WHERE topic = %s AND partition = %s "
                            "AND \"offset\" = %s").format(self._table(QUARANTINE_TABLE))
        with self.connection.cursor() as cursor:
            cursor.executemany(statement, [(topic, partition, offset) for partition, offset in positions])

    def _exists(self, table: str) -> bool:
        return self.connection.execute("SELECT to_regclass(%s) IS NOT NULL", (
            sql.Identifier(self.namespace, table).as_string(self.connection),)).fetchone()[0]

    # ---- offsets that went backwards ---------------------------------------------------------------------------

    def restart_partitions(self, topic: str, starts: Mapping[int, int]) -> int:
        """Move what was landed from ``starts``' partitions (rows and quarantined messages of the topic's previous
        life) into ``<topic>__before_reset`` / ``_quarantine__before_reset`` and store the new start offsets for
        the landing and the aggregate. Returns the rows moved. Runs on the caller's transaction."""
        partitions = list(starts)
        moved = 0
        if self._exists(topic):
            moved = self._move(topic, f"{topic}__before_reset"[:63], sql.SQL("_partition = ANY(%s)"), (partitions,))
        if self._exists(QUARANTINE_TABLE):
            self._move(QUARANTINE_TABLE, f"{QUARANTINE_TABLE}__before_reset", sql.SQL(
                "topic = %s AND partition = ANY(%s)"), (topic, partitions))
        self.store_offsets(topic, starts)
        self.store_offsets(topic, starts, consumer=PER_MINUTE)
        return moved

    def _move(self, table: str, archive: str, where: sql.Composable, params: tuple) -> int:
        self.connection.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (LIKE {})").format(
            self._table(archive), self._table(table)))
        columns = target_columns(self.connection, self.namespace, table)
        for name, native in columns.items():
            self.connection.execute(statements.add_column(self.namespace, archive, name,
                                                          ddl_type(logical_type(native)), if_not_exists=True))
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        self.connection.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE {}").format(
            self._table(archive), names, names, self._table(table), where), params)
        return self.connection.execute(sql.SQL("DELETE FROM {} WHERE {}").format(self._table(table), where),
                                       params).rowcount

    # ---- event-time windows (run on the caller's landing transaction) ----------------------------------------------

    def ensure_window_table(self, topic: str, window: str, keys: Mapping[str, str], aggregates: Mapping[str, str]
                            ) -> None:
        """Create ``<topic>__<window>`` (key columns and aggregates as name -> logical type), the late-events
        table and the window-state table."""
        columns = [*keys.items(), ("window_start", "timestamptz"), ("window_end", "timestamptz"),
                   *aggregates.items(), ("final", "bool")]
        definition = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(ddl_type(logical)))
                                        for name, logical in columns)
        unique = sql.SQL(", ").join(map(sql.Identifier, [*keys, "window_start"]))
        self.connection.execute(statements.create_schema(self.namespace))
        self.connection.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ({}, updated_at timestamptz NOT NULL DEFAULT now(), "
            "UNIQUE NULLS NOT DISTINCT ({}))").format(self._table(window_table(topic, window)), definition, unique))
        self.connection.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (\"window\" text NOT NULL, partition integer NOT NULL, "
            "\"offset\" bigint NOT NULL, event_time timestamptz, reason text NOT NULL, "
            "recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (\"window\", partition, \"offset\"))"
        ).format(self._table(late_events_table(topic))))
        self.connection.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (topic text NOT NULL, \"window\" text NOT NULL, spec jsonb NOT NULL, "
            "state jsonb NOT NULL, watermark timestamptz, updated_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (topic, \"window\"))").format(self._table(WINDOW_STATE_TABLE)))

    def drop_window(self, topic: str, window: str) -> None:
        """Forget a window: its table, its late events and its state (before it is rebuilt)."""
        self.connection.execute(statements.drop_table(self.namespace, window_table(topic, window)))
        for table, condition in ((late_events_table(topic), '"window" = %s'),
                                 (WINDOW_STATE_TABLE, 'topic = %s AND "window" = %s')):
            if self._exists(table):
                params = (window,) if table != WINDOW_STATE_TABLE else (topic, window)
                self.connection.execute(sql.SQL("DELETE FROM {} WHERE {}").format(
                    self._table(table), sql.SQL(condition)), params)

    def landed_rows(self, topic: str, columns: Iterable[str], chunk: int = REPLAY_CHUNK_ROWS
                    ) -> Iterator[pa.RecordBatch]:
        """The topic's landed rows in (partition, offset) order, ``columns`` only (those the table has), in chunks
        read through a server-side cursor on the caller's transaction."""
        present = target_columns(self.connection, self.namespace, topic)
        names = ["_partition", "_offset", "_timestamp", *(c for c in dict.fromkeys(columns)
                                                          if c in present and not c.startswith("_"))]
        statement = sql.SQL("SELECT {} FROM {} ORDER BY _partition, _offset").format(
            sql.SQL(", ").join(map(sql.Identifier, names)), self._table(topic))
        with self.connection.cursor(name="aietl_window_replay") as cursor:
            cursor.execute(statement)
            while rows := cursor.fetchmany(chunk):
                yield pa.RecordBatch.from_pydict({name: pa.array([row[i] for row in rows])
                                                  for i, name in enumerate(names)})

    def read_window_state(self, topic: str, window: str) -> tuple[dict, str] | None:
        """The window's (spec, state as JSON text) as last stored, or None."""
        row = self.connection.execute(sql.SQL(
            "SELECT spec, state::text FROM {} WHERE topic = %s AND \"window\" = %s").format(
            self._table(WINDOW_STATE_TABLE)), (topic, window)).fetchone()
        return None if row is None else (row[0], row[1])

    def store_window_state(self, topic: str, window: str, spec: dict, state: str, watermark: Any) -> None:
        self.connection.execute(sql.SQL(
            "INSERT INTO {} (topic, \"window\", spec, state, watermark) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (topic, \"window\") DO UPDATE SET spec = excluded.spec, state = excluded.state, "
            "watermark = excluded.watermark, updated_at = now()").format(self._table(WINDOW_STATE_TABLE)),
            (topic, window, Jsonb(spec), state, watermark))

    def upsert_windows(self, topic: str, window: str, keys: Sequence[str], aggregates: Sequence[str],
                       rows: Iterable[Sequence[Any]]) -> None:
        """Rows of (keys..., window_start, window_end, aggregates..., final), upserted by (keys, window_start)."""
        columns = [*keys, "window_start", "window_end", *aggregates, "final"]
        updated = ["window_end", *aggregates, "final"]
        statement = sql.SQL(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}, updated_at = now()").format(
            self._table(window_table(topic, window)), sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            sql.SQL(", ").join(map(sql.Identifier, [*keys, "window_start"])),
            sql.SQL(", ").join(sql.SQL("{} = excluded.{}").format(sql.Identifier(c), sql.Identifier(c))
                               for c in updated))
        with self.connection.cursor() as cursor:
            cursor.executemany(statement, [tuple(row) for row in rows])

    def delete_windows(self, topic: str, window: str, keys: Sequence[str], starts: Iterable[Sequence[Any]]) -> None:
        """Delete the windows of (keys..., window_start): session windows merged into another."""
        condition = sql.SQL(" AND ").join(sql.SQL("{} IS NOT DISTINCT FROM %s").format(sql.Identifier(c))
                                          for c in [*keys, "window_start"])
        statement = sql.SQL("DELETE FROM {} WHERE {}").format(self._table(window_table(topic, window)), condition)
        with self.connection.cursor() as cursor:
            cursor.executemany(statement, [tuple(row) for row in starts])

    def record_late_events(self, topic: str, window: str, events: Iterable[tuple[int, int, Any, str]]) -> None:
        """Late events as (partition, offset, event time, reason); a retried batch does not record them twice."""
        values = [(window, *event) for event in events]
        if not values:
            return
        statement = sql.SQL(
            "INSERT INTO {} (\"window\", partition, \"offset\", event_time, reason) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (\"window\", partition, \"offset\") DO NOTHING").format(
            self._table(late_events_table(topic)))
        with self.connection.cursor() as cursor:
            cursor.executemany(statement, values)

    # ---- time-bounded joins of two topics (run on the caller's :meth:`topic_transaction` of both) ---------------

    def refresh_join(self, name: str, left: JoinSide, right: JoinSide, within: Any) -> tuple[int, int, int]:
        """Add to ``<name>`` the pairs of rows with equal keys (as text) and event times at most ``within`` apart
        that involve a row landed since the last refresh, on either side; pairs found twice are kept once. Returns
        (new left rows, new right rows, pairs added); zeros while a side has landed nothing."""
        if not (self._exists(left.topic) and self._exists(right.topic)):
            return 0, 0, 0
        for columns in (left, right):
            types = self.column_types(columns.topic)
            if columns.key not in types or types.get(columns.event_time) != "timestamptz":
                if not self.connection.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(
                        self._table(columns.topic))).fetchone()[0]:
                    return 0, 0, 0
                raise ValueError(
                    f"join {name!r}: topic {columns.topic} of source {self.source} needs field {columns.key!r} and "
                    f"a timestamp field {columns.event_time!r}; its landed columns are "
                    f"{ {column: kind for column, kind in types.items() if not column.startswith('_')} }")
        consumer = join_consumer(name)
        self.connection.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (key text NOT NULL, left_partition integer NOT NULL, "
            "left_offset bigint NOT NULL, left_time timestamptz, right_partition integer NOT NULL, "
            "right_offset bigint NOT NULL, right_time timestamptz, left_row jsonb NOT NULL, right_row jsonb NOT NULL, "
            "joined_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (left_partition, left_offset, right_partition, right_offset))").format(self._table(name)))
        new = {}
        for side, columns in (("left", left), ("right", right)):
            self.connection.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (({}::text), {})").format(
                sql.Identifier(f"{columns.topic}__{columns.key}__{columns.event_time}"[:63]),
                self._table(columns.topic), sql.Identifier(columns.key), sql.Identifier(columns.event_time)))
            new[side] = self._new_rows_table(f"_aietl_join_{side}", columns.topic, consumer)
        added = 0
        sides = {"left": left, "right": right}
        for fresh, other in (("left", "right"), ("right", "left")):
            aliases = {fresh: sql.Identifier("f"), other: sql.Identifier("o")}
            la, ra = aliases["left"], aliases["right"]
            added += self.connection.execute(sql.SQL(
                "INSERT INTO {join} (key, left_partition, left_offset, left_time, right_partition, right_offset, "
                "right_time, left_row, right_row) "
                "SELECT {la}.{lkey}::text, {la}._partition, {la}._offset, {la}.{ltime}, {ra}._partition, "
                "{ra}._offset, {ra}.{rtime}, to_jsonb({la}), to_jsonb({ra}) "
                "FROM {new} n JOIN {fresh} f ON f._partition = n._partition AND f._offset = n._offset "
                "JOIN {other} o ON o.{okey}::text = f.{fkey}::text "
                "AND o.{otime} BETWEEN f.{ftime} - %(within)s AND f.{ftime} + %(within)s "
                "ON CONFLICT DO NOTHING"
            ).format(join=self._table(name), new=sql.Identifier(f"_aietl_join_{fresh}"),
                     fresh=self._table(sides[fresh].topic), other=self._table(sides[other].topic),
                     okey=sql.Identifier(sides[other].key), fkey=sql.Identifier(sides[fresh].key),
                     otime=sql.Identifier(sides[other].event_time), ftime=sql.Identifier(sides[fresh].event_time),
                     la=la, ra=ra, lkey=sql.Identifier(left.key), ltime=sql.Identifier(left.event_time),
                     rtime=sql.Identifier(right.event_time)), {"within": within}).rowcount
        for topic in {left.topic, right.topic}:
            self.connection.execute(
                "INSERT INTO aietl_meta.kafka_offsets (source, topic, consumer, partition, next_offset) "
                "SELECT source, topic, %s, partition, next_offset FROM aietl_meta.kafka_offsets "
                "WHERE source = %s AND topic = %s AND consumer = %s ON CONFLICT (source, topic, consumer, partition) "
                "DO UPDATE SET next_offset = excluded.next_offset, updated_at = now()",
                (consumer, self.source, topic, LANDING))
        return new["left"], new["right"], added

    def reset_join(self, name: str, left: JoinSide, right: JoinSide, topic: str, starts: Mapping[int, int]) -> None:
        """Forget the pairs of ``topic``'s restarted partitions and join them again from ``starts`` (the topic was
        recreated and lands again). Runs on the caller's transaction."""
        partitions = list(starts)
        if self._exists(name):
            self.connection.execute(sql.SQL(
                "DELETE FROM {} WHERE (%s AND left_partition = ANY(%s)) OR (%s AND right_partition = ANY(%s))"
            ).format(self._table(name)), (left.topic == topic, partitions, right.topic == topic, partitions))
        self.store_offsets(topic, starts, consumer=join_consumer(name))

    def _new_rows_table(self, name: str, topic: str, consumer: str) -> int:
        """(_partition, _offset) of the topic's rows landed past ``consumer``'s offsets, into a temporary table
        dropped at commit (read per partition as a range of the primary key). Returns their number."""
        self.connection.execute(sql.SQL(
            "CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS SELECT t._partition, t._offset "
            "FROM aietl_meta.kafka_offsets landed "
            "LEFT JOIN aietl_meta.kafka_offsets done ON done.source = landed.source AND done.topic = landed.topic "
            "AND done.consumer = %s AND done.partition = landed.partition "
            "CROSS JOIN LATERAL (SELECT _partition, _offset FROM {table} WHERE _partition = landed.partition "
            "AND _offset >= coalesce(done.next_offset, 0) AND _offset < landed.next_offset) t "
            "WHERE landed.source = %s AND landed.topic = %s AND landed.consumer = %s"
        ).format(name=sql.Identifier(name), table=self._table(topic)), (consumer, self.source, topic, LANDING))
        return self.connection.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))).fetchone()[0]

    # ---- the per-minute aggregate ------------------------------------------------------------------------------

    def refresh_per_minute(self, topic: str, time_column: str, dimension: str | None) -> tuple[int, int]:
        """Recompute the per-minute counts (per ``dimension`` when given) of every window that rows landed since
        the last refresh fall into, and remember how far the refresh got per partition. Returns the numbers of
        windows recomputed and of new rows. Runs on the caller's transaction (:meth:`topic_transaction`)."""
        self._ensure_per_minute_table(topic, time_column)
        new_rows = self._collect_new_rows(topic, time_column)
        windows = self._recompute_windows(topic, time_column, dimension)
        self.connection.execute(_STORE_AGGREGATED_OFFSETS, (self.source, topic, PER_MINUTE))
        return windows, new_rows

    def _ensure_per_minute_table(self, topic: str, time_column: str) -> None:
        self.connection.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (window_start timestamptz NOT NULL, event_type text, "
            "events bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), "
            "UNIQUE NULLS NOT DISTINCT (window_start, event_type))").format(self._table(per_minute_table(topic))))
        self.connection.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
            sql.Identifier(f"{topic}__{time_column}"[:63]), self._table(topic), sql.Identifier(time_column)))

    def _collect_new_rows(self, topic: str, time_column: str) -> int:
        """Rows landed past the aggregate's stored offsets, into a temporary table dropped at commit.

        Per partition, the rows between the aggregate's offset and the landing's offset are read as a range of the
        primary key ``(_partition, _offset)``, so the cost follows the new rows, not the size of the table."""
        self.connection.execute(sql.SQL(
            "CREATE TEMPORARY TABLE _aietl_new_rows ON COMMIT DROP AS "
            "SELECT t._partition, t._offset, date_trunc('minute', t.{time}) AS window_start "
            "FROM aietl_meta.kafka_offsets landed "
            "LEFT JOIN aietl_meta.kafka_offsets done ON done.source = landed.source AND done.topic = landed.topic "
            "AND done.consumer = %s AND done.partition = landed.partition "
            "CROSS JOIN LATERAL (SELECT _partition, _offset, {time} FROM {table} WHERE _partition = landed.partition "
            "AND _offset >= coalesce(done.next_offset, 0) AND _offset < landed.next_offset) t "
            "WHERE landed.source = %s AND landed.topic = %s AND landed.consumer = %s"
        ).format(time=sql.Identifier(time_column), table=self._table(topic)),
            (PER_MINUTE, self.source, topic, LANDING))
        return self.connection.execute("SELECT count(*) FROM _aietl_new_rows").fetchone()[0]

    def _recompute_windows(self, topic: str, time_column: str, dimension: str | None) -> int:
        aggregate = self._table(per_minute_table(topic))
        self.connection.execute(
            "CREATE TEMPORARY TABLE _aietl_windows ON COMMIT DROP AS "
            "SELECT DISTINCT window_start FROM _aietl_new_rows WHERE window_start IS NOT NULL")
        self.connection.execute(sql.SQL(
            "DELETE FROM {} a USING _aietl_windows w WHERE a.window_start = w.window_start").format(aggregate))
        dimension_sql = sql.SQL("t.{}::text").format(sql.Identifier(dimension)) if dimension else sql.SQL("NULL::text")
        self.connection.execute(sql.SQL(
            "INSERT INTO {aggregate} (window_start, event_type, events) "
            "SELECT w.window_start, {dimension}, count(*) FROM _aietl_windows w JOIN {table} t "
            "ON t.{time} >= w.window_start AND t.{time} < w.window_start + interval '1 minute' GROUP BY 1, 2"
        ).format(aggregate=aggregate, dimension=dimension_sql, table=self._table(topic),
                 time=sql.Identifier(time_column)))
        return self.connection.execute("SELECT count(*) FROM _aietl_windows").fetchone()[0]
