"""The one builder of ClickHouse DDL, as sqlglot trees: the landing resource and the DDL layer both use it.

Render a statement with ``.sql(dialect="clickhouse")``. Names are always quoted identifiers; engine arguments,
partition and sort expressions are sqlglot expressions built by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlglot
from sqlglot import exp

_PROPERTY_ORDER = (
    exp.OnCluster, exp.EngineProperty, exp.PartitionedByProperty, exp.Order, exp.PrimaryKey, exp.SampleProperty,
    exp.MergeTreeTTL, exp.SettingsProperty,
)
"""The order ClickHouse expects the clauses of CREATE TABLE in (ENGINE, PARTITION BY, ORDER BY, PRIMARY KEY,
SAMPLE BY, TTL, SETTINGS); anything else keeps its place after them."""


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def table_ref(database: str, table: str) -> exp.Table:
    return exp.Table(this=ident(table), db=ident(database) if database else None)


def on_cluster(cluster: str | None) -> list[exp.OnCluster]:
    """The ON CLUSTER property (as a list to splat into properties; empty off a cluster)."""
    return [exp.OnCluster(this=ident(cluster))] if cluster else []


def column_def(name: str, data_type: exp.DataType) -> exp.ColumnDef:
    return exp.ColumnDef(this=ident(name), kind=data_type)


def create_database(database: str, cluster: str | None = None, if_not_exists: bool = True) -> exp.Create:
    properties = on_cluster(cluster)
    return exp.Create(this=exp.Table(this=ident(database)), kind="SCHEMA", exists=if_not_exists,
                      properties=exp.Properties(expressions=properties) if properties else None)


def create_table(database: str, table: str, columns: Sequence[exp.Expression],
                 properties: Sequence[exp.Expression] = (), cluster: str | None = None,
                 if_not_exists: bool = False, like: str | None = None) -> exp.Create:
    """CREATE TABLE ``database.table`` with ``columns`` (column definitions, skip indexes) and ``properties``
    (engine, layout, settings) in ClickHouse order. ``like`` names a table of the same database whose structure
    is copied (``CREATE TABLE t AS other``) instead of listing columns."""
    target = table_ref(database, table)
    ordered = sorted([*on_cluster(cluster), *properties], key=_property_rank)
    return exp.Create(
        this=exp.Schema(this=target, expressions=list(columns)) if columns else target,
        kind="TABLE", exists=if_not_exists, expression=table_ref(database, like) if like else None,
        properties=exp.Properties(expressions=ordered) if ordered else None,
    )


def _property_rank(node: exp.Expression) -> int:
    return next((rank for rank, kind in enumerate(_PROPERTY_ORDER) if isinstance(node, kind)), len(_PROPERTY_ORDER))


def engine(name: str, arguments: Sequence[exp.Expression] = ()) -> exp.EngineProperty:
    """``ENGINE = name(arguments...)``, or the bare ``ENGINE = name`` without arguments."""
    if not arguments:
        return exp.EngineProperty(this=exp.to_identifier(name))
    return exp.EngineProperty(this=exp.Anonymous(this=name, expressions=list(arguments)))


def order_by(columns: Sequence[str | exp.Expression]) -> exp.Order:
    """``ORDER BY (a, b)`` over column names (quoted) or expressions; no columns is ``ORDER BY tuple()``."""
    keys = [exp.column(c, quoted=True) if isinstance(c, str) else c for c in columns]
    if not keys:
        key: exp.Expression = sqlglot.parse_one("tuple()", read="clickhouse")
    elif len(keys) == 1:
        key = exp.Paren(this=keys[0])
    else:
        key = exp.Tuple(expressions=keys)
    return exp.Order(expressions=[exp.Ordered(this=key, nulls_first=False)])


def partition_by(expression: exp.Expression) -> exp.PartitionedByProperty:
    return exp.PartitionedByProperty(this=expression)


def sort_key_expressions(sorting_key: str) -> list[exp.Expression]:
    """The expressions of a sorting key as ClickHouse reports it (``system.tables.sorting_key``, e.g.
    ``toDate(at), id``), parsed; [] for an empty key."""
    if not sorting_key.strip():
        return []
    parsed = sqlglot.Dialect.get_or_raise("clickhouse").parse_into(exp.Order, "ORDER BY " + sorting_key)[0]
    keys = [ordered.this for ordered in parsed.expressions]
    if len(keys) == 1 and isinstance(keys[0], (exp.Paren, exp.Tuple)):
        inner = keys[0]
        return [inner.this] if isinstance(inner, exp.Paren) else list(inner.expressions)
    return keys
