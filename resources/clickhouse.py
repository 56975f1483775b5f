"""ClickHouse as a source and as a warehouse target, over clickhouse-connect.

One resource talks either to a ClickHouse server over HTTP(S) (``url``) or to the embedded chdb engine
(``chdb_path``). chdb hosts one engine per process and holds its data path while any client is open, so with chdb
every operation opens its own client and closes it when done (or, inside ``session()``, the first operation opens
one that the session's later operations share until it ends, as a load does): the path is free again for the next
test, the next path, or another process (a Dagster step, the CLI) as soon as an operation or session ends. A
server's HTTP client is kept for the resource's lifetime.

Reading: tables of the collapsing MergeTree engines (Replacing, Collapsing, ...) are read ``FINAL``, so the rows are
deduplicated; results stream as Arrow batches and are cast to ``TableSchema.arrow_schema()``. Every column is
selected through an expression that gives Arrow a type it can cast (DateTime -> DateTime64, UUID/IPv4/Enum ->
text, Map/Array/Tuple/JSON -> JSON text).

Writing: raw tables are MergeTree tables, ReplacingMergeTree ordered by the primary key when there is one (``merge``
mode relies on it: readers use ``FINAL``). ``replace`` loads ``<table>__new`` and swaps it in with
``EXCHANGE TABLES``; ``append`` and ``merge`` load a staging table and move its parts in with
``ATTACH PARTITION ... FROM``, so readers never see half a load.
"""

from __future__ import annotations

import json
import re
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote as url_quote
from urllib.parse import urlparse

import clickhouse_connect
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.binding import bind_query
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import (
    ClickHouseError,
    DatabaseError,
    OperationalError,
)
from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr
from sqlglot import exp

from resources.protocol import (
    OnBadRecord,
    SourceUnavailableError,
    WriteMode,
    WriteResult,
)
from resources.schema import Column, QuarantinedRecord, TableSchema, to_arrow

DEFAULT_BLOCK_ROWS = 65_536
INSERT_BLOCK_ROWS = 200_000
INSERT_BLOCK_BYTES = 64 * 1024 * 1024
COLLAPSING_ENGINES = (
    "ReplacingMergeTree", "CollapsingMergeTree", "VersionedCollapsingMergeTree", "SummingMergeTree",
    "AggregatingMergeTree", "CoalescingMergeTree",
)
SKIPPED_ENGINES = ("MaterializedView", "Dictionary")
_WRAPPERS = ("Nullable", "LowCardinality", "SimpleAggregateFunction")


class ClickHouseQueryError(RuntimeError):
    """ClickHouse answered with an error (bad SQL, missing table, type mismatch): retrying will not help."""


# ---------------------------------------------------------------------------------------------------------------
# Types: ClickHouse -> logical (source side) and logical -> ClickHouse (destination side)
# ---------------------------------------------------------------------------------------------------------------

def unwrap_type(clickhouse_type: str) -> tuple[str, bool]:
    """``(inner type, nullable)`` with Nullable / LowCardinality / SimpleAggregateFunction wrappers removed."""
    inner, nullable = clickhouse_type.strip(), False
    while True:
        match = re.fullmatch(r"(\w+)\((.*)\)", inner, flags=re.DOTALL)
        if not match or match.group(1) not in _WRAPPERS:
            return inner, nullable
        if match.group(1) == "Nullable":
            nullable = True
        argument = match.group(2)
        inner = _split_arguments(argument)[-1] if match.group(1) == "SimpleAggregateFunction" else argument


def _split_arguments(arguments: str) -> list[str]:
    """Top-level comma-separated arguments of a type, respecting nested parentheses and quotes."""
    parts, depth, quoted, current = [], 0, False, ""
    for char in arguments:
        if char == "'" and not current.endswith("\\"):
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()] if current.strip() else parts


def _type_name_and_arguments(inner: str) -> tuple[str, list[str]]:
    match = re.fullmatch(r"(\w+)(?:\((.*)\))?", inner, flags=re.DOTALL)
    if not match:
        return inner, []
    return match.group(1), _split_arguments(match.group(2) or "")


_SIMPLE_LOGICAL = {
    "Bool": "bool", "Int8": "int16", "UInt8": "int16", "Int16": "int16", "UInt16": "int32", "Int32": "int32",
    "UInt32": "int64", "Int64": "int64", "UInt64": "int64", "Float32": "float32", "Float64": "float64",
    "BFloat16": "float32", "String": "string", "FixedString": "string", "Date": "date", "Date32": "date",
    "UUID": "uuid", "IPv4": "string", "IPv6": "string", "Enum8": "string", "Enum16": "string", "Enum": "string",
    "Int128": "string", "UInt128": "string", "Int256": "string", "UInt256": "string", "Time": "string",
    "Time64": "string", "Interval": "int64", "AggregateFunction": "string",
}
_JSON_TYPES = ("Map", "Array", "Tuple", "Nested", "JSON", "Object", "Variant", "Dynamic", "Point", "Ring",
               "Polygon", "MultiPolygon", "LineString", "MultiLineString")


def logical_type(clickhouse_type: str) -> str:
    """The logical type (see resources.protocol) that carries values of a ClickHouse column type."""
    inner, _ = unwrap_type(clickhouse_type)
    name, arguments = _type_name_and_arguments(inner)
    if name.startswith("Decimal"):
        precision, scale = _decimal_precision_scale(name, arguments)
        return f"decimal({precision},{scale})" if precision <= 38 else "string"
    if name in ("DateTime", "DateTime32"):
        return "timestamptz" if arguments else "timestamp"
    if name == "DateTime64":
        return "timestamptz" if len(arguments) > 1 else "timestamp"
    if name in _JSON_TYPES:
        return "json"
    if name.startswith("Interval"):
        return "int64"
    return _SIMPLE_LOGICAL.get(name, "string")


def _decimal_precision_scale(name: str, arguments: list[str]) -> tuple[int, int]:
    fixed = {"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}
    if name in fixed:
        return fixed[name], int(arguments[0]) if arguments else 0
    precision = int(arguments[0]) if arguments else 10
    return precision, int(arguments[1]) if len(arguments) > 1 else 0


def select_expression(column: Column) -> str:
    """A SQL expression over ``column`` whose Arrow output casts cleanly to the column's logical Arrow type."""
    name = quote(column.name)
    inner, _ = unwrap_type(column.source_type or clickhouse_type(column.logical_type, True))
    type_name, arguments = _type_name_and_arguments(inner)
    if type_name == "AggregateFunction":
        return f"toString(finalizeAggregation({name}))"
    if column.logical_type == "json":
        return f"toJSONString({name})"
    if column.logical_type == "timestamp" and type_name in ("DateTime", "DateTime32", "DateTime64"):
        return f"toDateTime64(toString({name}), {_precision(type_name, arguments)}, 'UTC')"
    if column.logical_type == "timestamptz" and type_name in ("DateTime", "DateTime32"):
        return f"toDateTime64({name}, 0)"
    if column.logical_type in ("string", "uuid") and type_name not in ("String", "FixedString"):
        return f"toString({name})"
    return name


def _precision(type_name: str, arguments: list[str]) -> int:
    return int(arguments[0]) if type_name == "DateTime64" and arguments else 0


def clickhouse_type(logical: str, nullable: bool) -> str:
    """The ClickHouse column type that stores a logical type (``time`` is stored as text for portability)."""
    decimal = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", logical)
    simple = {
        "bool": "Bool", "int16": "Int16", "int32": "Int32", "int64": "Int64", "float32": "Float32",
        "float64": "Float64", "string": "String", "binary": "String", "date": "Date32", "time": "String",
        "timestamp": "DateTime64(6)", "timestamptz": "DateTime64(6, 'UTC')", "json": "String", "uuid": "UUID",
    }
    if decimal:
        base = f"Decimal({decimal.group(1)}, {decimal.group(2)})"
    elif logical in simple:
        base = simple[logical]
    else:
        raise ValueError(f"unknown logical type {logical!r}")
    return f"Nullable({base})" if nullable else base


def _since_parameter_type(column: Column) -> str:
    """The type to bind a cursor value as, so that ``column >= {since:T}`` compares like with like."""
    inner, _ = unwrap_type(column.source_type or clickhouse_type(column.logical_type, False))
    type_name, arguments = _type_name_and_arguments(inner)
    if type_name in ("DateTime", "DateTime32"):
        return f"DateTime64(6, {arguments[0]})" if arguments else "DateTime64(6)"
    if type_name == "DateTime64":
        return f"DateTime64(6, {arguments[1]})" if len(arguments) > 1 else "DateTime64(6)"
    if type_name == "Date":
        return "Date32"
    if type_name.startswith("Enum"):
        return "String"
    return inner


# ---------------------------------------------------------------------------------------------------------------
# SQL text (pure; unit-tested)
# ---------------------------------------------------------------------------------------------------------------

def quote(identifier: str) -> str:
    return exp.to_identifier(identifier, quoted=True).sql("clickhouse")


def qualified(database: str, table: str) -> str:
    return f"{quote(database)}.{quote(table)}"


def on_cluster(cluster: str | None) -> str:
    return f" ON CLUSTER {quote(cluster)}" if cluster else ""


def create_database_sql(database: str, cluster: str | None = None) -> str:
    return f"CREATE DATABASE IF NOT EXISTS {quote(database)}{on_cluster(cluster)}"


def table_engine(table: TableSchema, cluster: str | None = None) -> str:
    """ReplacingMergeTree ordered by the primary key (merge = insert + FINAL), else MergeTree; replicated on a
    cluster (the server's default_replica_path / default_replica_name give the ZooKeeper path)."""
    family = "ReplacingMergeTree" if table.primary_key else "MergeTree"
    engine = f"Replicated{family}" if cluster else family
    order_by = ", ".join(quote(c) for c in table.primary_key) if table.primary_key else ""
    return f"ENGINE = {engine} ORDER BY ({order_by})" if order_by else f"ENGINE = {engine} ORDER BY tuple()"


def column_definition(column: Column, key: bool) -> str:
    return f"{quote(column.name)} {clickhouse_type(column.logical_type, nullable=not key)}"


def create_table_sql(database: str, table: TableSchema, name: str | None = None, cluster: str | None = None) -> str:
    key = set(table.primary_key)
    columns = ",\n    ".join(column_definition(c, c.name in key) for c in table.columns)
    target = qualified(database, name or table.name)
    engine = table_engine(table, cluster)
    return f"CREATE TABLE IF NOT EXISTS {target}{on_cluster(cluster)}\n(\n    {columns}\n)\n{engine}"


def add_column_sql(database: str, table: str, column: Column, cluster: str | None = None) -> str:
    return (f"ALTER TABLE {qualified(database, table)}{on_cluster(cluster)} "
            f"ADD COLUMN IF NOT EXISTS {column_definition(column, key=False)}")


def exchange_tables_sql(database: str, first: str, second: str, cluster: str | None = None) -> str:
    return f"EXCHANGE TABLES {qualified(database, first)} AND {qualified(database, second)}{on_cluster(cluster)}"


def rename_table_sql(database: str, old: str, new: str, cluster: str | None = None) -> str:
    return f"RENAME TABLE {qualified(database, old)} TO {qualified(database, new)}{on_cluster(cluster)}"


def drop_table_sql(database: str, table: str, cluster: str | None = None) -> str:
    sync = " SYNC" if cluster else ""
    return f"DROP TABLE IF EXISTS {qualified(database, table)}{on_cluster(cluster)}{sync}"


def create_stage_sql(database: str, stage: str, like: str, sorting_key: str, engine: str, cluster: str | None) -> str:
    """A staging table with ``like``'s structure on this node only; on a cluster its engine is the non-replicated
    twin of ``like``'s so that its parts can be attached to the replicated table."""
    statement = f"CREATE TABLE {qualified(database, stage)} AS {qualified(database, like)}"
    if not cluster:
        return statement
    local_engine = engine.removeprefix("Replicated").removeprefix("Shared") or "MergeTree"
    return f"{statement} ENGINE = {local_engine} ORDER BY ({sorting_key or 'tuple()'})"


def attach_partition_sql(database: str, table: str, stage: str, partition_id: str) -> str:
    literal = partition_id.replace("\\", "\\\\").replace("'", "\\'")
    return f"ALTER TABLE {qualified(database, table)} ATTACH PARTITION ID '{literal}' FROM {qualified(database, stage)}"


def select_sql(database: str, table: TableSchema, final: bool, since: bool) -> str:
    """The read query. Filtering happens in a subquery over the raw columns so that the converting expressions
    (aliased with the column names) can never shadow the columns in the WHERE clause."""
    raw_columns = ", ".join(quote(c.name) for c in table.columns)
    inner = f"SELECT {raw_columns} FROM {qualified(database, table.name)}{' FINAL' if final else ''}"
    if since:
        cursor = table.column(_cursor_name(table))
        inner += f" WHERE {quote(cursor.name)} >= {{since:{_since_parameter_type(cursor)}}}"
    outer = ", ".join(f"{select_expression(c)} AS {quote(c.name)}" for c in table.columns)
    return f"SELECT {outer} FROM ({inner})"


def max_cursor_sql(database: str, table: TableSchema) -> str:
    cursor = table.column(_cursor_name(table))
    return (f"SELECT {select_expression(cursor)} AS {quote(cursor.name)} "
            f"FROM (SELECT maxOrNull({quote(cursor.name)}) AS {quote(cursor.name)} "
            f"FROM {qualified(database, table.name)})")


def _cursor_name(table: TableSchema) -> str:
    if not table.cursor_column:
        raise ValueError(f"table {table.source}.{table.name} has no cursor column; set sync.cursor in "
                         f"datasources.yaml (candidates: {table.cursor_candidates})")
    return table.cursor_column


def is_collapsing(engine: str) -> bool:
    return any(engine.endswith(family) for family in COLLAPSING_ENGINES)


# ---------------------------------------------------------------------------------------------------------------
# Discovery helpers (pure)
# ---------------------------------------------------------------------------------------------------------------

def sorting_key_columns(sorting_key: str, column_names: set[str]) -> list[str]:
    """The sorting key as column names, or [] when any part of it is an expression (e.g. ``toDate(ts)``)."""
    key = sorting_key.strip()
    if key.startswith("(") and key.endswith(")") and len(_split_arguments(key)) == 1:
        key = key[1:-1]
    parts = [part.strip().strip("`\"") for part in _split_arguments(key)] if key.strip() else []
    return parts if parts and all(part in column_names for part in parts) else []


def version_column(engine_full: str) -> str | None:
    """The version column of ``ReplacingMergeTree(ver)`` / ``VersionedCollapsingMergeTree(sign, ver)``."""
    match = re.match(r"\s*(?:Replicated|Shared)?(Replacing|VersionedCollapsing)MergeTree\(([^)]*)\)", engine_full)
    if not match:
        return None
    arguments = [a.strip().strip("`\"") for a in _split_arguments(match.group(2))]
    arguments = [a for a in arguments if not a.startswith("'")]
    if match.group(1) == "VersionedCollapsing":
        return arguments[1] if len(arguments) > 1 else None
    return arguments[0] if arguments else None


def cursor_candidates(columns: list[Column], version: str | None) -> list[str]:
    """Columns that grow with new data: the Replacing version column, then date/time columns (``updated``-like
    names first)."""
    temporal = [c.name for c in columns if c.logical_type in ("timestamp", "timestamptz", "date")]
    temporal.sort(key=lambda name: (not re.search(r"updat|modif|chang|version|_at$|ts$", name), name))
    ordered = [version] if version else []
    return ordered + [name for name in temporal if name != version]


def table_schema_from_system(source: str, database: str, table_row: dict[str, Any],
                             column_rows: list[dict[str, Any]]) -> TableSchema:
    """Build one TableSchema from a system.tables row and its system.columns rows."""
    columns = [
        Column(name=row["name"], logical_type=logical_type(row["type"]), nullable=unwrap_type(row["type"])[1],
               source_type=row["type"], description=row.get("comment") or "")
        for row in column_rows
    ]
    names = {c.name for c in columns}
    unique = is_collapsing(table_row["engine"])
    primary_key = sorting_key_columns(table_row.get("sorting_key") or "", names) if unique else []
    version = version_column(table_row.get("engine_full") or "")
    return TableSchema(
        source=source, name=table_row["name"], columns=columns, primary_key=primary_key,
        cursor_candidates=cursor_candidates(columns, version if version in names else None),
        row_estimate=table_row.get("total_rows"), namespace=database,
    )


# ---------------------------------------------------------------------------------------------------------------
# Arrow conversion
# ---------------------------------------------------------------------------------------------------------------

def conform_batch(batch: pa.RecordBatch, schema: pa.Schema, where: str, first_row: int = 0,
                  on_bad_record: OnBadRecord | None = None) -> pa.RecordBatch:
    """Cast ``batch`` to ``schema``. A value that cannot be cast (e.g. a UInt64 above Int64's range) fails with
    the table, column and row named; with ``on_bad_record`` its row is quarantined and the rest is kept."""
    missing = [name for name in schema.names if name not in batch.schema.names]
    if missing:
        raise ValueError(f"{where}: batch lacks columns {missing} (it has {batch.schema.names})")
    try:
        return _cast_columns(batch, schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        problems = _bad_rows(batch, schema)
        if not problems:
            raise ValueError(f"{where}: rows {first_row}..{first_row + batch.num_rows - 1} do not fit the table "
                             f"schema: {error}") from error
        if on_bad_record is None:
            index = min(problems)
            raise ValueError(f"{where}: row {first_row + index}: {problems[index]}") from error
    source, _, table = where.partition(".")
    for index, reason in sorted(problems.items()):
        record = batch.slice(index, 1).to_pylist()[0]
        on_bad_record(QuarantinedRecord(source=source, table=table, location=f"row {first_row + index}",
                                        reason=reason, raw=json.dumps(record, default=str)))
    keep = pa.array([index not in problems for index in range(batch.num_rows)])
    return _cast_columns(batch.filter(keep), schema)


def _cast_columns(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([_cast(batch.column(f.name), f.type) for f in schema], schema=schema)


def _bad_rows(batch: pa.RecordBatch, schema: pa.Schema) -> dict[int, str]:
    """Row index -> why it does not fit, checked value by value (only after a whole batch failed to cast)."""
    problems: dict[int, str] = {}
    for target in schema:
        values = batch.column(target.name)
        try:
            _cast(values, target.type)
            continue
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        for index in range(len(values)):
            try:
                _cast(values.slice(index, 1), target.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                problems.setdefault(index, f"column {target.name!r} ({values.type}): value does not fit "
                                           f"{target.type}: {error}")
    return problems


def _cast(array: pa.Array, target: pa.DataType) -> pa.Array:
    if array.type == target:
        return array
    if isinstance(array.type, pa.ExtensionType):
        array = pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())
    if pa.types.is_date(target) and pa.types.is_integer(array.type):
        return pc.cast(pc.cast(array, pa.int32()), target)
    return pc.cast(array, target, safe=True)


def insert_schema(table: TableSchema) -> pa.Schema:
    """The Arrow schema sent to ClickHouse: the table's, with ``time`` values as text (stored as String)."""
    fields = []
    for column in table.columns:
        arrow_type = pa.string() if column.logical_type == "time" else to_arrow(column.logical_type)
        fields.append(pa.field(column.name, arrow_type, nullable=True))
    return pa.schema(fields)


def _rebatch(batches: Iterable[pa.RecordBatch], max_rows: int, max_bytes: int) -> Iterator[list[pa.RecordBatch]]:
    """Group small batches into insert blocks of at most about ``max_rows`` rows / ``max_bytes`` bytes
    (ClickHouse wants few large inserts; memory stays bounded by one block)."""
    block: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        block.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if rows >= max_rows or size >= max_bytes:
            yield block
            block, rows, size = [], 0, 0
    if block:
        yield block


# ---------------------------------------------------------------------------------------------------------------
# The resource
# ---------------------------------------------------------------------------------------------------------------

class ClickHouseResource(ConfigurableResource):
    """A ClickHouse server (``url``) or the embedded chdb engine (``chdb_path``): source and destination."""

    url: str | None = Field(default=None, description="http(s)://host:port of a ClickHouse server")
    chdb_path: str | None = Field(default=None, description="Data directory of the embedded chdb engine")
    database: str = "default"
    user: str = "default"
    password: str = ""
    verify_tls: bool = True
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    cluster: str | None = Field(default=None, description="Run DDL ON CLUSTER this cluster (replicated tables)")
    connect_timeout_s: int = 10
    send_receive_timeout_s: int = 300
    source_name: str = ""
    compress: bool = Field(default=True, description="Compress HTTP traffic (lz4/zstd); off for plain proxies")

    dialect: ClassVar[str] = "clickhouse"
    _http_client: Client | None = PrivateAttr(default=None)
    _handed_out: weakref.WeakSet = PrivateAttr(default_factory=weakref.WeakSet)
    _in_session: bool = PrivateAttr(default=False)
    _held_chdb_client: Client | None = PrivateAttr(default=None)

    # ---- connections -------------------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """Where this resource points, for messages (never with credentials)."""
        if self.chdb_path:
            return f"chdb:{self.chdb_path}"
        parsed = urlparse(self.url or "")
        return f"{parsed.scheme}://{parsed.hostname}:{parsed.port or self._default_port(parsed.scheme)}"

    def http_client_arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``clickhouse_connect.get_client`` for a server (TLS, timeouts, credentials)."""
        parsed = urlparse(self.url or "")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"ClickHouse url must look like http(s)://host:port, got {self.endpoint!r}")
        secure = parsed.scheme == "https"
        arguments: dict[str, Any] = {
            "host": parsed.hostname, "port": parsed.port or self._default_port(parsed.scheme),
            "interface": parsed.scheme, "secure": secure, "username": self.user, "password": self.password,
            "connect_timeout": self.connect_timeout_s, "send_receive_timeout": self.send_receive_timeout_s,
            "autogenerate_session_id": False, "client_name": "aietl", "compress": self.compress,
        }
        if secure:
            arguments["verify"] = self.verify_tls
            for key, value in (("ca_cert", self.ca_cert), ("client_cert", self.client_cert),
                               ("client_cert_key", self.client_key)):
                if value:
                    arguments[key] = value
        return arguments

    @staticmethod
    def _default_port(scheme: str) -> int:
        return 8443 if scheme == "https" else 8123

    def client(self) -> Client:
        """A new clickhouse-connect client. Close it when done (``with resource.client() as client:``) or call
        ``close()``, which closes every client this resource handed out: an open chdb client keeps the engine's
        data path locked against other processes."""
        if bool(self.url) == bool(self.chdb_path):
            raise ValueError("ClickHouseResource needs exactly one of url (a server) or chdb_path (embedded chdb)")
        if self.chdb_path:
            path = Path(self.chdb_path).expanduser().resolve()
            path.mkdir(parents=True, exist_ok=True)
            client = clickhouse_connect.get_client(dsn=f"chdb://{url_quote(str(path))}")
        else:
            client = clickhouse_connect.get_client(**self.http_client_arguments())
        self._handed_out.add(client)
        return client

    def close(self) -> None:
        """Close every client this resource opened (safe to call more than once)."""
        for client in list(self._handed_out):
            client.close()
        self._handed_out.clear()
        self._http_client = self._held_chdb_client = None

    @contextmanager
    def _session(self, action: str) -> Iterator[Client]:
        """A client for one operation; connection failures become SourceUnavailableError, server errors
        ClickHouseQueryError, both naming the endpoint and the action (never the password).

        A server's HTTP client is kept and shared (it is thread-safe without a session id and pools its
        connections); a chdb client is closed after the operation (after the ``session()`` when inside one) so that
        the engine releases its data path."""
        if self.url:
            client = self._connect(action, self._shared_http_client)
        elif self._held_chdb_client is not None:
            client = self._held_chdb_client
        else:
            client = self._connect(action, self.client)
            if self._in_session:
                self._held_chdb_client = client
        keep_open = bool(self.url) or self._in_session
        try:
            yield client
        except OperationalError as error:
            self._forget_http_client()
            raise SourceUnavailableError(f"{self._who()}: {self.endpoint} stopped answering while trying to "
                                         f"{action}: {self._scrub(error)}") from None
        except DatabaseError as error:
            raise ClickHouseQueryError(f"{self._who()}: could not {action} on {self.endpoint}: "
                                       f"{self._scrub(error)}") from None
        finally:
            if not keep_open:
                client.close()

    @contextmanager
    def session(self) -> Iterator[ClickHouseResource]:
        """Operations inside share one chdb client, opened by the first of them and closed at the end of the
        outermost session (sessions nest), so a sequence of operations (a load's discover, read and writes) opens
        the engine once instead of per call, and the data path is free again when the session ends. A server's
        HTTP client is shared anyway."""
        if self.url or self._in_session:
            yield self
            return
        self._in_session = True
        try:
            yield self
        finally:
            self._in_session = False
            held, self._held_chdb_client = self._held_chdb_client, None
            if held is not None:  # None when close() ran inside the session
                held.close()
                self._handed_out.discard(held)

    def _connect(self, action: str, opener: Callable[[], Client]) -> Client:
        try:
            return opener()
        except ClickHouseError as error:
            raise SourceUnavailableError(f"{self._who()}: cannot connect to {self.endpoint} to {action}: "
                                         f"{self._scrub(error)}") from None

    def _shared_http_client(self) -> Client:
        if self._http_client is None:
            self._http_client = self.client()
        return self._http_client

    def _forget_http_client(self) -> None:
        if self._http_client is not None:
            self._http_client.close()
            self._http_client = None

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()

    def _who(self) -> str:
        return f"ClickHouse source {self.source_name!r}" if self.source_name else "ClickHouse"

    def _scrub(self, error: Exception) -> str:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return message.replace(self.password, "***") if self.password else message

    # ---- plain SQL ---------------------------------------------------------------------------------------------

    def query_arrow(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        with self._session("run a query") as client:
            return client.query_arrow(sql, parameters=params, use_strings=True)

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        with self._session("run a statement") as client:
            client.command(sql, parameters=params)

    # ---- source ------------------------------------------------------------------------------------------------

    def discover(self) -> list[TableSchema]:
        """Every table of ``database`` (materialized views and dictionaries are skipped: their data is read from
        their target tables) with logical types, keys, cursor candidates and row estimates."""
        with self._session(f"discover database {self.database!r}") as client:
            if not client.query("SELECT 1 FROM system.databases WHERE name = {db:String}",
                                parameters={"db": self.database}).result_rows:
                raise ClickHouseQueryError(f"{self._who()}: database {self.database!r} does not exist on "
                                           f"{self.endpoint}")
            tables = list(client.query(
                "SELECT name, engine, engine_full, sorting_key, total_rows FROM system.tables "
                "WHERE database = {db:String} AND NOT is_temporary AND engine NOT IN {skipped:Array(String)} "
                "AND NOT startsWith(name, '.inner') ORDER BY name",
                parameters={"db": self.database, "skipped": list(SKIPPED_ENGINES)},
            ).named_results())
            columns = list(client.query(
                "SELECT table, name, type, comment FROM system.columns WHERE database = {db:String} "
                "AND default_kind != 'EPHEMERAL' ORDER BY table, position",
                parameters={"db": self.database},
            ).named_results())
        by_table: dict[str, list[dict[str, Any]]] = {}
        for row in columns:
            by_table.setdefault(row["table"], []).append(row)
        source = self.source_name or self.database
        return [table_schema_from_system(source, self.database, row, by_table.get(row["name"], []))
                for row in tables]

    def read(self, table: TableSchema, since: Any = None,
             on_bad_record: OnBadRecord | None = None) -> Iterator[pa.RecordBatch]:
        """Stream ``table`` (rows with cursor >= ``since`` when given; FINAL for collapsing engines)."""
        database = table.namespace or self.database
        where = f"{table.source}.{table.name}"
        schema = table.arrow_schema()
        with self._session(f"read table {database}.{table.name}") as client:
            final = is_collapsing(self._engine(client, database, table.name))
            sql = select_sql(database, table, final=final, since=since is not None)
            parameters = {"since": since} if since is not None else None
            if self.chdb_path:
                blocks = self._chdb_blocks(sql, parameters)
            else:
                blocks = self._http_blocks(client, sql, parameters)
            first_row = 0
            for batch in blocks:
                yield conform_batch(batch, schema, where, first_row, on_bad_record)
                first_row += batch.num_rows

    @staticmethod
    def _http_blocks(client: Client, sql: str, parameters: dict[str, Any] | None) -> Iterator[pa.RecordBatch]:
        with client.query_arrow_stream(sql, parameters=parameters, use_strings=True,
                                       settings={"max_block_size": DEFAULT_BLOCK_ROWS}) as stream:
            for block in stream:
                yield from _batches_of(block)

    def _chdb_blocks(self, sql: str, parameters: dict[str, Any] | None) -> Iterator[pa.RecordBatch]:
        """Stream from the embedded engine block by block through chdb's own streaming query: clickhouse-connect's
        chdb backend would first collect a whole Arrow result in memory."""
        import chdb
        from chdb import ChdbError

        bound_sql, bound = bind_query(sql, parameters)
        settings = f" SETTINGS max_block_size = {DEFAULT_BLOCK_ROWS}, output_format_arrow_string_as_string = 1"
        connection = chdb.connect(str(Path(self.chdb_path or "").expanduser().resolve()))
        try:
            stream = connection.send_query(str(bound_sql) + settings, "Arrow",
                                           params={key.removeprefix("param_"): value for key, value in bound.items()})
            try:
                for chunk in stream:
                    payload = chunk.bytes()
                    if payload:
                        yield from pa.ipc.open_file(payload).read_all().to_batches()
            finally:
                stream.close()
        except ChdbError as error:
            raise ClickHouseQueryError(f"{self._who()}: could not read from {self.endpoint}: "
                                       f"{self._scrub(error)}") from None
        finally:
            connection.close()

    def max_cursor(self, table: TableSchema) -> Any:
        """The current maximum of the cursor column, typed like the values ``read`` yields (None when empty)."""
        database = table.namespace or self.database
        cursor = table.column(_cursor_name(table))
        with self._session(f"read max({cursor.name}) of {database}.{table.name}") as client:
            result = client.query_arrow(max_cursor_sql(database, table), use_strings=True)
        value = _cast(result.column(0).combine_chunks(), to_arrow(cursor.logical_type))
        return value[0].as_py() if len(value) else None

    def _engine(self, client: Client, database: str, table: str) -> str:
        rows = client.query("SELECT engine FROM system.tables WHERE database = {db:String} AND name = {t:String}",
                            parameters={"db": database, "t": table}).result_rows
        if not rows:
            raise ClickHouseQueryError(f"{self._who()}: table {database}.{table} does not exist on {self.endpoint}; "
                                       f"run `aietl discover` if it was renamed or dropped")
        return rows[0][0]

    # ---- destination -------------------------------------------------------------------------------------------

    def ensure_table(self, namespace: str, table: TableSchema) -> list[str]:
        """Create ``namespace.table`` or add the columns it lacks; returns the names of the columns added."""
        with self._session(f"prepare table {namespace}.{table.name}") as client:
            return self._ensure_table(client, namespace, table)

    def write(self, namespace: str, table: TableSchema, batches: Iterable[pa.RecordBatch],
              mode: WriteMode) -> WriteResult:
        """Land ``batches``: replace swaps in a freshly built table; append/merge attach a loaded staging table."""
        mode = WriteMode(mode)
        if mode is WriteMode.MERGE and not table.primary_key:
            raise ValueError(f"{table.source}.{table.name}: merge into ClickHouse needs a primary key "
                             f"(ReplacingMergeTree orders and deduplicates by it)")
        with self._session(f"{mode.value} into {namespace}.{table.name}") as client:
            client.command(create_database_sql(namespace, self.cluster))
            if mode is WriteMode.REPLACE:
                return self._replace(client, namespace, table, batches)
            added = self._ensure_table(client, namespace, table)
            if mode is WriteMode.MERGE:
                self._check_mergeable(client, namespace, table)
            return WriteResult(rows_written=self._load_through_stage(client, namespace, table, batches),
                               added_columns=added)

    def _ensure_table(self, client: Client, namespace: str, table: TableSchema) -> list[str]:
        client.command(create_database_sql(namespace, self.cluster))
        existing = self._existing_columns(client, namespace, table.name)
        if not existing:
            client.command(create_table_sql(namespace, table, cluster=self.cluster))
            return []
        missing = [c for c in table.columns if c.name not in existing]
        for column in missing:
            client.command(add_column_sql(namespace, table.name, column, self.cluster))
        return [c.name for c in missing]

    @staticmethod
    def _existing_columns(client: Client, database: str, table: str) -> list[str]:
        rows = client.query("SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
                            "ORDER BY position", parameters={"db": database, "t": table}).result_rows
        return [row[0] for row in rows]

    def _table_info(self, client: Client, database: str, table: str) -> tuple[str, str]:
        rows = client.query("SELECT engine, sorting_key FROM system.tables WHERE database = {db:String} "
                            "AND name = {t:String}", parameters={"db": database, "t": table}).result_rows
        return (rows[0][0], rows[0][1]) if rows else ("", "")

    def _check_mergeable(self, client: Client, namespace: str, table: TableSchema) -> None:
        engine, sorting_key = self._table_info(client, namespace, table.name)
        key = sorting_key_columns(sorting_key, {c.name for c in table.columns})
        if not engine.endswith("ReplacingMergeTree") or key != table.primary_key:
            raise ClickHouseQueryError(
                f"{namespace}.{table.name} is a {engine} ordered by ({sorting_key}); merging on "
                f"{table.primary_key} needs a ReplacingMergeTree ordered by it: run a full refresh (mode replace) "
                f"once to rebuild the table")

    def _replace(self, client: Client, namespace: str, table: TableSchema,
                 batches: Iterable[pa.RecordBatch]) -> WriteResult:
        existing = self._existing_columns(client, namespace, table.name)
        fresh = f"{table.name}__new"
        client.command(drop_table_sql(namespace, fresh, self.cluster))
        client.command(create_table_sql(namespace, table, name=fresh, cluster=self.cluster))
        try:
            rows = self._insert(client, namespace, fresh, table, batches)
            self._swap_in(client, namespace, fresh, table.name, replace_existing=bool(existing))
        except BaseException:
            client.command(drop_table_sql(namespace, fresh, self.cluster))
            raise
        added = [c.name for c in table.columns if existing and c.name not in existing]
        return WriteResult(rows_written=rows, added_columns=added)

    def _swap_in(self, client: Client, namespace: str, fresh: str, live: str, replace_existing: bool) -> None:
        """Make ``fresh`` the live table in one step; readers see the old or the new table, never a mix."""
        if not replace_existing:
            client.command(rename_table_sql(namespace, fresh, live, self.cluster))
            return
        try:
            client.command(exchange_tables_sql(namespace, fresh, live, self.cluster))
        except DatabaseError:
            retired = f"{live}__old"
            client.command(drop_table_sql(namespace, retired, self.cluster))
            client.command(f"RENAME TABLE {qualified(namespace, live)} TO {qualified(namespace, retired)}, "
                           f"{qualified(namespace, fresh)} TO {qualified(namespace, live)}{on_cluster(self.cluster)}")
            fresh = retired
        client.command(drop_table_sql(namespace, fresh, self.cluster))

    def _load_through_stage(self, client: Client, namespace: str, table: TableSchema,
                            batches: Iterable[pa.RecordBatch]) -> int:
        engine, sorting_key = self._table_info(client, namespace, table.name)
        stage = f"{table.name}__stage_{uuid.uuid4().hex[:8]}"
        client.command(create_stage_sql(namespace, stage, table.name, sorting_key, engine, self.cluster))
        try:
            rows = self._insert(client, namespace, stage, table, batches)
            partitions = client.query(
                "SELECT DISTINCT partition_id FROM system.parts WHERE database = {db:String} AND table = {t:String} "
                "AND active ORDER BY partition_id", parameters={"db": namespace, "t": stage}).result_rows
            for (partition_id,) in partitions:
                client.command(attach_partition_sql(namespace, table.name, stage, partition_id))
        finally:
            client.command(drop_table_sql(namespace, stage))
        return rows

    def _insert(self, client: Client, namespace: str, target: str, table: TableSchema,
                batches: Iterable[pa.RecordBatch]) -> int:
        schema = insert_schema(table)
        where = f"{table.source}.{table.name}"
        rows = 0
        for block in _rebatch(batches, INSERT_BLOCK_ROWS, INSERT_BLOCK_BYTES):
            conformed = []
            for batch in block:
                conformed.append(conform_batch(batch, schema, where, rows + sum(b.num_rows for b in conformed)))
            arrow_table = pa.Table.from_batches(conformed, schema=schema)
            client.insert_arrow(target, arrow_table, database=namespace)
            rows += arrow_table.num_rows
        return rows


def _batches_of(block: pa.Table | pa.RecordBatch) -> list[pa.RecordBatch]:
    return block.to_batches() if isinstance(block, pa.Table) else [block]
