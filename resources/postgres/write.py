"""Landing Arrow batches in PostgreSQL, on the caller's transaction: create or evolve the table, then replace,
upsert or append (see :meth:`resources.postgres.PostgresResource.write` for what each mode guarantees)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from resources.postgres import sql as statements
from resources.postgres.catalog import has_dependent_views, target_columns
from resources.postgres.copy import arrow_fields, copy_batches
from resources.postgres.types import SchemaConflictError, ddl_type, logical_type
from resources.protocol import WriteMode, WriteResult
from resources.schema import Column, TableSchema, widest_type

IDENTIFIER_BYTES = 63

Filler = Callable[[psycopg.Connection, sql.Composable, dict[str, str]], int]
"""COPYs rows into a table (its column -> PostgreSQL type given) and returns how many."""


def write(connection: psycopg.Connection, namespace: str, table: TableSchema, batches: Iterable[pa.RecordBatch],
          mode: WriteMode, period: Any = None) -> WriteResult:
    """Land Arrow batches (encoded to binary COPY by pgpq, in the target's own column types)."""
    if mode is WriteMode.REPLACE_PERIOD:
        return replace_period(connection, namespace, table, arrow_filler(batches), period)
    return land(connection, namespace, table, arrow_filler(batches), mode, unique_keys=False)


def replace_period(connection: psycopg.Connection, namespace: str, table: TableSchema, fill: Filler,
                   period: Any) -> WriteResult:
    """Delete the rows of ``period`` and COPY the new ones, on the caller's transaction: a rerun of a partition
    leaves exactly its rows, and readers see the old period or the new one."""
    if period is None:
        raise ValueError(f"replacing a period of {namespace}.{table.name} needs the period")
    connection.execute(statements.create_schema(namespace))
    added = ensure_table(connection, namespace, table)
    connection.execute(statements.lock_for_load(namespace, table.name))
    connection.execute(statements.delete_period(namespace, table.name, period))
    return WriteResult(rows_written=_fill_target(connection, namespace, table, fill), added_columns=added)


def arrow_filler(batches: Iterable[pa.RecordBatch]) -> Filler:
    def fill(connection: psycopg.Connection, target: sql.Composable, types: dict[str, str]) -> int:
        return copy_batches(connection, target, arrow_fields(types), batches)
    return fill


def land(connection: psycopg.Connection, namespace: str, table: TableSchema, fill: Filler, mode: WriteMode,
         unique_keys: bool) -> WriteResult:
    """Land what ``fill`` COPYs, on the caller's transaction.

    ``unique_keys`` says the rows cannot repeat a primary key (a snapshot of a source whose own key covers it): the
    upsert then needs no de-duplication, and a first load into an empty target COPYs straight into it.
    """
    connection.execute(statements.create_schema(namespace))
    if mode is WriteMode.REPLACE:
        return replace(connection, namespace, table, fill)
    added = ensure_table(connection, namespace, table)
    if not table.primary_key and not table.cursor_column:
        return WriteResult(rows_written=_fill_target(connection, namespace, table, fill), added_columns=added)
    connection.execute(statements.lock_for_load(namespace, table.name))
    if (unique_keys or not table.primary_key) and _is_empty(connection, namespace, table.name):
        return WriteResult(rows_written=_fill_target(connection, namespace, table, fill), added_columns=added)
    temporary, names = _load_temporary(connection, namespace, table, fill)
    if table.primary_key:
        statement = statements.upsert(namespace, table.name, temporary, names, table.primary_key,
                                      table.cursor_column, deduplicate=not unique_keys)
    else:
        statement = statements.append_new_rows(namespace, table.name, temporary, names, table.cursor_column)
    return WriteResult(rows_written=connection.execute(statement).rowcount, added_columns=added)


def _fill_target(connection: psycopg.Connection, namespace: str, table: TableSchema, fill: Filler) -> int:
    return fill(connection, sql.Identifier(namespace, table.name), load_types(connection, namespace, table.name, table))


def load_types(connection: psycopg.Connection, namespace: str, name: str, table: TableSchema) -> dict[str, str]:
    """Column -> PostgreSQL type of the target ``namespace.name``, for the columns of ``table``, in target order."""
    wanted = _names(table)
    return {column: pg_type for column, pg_type in target_columns(connection, namespace, name).items()
            if column in wanted}


def _is_empty(connection: psycopg.Connection, namespace: str, name: str) -> bool:
    return connection.execute(statements.is_empty(namespace, name)).fetchone()[0]


def ensure_table(connection: psycopg.Connection, namespace: str, table: TableSchema) -> list[str]:
    """Create the table, or add missing columns and widen narrower ones; returns the names of added columns."""
    connection.execute(statements.create_schema(namespace))
    existing = target_columns(connection, namespace, table.name)
    if not existing:
        _create_table(connection, namespace, table.name, table, pkey_name(table.name))
        return []
    added = []
    for column in table.columns:
        if column.name not in existing:
            connection.execute(statements.add_column(namespace, table.name, column.name, ddl_type(column.logical_type)))
            added.append(column.name)
            continue
        current = logical_type(existing[column.name])
        wanted = widest_type(current, column.logical_type)
        if wanted is None:
            raise SchemaConflictError(
                f"{namespace}.{table.name}.{column.name}: the target column is {existing[column.name]} "
                f"({current}) and cannot hold {column.logical_type} values")
        if wanted != current:
            connection.execute(statements.alter_column_type(namespace, table.name, column.name, ddl_type(wanted)))
    return added


def _create_table(connection: psycopg.Connection, namespace: str, name: str, table: TableSchema,
                  constraint: str) -> None:
    columns = [(c.name, ddl_type(c.logical_type)) for c in table.columns]
    connection.execute(statements.create_table(namespace, name, columns, table.primary_key, constraint))


def pkey_name(table_name: str) -> str:
    return truncate_identifier(f"{table_name}_pkey")


def truncate_identifier(name: str, limit: int = IDENTIFIER_BYTES) -> str:
    """``name`` when it fits PostgreSQL's identifier length, else its start plus a digest of the whole."""
    encoded = name.encode("utf-8")
    if len(encoded) <= limit:
        return name
    digest = hashlib.md5(encoded).hexdigest()[:8]
    return encoded[: limit - 9].decode("utf-8", errors="ignore") + "_" + digest


def _names(table: TableSchema) -> set[str]:
    return {c.name for c in table.columns}


def replace(connection: psycopg.Connection, namespace: str, table: TableSchema, fill: Filler) -> WriteResult:
    """Load a staging table, then swap it in (or, when views depend on the target, delete + insert from it)."""
    existing = target_columns(connection, namespace, table.name)
    staging_schema = _with_kept_columns(table, existing)
    staging = truncate_identifier(f"_aietl_stage_{hashlib.md5(table.name.encode()).hexdigest()[:12]}")
    constraint = truncate_identifier(f"_aietl_pk_{uuid.uuid4().hex[:12]}")
    connection.execute(statements.drop_table(namespace, staging))
    _create_table(connection, namespace, staging, staging_schema, constraint)
    written = fill(connection, sql.Identifier(namespace, staging), load_types(connection, namespace, staging, table))
    added = [c.name for c in table.columns if existing and c.name not in existing]
    if existing and has_dependent_views(connection, namespace, table.name):
        ensure_table(connection, namespace, staging_schema)
        connection.execute(statements.delete_all(namespace, table.name))
        connection.execute(statements.insert_from(namespace, table.name, staging,
                                                  [c.name for c in staging_schema.columns]))
        connection.execute(statements.drop_table(namespace, staging, if_exists=False))
        return WriteResult(rows_written=written, added_columns=added)
    connection.execute(statements.drop_table(namespace, table.name))
    connection.execute(statements.rename_table(namespace, staging, table.name))
    if table.primary_key:
        connection.execute(statements.rename_constraint(namespace, table.name, constraint, pkey_name(table.name)))
    return WriteResult(rows_written=written, added_columns=added)


def _with_kept_columns(table: TableSchema, existing: dict[str, str]) -> TableSchema:
    """``table`` plus the target's columns it no longer has (kept, NULL in new rows: a replace never drops one)."""
    names = _names(table)
    kept = [Column(name, logical_type(pg_type), True, pg_type) for name, pg_type in existing.items()
            if name not in names]
    return TableSchema(source=table.source, name=table.name, columns=[*table.columns, *kept],
                       primary_key=table.primary_key, cursor_column=table.cursor_column, namespace=table.namespace)


def _load_temporary(connection: psycopg.Connection, namespace: str, table: TableSchema, fill: Filler
                    ) -> tuple[sql.Identifier, list[str]]:
    """COPY into a temporary copy of the target; returns its name and the loaded column names."""
    temporary = sql.Identifier(f"_aietl_incoming_{uuid.uuid4().hex[:12]}")
    connection.execute(statements.create_temporary_like(temporary, namespace, table.name))
    types = load_types(connection, namespace, table.name, table)
    fill(connection, temporary, types)
    return temporary, list(types)
