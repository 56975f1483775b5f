"""YDB as a source: the YdbResource (settings, discover, read, max_cursor).

Discovery walks the database with the scheme client and describes every row or column table. Reads are paged
SELECTs ordered by the primary key (keyset pagination, ``PAGE_ROWS`` rows a page), each page run through the SDK's
retrying ``QuerySessionPool.execute_with_retries``; with ``since`` only rows whose cursor is >= ``since`` are read.
Table names are paths relative to the database (``orders``, ``sales/orders``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

import pyarrow as pa
import ydb
from dagster import ConfigurableResource
from pydantic import Field

from resources.protocol import OnBadRecord
from resources.schema import Column, TableSchema
from resources.ydb import client
from resources.ydb.batches import rows_to_batch
from resources.ydb.errors import YdbQueryError
from resources.ydb.sql import cursor_name, declarations, max_cursor_query, page_query
from resources.ydb.types import logical_type, parameter_type, python_value, unwrap_optional

AuthMethod = Literal["anonymous", "static", "token", "service_account_key", "metadata", "env"]
PAGE_ROWS = 10_000


class YdbResource(ConfigurableResource):
    """A YDB database as a source of tables.

    Authentication follows the SDK's six ways: anonymous, static user/password, an access token, a service account
    key file (Yandex Cloud IAM), the cloud metadata service, or whatever the standard ``YDB_*`` environment
    variables say (see :mod:`resources.ydb.client`).
    """

    endpoint: str = Field(description="grpc://host:2136 or grpcs://host:2135")
    database: str = Field(description="Database path, e.g. /local or /ru-central1/b1g.../etn...")
    auth: AuthMethod = "anonymous"
    user: str | None = None
    password: str = ""
    token: str = ""
    service_account_key_file: str | None = None
    timeout_s: int = 30
    source_name: str = ""

    @property
    def label(self) -> str:
        return f"YDB source {self.source_name!r}" if self.source_name else "YDB"

    # ---- configuration (no network) ---------------------------------------------------------------------------

    def credentials(self) -> ydb.Credentials:
        """The SDK credentials object for ``auth``; raises YdbConfigError when a setting it needs is missing."""
        return client.credentials(self)

    def driver_config(self) -> ydb.DriverConfig:
        return client.driver_config(self)

    def retry_settings(self) -> ydb.RetrySettings:
        return client.retry_settings(self.timeout_s)

    # ---- queries ----------------------------------------------------------------------------------------------

    def execute(self, query: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        """Run one YQL statement (DDL or DML) through the SDK's retrying pool; returns the rows of its results."""
        with client.connected(self, "run a query") as (_, pool):
            return client.run(pool, declarations(parameters or {}) + query, parameters or {}, self.timeout_s)

    # ---- source -----------------------------------------------------------------------------------------------

    def discover(self) -> list[TableSchema]:
        """Every row and column table under the database (system directories starting with '.' skipped)."""
        with client.connected(self, "discover tables") as (driver, _):
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
        settings = client.request_settings(self.timeout_s)
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
            raise YdbQueryError(f"{self.label}: table {table.name} has no primary key to page by")
        columns = {c.name: c for c in table.columns}
        key_types = [parameter_type(columns[k].source_type) for k in table.primary_key]
        with client.connected(self, f"read table {table.name}") as (_, pool):
            last_key: list[Any] | None = None
            first_row = 0
            while True:
                query, bound = page_query(table, last_key, since is not None, PAGE_ROWS)
                parameters = {f"$k{i}": ydb.TypedValue(last_key[i], key_types[i]) for i in bound}
                if since is not None:
                    cursor = columns[cursor_name(table)]
                    parameters["$since"] = ydb.TypedValue(since, parameter_type(cursor.source_type))
                rows = client.run(pool, declarations(parameters) + query, parameters, self.timeout_s)
                if rows:
                    yield rows_to_batch(rows, table, first_row, on_bad_record)
                if len(rows) < PAGE_ROWS:
                    return
                first_row += len(rows)
                last_key = [rows[-1][k] for k in table.primary_key]

    def max_cursor(self, table: TableSchema, at_least: Any = None) -> Any:
        """MAX(cursor column), typed like the values ``read`` yields (None for an empty table)."""
        cursor = table.column(cursor_name(table))
        with client.connected(self, f"read max({cursor.name}) of {table.name}") as (_, pool):
            rows = client.run(pool, max_cursor_query(table), {}, self.timeout_s)
        value = rows[0]["max_cursor"] if rows else None
        return python_value(value, cursor.logical_type, cursor.source_type)


def cursor_candidates(columns: list[Column]) -> list[str]:
    """Date and time columns, the likeliest "last changed" ones (by name) first."""
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
