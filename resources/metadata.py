"""The platform's own metadata in PostgreSQL (schema ``aietl_meta``): ingestion log, schema history, sync conflicts,
watermarks, and views summarising them.

The schema is created by the versioned SQL files of ``resources/migrations`` (``NNNN_name.sql``), applied in lexical
order, each in its own transaction, and recorded in ``aietl_meta.schema_migrations``. ``migrate()`` runs once per
process and database before the first use, under an advisory lock so that parallel runs do not race.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from resources.postgres import PostgresResource

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
_HISTORY_COLUMNS = ("started_at", "finished_at", "mode", "rows_read", "rows_written", "rows_quarantined",
                    "watermark_from", "watermark_to", "status", "error")


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


class MetadataResource(dg.ConfigurableResource):
    """Ingestion log, schema history, sync conflicts and watermarks, in schema ``aietl_meta`` of ``postgres``."""

    postgres: PostgresResource

    # ---- migrations --------------------------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply the migrations not applied yet; returns their versions (``0001`` ...)."""
        applied_now = []
        with self.postgres.connect(autocommit=True) as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))
            try:
                connection.execute(_BOOTSTRAP)
                done = {row[0] for row in connection.execute("SELECT version FROM aietl_meta.schema_migrations")}
                for file in migration_files():
                    version, name = file.stem.split("_", 1)
                    if version in done:
                        continue
                    text = file.read_text(encoding="utf-8")
                    with connection.transaction():
                        connection.execute(text)
                        connection.execute(
                            "INSERT INTO aietl_meta.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                            (version, name, hashlib.sha256(text.encode()).hexdigest()))
                    applied_now.append(version)
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_KEY,))
        return applied_now

    def _ready(self) -> PostgresResource:
        key = (self.postgres.host, self.postgres.port, self.postgres.database)
        if key not in _migrated:
            with _migrated_lock:
                if key not in _migrated:
                    self.migrate()
                    _migrated.add(key)
        return self.postgres

    def _rows(self, statement: str, params: Any = None) -> list[dict[str, Any]]:
        with self._ready().connect() as connection, connection.cursor(row_factory=dict_row) as cursor:
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
