"""YDB as a source, over the official ``ydb`` SDK.

Authentication follows the SDK's six ways: anonymous, static user/password, an access token, a service account key
file (Yandex Cloud IAM), the cloud metadata service, or whatever the standard ``YDB_*`` environment variables say.
Credentials objects are built without touching the network, so configuration errors surface at once and clearly.

Discovery walks the database with the scheme client and describes every row or column table. Reads are paged
SELECTs ordered by the primary key (keyset pagination, ``page_rows`` rows a page), each page run through the SDK's
retrying ``QuerySessionPool.execute_with_retries``; with ``since`` only rows whose cursor is >= ``since`` are read.
Table names are paths relative to the database (``orders``, ``sales/orders``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import ydb
from dagster import ConfigurableResource
from pydantic import Field

from resources.protocol import OnBadRecord, SourceUnavailableError
from resources.schema import Column, QuarantinedRecord, TableSchema, to_arrow

AuthMethod = Literal["anonymous", "static", "token", "service_account_key", "metadata", "env"]
PAGE_ROWS = 10_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_UNAVAILABLE = (
    ydb.issues.Unavailable, ydb.issues.ConnectionError, ydb.issues.DeadlineExceed, ydb.issues.Overloaded,
    ydb.issues.Timeout, ydb.issues.SessionPoolEmpty, ydb.issues.Undetermined, ydb.issues.Aborted,
    ydb.issues.BadSession, ydb.issues.SessionExpired, ydb.issues.Cancelled, ydb.issues.Unauthenticated,
)


class YdbConfigError(ValueError):
    """The YdbResource settings cannot work (e.g. static auth without a user)."""


class YdbQueryError(RuntimeError):
    """YDB refused a request for a reason retrying will not fix (bad query, missing table, no permission)."""


# ---------------------------------------------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------------------------------------------

_PRIMITIVE_LOGICAL = {
    "Bool": "bool", "Int8": "int16", "Uint8": "int16", "Int16": "int16", "Uint16": "int32", "Int32": "int32",
    "Uint32": "int64", "Int64": "int64", "Uint64": "int64", "Float": "float32", "Double": "float64",
    "Utf8": "string", "String": "string", "Json": "json", "JsonDocument": "json", "Yson": "binary",
    "Uuid": "uuid", "UUID": "uuid", "Date": "date", "Date32": "date", "Datetime": "timestamptz",
    "Datetime64": "timestamptz", "Timestamp": "timestamptz", "Timestamp64": "timestamptz", "Interval": "int64",
    "Interval64": "int64", "TzDate": "string", "TzDatetime": "string", "TzTimestamp": "string",
    "DyNumber": "string", "Text": "string", "Bytes": "string",
}
_CONTAINERS = ("List", "Struct", "Dict", "Tuple", "Set", "Variant", "Tagged", "EmptyList", "EmptyDict")


def unwrap_optional(ydb_type: str) -> tuple[str, bool]:
    """``(inner type, nullable)`` for ``T?`` / ``Optional<T>`` spellings of YDB types."""
    text, nullable = str(ydb_type).strip(), False
    while True:
        if text.endswith("?"):
            text, nullable = text[:-1].strip(), True
        elif text.startswith("Optional<") and text.endswith(">"):
            text, nullable = text[len("Optional<"):-1].strip(), True
        else:
            return text, nullable


def logical_type(ydb_type: Any) -> str:
    """The logical type (see resources.protocol) for a YDB type (a ydb type object or its text)."""
    inner, _ = unwrap_optional(str(ydb_type))
    decimal = re.fullmatch(r"Decimal\((\d+),\s*(\d+)\)", inner)
    if decimal:
        return f"decimal({decimal.group(1)},{decimal.group(2)})"
    if inner.startswith(_CONTAINERS) or inner.startswith("Pg"):
        return "json" if inner.startswith(_CONTAINERS) else "string"
    if inner not in _PRIMITIVE_LOGICAL:
        return "string"
    return _PRIMITIVE_LOGICAL[inner]


def parameter_type(ydb_type: str) -> Any:
    """The SDK type object to bind a value compared with a column of ``ydb_type`` (Optional stripped)."""
    inner, _ = unwrap_optional(ydb_type)
    decimal = re.fullmatch(r"Decimal\((\d+),\s*(\d+)\)", inner)
    if decimal:
        return ydb.DecimalType(int(decimal.group(1)), int(decimal.group(2)))
    name = "UUID" if inner == "Uuid" else inner
    try:
        return ydb.PrimitiveType[name]
    except KeyError:
        raise YdbQueryError(f"cannot compare with a column of YDB type {ydb_type}: use a primitive-typed column "
                            f"as cursor or key") from None


def python_value(value: Any, logical: str, ydb_type: str) -> Any:
    """A value from a result set in the form Arrow takes for ``logical`` (the SDK gives dates and times either
    as numbers or as Python objects depending on its settings; both are accepted)."""
    if value is None:
        return None
    inner, _ = unwrap_optional(ydb_type)
    if logical == "date":
        return EPOCH.date() + dt.timedelta(days=value) if isinstance(value, int) else _as_date(value)
    if logical == "timestamptz":
        return _instant(value, inner)
    if logical == "string" and isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    if logical == "uuid":
        return str(value) if isinstance(value, uuid.UUID) else str(uuid.UUID(str(value)))
    if logical == "json":
        return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    if logical == "int64" and isinstance(value, dt.timedelta):
        return value // dt.timedelta(microseconds=1)
    if logical == "binary" and isinstance(value, str):
        return value.encode()
    if logical == "string" and not isinstance(value, str):
        return str(value)
    return value


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _instant(value: Any, inner: str) -> dt.datetime:
    if isinstance(value, int):
        unit = "seconds" if inner.startswith("Datetime") else "microseconds"
        return EPOCH + dt.timedelta(**{unit: value})
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
    raise ValueError(f"not a point in time: {value!r}")


def rows_to_batch(rows: list[Any], table: TableSchema, first_row: int,
                  on_bad_record: OnBadRecord | None) -> pa.RecordBatch:
    """Convert result-set rows to one batch of ``table.arrow_schema()``. A value that does not convert fails with
    table, row and column named, or with ``on_bad_record`` is quarantined and its row left out."""
    values: dict[str, list[Any]] = {c.name: [] for c in table.columns}
    problems: dict[int, str] = {}
    for offset, row in enumerate(rows):
        for column in table.columns:
            try:
                values[column.name].append(_converted(_raw(row, column.name), column))
            except (ValueError, TypeError, ArithmeticError) as error:
                problems.setdefault(offset, f"column {column.name!r} ({column.source_type}): {error}")
                values[column.name].append(None)
    for column in table.columns:
        problems.update({offset: reason for offset, reason in _unfit_values(values[column.name], column).items()
                         if offset not in problems})
    if problems:
        _report_bad_rows(rows, table, first_row, problems, on_bad_record)
    keep = [offset for offset in range(len(rows)) if offset not in problems]
    arrays = [pa.array([values[c.name][i] for i in keep], type=to_arrow(c.logical_type)) for c in table.columns]
    return pa.RecordBatch.from_arrays(arrays, schema=table.arrow_schema())


def _converted(value: Any, column: Column) -> Any:
    converted = python_value(value, column.logical_type, column.source_type)
    if converted is None and not column.nullable:
        raise ValueError("NULL in a NOT NULL column")
    return converted


def _unfit_values(values: list[Any], column: Column) -> dict[int, str]:
    """Offsets of values Arrow refuses for the column's type (checked one by one only when the column fails)."""
    arrow_type = to_arrow(column.logical_type)
    try:
        pa.array(values, type=arrow_type)
        return {}
    except (pa.ArrowException, ValueError, TypeError, ArithmeticError):
        pass
    unfit = {}
    for offset, value in enumerate(values):
        try:
            pa.array([value], type=arrow_type)
        except (pa.ArrowException, ValueError, TypeError, ArithmeticError) as error:
            unfit[offset] = f"column {column.name!r} ({column.source_type}): {error}"
    return unfit


def _report_bad_rows(rows: list[Any], table: TableSchema, first_row: int, problems: dict[int, str],
                     on_bad_record: OnBadRecord | None) -> None:
    for offset, reason in sorted(problems.items()):
        location = f"row {first_row + offset}"
        if on_bad_record is None:
            raise ValueError(f"{table.source}.{table.name}: {location}: {reason}")
        raw = json.dumps({c.name: _raw(rows[offset], c.name) for c in table.columns}, default=str)
        on_bad_record(QuarantinedRecord(source=table.source, table=table.name, location=location,
                                        reason=reason, raw=raw))


def _raw(row: Any, name: str) -> Any:
    return row[name]


# ---------------------------------------------------------------------------------------------------------------
# YQL text (pure)
# ---------------------------------------------------------------------------------------------------------------

def quote(identifier: str) -> str:
    """A YQL identifier in backticks (a table path may contain slashes)."""
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def keyset_condition(primary_key: list[str], last_key: list[Any] | None) -> tuple[str, list[int]]:
    """The condition "key > last_key" for keyset pagination, as text with ``$k<i>`` parameters, and the indexes of
    the key parts bound as parameters. NULL parts (YDB keys may be NULL, and NULL sorts first) become IS [NOT] NULL
    tests instead of parameters."""
    if last_key is None:
        return "", []
    alternatives, bound = [], set()
    for position, column in enumerate(primary_key):
        terms = [_equals(primary_key[i], i, last_key[i], bound) for i in range(position)]
        terms.append(_greater(column, position, last_key[position], bound))
        alternatives.append("(" + " AND ".join(terms) + ")")
    return "(" + " OR ".join(alternatives) + ")", sorted(bound)


def _equals(column: str, index: int, value: Any, bound: set[int]) -> str:
    if value is None:
        return f"{quote(column)} IS NULL"
    bound.add(index)
    return f"{quote(column)} = $k{index}"


def _greater(column: str, index: int, value: Any, bound: set[int]) -> str:
    if value is None:
        return f"{quote(column)} IS NOT NULL"
    bound.add(index)
    return f"{quote(column)} > $k{index}"


def page_query(table: TableSchema, last_key: list[Any] | None, since: bool, page_rows: int) -> tuple[str, list[int]]:
    """One page of the table in primary-key order, after ``last_key``, limited to rows with cursor >= $since."""
    columns = ", ".join(quote(c.name) for c in table.columns)
    conditions = []
    if since:
        conditions.append(f"{quote(_cursor_name(table))} >= $since")
    keyset, bound = keyset_condition(table.primary_key, last_key)
    if keyset:
        conditions.append(keyset)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    order = ", ".join(quote(k) for k in table.primary_key)
    return f"SELECT {columns} FROM {quote(table.name)}{where} ORDER BY {order} LIMIT {int(page_rows)};", bound


def declarations(parameters: dict[str, Any]) -> str:
    """DECLARE statements for typed parameters (needed by YDB versions before implicit declaration)."""
    return "".join(f"DECLARE {name} AS {_yql_type_text(value.value_type)};\n" for name, value in parameters.items())


def _yql_type_text(value_type: Any) -> str:
    """The SDK spells the UUID type in capitals; YQL's type string is ``Uuid``."""
    return re.sub(r"\bUUID\b", "Uuid", str(value_type))


def max_cursor_query(table: TableSchema) -> str:
    return f"SELECT MAX({quote(_cursor_name(table))}) AS max_cursor FROM {quote(table.name)};"


def _cursor_name(table: TableSchema) -> str:
    if not table.cursor_column:
        raise ValueError(f"table {table.source}.{table.name} has no cursor column; set sync.cursor in "
                         f"datasources.yaml (candidates: {table.cursor_candidates})")
    return table.cursor_column


def cursor_candidates(columns: list[Column]) -> list[str]:
    temporal = [c.name for c in columns if c.logical_type in ("timestamptz", "date")]
    return sorted(temporal, key=lambda name: (not re.search(r"updat|modif|chang|version|_at$|ts$", name), name))


def table_schema_from_description(source: str, database: str, name: str, description: Any) -> TableSchema:
    """A TableSchema from ``describe_table``'s answer (columns with SDK type objects, primary key, stats)."""
    columns = [
        Column(name=c.name, logical_type=logical_type(c.type), nullable=unwrap_optional(str(c.type))[1],
               source_type=str(c.type))
        for c in description.columns
    ]
    stats = getattr(description, "table_stats", None)
    rows_estimate = getattr(stats, "rows_estimate", None) if stats is not None else None
    return TableSchema(source=source, name=name, columns=columns, primary_key=list(description.primary_key),
                       cursor_candidates=cursor_candidates(columns), row_estimate=rows_estimate,
                       namespace=database)


# ---------------------------------------------------------------------------------------------------------------
# The resource
# ---------------------------------------------------------------------------------------------------------------

def _query_settings() -> ydb.QueryClientSettings:
    """Dates and times as Python objects, JSON kept as the text the server holds (not re-serialized)."""
    return ydb.QueryClientSettings().with_native_json_in_result_sets(False)


class YdbResource(ConfigurableResource):
    """A YDB database as a source of tables."""

    endpoint: str = Field(description="grpc://host:2136 or grpcs://host:2135")
    database: str = Field(description="Database path, e.g. /local or /ru-central1/b1g.../etn...")
    auth: AuthMethod = "anonymous"
    user: str | None = None
    password: str = ""
    token: str = ""
    service_account_key_file: str | None = None
    timeout_s: int = 30
    source_name: str = ""

    # ---- configuration (no network) ---------------------------------------------------------------------------

    def credentials(self) -> ydb.Credentials:
        """The SDK credentials object for ``auth``; raises YdbConfigError when a setting it needs is missing."""
        builders = {
            "anonymous": lambda: ydb.AnonymousCredentials(),
            "static": self._static_credentials,
            "token": self._token_credentials,
            "service_account_key": self._service_account_credentials,
            "metadata": self._metadata_credentials,
            "env": self._environment_credentials,
        }
        if self.auth not in builders:
            raise YdbConfigError(f"{self._who()}: unknown auth {self.auth!r}; use one of {sorted(builders)}")
        return builders[self.auth]()

    def _static_credentials(self) -> ydb.Credentials:
        if not self.user:
            raise YdbConfigError(f"{self._who()}: auth 'static' needs user (and the password through password_env)")
        return ydb.StaticCredentials.from_user_password(self.user, self.password)

    def _token_credentials(self) -> ydb.Credentials:
        if not self.token:
            raise YdbConfigError(f"{self._who()}: auth 'token' needs a token (token_env names the variable)")
        return ydb.AccessTokenCredentials(self.token)

    def _service_account_credentials(self) -> ydb.Credentials:
        key_file = Path(self.service_account_key_file).expanduser() if self.service_account_key_file else None
        if key_file is None:
            raise YdbConfigError(f"{self._who()}: auth 'service_account_key' needs service_account_key_file")
        if not key_file.is_file():
            raise YdbConfigError(f"{self._who()}: service account key file {key_file} does not exist")
        try:
            key = json.loads(key_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise YdbConfigError(f"{self._who()}: service account key file {key_file} is not JSON: {error}") from None
        missing = [k for k in ("id", "private_key") if k not in key]
        if missing or not ({"service_account_id", "user_account_id"} & key.keys()):
            raise YdbConfigError(f"{self._who()}: service account key file {key_file} lacks "
                                 f"{missing or ['service_account_id']} (expected the JSON that `yc iam key create` "
                                 f"writes)")
        import ydb.iam

        try:
            return ydb.iam.ServiceAccountCredentials.from_file(str(key_file))
        except (AssertionError, ImportError) as error:
            raise YdbConfigError(f"{self._who()}: auth 'service_account_key' needs the ydb[yc] extra "
                                 f"(yandexcloud, pyjwt) installed: {error}") from None

    @staticmethod
    def _environment_credentials() -> ydb.Credentials:
        """``ydb.credentials_from_env_variables()``, except that ydb 3.33.2 fails on its static branch
        (``YDB_USER``: UnboundLocalError inside the SDK), so that one case is built here the same way."""
        if os.getenv("YDB_SERVICE_ACCOUNT_KEY_FILE_CREDENTIALS") is None and os.getenv("YDB_USER") is not None:
            return ydb.StaticCredentials.from_user_password(os.environ["YDB_USER"], os.getenv("YDB_PASSWORD", ""))
        return ydb.credentials_from_env_variables()

    def _metadata_credentials(self) -> ydb.Credentials:
        import ydb.iam

        try:
            return ydb.iam.MetadataUrlCredentials()
        except ImportError as error:
            raise YdbConfigError(f"{self._who()}: auth 'metadata' needs the requests package: {error}") from None

    def driver_config(self) -> ydb.DriverConfig:
        if not re.match(r"^grpcs?://[^/]+$", self.endpoint):
            raise YdbConfigError(f"{self._who()}: endpoint must look like grpc://host:port or grpcs://host:port, "
                                 f"got {self.endpoint!r}")
        if not self.database.startswith("/"):
            raise YdbConfigError(f"{self._who()}: database must be a path starting with '/', got {self.database!r}")
        return ydb.DriverConfig(endpoint=self.endpoint, database=self.database, credentials=self.credentials(),
                                discovery_request_timeout=self.timeout_s)

    def retry_settings(self) -> ydb.RetrySettings:
        """Reads are idempotent, so the SDK may retry every retriable error (with its own backoff)."""
        return ydb.RetrySettings(max_retries=5, idempotent=True, max_session_acquire_timeout=self.timeout_s)

    def _request_settings(self) -> ydb.BaseRequestSettings:
        return ydb.BaseRequestSettings().with_timeout(self.timeout_s)

    def _who(self) -> str:
        return f"YDB source {self.source_name!r}" if self.source_name else "YDB"

    def _scrub(self, error: BaseException) -> str:
        message = " ".join(str(error).split()) or type(error).__name__
        for secret in (self.password, self.token):
            if secret:
                message = message.replace(secret, "***")
        return message[:500]

    # ---- connections ------------------------------------------------------------------------------------------

    @contextmanager
    def _connected(self, action: str) -> Iterator[tuple[ydb.Driver, ydb.QuerySessionPool]]:
        config = self.driver_config()
        driver = ydb.Driver(driver_config=config)
        pool = None
        try:
            try:
                driver.wait(timeout=self.timeout_s, fail_fast=True)
            except Exception as error:  # noqa: BLE001 - the SDK raises several types for one cause: no connection
                raise SourceUnavailableError(
                    f"{self._who()}: cannot connect to {self.endpoint} database {self.database} within "
                    f"{self.timeout_s} s to {action}: {self._scrub(error)}") from None
            pool = ydb.QuerySessionPool(driver, size=2, query_client_settings=_query_settings())
            yield driver, pool
        except _UNAVAILABLE as error:
            raise SourceUnavailableError(f"{self._who()}: {self.endpoint}{self.database} did not answer while "
                                         f"trying to {action}: {self._scrub(error)}") from None
        except ydb.Error as error:
            raise YdbQueryError(f"{self._who()}: could not {action} in {self.database}: "
                                f"{self._scrub(error)}") from None
        finally:
            if pool is not None:
                pool.stop(timeout=self.timeout_s)
            driver.stop(timeout=self.timeout_s)

    def execute(self, query: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        """Run one YQL statement (DDL or DML) through the SDK's retrying pool; returns the rows of its results."""
        with self._connected("run a query") as (_, pool):
            return self._page(pool, declarations(parameters or {}) + query, parameters or {})

    # ---- source -----------------------------------------------------------------------------------------------

    def discover(self) -> list[TableSchema]:
        """Every row and column table under the database (system directories starting with '.' skipped)."""
        with self._connected("discover tables") as (driver, _):
            names = self._table_paths(driver, self.database)
            describe = (ydb.DescribeTableSettings().with_include_table_stats(True)
                        .with_timeout(self.timeout_s))
            source = self.source_name or self.database.strip("/").replace("/", "_")
            return [
                table_schema_from_description(source, self.database, name,
                                              driver.table_client.describe_table(f"{self.database}/{name}",
                                                                                 settings=describe))
                for name in names
            ]

    def _table_paths(self, driver: ydb.Driver, directory: str) -> list[str]:
        settings = self._request_settings()
        listing = ydb.retry_operation_sync(lambda: driver.scheme_client.list_directory(directory, settings),
                                           self.retry_settings())
        found = []
        for child in sorted(listing.children, key=lambda entry: entry.name):
            if child.name.startswith("."):
                continue
            path = f"{directory}/{child.name}"
            if child.is_directory():
                found.extend(self._table_paths(driver, path))
            elif child.is_table() or child.is_column_table():
                found.append(path[len(self.database) + 1:])
        return found

    def read(self, table: TableSchema, since: Any = None,
             on_bad_record: OnBadRecord | None = None) -> Iterator[pa.RecordBatch]:
        """Stream ``table`` page by page in primary-key order (rows with cursor >= ``since`` when given)."""
        if not table.primary_key:
            raise YdbQueryError(f"{self._who()}: table {table.name} has no primary key to page by")
        columns = {c.name: c for c in table.columns}
        key_types = [parameter_type(columns[k].source_type) for k in table.primary_key]
        with self._connected(f"read table {table.name}") as (_, pool):
            last_key: list[Any] | None = None
            first_row = 0
            while True:
                query, bound = page_query(table, last_key, since is not None, PAGE_ROWS)
                parameters = {f"$k{i}": ydb.TypedValue(last_key[i], key_types[i]) for i in bound}
                if since is not None:
                    cursor = columns[_cursor_name(table)]
                    parameters["$since"] = ydb.TypedValue(since, parameter_type(cursor.source_type))
                rows = self._page(pool, declarations(parameters) + query, parameters)
                if rows:
                    yield rows_to_batch(rows, table, first_row, on_bad_record)
                if len(rows) < PAGE_ROWS:
                    return
                first_row += len(rows)
                last_key = [rows[-1][k] for k in table.primary_key]

    def _page(self, pool: ydb.QuerySessionPool, query: str, parameters: dict[str, Any]) -> list[Any]:
        result_sets = pool.execute_with_retries(query, parameters, retry_settings=self.retry_settings(),
                                                settings=self._request_settings())
        return [row for result_set in result_sets for row in result_set.rows]

    def max_cursor(self, table: TableSchema) -> Any:
        """MAX(cursor column), typed like the values ``read`` yields (None for an empty table)."""
        cursor = table.column(_cursor_name(table))
        with self._connected(f"read max({cursor.name}) of {table.name}") as (_, pool):
            rows = self._page(pool, max_cursor_query(table), {})
        value = rows[0]["max_cursor"] if rows else None
        return python_value(value, cursor.logical_type, cursor.source_type)
