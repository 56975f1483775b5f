"""Closing the ingestion-log entries that a dead run left ``running`` (its process was killed or crashed).

A load closes its own entry on every error it sees; only a process that dies outside Python (SIGKILL, OOM, a lost
node) leaves one open. The sensor ``run_recovery`` closes those of runs that have ended, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg.rows import dict_row

from resources.metadata.resource import MetadataResource

LOG_EXISTS = "SELECT to_regclass('aietl_meta.ingestion_log') IS NOT NULL AS present"
OPEN_RUN_IDS = """SELECT DISTINCT run_id FROM aietl_meta.ingestion_log
                  WHERE status = 'running' AND run_id IS NOT NULL"""
CLOSE_LOADS_OF_RUN = """UPDATE aietl_meta.ingestion_log
    SET status = 'failed', finished_at = clock_timestamp(),
        duration_s = extract(epoch FROM clock_timestamp() - started_at), rows_written = 0, error = %s
    WHERE run_id = %s AND status = 'running'
    RETURNING id, source, table_name"""


def open_run_ids(metadata: MetadataResource) -> list[str]:
    """Run ids with at least one ingestion-log entry still ``running`` (none before the first migration)."""
    with metadata.postgres.connect(autocommit=True) as connection, connection.cursor(row_factory=dict_row) as cur:
        if not cur.execute(LOG_EXISTS).fetchone()["present"]:
            return []
        return [row["run_id"] for row in cur.execute(OPEN_RUN_IDS).fetchall()]


def close_loads_of_runs(metadata: MetadataResource, reasons: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """Mark the ``running`` entries of each ``(run_id, reason)`` as failed with that reason; returns those closed."""
    closed: list[dict[str, Any]] = []
    with metadata.postgres.connect(autocommit=True) as connection, connection.cursor(row_factory=dict_row) as cur:
        for run_id, reason in reasons:
            rows = cur.execute(CLOSE_LOADS_OF_RUN, (reason, run_id)).fetchall()
            closed += [{**row, "run_id": run_id} for row in rows]
    return closed
