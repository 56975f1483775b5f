"""The platform's own metadata in PostgreSQL (schema ``aietl_meta``): ingestion log, schema history, sync conflicts,
watermarks, and views summarising them.

The schema is created by the versioned SQL files of ``resources/migrations`` (``NNNN_name.sql``), applied in lexical
order, each in its own transaction, and recorded in ``aietl_meta.schema_migrations``. ``migrate()`` runs once per
process and database before the first use, under an advisory lock so that parallel runs do not race.

Connections: every call inside :meth:`MetadataResource.session` shares one connection (``load_table`` opens a session
per load), and within a Dagster run or sensor tick the resource keeps one connection from its first use until the run
or tick ends (``setup_for_execution`` / ``teardown_after_execution``). Outside both, each call connects on its own.
Statements run in autocommit mode, so each is its own transaction, as before the connection is shared.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import PrivateAttr

from resources.postgres import PostgresResource
from resources.protocol import SourceUnavailableError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SCHEMA = "aietl_meta"
_MIGRATION_LOCK_KEY = 0x5E7A_0001
_migrated: set[tuple[str, int, str]] = set()
_migrated_lock = threading.Lock()

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS aietl_meta;
CREATE TABLE IF NOT EXISTS aietl_meta.schema_migrations (
    version    text        PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""
IDLE_CHECK_S = 2.0
"""A shared connection idle for longer is checked with a round trip before reuse (the server may have dropped it)."""
_HISTORY_COLUMNS = ("started_at", "finished_at", "mode", "rows_read", "rows_written", "rows_quarantined",
                    "watermark_from", "watermark_to", "status", "error")


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def apply_migrations(connection: psycopg.Connection, files: Iterable[Path] | None = None) -> list[str]:
    """Apply those of ``files`` (default: every migration, in order) not yet recorded in the connection's
    ``aietl_meta.schema_migrations``; returns their versions. Each migration runs in its own transaction, under an
    advisory lock so that parallel callers do not race; with nothing pending, no lock is taken.

    Every statement runs inside ``connection.transaction()``, so the connection may be in autocommit mode or not
    (the advisory lock is a session lock: it outlives the transaction that takes it)."""
    done = _applied_versions(connection)
    pending = sorted(file for file in (migration_files() if files is None else files) if _version(file) not in done)
    if not pending:
        return []
    applied_now = []
    with connection.transaction():
        connection.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))
    try:
        with connection.transaction():
            connection.execute(_BOOTSTRAP)
        done = _applied_versions(connection)
        for file in pending:
            version, name = file.stem.split("_", 1)
            if version in done:
                continue  # applied by a parallel caller while this one waited for the lock
            text = file.read_text(encoding="utf-8")
            with connection.transaction():
                connection.execute(text)
                connection.execute(
                    "INSERT INTO aietl_meta.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (version, name, hashlib.sha256(text.encode()).hexdigest()))
            applied_now.append(version)
    finally:
        with connection.transaction():
            connection.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_KEY,))
    return applied_now


def _version(file: Path) -> str:
    return file.stem.split("_", 1)[0]


def _applied_versions(connection: psycopg.Connection) -> set[str]:
    """The versions recorded in the connection's database (none before the first migration)."""
    with connection.transaction():
        if not connection.execute("SELECT to_regclass('aietl_meta.schema_migrations') IS NOT NULL").fetchone()[0]:
            return set()
        return {row[0] for row in connection.execute("SELECT version FROM aietl_meta.schema_migrations")}


class _SharedConnection:
    """One autocommit connection, opened on first use and closed by :meth:`close`.

    It is held through :meth:`PostgresResource.connect`, so its timeouts apply, and an error that breaks it goes
    through that context manager too: the caller sees the same ``SourceUnavailableError`` (password redacted) as with
    a connection of its own, and the next use opens a new connection.
    """

    def __init__(self, postgres: PostgresResource):
        self.postgres = postgres
        self.lock = threading.RLock()
        self._scope: ExitStack | None = None
        self._connection: psycopg.Connection | None = None
        self._last_used = 0.0

    @contextmanager
    def use(self) -> Iterator[psycopg.Connection]:
        with self.lock:
            connection = self._open()
            try:
                yield connection
            except BaseException:
                if not _reusable(connection):
                    self._discard(sys.exc_info())
                raise
            finally:
                self._last_used = time.monotonic()

    def close(self) -> None:
        """Close the connection; one the server already dropped is simply forgotten."""
        with self.lock:
            if self._scope is not None:
                scope, self._scope, self._connection = self._scope, None, None
                with suppress(psycopg.Error, SourceUnavailableError):
                    scope.close()

    def _open(self) -> psycopg.Connection:
        if self._connection is not None and not self._alive(self._connection):
            self.close()
        if self._connection is None:
            scope = ExitStack()
            self._connection = scope.enter_context(self.postgres.connect(autocommit=True))
            self._scope = scope
        return self._connection

    def _alive(self, connection: psycopg.Connection) -> bool:
        if not _reusable(connection):
            return False
        if time.monotonic() - self._last_used < IDLE_CHECK_S:
            return True
        try:
            connection.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def _discard(self, exc_info: Any) -> None:
        """Close the broken connection, handing the error to ``PostgresResource.connect`` (which re-raises it)."""
        scope, self._scope, self._connection = self._scope, None, None
        if scope is not None:
            scope.__exit__(*exc_info)


def _reusable(connection: psycopg.Connection) -> bool:
    """Open, and not inside a statement that an interrupt left unfinished."""
    return (not connection.closed and not connection.broken
            and connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE)


class MetadataResource(dg.ConfigurableResource):
    """Ingestion log, schema history, sync conflicts and watermarks, in schema ``aietl_meta`` of ``postgres``."""

    postgres: PostgresResource
    _shared: _SharedConnection | None = PrivateAttr(default=None)

    # ---- connections -------------------------------------------------------------------------------------------

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Share one connection for the run or sensor tick; it opens on first use, so an unused store costs nothing."""
        self._shared = _SharedConnection(self.postgres)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    @contextmanager
    def session(self) -> Iterator[MetadataResource]:
        """Calls inside share one connection (closed at the end of the outermost session); sessions nest."""
        opened_here = self._shared is None
        if opened_here:
            self._shared = _SharedConnection(self.postgres)
        try:
            yield self
        finally:
            if opened_here:
                shared, self._shared = self._shared, None
                shared.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        if self._shared is not None:
            with self._shared.use() as connection:
                yield connection
        else:
            with self.postgres.connect(autocommit=True) as connection:
                yield connection

    # ---- migrations --------------------------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply the migrations not applied yet; returns their versions (``0001`` ...)."""
        with self._connection() as connection:
            return apply_migrations(connection)

    def _ready(self) -> PostgresResource:
        key = (self.postgres.host, self.postgres.port, self.postgres.database)
        if key not in _migrated:
            with _migrated_lock:
                if key not in _migrated:
                    self.migrate()
                    _migrated.add(key)
        return self.postgres

    def _rows(self, statement: str, params: Any = None) -> list[dict[str, Any]]:
        self._ready()
        with self._connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    # ---- ingestion log -----------------------------------------------------------------------------------------

    def start_ingestion(self, source: str, table: str, mode: str, watermark_from: str | None = None,
                        run_id: str | None = None) -> int:
        """Open an ingestion log entry (status running); returns its id for :meth:`finish_ingestion`."""
        rows = self._rows(
            """INSERT INTO aietl_meta.ingestion_log (run_id, source, table_name, mode, watermark_from)
               VALUES (%s, %s, %s, %s, %s) RETURNING id""", (run_id, source, table, mode, watermark_from))
        return rows[0]["id"]

    def finish_ingestion(self, entry_id: int, status: str, rows_read: int = 0, rows_written: int = 0,
                         rows_quarantined: int = 0, watermark_to: str | None = None, error: str | None = None,
                         mode: str | None = None) -> None:
        self._rows(
            """UPDATE aietl_meta.ingestion_log
               SET finished_at = clock_timestamp(), duration_s = extract(epoch FROM clock_timestamp() - started_at),
                   status = %s, rows_read = %s, rows_written = %s, rows_quarantined = %s, watermark_to = %s,
                   error = %s, mode = coalesce(%s, mode)
               WHERE id = %s""",
            (status, rows_read, rows_written, rows_quarantined, watermark_to, error, mode, entry_id))

    def ingestion_history(self, source: str, table: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest loads of one table, newest first."""
        return self._rows(
            f"""SELECT {", ".join(_HISTORY_COLUMNS)} FROM aietl_meta.ingestion_log
                WHERE source = %s AND table_name = %s ORDER BY started_at DESC, id DESC LIMIT %s""",
            (source, table, limit))

    def sync_summary(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM aietl_meta.sync_summary ORDER BY source")

    def recent_failures(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM aietl_meta.recent_failures LIMIT %s", (limit,))

    # ---- watermarks --------------------------------------------------------------------------------------------

    def watermark(self, source: str, table: str) -> dict[str, Any] | None:
        """The stored watermark: cursor_column, logical_type, value (text), full_reload_requested, updated_at."""
        rows = self._rows(
            """SELECT cursor_column, logical_type, value, full_reload_requested, updated_at
               FROM aietl_meta.watermarks WHERE source = %s AND table_name = %s""", (source, table))
        return rows[0] if rows else None

    def save_watermark(self, source: str, table: str, cursor_column: str | None, logical_type: str | None,
                       value: str | None) -> None:
        """Store the high-water mark after the rows it covers have landed (also clears a full-reload request)."""
        self._rows(
            """INSERT INTO aietl_meta.watermarks (source, table_name, cursor_column, logical_type, value)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (source, table_name) DO UPDATE SET cursor_column = EXCLUDED.cursor_column,
                   logical_type = EXCLUDED.logical_type, value = EXCLUDED.value, full_reload_requested = false,
                   updated_at = now()""", (source, table, cursor_column, logical_type, value))

    def request_full_reload(self, source: str, table: str) -> None:
        """Make the next load of the table replace it from scratch (the watermark is forgotten)."""
        self._rows(
            """INSERT INTO aietl_meta.watermarks (source, table_name, full_reload_requested) VALUES (%s, %s, true)
               ON CONFLICT (source, table_name) DO UPDATE SET full_reload_requested = true, value = NULL,
                   updated_at = now()""", (source, table))

    # ---- schema history ----------------------------------------------------------------------------------------

    def latest_schema(self, source: str, table: str) -> dict[str, Any] | None:
        """The newest snapshot: version, source_schema, landed_schema (TableSchema dicts), diff, recorded_at."""
        rows = self._rows(
            """SELECT version, source_schema, landed_schema, diff, recorded_at FROM aietl_meta.schema_history
               WHERE source = %s AND table_name = %s ORDER BY version DESC LIMIT 1""", (source, table))
        return rows[0] if rows else None

    def schema_history(self, source: str, table: str) -> list[dict[str, Any]]:
        return self._rows(
            """SELECT version, source_schema, landed_schema, diff, recorded_at FROM aietl_meta.schema_history
               WHERE source = %s AND table_name = %s ORDER BY version""", (source, table))

    def record_schema(self, source: str, table: str, source_schema: dict[str, Any], landed_schema: dict[str, Any],
                      diff: dict[str, Any]) -> int:
        """Store a new version when either schema differs from the latest one; returns the current version."""
        latest = self.latest_schema(source, table)
        if latest and _same(latest["source_schema"], source_schema) and _same(latest["landed_schema"], landed_schema):
            return latest["version"]
        version = (latest["version"] + 1) if latest else 1
        self._rows(
            """INSERT INTO aietl_meta.schema_history (source, table_name, version, source_schema, landed_schema, diff)
               VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
            (source, table, version, Jsonb(source_schema), Jsonb(landed_schema), Jsonb(diff)))
        return version

    # ---- sync conflicts ----------------------------------------------------------------------------------------

    def record_conflicts(self, source: str, table: str, conflicts: list[dict[str, str]]) -> int:
        """Open a conflict per (column, source type) unless one is open already; returns how many are new."""
        opened = 0
        for conflict in conflicts:
            rows = self._rows(
                """INSERT INTO aietl_meta.sync_conflicts (source, table_name, column_name, landed_type, source_type,
                                                          detail)
                   VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id""",
                (source, table, conflict["column"], conflict["landed_type"], conflict["source_type"],
                 conflict["detail"]))
            opened += len(rows)
        return opened

    def open_conflicts(self, source: str, table: str) -> list[dict[str, Any]]:
        return self._rows(
            """SELECT id, column_name, landed_type, source_type, detail, detected_at FROM aietl_meta.sync_conflicts
               WHERE source = %s AND table_name = %s AND resolved_at IS NULL ORDER BY id""", (source, table))

    def resolve_conflicts(self, source: str, table: str, resolution: str = "reload") -> int:
        """Close the table's open conflicts and ask for a full reload, which lands the table with the new schema."""
        rows = self._rows(
            """UPDATE aietl_meta.sync_conflicts SET resolved_at = now(), resolution = %s
               WHERE source = %s AND table_name = %s AND resolved_at IS NULL RETURNING id""",
            (resolution, source, table))
        if rows:
            self.request_full_reload(source, table)
        return len(rows)


def _same(stored: dict[str, Any], current: dict[str, Any]) -> bool:
    return json.dumps(stored, sort_keys=True, default=_json_default) == json.dumps(
        current, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
