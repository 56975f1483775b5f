"""The naive layout a proof measures the recommendation against: every column as the source gave it.

The source's logical types through the engine's landing type mapper, every column nullable, no keys, no
partitions, no indexes; in ClickHouse a plain MergeTree with ``ORDER BY tuple()``. It is what a table looks like
when nobody thought about its layout.
"""

from __future__ import annotations

from sqlglot import exp

from resources.clickhouse import ddl as clickhouse_ddl
from resources.clickhouse import types as clickhouse_types
from resources.postgres.types import POSTGRES_TYPES_MAPPER
from resources.schema import TableSchema

ENGINES = ("postgres", "clickhouse")


def naive_ddl(schema: TableSchema, dialect: str, namespace: str) -> list[str]:
    """``CREATE SCHEMA`` and ``CREATE TABLE`` of the naive layout of ``schema`` in ``namespace``."""
    if dialect == "postgres":
        statements = _postgres(schema, namespace)
    elif dialect == "clickhouse":
        statements = _clickhouse(schema, namespace)
    else:
        raise ValueError(f"no naive layout for dialect {dialect!r}; proofs run on {', '.join(ENGINES)}")
    return [statement.sql(dialect=dialect) for statement in statements]


def _postgres(schema: TableSchema, namespace: str) -> list[exp.Expr]:
    columns = [exp.ColumnDef(this=_ident(c.name),
                             kind=exp.DataType.build(POSTGRES_TYPES_MAPPER.to_native(c.type), dialect="postgres"))
               for c in schema.columns]
    target = exp.Table(this=_ident(schema.name), db=_ident(namespace))
    return [exp.Create(this=exp.Table(this=_ident(namespace)), kind="SCHEMA", exists=True),
            exp.Create(this=exp.Schema(this=target, expressions=columns), kind="TABLE", exists=True)]


def _clickhouse(schema: TableSchema, namespace: str) -> list[exp.Expr]:
    columns = [clickhouse_ddl.column_def(c.name, clickhouse_types.LANDING.data_type(c.type, nullable=True))
               for c in schema.columns]
    return [clickhouse_ddl.create_database(namespace),
            clickhouse_ddl.create_table(namespace, schema.name, columns,
                                        [clickhouse_ddl.engine("MergeTree"), clickhouse_ddl.order_by([])],
                                        if_not_exists=True)]


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)
