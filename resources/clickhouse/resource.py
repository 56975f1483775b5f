"""ClickHouse as a source and as a warehouse target: the Dagster resource.

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

import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from sqlglot import exp

from resources.clickhouse import sql
from resources.clickhouse.batches import cast_array, conform_batch, insert_schema, rebatch
from resources.clickhouse.client import ClickHouseConnection, ClickHouseQueryError
from resources.clickhouse.discovery import SKIPPED_ENGINES, is_collapsing, sorting_key_columns, table_schema_from_system
from resources.protocol import OnBadRecord, Period, WriteMode, WriteResult
from resources.schema import TableSchema, to_arrow

INSERT_BLOCK_ROWS = 200_000
INSERT_BLOCK_BYTES = 64 * 1024 * 1024


class ClickHouseResource(ClickHouseConnection):
    """A ClickHouse server (``url``) or the embedded chdb engine (``chdb_path``): source and destination."""

    # ---- catalog -----------------------------------------------------------------------------------------------

    def discover(self) -> list[TableSchema]:
        """Every table of ``database`` (materialized views and dictionaries are skipped: their data is read from
        their target tables) with logical types, keys, cursor candidates and row estimates."""
        with self._session(f"discover database {self.database!r}") as client:
            if not client.query(sql.DATABASE_EXISTS, parameters={"db": self.database}).result_rows:
                raise ClickHouseQueryError(f"{self._who()}: database {self.database!r} does not exist on "
                                           f"{self.endpoint}")
            tables = list(client.query(sql.LIST_TABLES, parameters={
                "db": self.database, "skipped": list(SKIPPED_ENGINES)}).named_results())
            columns = list(client.query(sql.LIST_COLUMNS, parameters={"db": self.database}).named_results())
        by_table: dict[str, list[dict[str, Any]]] = {}
        for row in columns:
            by_table.setdefault(row["table"], []).append(row)
        source = self.source_name or self.database
        return [table_schema_from_system(source, self.database, row, by_table.get(row["name"], []))
                for row in tables]

    def table_columns(self, namespace: str, table: str) -> list[tuple[str, str]]:
        """``(name, ClickHouse type)`` of each column of ``namespace.table`` in position order; [] when missing."""
        with self._session(f"read the columns of {namespace}.{table}") as client:
            rows = client.query(sql.TABLE_COLUMNS, parameters={"db": namespace, "t": table}).result_rows
        return [(name, native) for name, native in rows]

    def table_size_bytes(self, namespace: str, table: str) -> int | None:
        """The bytes ``namespace.table`` takes on disk; None when it is missing or its engine does not say."""
        with self._session(f"read the size of {namespace}.{table}") as client:
            rows = client.query(sql.TABLE_SIZE, parameters={"db": namespace, "t": table}).result_rows
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def row_count(self, namespace: str, table: str) -> int | None:
        """The exact number of rows of ``namespace.table`` (MergeTree answers from its part metadata); None when
        there is no such table."""
        statement = exp.select(exp.Count(this=exp.Star())).from_(sql.table_ref(namespace, table)).sql("clickhouse")
        with self._session(f"count the rows of {namespace}.{table}") as client:
            if not client.query(sql.TABLE_EXISTS, parameters={"db": namespace, "t": table}).result_rows:
                return None
            return int(client.query(statement).result_rows[0][0])

    def row_batches(self, namespace: str, table: str, size: int) -> Iterator[list[dict[str, Any]]]:
        """Every row of ``namespace.table`` as dicts, ``size`` at a time, from an Arrow stream."""
        statement = exp.select("*").from_(sql.table_ref(namespace, table)).sql("clickhouse")
        with self.client() as client, client.query_arrow_stream(
                statement, settings={"max_block_size": size}, use_strings=True) as stream:
            for block in stream:
                for start in range(0, block.num_rows, size):
                    yield block.slice(start, size).to_pylist()

    # ---- source ------------------------------------------------------------------------------------------------

    def read(self, table: TableSchema, since: Any = None, on_bad_record: OnBadRecord | None = None,
             period: Period | None = None) -> Iterator[pa.RecordBatch]:
        """Stream ``table`` (rows with cursor >= ``since`` when given, only the rows of ``period`` when given;
        FINAL for collapsing engines)."""
        database = table.namespace or self.database
        where = f"{table.source}.{table.name}"
        schema = table.arrow_schema()
        parameters = {**({"since": since} if since is not None else {}),
                      **({"period_start": period.start, "period_end": period.end} if period is not None else {})}
        with self._session(f"read table {database}.{table.name}") as client:
            final = is_collapsing(self._engine(client, database, table.name))
            query = sql.select_sql(database, table, final=final, since=since is not None,
                                   period_column=period.column if period is not None else None)
            first_row = 0
            for batch in self._blocks(client, query, parameters or None):
                yield conform_batch(batch, schema, where, first_row, on_bad_record)
                first_row += batch.num_rows

    def max_cursor(self, table: TableSchema, at_least: Any = None) -> Any:
        """The current maximum of the cursor column, typed like the values ``read`` yields (None when empty)."""
        database = table.namespace or self.database
        cursor = table.column(sql.cursor_name(table))
        with self._session(f"read max({cursor.name}) of {database}.{table.name}") as client:
            result = client.query_arrow(sql.max_cursor_sql(database, table), use_strings=True)
        value = cast_array(result.column(0).combine_chunks(), to_arrow(cursor.logical_type))
        return value[0].as_py() if len(value) else None

    def _engine(self, client: Client, database: str, table: str) -> str:
        rows = client.query(sql.TABLE_ENGINE, parameters={"db": database, "t": table}).result_rows
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
        if mode is WriteMode.REPLACE_PERIOD:
            raise ValueError(f"{table.source}.{table.name}: time partitions land in a PostgreSQL target only; "
                             f"ClickHouse cannot replace one period yet")
        if mode is WriteMode.MERGE and not table.primary_key:
            raise ValueError(f"{table.source}.{table.name}: merge into ClickHouse needs a primary key "
                             f"(ReplacingMergeTree orders and deduplicates by it)")
        with self._session(f"{mode.value} into {namespace}.{table.name}") as client:
            client.command(sql.create_database_sql(namespace, self.cluster))
            if mode is WriteMode.REPLACE:
                return self._replace(client, namespace, table, batches)
            added = self._ensure_table(client, namespace, table)
            if mode is WriteMode.MERGE:
                self._check_mergeable(client, namespace, table)
            return WriteResult(rows_written=self._load_through_stage(client, namespace, table, batches),
                               added_columns=added)

    def _ensure_table(self, client: Client, namespace: str, table: TableSchema) -> list[str]:
        client.command(sql.create_database_sql(namespace, self.cluster))
        existing = self._existing_columns(client, namespace, table.name)
        if not existing:
            client.command(sql.create_table_sql(namespace, table, cluster=self.cluster))
            return []
        missing = [c for c in table.columns if c.name not in existing]
        for column in missing:
            client.command(sql.add_column_sql(namespace, table.name, column, self.cluster))
        return [c.name for c in missing]

    @staticmethod
    def _existing_columns(client: Client, database: str, table: str) -> list[str]:
        rows = client.query(sql.TABLE_COLUMNS, parameters={"db": database, "t": table}).result_rows
        return [row[0] for row in rows]

    def _table_info(self, client: Client, database: str, table: str) -> tuple[str, str]:
        rows = client.query(sql.TABLE_LAYOUT, parameters={"db": database, "t": table}).result_rows
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
        client.command(sql.drop_table_sql(namespace, fresh, self.cluster))
        client.command(sql.create_table_sql(namespace, table, name=fresh, cluster=self.cluster))
        try:
            rows = self._insert(client, namespace, fresh, table, batches)
            self._swap_in(client, namespace, fresh, table.name, replace_existing=bool(existing))
        except BaseException:
            client.command(sql.drop_table_sql(namespace, fresh, self.cluster))
            raise
        added = [c.name for c in table.columns if existing and c.name not in existing]
        return WriteResult(rows_written=rows, added_columns=added)

    def _swap_in(self, client: Client, namespace: str, fresh: str, live: str, replace_existing: bool) -> None:
        """Make ``fresh`` the live table in one step; readers see the old or the new table, never a mix."""
        if not replace_existing:
            client.command(sql.rename_table_sql(namespace, fresh, live, self.cluster))
            return
        try:
            client.command(sql.exchange_tables_sql(namespace, fresh, live, self.cluster))
        except DatabaseError:
            retired = f"{live}__old"
            client.command(sql.drop_table_sql(namespace, retired, self.cluster))
            client.command(sql.rename_tables_sql(namespace, [(live, retired), (fresh, live)], self.cluster))
            fresh = retired
        client.command(sql.drop_table_sql(namespace, fresh, self.cluster))

    def _load_through_stage(self, client: Client, namespace: str, table: TableSchema,
                            batches: Iterable[pa.RecordBatch]) -> int:
        engine, sorting_key = self._table_info(client, namespace, table.name)
        stage = f"{table.name}__stage_{uuid.uuid4().hex[:8]}"
        client.command(sql.create_stage_sql(namespace, stage, table.name, sorting_key, engine, self.cluster))
        try:
            rows = self._insert(client, namespace, stage, table, batches)
            partitions = client.query(sql.ACTIVE_PARTITIONS, parameters={"db": namespace, "t": stage}).result_rows
            for (partition_id,) in partitions:
                client.command(sql.attach_partition_sql(namespace, table.name, stage, partition_id))
        finally:
            client.command(sql.drop_table_sql(namespace, stage))
        return rows

    def _insert(self, client: Client, namespace: str, target: str, table: TableSchema,
                batches: Iterable[pa.RecordBatch]) -> int:
        schema = insert_schema(table)
        where = f"{table.source}.{table.name}"
        rows = 0
        for block in rebatch(batches, INSERT_BLOCK_ROWS, INSERT_BLOCK_BYTES):
            conformed = []
            for batch in block:
                conformed.append(conform_batch(batch, schema, where, rows + sum(b.num_rows for b in conformed)))
            arrow_table = pa.Table.from_batches(conformed, schema=schema)
            client.insert_arrow(target, arrow_table, database=namespace)
            rows += arrow_table.num_rows
        return rows
