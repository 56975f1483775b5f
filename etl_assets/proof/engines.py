"""The engine operations a proof needs, through the warehouse resource: statements, the sample copy, maintenance
(PostgreSQL VACUUM ANALYZE, ClickHouse OPTIMIZE FINAL), bytes on disk and timed queries.

Names are quoted by sqlglot or psycopg.sql, values travel as literals of sqlglot trees; nothing is interpolated.
Every PostgreSQL statement runs under ``statement_timeout``; ClickHouse queries under ``max_execution_time``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from psycopg import sql
from sqlglot import exp

STATEMENT_TIMEOUT_S = 300
MAX_SAMPLE_PARTITIONS = 10_000
"""ClickHouse's own advice caps a table's partitions at 1,000-10,000; the sample copy admits that many."""
CLICKHOUSE_TIMING = (f" SETTINGS max_execution_time = {STATEMENT_TIMEOUT_S}, use_query_cache = 0,"
                     " use_query_condition_cache = 0, optimize_aggregation_in_order = 1")
"""Settings of every timed ClickHouse query, the same for both layouts: no query cache, and no query condition cache
(on by default since ClickHouse 25.3): it remembers which granules matched a filter, so after the warm-up the naive
table would skip them too and the sort key's gain would hide. Aggregation in order, as the ClickHouse DDL's notes
advise for a sort key leading with the grouped columns: without it a GROUP BY hashes every row whatever the order
(a no-op on the naive layout, which has no sort key)."""
PG_PARTITION_TREE_SIZE = sql.SQL(
    "SELECT pg_total_relation_size(c.oid) + coalesce((SELECT sum(pg_total_relation_size(t.relid)) "
    "FROM pg_partition_tree(c.oid) t WHERE t.relid <> c.oid), 0) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s")
"""A partitioned table's bytes are in its partitions: the parent itself has no storage."""


@dataclass
class Timed:
    """One statement's timed runs: wall-clock milliseconds around each call (the client's transfer and conversion
    included), the milliseconds the engine itself reported for each (empty when it reports none), its row count."""

    wall_ms: list[float] = field(default_factory=list)
    engine_ms: list[float] = field(default_factory=list)
    rows: int = 0


class Engine(Protocol):
    dialect: str

    def run(self, statement: str) -> None: ...
    def load(self, statement: str) -> None: ...
    def store_as_full_table(self, namespace: str, table: str) -> None: ...
    def drop_namespace(self, namespace: str) -> None: ...
    def maintain(self, namespace: str, table: str) -> None: ...
    def size_bytes(self, namespace: str, table: str) -> int | None: ...
    def column_types(self, namespace: str, table: str) -> dict[str, str]: ...
    def rows(self, statement: str) -> list[dict[str, Any]]: ...
    def time(self, statements: Sequence[str], runs: int) -> list[Timed]: ...
    def rows_read(self, statement: str) -> int | None: ...


def engine_for(warehouse: Any) -> Engine:
    dialect = getattr(warehouse, "dialect", None)
    if dialect == "postgres":
        return PostgresEngine(warehouse)
    if dialect == "clickhouse":
        return ClickHouseEngine(warehouse)
    raise ValueError(f"proofs run on a PostgreSQL or ClickHouse warehouse, not {dialect!r}")


def table_ref(namespace: str, table: str, alias: str | None = None) -> exp.Table:
    return exp.Table(this=exp.to_identifier(table, quoted=True), db=exp.to_identifier(namespace, quoted=True),
                     alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)) if alias else None)


def copy_statement(source: exp.Table, target: exp.Table, columns: Sequence[str], dialect: str,
                   limit: int | None = None, casts: dict[str, str] | None = None,
                   where: exp.Expr | None = None) -> str:
    """``INSERT INTO target (columns) SELECT columns FROM source [WHERE ...] [LIMIT n]``, each column cast to
    ``casts[c]``."""
    def projected(name: str) -> exp.Expr:
        column = exp.Column(this=exp.to_identifier(name, quoted=True))
        native = (casts or {}).get(name)
        return exp.Cast(this=column, to=_data_type(native, dialect)) if native else column

    select = exp.select(*(projected(c) for c in columns)).from_(source)
    if where is not None:
        select = select.where(where)
    if limit is not None:
        select = select.limit(limit)
    into = exp.Schema(this=target, expressions=[exp.to_identifier(c, quoted=True) for c in columns])
    return exp.Insert(this=into, expression=select).sql(dialect=dialect)


def _data_type(native: str, dialect: str) -> exp.DataType:
    try:
        return exp.DataType.build(native, dialect=dialect)
    except Exception:  # noqa: BLE001 - a type sqlglot does not know (an enum, a domain) is passed through as named
        return exp.DataType.build(native, dialect=dialect, udt=True)


class PostgresEngine:
    dialect = "postgres"

    def __init__(self, warehouse: Any) -> None:
        self.warehouse = warehouse

    def _connection(self) -> Any:
        return self.warehouse.connect(autocommit=True)

    def run(self, statement: str) -> None:
        with self._connection() as connection:
            connection.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(STATEMENT_TIMEOUT_S * 1000)))
            connection.execute(statement)

    def load(self, statement: str) -> None:
        self.run(statement)

    def store_as_full_table(self, namespace: str, table: str) -> None:
        """Nothing to do: a PostgreSQL table stores a sample as it stores all of its rows."""

    def drop_namespace(self, namespace: str) -> None:
        self.run(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(namespace)))  # type: ignore[arg-type]

    def maintain(self, namespace: str, table: str) -> None:
        """VACUUM ANALYZE (outside a transaction): dead tuples gone, visibility map and statistics fresh."""
        self.run(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(namespace, table)))  # type: ignore[arg-type]

    def size_bytes(self, namespace: str, table: str) -> int | None:
        with self._connection() as connection:
            row = connection.execute(PG_PARTITION_TREE_SIZE, (namespace, table)).fetchone()
        return int(row[0]) if row and row[0] else None

    def column_types(self, namespace: str, table: str) -> dict[str, str]:
        return dict(self.warehouse.table_columns(namespace, table))

    def rows(self, statement: str) -> list[dict[str, Any]]:
        with self._connection() as connection, connection.cursor() as cursor:
            cursor.execute(statement)
            names = [column.name for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def time(self, statements: Sequence[str], runs: int) -> list[Timed]:
        """Per statement, wall-clock milliseconds of ``runs`` executions after one warm-up, and its result's row
        count (no engine time: the server's own figure needs EXPLAIN ANALYZE, which times differently). The
        statements take turns on one connection, so a busy moment of the machine falls on all of them alike."""
        with self._connection() as connection, connection.cursor() as cursor:
            cursor.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(STATEMENT_TIMEOUT_S * 1000)))

            def execute(statement: str) -> tuple[int, float | None]:
                cursor.execute(statement)
                return len(cursor.fetchall()), None

            return interleaved(execute, statements, runs)

    def rows_read(self, statement: str) -> int | None:
        """Not measured on PostgreSQL (its plans show it: EXPLAIN ANALYZE)."""
        return None


class ClickHouseEngine:
    dialect = "clickhouse"

    def __init__(self, warehouse: Any) -> None:
        self.warehouse = warehouse

    def run(self, statement: str) -> None:
        self.warehouse.execute(statement)

    def load(self, statement: str) -> None:
        """The sample arrives in one INSERT, unlike a table's real loads: it may span more partitions than
        ClickHouse admits per insert block by default (100)."""
        self.run(f"{statement} SETTINGS max_partitions_per_insert_block = {MAX_SAMPLE_PARTITIONS}")

    def store_as_full_table(self, namespace: str, table: str) -> None:
        """Wide parts (a file per column) from the first row, as a table past ``min_bytes_for_wide_part`` (10 MB
        uncompressed) stores them, for both layouts: a sample is smaller, and a layout whose sample stays under that
        would be measured in compact parts (all columns in one file, compressed granule by granule, a LowCardinality
        dictionary per granule: 16-22% larger on the OnTime and UK price paid shapes) while a naive one above it is
        measured wide."""
        self.run(f"ALTER TABLE {table_ref(namespace, table).sql('clickhouse')} MODIFY SETTING "
                 f"min_bytes_for_wide_part = 0")

    def drop_namespace(self, namespace: str) -> None:
        self.run(f"DROP DATABASE IF EXISTS {exp.to_identifier(namespace, quoted=True).sql('clickhouse')} SYNC")

    def maintain(self, namespace: str, table: str) -> None:
        """OPTIMIZE FINAL: the parts merged, as a table settles to once its inserts are done."""
        self.run(f"OPTIMIZE TABLE {table_ref(namespace, table).sql('clickhouse')} FINAL")

    def size_bytes(self, namespace: str, table: str) -> int | None:
        return self.warehouse.table_size_bytes(namespace, table)

    def column_types(self, namespace: str, table: str) -> dict[str, str]:
        return dict(self.warehouse.table_columns(namespace, table))

    def rows(self, statement: str) -> list[dict[str, Any]]:
        return self.warehouse.query_arrow(statement).to_pylist()

    def time(self, statements: Sequence[str], runs: int) -> list[Timed]:
        """As PostgreSQL's, plus the elapsed time the engine reports for each run (``query_elapsed``): the wall clock
        also holds the client's share (the call, the result's transfer and conversion; ~0.2-0.4 ms a query on chdb),
        which no layout changes."""
        with self.warehouse.session():
            return interleaved(lambda statement: self.warehouse.query_elapsed(statement + CLICKHOUSE_TIMING),
                               statements, runs)

    def rows_read(self, statement: str) -> int | None:
        """Rows the engine read to answer ``statement`` (timing settings): the growth of the ``SelectedRows``
        counter of ``system.events`` across it, less what reading the counter itself adds. Exact on chdb (one
        engine per process); on a shared server other queries running meanwhile count too."""
        with self.warehouse.session():
            before = self.selected_rows()
            self.warehouse.query_arrow(statement + CLICKHOUSE_TIMING)
            between = self.selected_rows()
            return max(0, (between - before) - (self.selected_rows() - between))

    def selected_rows(self) -> int:
        rows = self.warehouse.query_arrow("SELECT value FROM system.events WHERE event = 'SelectedRows'").to_pylist()
        return int(rows[0]["value"]) if rows else 0


def interleaved(execute: Callable[[str], tuple[int, float | None]], statements: Sequence[str],
                runs: int) -> list[Timed]:
    """One warm-up of each statement (its row count), then ``runs`` rounds in which each runs once, timed.
    ``execute`` returns the row count and the engine's own milliseconds (None: not reported)."""
    timings = [Timed(rows=execute(statement)[0]) for statement in statements]
    for _ in range(runs):
        for statement, timed in zip(statements, timings, strict=True):
            started = time.perf_counter()
            _, engine_ms = execute(statement)
            timed.wall_ms.append((time.perf_counter() - started) * 1000)
            if engine_ms is not None:
                timed.engine_ms.append(engine_ms)
    return timings
