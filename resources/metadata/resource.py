"""MetadataResource: the platform's own metadata in schema ``aietl_meta`` of a PostgreSQL database.

``migrate()`` runs once per process and database before the first use (see :mod:`resources.metadata.migrations`).

Connections: every call inside :meth:`MetadataResource.session` shares one connection (``load_table`` opens a session
per load), and within a Dagster run or sensor tick the resource keeps one connection from its first use until the run
or tick ends (``setup_for_execution`` / ``teardown_after_execution``). Outside both, each call connects on its own.
Statements run in autocommit mode, so each is its own transaction; a statement run for many rows runs in one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import dagster as dg
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import PrivateAttr

from resources.metadata import sql
from resources.metadata.connection import SharedConnection
from resources.metadata.migrations import apply_migrations
from resources.postgres import PostgresResource

_migrated: set[tuple[str, int, str]] = set()
_migrated_lock = threading.Lock()


class MetadataResource(dg.ConfigurableResource):
    """Ingestion log, schema history, sync conflicts, watermarks, profile history, check results and the embedding
    index, in schema ``aietl_meta`` of ``postgres``."""

    postgres: PostgresResource
    _shared: SharedConnection | None = PrivateAttr(default=None)

    # ---- connections -------------------------------------------------------------------------------------------

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Share one connection for the run or sensor tick; it opens on first use, so an unused store costs nothing."""
        self._shared = SharedConnection(self.postgres)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    @contextmanager
    def session(self) -> Iterator[MetadataResource]:
        """Calls inside share one connection (closed at the end of the outermost session); sessions nest."""
        opened_here = self._shared is None
        if opened_here:
            self._shared = SharedConnection(self.postgres)
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

    def _rows(self, statement: Any, params: Any = None) -> list[dict[str, Any]]:
        self._ready()
        with self._connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def _run_many(self, statement: str, params: Sequence[Sequence[Any]]) -> None:
        """One statement for each parameter row, all in one transaction."""
        self._ready()
        with self._connection() as connection, connection.transaction(), connection.cursor() as cursor:
            cursor.executemany(statement, params)

    # ---- ingestion log -----------------------------------------------------------------------------------------

    def start_ingestion(self, source: str, table: str, mode: str, watermark_from: str | None = None,
                        run_id: str | None = None, partition_key: str | None = None) -> int:
        """Open an ingestion log entry (status running); returns its id for :meth:`finish_ingestion`."""
        return self._rows(sql.START_INGESTION, (run_id, source, table, mode, watermark_from, partition_key))[0]["id"]

    def finish_ingestion(self, entry_id: int, status: str, rows_read: int = 0, rows_written: int = 0,
                         rows_quarantined: int = 0, watermark_to: str | None = None, error: str | None = None,
                         mode: str | None = None) -> None:
        self._rows(sql.FINISH_INGESTION,
                   (status, rows_read, rows_written, rows_quarantined, watermark_to, error, mode, entry_id))

    def ingestion_history(self, source: str, table: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest loads of one table, newest first."""
        return self._rows(sql.INGESTION_HISTORY, (source, table, limit))

    def sync_summary(self) -> list[dict[str, Any]]:
        return self._rows(sql.SYNC_SUMMARY)

    def recent_failures(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._rows(sql.RECENT_FAILURES, (limit,))

    # ---- watermarks --------------------------------------------------------------------------------------------

    def watermark(self, source: str, table: str) -> dict[str, Any] | None:
        """The stored watermark: cursor_column, logical_type, value (text), full_reload_requested, updated_at."""
        rows = self._rows(sql.WATERMARK, (source, table))
        return rows[0] if rows else None

    def save_watermark(self, source: str, table: str, cursor_column: str | None, logical_type: str | None,
                       value: str | None) -> None:
        """Store the high-water mark after the rows it covers have landed (also clears a full-reload request)."""
        self._rows(sql.SAVE_WATERMARK, (source, table, cursor_column, logical_type, value))

    def request_full_reload(self, source: str, table: str) -> None:
        """Make the next load of the table replace it from scratch (the watermark is forgotten)."""
        self._rows(sql.REQUEST_FULL_RELOAD, (source, table))

    # ---- schema history ----------------------------------------------------------------------------------------

    def latest_schema(self, source: str, table: str) -> dict[str, Any] | None:
        """The newest snapshot: version, source_schema, landed_schema (TableSchema dicts), diff, recorded_at."""
        rows = self._rows(sql.LATEST_SCHEMA, (source, table))
        return rows[0] if rows else None

    def schema_history(self, source: str, table: str) -> list[dict[str, Any]]:
        return self._rows(sql.SCHEMA_HISTORY, (source, table))

    def record_schema(self, source: str, table: str, source_schema: dict[str, Any], landed_schema: dict[str, Any],
                      diff: dict[str, Any]) -> int:
        """Store a new version when either schema differs from the latest one; returns the current version."""
        latest = self.latest_schema(source, table)
        if latest and _same(latest["source_schema"], source_schema) and _same(latest["landed_schema"], landed_schema):
            return latest["version"]
        version = (latest["version"] + 1) if latest else 1
        self._rows(sql.RECORD_SCHEMA,
                   (source, table, version, Jsonb(source_schema), Jsonb(landed_schema), Jsonb(diff)))
        return version

    # ---- sync conflicts ----------------------------------------------------------------------------------------

    def record_conflicts(self, source: str, table: str, conflicts: list[dict[str, str]]) -> int:
        """Open a conflict per (column, source type) unless one is open already; returns how many are new."""
        opened = 0
        for conflict in conflicts:
            rows = self._rows(sql.OPEN_CONFLICT, (source, table, conflict["column"], conflict["landed_type"],
                                                  conflict["source_type"], conflict["detail"]))
            opened += len(rows)
        return opened

    def open_conflicts(self, source: str, table: str) -> list[dict[str, Any]]:
        return self._rows(sql.OPEN_CONFLICTS, (source, table))

    def resolve_conflicts(self, source: str, table: str, resolution: str = "reload") -> int:
        """Close the table's open conflicts and ask for a full reload, which lands the table with the new schema."""
        rows = self._rows(sql.RESOLVE_CONFLICTS, (resolution, source, table))
        if rows:
            self.request_full_reload(source, table)
        return len(rows)

    # ---- profile history and check results ---------------------------------------------------------------------

    def previous_row_counts(self, source: str, table: str, limit: int = 30) -> list[int]:
        """Row counts of the latest profiles of a table, newest first."""
        return [int(row["row_count"]) for row in self._rows(sql.PREVIOUS_ROW_COUNTS, (source, table, limit))]

    def record_profile(self, source: str, table: str, *, row_count: int, size_bytes: int | None,
                       duplicate_rows: int | None, sampled: bool, columns: list[dict[str, Any]],
                       profile: dict[str, Any], run_id: str | None = None) -> None:
        """One profile of a table: its facts, ``columns`` (one dict per column) and the whole profile as JSON."""
        self._rows(sql.RECORD_PROFILE, (run_id, source, table, row_count, size_bytes, duplicate_rows, sampled,
                                        json.dumps(columns), _json_text(profile)))

    def record_check_results(self, source: str, table: str, results: Sequence[dict[str, Any]], blocking: bool,
                             run_id: str | None = None) -> None:
        """The outcome of each check (dicts of name, passed, severity, description, metadata), in one transaction."""
        if not results:
            return
        self._run_many(sql.RECORD_CHECK_RESULT, [
            (run_id, source, table, result["name"], result["passed"], result["severity"], blocking,
             result["description"], json.dumps(result["metadata"], default=str)) for result in results])

    # ---- embedding index ---------------------------------------------------------------------------------------

    def read_index(self, collection: str) -> dict[str, str]:
        """Point id -> content hash of everything indexed for ``collection``."""
        return {row["point_id"]: row["content_hash"] for row in self._rows(sql.READ_INDEX, (collection,))}

    def clear_index(self, collection: str) -> None:
        self._rows(sql.CLEAR_INDEX, (collection,))

    def upsert_index(self, collection: str, entries: Sequence[tuple[str, dict[str, Any], str]]) -> None:
        """Index ``(point id, primary key, content hash)`` entries, replacing those of the same point."""
        if entries:
            self._run_many(sql.UPSERT_INDEX, [(collection, point_id, Jsonb(pk), content_hash)
                                              for point_id, pk, content_hash in entries])

    def delete_index(self, collection: str, point_ids: Sequence[str]) -> None:
        if point_ids:
            self._rows(sql.DELETE_INDEX_POINTS, (collection, list(point_ids)))


def _same(stored: dict[str, Any], current: dict[str, Any]) -> bool:
    return json.dumps(stored, sort_keys=True, default=_json_default) == json.dumps(
        current, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _json_text(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
