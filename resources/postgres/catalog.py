"""What the PostgreSQL catalog says: discovered tables as ``TableSchema``, the columns and size of a landed table."""

from __future__ import annotations

import re

import psycopg

from resources.postgres import sql as statements
from resources.postgres.types import logical_type
from resources.schema import Column, TableSchema

_CURSOR_NAME = re.compile(r"(updated|modified|changed|_at$|_ts$|time)", re.IGNORECASE)


def discover(connection: psycopg.Connection, source: str, namespace: str, tables: list[str] | None
             ) -> list[TableSchema]:
    """Tables and views of ``namespace`` (all, or those named in ``tables``), sorted by name."""
    columns = connection.execute(statements.DISCOVER_COLUMNS, (namespace, tables, tables)).fetchall()
    keys = dict(connection.execute(statements.DISCOVER_KEYS, (namespace,)).fetchall())
    by_table: dict[str, list[tuple]] = {}
    for row in columns:
        by_table.setdefault(row[0], []).append(row)
    return [table_schema(source, namespace, name, rows, keys.get(name, [])) for name, rows in sorted(by_table.items())]


def table_schema(source: str, namespace: str, name: str, rows: list[tuple], primary_key: list[str]) -> TableSchema:
    """One table from its ``DISCOVER_COLUMNS`` rows."""
    columns = [Column(name=row[2], logical_type=logical_type(row[3]), nullable=not row[4], source_type=row[3],
                      description=row[5] or "") for row in rows]
    sequences = {row[2] for row in rows if row[6]}
    estimate = rows[0][1]
    return TableSchema(
        source=source, name=name, columns=columns, primary_key=list(primary_key),
        cursor_candidates=cursor_candidates(columns, primary_key, sequences),
        row_estimate=int(estimate) if estimate is not None and estimate >= 0 else None,
        namespace=namespace,
    )


def cursor_candidates(columns: list[Column], primary_key: list[str], sequences: set[str]) -> list[str]:
    """Timestamp/date columns (names like updated_at first), then integer keys filled from a sequence."""
    temporal = [c.name for c in columns if c.logical_type in ("timestamp", "timestamptz", "date")]
    temporal.sort(key=lambda name: (not _CURSOR_NAME.search(name), not name.startswith(("updated", "modified"))))
    monotonic = [c.name for c in columns if c.logical_type in ("int16", "int32", "int64")
                 and (c.name in sequences or primary_key == [c.name])]
    return temporal + monotonic


def target_columns(connection: psycopg.Connection, namespace: str, name: str) -> dict[str, str]:
    """Column name -> format_type() of an existing table, in column order (empty when the table does not exist)."""
    return dict(connection.execute(statements.TABLE_COLUMNS, (namespace, name)).fetchall())


def table_size_bytes(connection: psycopg.Connection, namespace: str, name: str) -> int | None:
    """The table's size with its indexes and TOAST; None when there is no such table."""
    row = connection.execute(statements.TABLE_SIZE, (namespace, name)).fetchone()
    return None if row is None else row[0]


def has_dependent_views(connection: psycopg.Connection, namespace: str, name: str) -> bool:
    return connection.execute(statements.DEPENDENT_VIEWS, (namespace, name)).fetchone() is not None
