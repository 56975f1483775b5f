"""The SQL the ClickHouse resource runs: statements built as sqlglot trees (DDL through :mod:`.ddl`) and rendered
for ClickHouse, plus the fixed catalog queries whose values are server-side parameters (``{name:Type}``)."""

from __future__ import annotations

from sqlglot import exp

from resources.clickhouse import ddl
from resources.clickhouse.ddl import ident, table_ref
from resources.clickhouse.types import NativeType, Type, clickhouse_type, data_type, parse_native
from resources.schema import Column, TableSchema

DATABASE_EXISTS = "SELECT 1 FROM system.databases WHERE name = {db:String}"
LIST_TABLES = (
    "SELECT name, engine, engine_full, sorting_key, total_rows FROM system.tables "
    "WHERE database = {db:String} AND NOT is_temporary AND engine NOT IN {skipped:Array(String)} "
    "AND NOT startsWith(name, '.inner') ORDER BY name"
)
LIST_COLUMNS = (
    "SELECT table, name, type, comment FROM system.columns WHERE database = {db:String} "
    "AND default_kind != 'EPHEMERAL' ORDER BY table, position"
)
TABLE_ENGINE = "SELECT engine FROM system.tables WHERE database = {db:String} AND name = {t:String}"
TABLE_LAYOUT = "SELECT engine, sorting_key FROM system.tables WHERE database = {db:String} AND name = {t:String}"
TABLE_COLUMNS = (
    "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position"
)
TABLE_SIZE = "SELECT total_bytes FROM system.tables WHERE database = {db:String} AND name = {t:String}"
TABLE_EXISTS = "SELECT 1 FROM system.tables WHERE database = {db:String} AND name = {t:String}"
ACTIVE_PARTITIONS = (
    "SELECT DISTINCT partition_id FROM system.parts WHERE database = {db:String} AND table = {t:String} "
    "AND active ORDER BY partition_id"
)

_SQL = "clickhouse"


def quote(identifier: str) -> str:
    return ident(identifier).sql(_SQL)


def qualified(database: str, table: str) -> str:
    return table_ref(database, table).sql(_SQL)


def _on_cluster(cluster: str | None) -> str:
    """`` ON CLUSTER "name"`` for the statements below that sqlglot cannot express (EXCHANGE, RENAME)."""
    return f" ON CLUSTER {quote(cluster)}" if cluster else ""


# ---- DDL ------------------------------------------------------------------------------------------------------

def create_database_sql(database: str, cluster: str | None = None) -> str:
    return ddl.create_database(database, cluster).sql(_SQL)


def table_engine(table: TableSchema, cluster: str | None = None) -> list[exp.Expression]:
    """ReplacingMergeTree ordered by the primary key (merge = insert + FINAL), else MergeTree; replicated on a
    cluster (the server's default_replica_path / default_replica_name give the ZooKeeper path)."""
    family = "ReplacingMergeTree" if table.primary_key else "MergeTree"
    return [ddl.engine(f"Replicated{family}" if cluster else family), ddl.order_by(table.primary_key)]


def column_definition(column: Column, key: bool) -> exp.ColumnDef:
    return ddl.column_def(column.name, data_type(column.logical_type, nullable=not key, landing=True))


def create_table_sql(database: str, table: TableSchema, name: str | None = None, cluster: str | None = None) -> str:
    key = set(table.primary_key)
    columns = [column_definition(c, c.name in key) for c in table.columns]
    return ddl.create_table(database, name or table.name, columns, table_engine(table, cluster), cluster=cluster,
                            if_not_exists=True).sql(_SQL)


def create_stage_sql(database: str, stage: str, like: str, sorting_key: str, engine: str, cluster: str | None) -> str:
    """A staging table with ``like``'s structure on this node only; on a cluster its engine is the non-replicated
    twin of ``like``'s so that its parts can be attached to the replicated table."""
    properties: list[exp.Expression] = []
    if cluster:
        local_engine = engine.removeprefix("Replicated").removeprefix("Shared") or "MergeTree"
        properties = [ddl.engine(local_engine), ddl.order_by(ddl.sort_key_expressions(sorting_key))]
    return ddl.create_table(database, stage, [], properties, like=like).sql(_SQL)


def add_column_sql(database: str, table: str, column: Column, cluster: str | None = None) -> str:
    definition = column_definition(column, key=False)
    definition.set("exists", True)
    return exp.Alter(this=table_ref(database, table), kind="TABLE", actions=[definition],
                     cluster=_cluster_node(cluster)).sql(_SQL)


def drop_table_sql(database: str, table: str, cluster: str | None = None) -> str:
    """DROP ... IF EXISTS; SYNC on a cluster so that a table of the same name can be created right after."""
    return exp.Drop(tables=[table_ref(database, table)], kind="TABLE", exists=True, cluster=_cluster_node(cluster),
                    sync=bool(cluster)).sql(_SQL)


def _cluster_node(cluster: str | None) -> exp.OnCluster | None:
    return exp.OnCluster(this=ident(cluster)) if cluster else None


# sqlglot's ClickHouse grammar has no EXCHANGE TABLES, RENAME TABLE or ATTACH PARTITION ... FROM: these are
# rendered quoted identifiers and literals joined with fixed keywords.

def exchange_tables_sql(database: str, first: str, second: str, cluster: str | None = None) -> str:
    return f"EXCHANGE TABLES {qualified(database, first)} AND {qualified(database, second)}{_on_cluster(cluster)}"


def rename_table_sql(database: str, old: str, new: str, cluster: str | None = None) -> str:
    return rename_tables_sql(database, [(old, new)], cluster)


def rename_tables_sql(database: str, renames: list[tuple[str, str]], cluster: str | None = None) -> str:
    """One RENAME TABLE of several tables: ClickHouse applies it as one step."""
    pairs = ", ".join(f"{qualified(database, old)} TO {qualified(database, new)}" for old, new in renames)
    return f"RENAME TABLE {pairs}{_on_cluster(cluster)}"


def attach_partition_sql(database: str, table: str, stage: str, partition_id: str) -> str:
    literal = exp.Literal.string(partition_id).sql(_SQL)
    return f"ALTER TABLE {qualified(database, table)} ATTACH PARTITION ID {literal} FROM {qualified(database, stage)}"


# ---- reads ----------------------------------------------------------------------------------------------------

def select_expression(column: Column) -> exp.Expression:
    """An expression over ``column`` whose Arrow output casts cleanly to the column's logical Arrow type."""
    name = exp.column(column.name, quoted=True)
    native = parse_native(column.source_type or clickhouse_type(column.logical_type, True))
    logical, kind = column.logical_type, native.kind
    is_datetime = kind == Type.DATETIME or native.udt_name == "DateTime32"
    if kind == Type.AGGREGATEFUNCTION:
        return _call("toString", _call("finalizeAggregation", name))
    if logical == "json":
        return _call("toJSONString", name)
    if logical == "timestamp" and (is_datetime or kind == Type.DATETIME64):
        return _call("toDateTime64", _call("toString", name), exp.Literal.number(_precision(native)),
                     exp.Literal.string("UTC"))
    if logical == "timestamptz" and is_datetime:
        return _call("toDateTime64", name, exp.Literal.number(0))
    if logical in ("string", "uuid") and kind not in (Type.TEXT, Type.FIXEDSTRING):
        return _call("toString", name)
    return name


def _call(function: str, *arguments: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=function, expressions=list(arguments))


def _precision(native: NativeType) -> int:
    arguments = native.data_type.expressions
    return int(arguments[0].name) if native.kind == Type.DATETIME64 and arguments else 0


def since_parameter_type(column: Column) -> exp.DataType:
    """The type to bind a cursor value as, so that ``column >= {since:T}`` compares like with like."""
    native = parse_native(column.source_type or clickhouse_type(column.logical_type, False))
    kind, arguments = native.kind, list(native.data_type.expressions)
    if native.udt_name == "DateTime32":
        kind, arguments = Type.DATETIME, list(parse_native(native.sql().replace("DateTime32", "DateTime", 1))
                                              .data_type.expressions)
    if kind == Type.DATETIME:
        return _datetime64(arguments[0] if arguments else None)
    if kind == Type.DATETIME64:
        return _datetime64(arguments[1] if len(arguments) > 1 else None)
    if kind == Type.DATE:
        return exp.DataType(this=Type.DATE32, nullable=False)
    if kind in (Type.ENUM, Type.ENUM8, Type.ENUM16):
        return exp.DataType(this=Type.TEXT, nullable=False)
    return native.data_type


def _datetime64(timezone: exp.Expression | None) -> exp.DataType:
    parameters = [exp.DataTypeParam(this=exp.Literal.number(6)), *([timezone.copy()] if timezone else [])]
    return exp.DataType(this=Type.DATETIME64, expressions=parameters, nullable=False)


def select_sql(database: str, table: TableSchema, final: bool, since: bool, period_column: str | None = None) -> str:
    """The read query. Filtering happens in a subquery over the raw columns so that the converting expressions
    (aliased with the column names) can never shadow the columns in the WHERE clause. With ``period_column``, only
    the rows with ``{period_start} <= column < {period_end}`` (a time partition; bound as server-side parameters)."""
    source: exp.Expression = table_ref(database, table.name)
    inner = exp.select(*(exp.column(c.name, quoted=True) for c in table.columns))
    inner = inner.from_(exp.Final(this=source) if final else source)
    if since:
        cursor = table.column(cursor_name(table))
        parameter = exp.Placeholder(this=exp.var("since"), kind=since_parameter_type(cursor))
        inner = inner.where(exp.column(cursor.name, quoted=True) >= parameter)
    if period_column:
        column, kind = exp.column(period_column, quoted=True), since_parameter_type(table.column(period_column))
        inner = inner.where(column >= exp.Placeholder(this=exp.var("period_start"), kind=kind))
        inner = inner.where(column < exp.Placeholder(this=exp.var("period_end"), kind=kind))
    outer = exp.select(*(exp.alias_(select_expression(c), ident(c.name)) for c in table.columns))
    return outer.from_(exp.Subquery(this=inner)).sql(_SQL)


def max_cursor_sql(database: str, table: TableSchema) -> str:
    cursor = table.column(cursor_name(table))
    maximum = exp.select(exp.alias_(_call("maxOrNull", exp.column(cursor.name, quoted=True)), ident(cursor.name)))
    maximum = maximum.from_(table_ref(database, table.name))
    return exp.select(exp.alias_(select_expression(cursor), ident(cursor.name))).from_(
        exp.Subquery(this=maximum)).sql(_SQL)


def cursor_name(table: TableSchema) -> str:
    if not table.cursor_column:
        raise ValueError(f"table {table.source}.{table.name} has no cursor column; set sync.cursor in "
                         f"datasources.yaml (candidates: {table.cursor_candidates})")
    return table.cursor_column
