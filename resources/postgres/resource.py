"""PostgreSQL as a source (catalog discovery, COPY streaming) and as a destination (binary COPY via pgpq).

Reading runs ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` and parses the stream with Arrow's multi-threaded CSV
reader: one consistent snapshot, bounded memory, and about twice the speed of fetching tuples from a named cursor.
Writing encodes Arrow batches straight into PostgreSQL's binary COPY format (pgpq) and lands them atomically:
``replace`` loads a staging table and swaps it in, ``merge`` upserts from a temporary table on the primary key,
``append`` inserts only rows that are not already there (see :meth:`PostgresResource.write`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import dagster as dg
import psycopg
import pyarrow as pa
from psycopg import sql
from pydantic import Field

from resources.postgres import catalog, client, copy, transfer, write
from resources.postgres import sql as statements
from resources.protocol import OnBadRecord, WriteMode, WriteResult
from resources.schema import TableSchema


class PostgresResource(dg.ConfigurableResource):
    """A PostgreSQL database: a source over ``schema_name`` and a destination for landed tables."""

    dialect: ClassVar[str] = "postgres"

    host: str = "127.0.0.1"
    port: int = 5432
    database: str = "postgres"
    user: str = "postgres"
    password: str = ""
    sslmode: str = "prefer"
    connect_timeout_s: int = 10
    schema_name: str = "public"
    source_name: str = ""
    application_name: str = Field(default="aietl", description="Shown in pg_stat_activity.")

    @classmethod
    def from_dsn(cls, dsn: str, **overrides: Any) -> PostgresResource:
        """Build from a libpq URL or key=value string; ``overrides`` win over what the DSN says."""
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
        fields: dict[str, Any] = {
            "host": parts.get("host", "127.0.0.1"), "port": int(parts.get("port", 5432)),
            "database": parts.get("dbname", "postgres"), "user": parts.get("user", "postgres"),
            "password": parts.get("password", ""), "sslmode": parts.get("sslmode", "prefer"),
        }
        if "connect_timeout" in parts:
            fields["connect_timeout_s"] = int(parts["connect_timeout"])
        return cls(**{**fields, **overrides})

    # ---- connections -------------------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        role = f"source {self.source_name}" if self.source_name else "PostgreSQL"
        return f"{role} (postgres at {self.host}:{self.port}/{self.database})"

    def conninfo(self) -> str:
        return client.make_conninfo(
            host=self.host, port=self.port, database=self.database, user=self.user, password=self.password,
            sslmode=self.sslmode, connect_timeout_s=self.connect_timeout_s, application_name=self.application_name)

    def connect(self, autocommit: bool = False) -> AbstractContextManager[psycopg.Connection]:
        """A psycopg 3 connection; any failure to reach the server becomes a :class:`SourceUnavailableError`."""
        return client.connect(self.conninfo(), self.label, self.password, autocommit=autocommit)

    def execute(self, statement: str | sql.Composable, params: Any = None) -> int:
        """Run one statement in its own transaction; returns the affected row count."""
        with self.connect() as connection:
            return connection.execute(statement, params).rowcount

    def query_arrow(self, statement: str | sql.Composable, params: Any = None) -> pa.Table:
        """A small query's result as an Arrow table (types inferred from the values)."""
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(statement, params)
            names = [column.name for column in cursor.description or []]
            rows = cursor.fetchall()
        columns = list(zip(*rows)) if rows else [[] for _ in names]
        return pa.table({name: pa.array(values) if rows else pa.array([], pa.string())
                         for name, values in zip(names, columns)})

    # ---- catalog -----------------------------------------------------------------------------------------------

    def table_columns(self, namespace: str, table: str) -> list[tuple[str, str]]:
        """``(column, format_type())`` of ``namespace.table`` in column order; empty when there is no such table."""
        with self.connect(autocommit=True) as connection:
            return list(catalog.target_columns(connection, namespace, table).items())

    def table_size_bytes(self, namespace: str, table: str) -> int | None:
        """The table's total size (with indexes and TOAST); None when there is no such table."""
        with self.connect(autocommit=True) as connection:
            return catalog.table_size_bytes(connection, namespace, table)

    def row_count(self, namespace: str, table: str) -> int | None:
        """The exact number of rows of ``namespace.table``; None when there is no such table."""
        with self.connect(autocommit=True) as connection:
            try:
                return int(connection.execute(statements.count_rows(namespace, table)).fetchone()[0])
            except psycopg.errors.UndefinedTable:
                return None

    def row_batches(self, namespace: str, table: str, size: int) -> Iterator[list[dict[str, Any]]]:
        """Every row of ``namespace.table`` as dicts, ``size`` at a time, through a server-side cursor."""
        with self.connect() as connection, connection.transaction(), connection.cursor(
                name=f"aietl_rows_{uuid.uuid4().hex[:12]}") as cursor:
            cursor.itersize = size
            cursor.execute(statements.select_all(namespace, table))
            while rows := cursor.fetchmany(size):
                names = [column.name for column in cursor.description]
                yield [dict(zip(names, row)) for row in rows]

    # ---- source ------------------------------------------------------------------------------------------------

    def discover(self, tables: list[str] | None = None) -> list[TableSchema]:
        """Tables and views of ``schema_name`` from pg_catalog: columns, logical types, keys, row estimates."""
        with self.connect(autocommit=True) as connection:
            return catalog.discover(connection, self.source_name, self.schema_name, tables)

    def discover_table(self, name: str) -> TableSchema | None:
        found = self.discover([name])
        return found[0] if found else None

    def read(self, table: TableSchema, since: Any = None, on_bad_record: OnBadRecord | None = None,
             period: Any = None) -> Iterator[pa.RecordBatch]:
        """Stream the table as Arrow batches; with ``since``, rows whose cursor is ``>= since`` or NULL.

        NULL cursors are re-read on every incremental run so that such rows are never lost; the destination
        deduplicates them. A connection lost mid-stream raises :class:`SourceUnavailableError`.
        """
        query = statements.copy_out(table, table.namespace or self.schema_name, since, period)
        with self.connect(autocommit=True) as connection:
            connection.execute(statements.UTC_SESSION)
            yield from copy.read_csv(connection, query, table, self.label, self.password)

    def read_binary(self, table: TableSchema, since: Any, target_types: dict[str, str]) -> Iterator[bytes]:
        """Like :meth:`read`, as a binary COPY stream whose columns are cast to ``target_types`` (a PostgreSQL
        target's column types): what :meth:`write_copy` of a PostgreSQL destination lands without decoding."""
        return transfer.read_binary(self.conninfo(), table, table.namespace or self.schema_name, since, target_types,
                                    self.label, self.password)

    def max_cursor(self, table: TableSchema, at_least: Any = None) -> Any:
        if not table.cursor_column:
            raise ValueError(f"{self.label}: table {table.name!r} has no cursor column configured")
        with self.connect(autocommit=True) as connection:
            statement = statements.max_cursor(table, table.namespace or self.schema_name, at_least is not None)
            return connection.execute(statement, (at_least,) if at_least is not None else None).fetchone()[0]

    def max_cursors(self, tables: list[TableSchema], timeout_s: float = 30.0) -> dict[str, Any]:
        """Table name -> its cursor's maximum (as text), for many tables in one round trip (a sensor's tick).

        A table that cannot be read (dropped, renamed, no permission) gets an exception as its value, naming it and
        the reason; the others are still answered.
        """
        wanted = [(t.namespace or self.schema_name, t.name, t.cursor_column) for t in tables if t.cursor_column]
        if not wanted:
            return {}
        with self.connect(autocommit=True) as connection:
            connection.execute(statements.set_statement_timeout(timeout_s))
            try:
                return dict(connection.execute(statements.max_cursors(wanted)).fetchall())
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn,
                    psycopg.errors.InsufficientPrivilege):
                return {name: self._one_max_cursor(connection, entry) for entry in wanted for name in [entry[1]]}

    def _one_max_cursor(self, connection: psycopg.Connection, entry: tuple[str, str, str]) -> Any:
        try:
            return connection.execute(statements.max_cursors([entry])).fetchone()[1]
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn,
                psycopg.errors.InsufficientPrivilege) as error:
            return ValueError(f"{self.label}: cannot read the cursor of {entry[0]}.{entry[1]}: "
                              f"{client.redact(error, self.password)}")

    # ---- destination -------------------------------------------------------------------------------------------

    def ensure_table(self, namespace: str, table: TableSchema) -> list[str]:
        with self.connect() as connection, connection.transaction():
            return write.ensure_table(connection, namespace, table)

    def write(self, namespace: str, table: TableSchema, batches: Iterable[pa.RecordBatch], mode: WriteMode,
              period: Any = None) -> WriteResult:
        """Land ``batches`` in ``namespace.table`` in one transaction.

        - ``replace``: COPY into a staging table built from ``table``, then swap it in (or, when views depend on
          the target, delete + insert from staging in the same transaction); readers see old or new, never half.
        - ``merge``: COPY into a temporary table, then upsert on the primary key (latest cursor wins).
        - ``replace_period``: delete the rows of ``period`` (a time partition), then COPY the new ones.
        - ``append``: with a primary key, as merge; without one but with a cursor column, insert only the rows not
          already present at or after the batch's lowest cursor (``EXCEPT ALL``), so re-read boundary rows and
          lookback windows never duplicate; otherwise a plain COPY.
        """
        mode = WriteMode(mode)
        if mode is WriteMode.MERGE and not table.primary_key:
            raise ValueError(f"{self.label}: merge into {namespace}.{table.name} needs a primary key")
        with self.connect() as connection, connection.transaction():
            return write.write(connection, namespace, table, batches, mode, period)

    def write_copy(self, namespace: str, table: TableSchema, chunks: transfer.ChunkSource, mode: WriteMode,
                   unique_keys: bool = False) -> tuple[WriteResult, transfer.LoadedStats]:
        """Like :meth:`write`, from a binary COPY stream in this target's column types (see :meth:`read_binary`);
        also returns the loaded rows' count, highest cursor and NULL cursors."""
        stats = transfer.LoadedStats()
        fill = transfer.chunk_filler(chunks, table.cursor_column, stats)
        with self.connect() as connection, connection.transaction():
            connection.execute(statements.UTC_SESSION)
            return write.land(connection, namespace, table, fill, WriteMode(mode), unique_keys), stats
