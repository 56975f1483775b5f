"""Every statement the metadata store runs against schema ``aietl_meta``: fixed text with driver parameters, and
psycopg.sql where a statement is composed."""

from __future__ import annotations

from psycopg import sql

SCHEMA = "aietl_meta"

# ---- migrations ------------------------------------------------------------------------------------------------

BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS aietl_meta;
CREATE TABLE IF NOT EXISTS aietl_meta.schema_migrations (
    version    text        PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""
MIGRATIONS_TABLE_EXISTS = "SELECT to_regclass('aietl_meta.schema_migrations') IS NOT NULL"
APPLIED_VERSIONS = "SELECT version FROM aietl_meta.schema_migrations"
RECORD_MIGRATION = "INSERT INTO aietl_meta.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"
ADVISORY_LOCK = "SELECT pg_advisory_lock(%s)"
ADVISORY_UNLOCK = "SELECT pg_advisory_unlock(%s)"
PING = "SELECT 1"

# ---- ingestion log ---------------------------------------------------------------------------------------------

HISTORY_COLUMNS = ("started_at", "finished_at", "mode", "rows_read", "rows_written", "rows_quarantined",
                   "watermark_from", "watermark_to", "status", "error")
START_INGESTION = """INSERT INTO aietl_meta.ingestion_log (run_id, source, table_name, mode, watermark_from,
                                                      partition_key)
                     VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"""
FINISH_INGESTION = """UPDATE aietl_meta.ingestion_log
    SET finished_at = clock_timestamp(), duration_s = extract(epoch FROM clock_timestamp() - started_at),
        status = %s, rows_read = %s, rows_written = %s, rows_quarantined = %s, watermark_to = %s,
        error = %s, mode = coalesce(%s, mode)
    WHERE id = %s"""
INGESTION_HISTORY = sql.SQL(
    "SELECT {columns} FROM aietl_meta.ingestion_log WHERE source = %s AND table_name = %s "
    "ORDER BY started_at DESC, id DESC LIMIT %s").format(
        columns=sql.SQL(", ").join(sql.Identifier(name) for name in HISTORY_COLUMNS))
SYNC_SUMMARY = "SELECT * FROM aietl_meta.sync_summary ORDER BY source"
RECENT_FAILURES = "SELECT * FROM aietl_meta.recent_failures LIMIT %s"

# ---- watermarks ------------------------------------------------------------------------------------------------

WATERMARK = """SELECT cursor_column, logical_type, value, full_reload_requested, updated_at
               FROM aietl_meta.watermarks WHERE source = %s AND table_name = %s"""
SAVE_WATERMARK = """INSERT INTO aietl_meta.watermarks (source, table_name, cursor_column, logical_type, value)
    VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (source, table_name) DO UPDATE SET cursor_column = EXCLUDED.cursor_column,
        logical_type = EXCLUDED.logical_type, value = EXCLUDED.value, full_reload_requested = false,
        updated_at = now()"""
REQUEST_FULL_RELOAD = """INSERT INTO aietl_meta.watermarks (source, table_name, full_reload_requested)
    VALUES (%s, %s, true)
    ON CONFLICT (source, table_name) DO UPDATE SET full_reload_requested = true, value = NULL, updated_at = now()"""

# ---- schema history --------------------------------------------------------------------------------------------

LATEST_SCHEMA = """SELECT version, source_schema, landed_schema, diff, recorded_at FROM aietl_meta.schema_history
                   WHERE source = %s AND table_name = %s ORDER BY version DESC LIMIT 1"""
SCHEMA_HISTORY = """SELECT version, source_schema, landed_schema, diff, recorded_at FROM aietl_meta.schema_history
                    WHERE source = %s AND table_name = %s ORDER BY version"""
RECORD_SCHEMA = """INSERT INTO aietl_meta.schema_history
                       (source, table_name, version, source_schema, landed_schema, diff)
                   VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"""

# ---- sync conflicts --------------------------------------------------------------------------------------------

OPEN_CONFLICT = """INSERT INTO aietl_meta.sync_conflicts
                       (source, table_name, column_name, landed_type, source_type, detail)
                   VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id"""
OPEN_CONFLICTS = """SELECT id, column_name, landed_type, source_type, detail, detected_at
                    FROM aietl_meta.sync_conflicts
                    WHERE source = %s AND table_name = %s AND resolved_at IS NULL ORDER BY id"""
RESOLVE_CONFLICTS = """UPDATE aietl_meta.sync_conflicts SET resolved_at = now(), resolution = %s
                       WHERE source = %s AND table_name = %s AND resolved_at IS NULL RETURNING id"""

# ---- profile history and check results (migration 0200) -------------------------------------------------------

PREVIOUS_ROW_COUNTS = """SELECT row_count FROM aietl_meta.profile_history WHERE source = %s AND table_name = %s
                         ORDER BY profiled_at DESC, id DESC LIMIT %s"""
RECORD_PROFILE = """INSERT INTO aietl_meta.profile_history
                        (run_id, source, table_name, row_count, size_bytes, duplicate_rows, sampled, columns, profile)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)"""
RECORD_CHECK_RESULT = """INSERT INTO aietl_meta.check_results
                             (run_id, source, table_name, check_name, passed, severity, blocking, description,
                              metadata)
                         VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"""

# ---- embedding index (migration 0100) --------------------------------------------------------------------------

READ_INDEX = "SELECT point_id::text, content_hash FROM aietl_meta.embedding_index WHERE collection = %s"
CLEAR_INDEX = "DELETE FROM aietl_meta.embedding_index WHERE collection = %s"
UPSERT_INDEX = """INSERT INTO aietl_meta.embedding_index (collection, point_id, pk, content_hash)
                  VALUES (%s, %s, %s, %s)
                  ON CONFLICT (collection, point_id) DO UPDATE SET pk = excluded.pk,
                      content_hash = excluded.content_hash, embedded_at = now()"""
DELETE_INDEX_POINTS = "DELETE FROM aietl_meta.embedding_index WHERE collection = %s AND point_id = ANY(%s::uuid[])"
