"""PostgreSQL as a source (catalog discovery, COPY streaming) and as a destination (binary COPY via pgpq).

Reading runs ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` and parses the stream with Arrow's multi-threaded CSV
reader: one consistent snapshot, bounded memory, and about twice the speed of fetching tuples from a named cursor.
Writing encodes Arrow batches straight into PostgreSQL's binary COPY format (pgpq) and lands them atomically:
``replace`` loads a staging table and swaps it in, ``merge`` upserts from a temporary table on the primary key,
``append`` inserts only rows that are not already there (see :meth:`PostgresResource.write`).
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import dagster as dg
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pgpq import ArrowToPostgresBinaryEncoder
from pgpq.encoders import StringEncoderBuilder
from pgpq.schema import Jsonb
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from pydantic import Field

from resources.protocol import (
    OnBadRecord,
    SourceUnavailableError,
    WriteMode,
    WriteResult,
)
from resources.schema import Column, TableSchema, to_arrow, widest_type

READ_BLOCK_BYTES = 4 << 20
TCP_USER_TIMEOUT_MS = 120_000
UNCONSTRAINED_NUMERIC = "decimal(38,10)"

_PG_TYPES = {
    "smallint": "int16", "integer": "int32", "bigint": "int64", "real": "float32", "double precision": "float64",
    "boolean": "bool", "text": "string", "bytea": "binary", "date": "date", "time without time zone": "time",
    "timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz", "json": "json",
    "jsonb": "json", "uuid": "uuid", "numeric": UNCONSTRAINED_NUMERIC,
}
_LOGICAL_DDL = {
    "bool": "boolean", "int16": "smallint", "int32": "integer", "int64": "bigint", "float32": "real",
    "float64": "double precision", "string": "text", "binary": "bytea", "date": "date", "time": "time",
    "timestamp": "timestamp", "timestamptz": "timestamptz", "json": "jsonb", "uuid": "uuid",
}
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")
_SIZED_TEXT = re.compile(r"^(character varying|character|bit varying|bit)(\(\d+\))?$")
_CURSOR_NAME = re.compile(r"(updated|modified|changed|_at$|_ts$|time)", re.IGNORECASE)
MAX_DECIMAL_PRECISION = 38
_SERVER_GONE = (psycopg.errors.AdminShutdown, psycopg.errors.CrashShutdown, psycopg.errors.CannotConnectNow,
                psycopg.errors.ConnectionException)


class SchemaConflictError(ValueError):
    """The target's column type cannot hold the incoming type; the message names table, column and both types."""


def logical_type(pg_type: str) -> str:
    """The logical type for a ``format_type()`` string; types without a native counterpart travel as strings."""
    pg_type = pg_type.strip()
    if pg_type.endswith("[]"):
        return "json"
    numeric = _NUMERIC.match(pg_type.replace(" ", ""))
    if numeric:
        precision, scale = int(numeric.group(1)), int(numeric.group(2))
        return f"decimal({precision},{scale})" if precision <= MAX_DECIMAL_PRECISION else "string"
    base = re.sub(r"\(\d+\)", "", pg_type) if pg_type.startswith("time") else pg_type
    if _SIZED_TEXT.match(pg_type):
        return "string"
    return _PG_TYPES.get(base, "string")


def ddl_type(logical: str) -> str:
    """The PostgreSQL column type that lands values of a logical type."""
    if logical.startswith("decimal("):
        return logical.replace("decimal", "numeric").replace(" ", "")
    return _LOGICAL_DDL[logical]


def _select_expression(column: Column) -> sql.Composable:
    """How a column is selected for COPY so that its text form parses as its Arrow type."""
    name = sql.Identifier(column.name)
    if column.source_type.endswith("[]"):
        return sql.SQL("to_jsonb({})::text").format(name)
    if column.source_type == "numeric" and column.logical_type == UNCONSTRAINED_NUMERIC:
        return sql.SQL("round({}, 10)").format(name)
    return name


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
        return psycopg.conninfo.make_conninfo(
            host=self.host, port=self.port, dbname=self.database, user=self.user, password=self.password or None,
            sslmode=self.sslmode, connect_timeout=self.connect_timeout_s, application_name=self.application_name,
            keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3,
            tcp_user_timeout=TCP_USER_TIMEOUT_MS,
        )

    @contextmanager
    def connect(self, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A psycopg 3 connection; any failure to reach the server becomes a :class:`SourceUnavailableError`."""
        try:
            connection = psycopg.connect(self.conninfo(), autocommit=autocommit)
        except psycopg.OperationalError as error:
            raise SourceUnavailableError(f"{self.label}: cannot connect: {self._redact(error)}") from None
        try:
            with connection:
                yield connection
        except psycopg.OperationalError as error:
            if connection.broken or isinstance(error, _SERVER_GONE):
                raise SourceUnavailableError(f"{self.label}: connection lost: {self._redact(error)}") from None
            raise

    def _redact(self, error: BaseException) -> str:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return message.replace(self.password, "***") if self.password else message

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

    # ---- source ------------------------------------------------------------------------------------------------

    def discover(self, tables: list[str] | None = None) -> list[TableSchema]:
        """Tables and views of ``schema_name`` from pg_catalog: columns, logical types, keys, row estimates."""
        with self.connect(autocommit=True) as connection:
            columns = connection.execute(_DISCOVER_COLUMNS, (self.schema_name, tables, tables)).fetchall()
            keys = dict(connection.execute(_DISCOVER_KEYS, (self.schema_name,)).fetchall())
        by_table: dict[str, list[tuple]] = {}
        for row in columns:
            by_table.setdefault(row[0], []).append(row)
        return [self._table_schema(name, rows, keys.get(name, [])) for name, rows in sorted(by_table.items())]

    def discover_table(self, name: str) -> TableSchema | None:
        found = self.discover([name])
        return found[0] if found else None

    def _table_schema(self, name: str, rows: list[tuple], primary_key: list[str]) -> TableSchema:
        columns = [Column(name=row[2], logical_type=logical_type(row[3]), nullable=not row[4], source_type=row[3],
                          description=row[5] or "") for row in rows]
        sequences = {row[2] for row in rows if row[6]}
        estimate = rows[0][1]
        return TableSchema(
            source=self.source_name, name=name, columns=columns, primary_key=list(primary_key),
            cursor_candidates=_cursor_candidates(columns, primary_key, sequences),
            row_estimate=int(estimate) if estimate is not None and estimate >= 0 else None,
            namespace=self.schema_name,
        )

    def read(self, table: TableSchema, since: Any = None, on_bad_record: OnBadRecord | None = None
             ) -> Iterator[pa.RecordBatch]:
        """Stream the table as Arrow batches; with ``since``, rows whose cursor is ``>= since`` or NULL.

        NULL cursors are re-read on every incremental run so that such rows are never lost; the destination
        deduplicates them. A connection lost mid-stream raises :class:`SourceUnavailableError`.
        """
        query = self._copy_query(table, since)
        target_schema = table.arrow_schema()
        with self.connect(autocommit=True) as connection:
            connection.execute("SET TIME ZONE 'UTC'")
            stream: _CopyStream | None = None
            try:
                with connection.cursor().copy(query) as copy:
                    stream = _CopyStream(copy)
                    reader = pacsv.open_csv(stream, read_options=_read_options(table),
                                            parse_options=pacsv.ParseOptions(newlines_in_values=True),
                                            convert_options=_convert_options(table))
                    for batch in reader:
                        if batch.num_rows:
                            yield _conform(batch, target_schema)
            except (psycopg.OperationalError, OSError, pa.ArrowException) as error:
                cause = stream.error if stream is not None and stream.error is not None else error
                if connection.broken or isinstance(cause, _SERVER_GONE):
                    raise SourceUnavailableError(
                        f"{self.label}: lost while reading {table.name!r}: {self._redact(cause)}") from None
                raise ValueError(f"{self.label}: cannot read {table.name!r}: {cause}") from cause

    def _copy_query(self, table: TableSchema, since: Any) -> sql.Composed:
        select = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(_select_expression(column) for column in table.columns),
            sql.Identifier(table.namespace or self.schema_name, table.name))
        if since is not None and table.cursor_column:
            cursor = sql.Identifier(table.cursor_column)
            select = sql.SQL("{} WHERE {} >= {} OR {} IS NULL").format(select, cursor, sql.Literal(since), cursor)
        return sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(select)

    def max_cursor(self, table: TableSchema) -> Any:
        if not table.cursor_column:
            raise ValueError(f"{self.label}: table {table.name!r} has no cursor column configured")
        query = sql.SQL("SELECT max({}) FROM {}").format(
            sql.Identifier(table.cursor_column), sql.Identifier(table.namespace or self.schema_name, table.name))
        with self.connect(autocommit=True) as connection:
            return connection.execute(query).fetchone()[0]

    # ---- destination -------------------------------------------------------------------------------------------

    def ensure_table(self, namespace: str, table: TableSchema) -> list[str]:
        with self.connect() as connection, connection.transaction():
            return _ensure_table(connection, namespace, table)

    def write(self, namespace: str, table: TableSchema, batches: Iterable[pa.RecordBatch], mode: WriteMode
              ) -> WriteResult:
        """Land ``batches`` in ``namespace.table`` in one transaction.

        - ``replace``: COPY into a staging table built from ``table``, then swap it in (or, when views depend on
          the target, delete + insert from staging in the same transaction); readers see old or new, never half.
        - ``merge``: COPY into a temporary table, then upsert on the primary key (latest cursor wins).
        - ``append``: with a primary key, as merge; without one but with a cursor column, insert only the rows not
          already present at or after the batch's lowest cursor (``EXCEPT ALL``), so re-read boundary rows and
          lookback windows never duplicate; otherwise a plain COPY.
        """
        mode = WriteMode(mode)
        if mode is WriteMode.MERGE and not table.primary_key:
            raise ValueError(f"{self.label}: merge into {namespace}.{table.name} needs a primary key")
        with self.connect() as connection, connection.transaction():
            connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(namespace)))
            if mode is WriteMode.REPLACE:
                return _replace(connection, namespace, table, batches)
            added = _ensure_table(connection, namespace, table)
            if table.primary_key:
                written = _upsert(connection, namespace, table, batches)
            elif table.cursor_column:
                written = _append_new_rows(connection, namespace, table, batches)
            else:
                written = copy_batches(connection, sql.Identifier(namespace, table.name), copy_target_fields(
                    connection, namespace, table.name, table), batches)
            return WriteResult(rows_written=written, added_columns=added)


# ---- discovery SQL -------------------------------------------------------------------------------------------------

_DISCOVER_COLUMNS = """
SELECT c.relname, c.reltuples::bigint, a.attname,
       format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
                   CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END),
       a.attnotnull, col_description(c.oid, a.attnum),
       (a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%%')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND (%s::text[] IS NULL OR c.relname = ANY(%s::text[]))
ORDER BY c.relname, a.attnum
"""

_DISCOVER_KEYS = """
SELECT c.relname, array_agg(a.attname ORDER BY k.ord)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE i.indisprimary AND n.nspname = %s
GROUP BY c.relname
"""


def _cursor_candidates(columns: list[Column], primary_key: list[str], sequences: set[str]) -> list[str]:
    """Timestamp/date columns (names like updated_at first), then integer keys filled from a sequence."""
    temporal = [c.name for c in columns if c.logical_type in ("timestamp", "timestamptz", "date")]
    temporal.sort(key=lambda name: (not _CURSOR_NAME.search(name), not name.startswith(("updated", "modified"))))
    monotonic = [c.name for c in columns if c.logical_type in ("int16", "int32", "int64")
                 and (c.name in sequences or primary_key == [c.name])]
    return temporal + monotonic


# ---- reading -------------------------------------------------------------------------------------------------------

class _CopyStream(io.RawIOBase):
    """A file over COPY TO STDOUT that hands Arrow large reads (libpq yields one row per message)."""

    def __init__(self, copy: psycopg.Copy):
        self._rows = iter(copy)
        self._pending = memoryview(b"")
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            self._pending = memoryview(self._gather(len(buffer)))
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _gather(self, wanted: int) -> bytes:
        parts, size = [], 0
        try:
            for row in self._rows:
                parts.append(row)
                size += len(row)
                if size >= wanted:
                    break
        except BaseException as error:
            self.error = error
            raise
        return b"".join(parts)


def _read_options(table: TableSchema) -> pacsv.ReadOptions:
    return pacsv.ReadOptions(column_names=[c.name for c in table.columns], block_size=READ_BLOCK_BYTES)


def _convert_options(table: TableSchema) -> pacsv.ConvertOptions:
    types = {c.name: (pa.string() if c.logical_type == "binary" else to_arrow(c.logical_type))
             for c in table.columns}
    return pacsv.ConvertOptions(column_types=types, null_values=[""], true_values=["t"], false_values=["f"],
                                strings_can_be_null=True, quoted_strings_can_be_null=False)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for field, array in zip(schema, batch.columns):
        if pa.types.is_binary(field.type) and pa.types.is_string(array.type):
            array = pa.array([None if v is None else bytes.fromhex(v[2:]) for v in array.to_pylist()], pa.binary())
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# ---- writing -------------------------------------------------------------------------------------------------------

def _target_columns(connection: psycopg.Connection, namespace: str, name: str) -> dict[str, str]:
    """Column name -> format_type() of an existing table (empty when the table does not exist)."""
    rows = connection.execute(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
           JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""",
        (namespace, name)).fetchall()
    return dict(rows)


def _column_definitions(table: TableSchema) -> sql.Composed:
    return sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(ddl_type(c.logical_type)))
                              for c in table.columns)


def _create_table(connection: psycopg.Connection, namespace: str, name: str, table: TableSchema,
                  constraint: str) -> None:
    definition = _column_definitions(table)
    if table.primary_key:
        definition = sql.SQL("{}, CONSTRAINT {} PRIMARY KEY ({})").format(
            definition, sql.Identifier(constraint), sql.SQL(", ").join(map(sql.Identifier, table.primary_key)))
    connection.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(namespace, name), definition))


def _ensure_table(connection: psycopg.Connection, namespace: str, table: TableSchema) -> list[str]:
    """Create the table, or add missing columns and widen narrower ones; returns the names of added columns."""
    connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(namespace)))
    existing = _target_columns(connection, namespace, table.name)
    if not existing:
        _create_table(connection, namespace, table.name, table, _pkey_name(table.name))
        return []
    target = sql.Identifier(namespace, table.name)
    added = []
    for column in table.columns:
        name = sql.Identifier(column.name)
        if column.name not in existing:
            connection.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                target, name, sql.SQL(ddl_type(column.logical_type))))
            added.append(column.name)
            continue
        current = logical_type(existing[column.name])
        wanted = widest_type(current, column.logical_type)
        if wanted is None:
            raise SchemaConflictError(
                f"{namespace}.{table.name}.{column.name}: the target column is {existing[column.name]} "
                f"({current}) and cannot hold {column.logical_type} values")
        if wanted != current:
            new_type = sql.SQL(ddl_type(wanted))
            connection.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{}").format(
                target, name, new_type, name, new_type))
    return added


def _pkey_name(table_name: str) -> str:
    return _truncate_identifier(f"{table_name}_pkey")


def _truncate_identifier(name: str, limit: int = 63) -> str:
    encoded = name.encode("utf-8")
    if len(encoded) <= limit:
        return name
    digest = hashlib.md5(encoded).hexdigest()[:8]
    return encoded[: limit - 9].decode("utf-8", errors="ignore") + "_" + digest


def copy_target_fields(connection: psycopg.Connection, namespace: str, name: str, table: TableSchema) -> pa.Schema:
    """The Arrow schema that COPY must encode: the target's own types, for the columns ``table`` names."""
    existing = _target_columns(connection, namespace, name)
    wanted = {c.name for c in table.columns}
    return pa.schema([pa.field(column, to_arrow(logical_type(pg_type)), metadata={"pg": pg_type})
                      for column, pg_type in existing.items() if column in wanted])


def copy_batches(connection: psycopg.Connection, target: sql.Composable, fields: pa.Schema,
                 batches: Iterable[pa.RecordBatch]) -> int:
    """Binary COPY of ``batches`` (cast to ``fields``) into ``target``; returns the number of rows.

    The queued writer sends to the server from a thread of its own, so encoding the next batch overlaps the network.
    """
    encoder = _encoder(fields)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        target, sql.SQL(", ").join(sql.Identifier(f.name) for f in fields))
    rows = 0
    with connection.cursor() as cursor, cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(encoder.write_header())
        for batch in batches:
            if batch.num_rows:
                copy.write(encoder.write_batch(_cast_batch(batch, fields)))
                rows += batch.num_rows
        copy.write(encoder.finish())
    return rows


def _encoder(fields: pa.Schema) -> ArrowToPostgresBinaryEncoder:
    plain = pa.schema([pa.field(f.name, _wire_type(f), nullable=True) for f in fields])
    encoders = {}
    for field, wire in zip(fields, plain):
        if field.metadata and field.metadata.get(b"pg") == b"jsonb":
            encoders[field.name] = StringEncoderBuilder.new_with_output(wire, Jsonb())
        else:
            encoders[field.name] = ArrowToPostgresBinaryEncoder.infer_encoder(wire)
    return ArrowToPostgresBinaryEncoder.new_with_encoders(plain, encoders)


def _wire_type(field: pa.Field) -> pa.DataType:
    if field.metadata and field.metadata.get(b"pg") == b"uuid":
        return pa.binary(16)
    return field.type


def _cast_batch(batch: pa.RecordBatch, fields: pa.Schema) -> pa.RecordBatch:
    """The batch in the target's column order and types; columns it lacks become NULL."""
    arrays = []
    for field in fields:
        index = batch.schema.get_field_index(field.name)
        array = batch.column(index) if index >= 0 else pa.nulls(batch.num_rows, field.type)
        arrays.append(_cast_array(array, field))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema([pa.field(f.name, _wire_type(f)) for f in fields]))


def _cast_array(array: pa.Array, field: pa.Field) -> pa.Array:
    if _wire_type(field) == pa.binary(16):
        return pa.array([None if v is None else uuid.UUID(str(v)).bytes for v in array.to_pylist()], pa.binary(16))
    if array.type == field.type:
        return array
    if pa.types.is_timestamp(array.type) and pa.types.is_timestamp(field.type):
        return pc.cast(array, field.type, safe=False)
    try:
        return pc.cast(array, field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise SchemaConflictError(f"column {field.name!r}: cannot convert {array.type} values to the target's "
                                  f"{field.metadata.get(b'pg', b'?').decode()}: {error}") from None


def _replace(connection: psycopg.Connection, namespace: str, table: TableSchema,
             batches: Iterable[pa.RecordBatch]) -> WriteResult:
    existing = _target_columns(connection, namespace, table.name)
    staging_schema = _with_kept_columns(table, existing)
    staging = _truncate_identifier(f"_aietl_stage_{hashlib.md5(table.name.encode()).hexdigest()[:12]}")
    constraint = _truncate_identifier(f"_aietl_pk_{uuid.uuid4().hex[:12]}")
    connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(namespace, staging)))
    _create_table(connection, namespace, staging, staging_schema, constraint)
    fields = copy_target_fields(connection, namespace, staging, table)
    written = copy_batches(connection, sql.Identifier(namespace, staging), fields, batches)
    added = [c.name for c in table.columns if existing and c.name not in existing]
    if existing and _has_dependent_views(connection, namespace, table.name):
        _ensure_table(connection, namespace, staging_schema)
        columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in staging_schema.columns)
        connection.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(namespace, table.name)))
        connection.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            sql.Identifier(namespace, table.name), columns, columns, sql.Identifier(namespace, staging)))
        connection.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(namespace, staging)))
        return WriteResult(rows_written=written, added_columns=added)
    connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(namespace, table.name)))
    connection.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
        sql.Identifier(namespace, staging), sql.Identifier(table.name)))
    if table.primary_key:
        connection.execute(sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            sql.Identifier(namespace, table.name), sql.Identifier(constraint),
            sql.Identifier(_pkey_name(table.name))))
    return WriteResult(rows_written=written, added_columns=added)


def _with_kept_columns(table: TableSchema, existing: dict[str, str]) -> TableSchema:
    """``table`` plus the target's columns it no longer has (kept, NULL in new rows: a replace never drops one)."""
    names = {c.name for c in table.columns}
    kept = [Column(name, logical_type(pg_type), True, pg_type) for name, pg_type in existing.items()
            if name not in names]
    return TableSchema(source=table.source, name=table.name, columns=[*table.columns, *kept],
                       primary_key=table.primary_key, cursor_column=table.cursor_column, namespace=table.namespace)


def _has_dependent_views(connection: psycopg.Connection, namespace: str, name: str) -> bool:
    row = connection.execute(
        """SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
           JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relname = %s AND r.ev_class <> c.oid LIMIT 1""", (namespace, name)).fetchone()
    return row is not None


def _load_temporary(connection: psycopg.Connection, namespace: str, table: TableSchema,
                    batches: Iterable[pa.RecordBatch]) -> tuple[sql.Identifier, list[str]]:
    """COPY the batches into a temporary copy of the target; returns its name and the loaded column names."""
    temporary = sql.Identifier(f"_aietl_incoming_{uuid.uuid4().hex[:12]}")
    connection.execute(sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
        temporary, sql.Identifier(namespace, table.name)))
    fields = copy_target_fields(connection, namespace, table.name, table)
    copy_batches(connection, temporary, fields, batches)
    return temporary, fields.names


def _upsert(connection: psycopg.Connection, namespace: str, table: TableSchema,
            batches: Iterable[pa.RecordBatch]) -> int:
    temporary, names = _load_temporary(connection, namespace, table, batches)
    columns = sql.SQL(", ").join(map(sql.Identifier, names))
    key = sql.SQL(", ").join(map(sql.Identifier, table.primary_key))
    order = key
    if table.cursor_column and table.cursor_column in names:
        order = sql.SQL("{}, {} DESC NULLS LAST").format(key, sql.Identifier(table.cursor_column))
    others = [name for name in names if name not in table.primary_key]
    action = sql.SQL("DO NOTHING") if not others else sql.SQL("DO UPDATE SET {}").format(sql.SQL(", ").join(
        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in others))
    statement = sql.SQL(
        "INSERT INTO {} ({}) SELECT DISTINCT ON ({}) {} FROM {} ORDER BY {} ON CONFLICT ({}) {}"
    ).format(sql.Identifier(namespace, table.name), columns, key, columns, temporary, order, key, action)
    return connection.execute(statement).rowcount


def _append_new_rows(connection: psycopg.Connection, namespace: str, table: TableSchema,
                     batches: Iterable[pa.RecordBatch]) -> int:
    temporary, names = _load_temporary(connection, namespace, table, batches)
    columns = sql.SQL(", ").join(map(sql.Identifier, names))
    cursor = sql.Identifier(table.cursor_column)
    statement = sql.SQL(
        "INSERT INTO {target} ({columns}) SELECT {columns} FROM {incoming} EXCEPT ALL SELECT {columns} FROM {target} "
        "WHERE {cursor} >= (SELECT min({cursor}) FROM {incoming}) "
        "OR ({cursor} IS NULL AND EXISTS (SELECT 1 FROM {incoming} WHERE {cursor} IS NULL))"
    ).format(target=sql.Identifier(namespace, table.name), columns=columns, incoming=temporary, cursor=cursor)
    return connection.execute(statement).rowcount
