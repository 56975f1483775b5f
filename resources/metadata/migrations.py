"""The migration runner: the versioned SQL files of ``resources/migrations`` (``NNNN_name.sql``), applied in lexical
order, each in its own transaction, recorded in ``aietl_meta.schema_migrations``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import psycopg

from resources.metadata import sql

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
MIGRATION_LOCK_KEY = 0x5E7A_0001


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
        connection.execute(sql.ADVISORY_LOCK, (MIGRATION_LOCK_KEY,))
    try:
        with connection.transaction():
            connection.execute(sql.BOOTSTRAP)
        done = _applied_versions(connection)
        for file in pending:
            version, name = file.stem.split("_", 1)
            if version in done:
                continue  # applied by a parallel caller while this one waited for the lock
            text = file.read_text(encoding="utf-8")
            with connection.transaction():
                connection.execute(text)
                connection.execute(sql.RECORD_MIGRATION, (version, name, hashlib.sha256(text.encode()).hexdigest()))
            applied_now.append(version)
    finally:
        with connection.transaction():
            connection.execute(sql.ADVISORY_UNLOCK, (MIGRATION_LOCK_KEY,))
    return applied_now


def _version(file: Path) -> str:
    return file.stem.split("_", 1)[0]


def _applied_versions(connection: psycopg.Connection) -> set[str]:
    """The versions recorded in the connection's database (none before the first migration)."""
    with connection.transaction():
        if not connection.execute(sql.MIGRATIONS_TABLE_EXISTS).fetchone()[0]:
            return set()
        return {row[0] for row in connection.execute(sql.APPLIED_VERSIONS)}
