"""CREATE TABLE (and its schema, partitions and indexes) for six dialects, built as sqlglot expression trees.

One module per dialect (:mod:`etl_assets.ddl.dialects`) turns the same inputs (the table's columns, the
Recommendation, optional profile facts) into statements with that dialect's own properties; nothing is transpiled
between dialects, because sqlglot does not translate storage properties. Every identifier is quoted. Every
statement is idempotent (IF NOT EXISTS), so a rerun of the DDL changes nothing.

| dialect    | layout taken from the recommendation                                                          |
|------------|-----------------------------------------------------------------------------------------------|
| postgres   | PRIMARY KEY; when the target is PostgreSQL: PARTITION BY RANGE (monthly partitions + DEFAULT) or HASH, btree/brin/gin/gin_trgm indexes |
| clickhouse | ENGINE (MergeTree family), PARTITION BY toYYYYMM/toYYYYMMDD, ORDER BY, LowCardinality, skip indexes; with a cluster: ON CLUSTER, Replicated* engine on `<table>_local` and a Distributed `<table>` |
| mysql      | InnoDB, utf8mb4, PRIMARY KEY, secondary btree indexes (bounded VARCHAR keys)                   |
| redshift   | DISTSTYLE ALL/KEY/EVEN/AUTO, DISTKEY, COMPOUND SORTKEY                                         |
| snowflake  | PRIMARY KEY (informational), CLUSTER BY (time bucket + sort dimensions) when partitioned       |
| bigquery   | PARTITION BY {DATE,DATETIME,TIMESTAMP}_TRUNC(col, MONTH/DAY), CLUSTER BY (<= 4 columns)        |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from etl_assets.ddl.common import Ddl, Table, index_name
from etl_assets.ddl.dialects import DIALECTS
from etl_assets.profile.model import TableProfile
from etl_assets.recommend.model import Recommendation
from etl_assets.recommend.querylog import split_statements
from resources.schema import TableSchema

__all__ = ["DIALECTS", "Ddl", "SqlExecutor", "apply_ddl", "build_all", "build_ddl", "index_name"]


class SqlExecutor(Protocol):
    dialect: str

    def execute(self, sql: str, params: Any = None) -> Any: ...


def build_ddl(
    schema: TableSchema, recommendation: Recommendation, dialect: str, *, namespace: str,
    profile: TableProfile | None = None, cluster: str | None = None, source_namespaces: Mapping[str, str] | None = None,
) -> Ddl:
    """The DDL of ``schema`` laid out as ``recommendation`` says, for ``dialect``, in schema/database ``namespace``;
    a foreign key to another source's table names that table in ``source_namespaces[source]``."""
    if not schema.columns:
        raise ValueError(f"{schema.source}.{schema.name}: no columns to create a table with")
    _check_columns_exist(schema, recommendation)
    table = Table(schema, recommendation, namespace, {c.name: c for c in profile.columns} if profile else {},
                  cluster, profile.row_count if profile else None, dict(source_namespaces or {}))
    module = DIALECTS.get(dialect)
    if module is None:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    return module.build(table)


def build_all(
    schema: TableSchema, recommendation: Recommendation, *, namespace: str, profile: TableProfile | None = None,
    cluster: str | None = None, source_namespaces: Mapping[str, str] | None = None,
) -> dict[str, Ddl]:
    return {
        dialect: build_ddl(schema, recommendation, dialect, namespace=namespace, profile=profile, cluster=cluster,
                           source_namespaces=source_namespaces)
        for dialect in DIALECTS
    }


def apply_ddl(resource: SqlExecutor, sql: str) -> int:
    """Run a generated DDL script statement by statement through ``resource.execute``; returns the count run."""
    statements = [statement for _, statement in split_statements(sql, resource.dialect)]
    for statement in statements:
        resource.execute(statement)
    return len(statements)


def _check_columns_exist(schema: TableSchema, recommendation: Recommendation) -> None:
    names = {c.name for c in schema.columns}
    used = {*recommendation.primary_key, *recommendation.order_by, *recommendation.low_cardinality,
            *recommendation.distribution_key, *(c for i in recommendation.indexes for c in i.columns)}
    missing = sorted(used - names)
    if missing:
        raise ValueError(f"{schema.source}.{schema.name}: the recommendation names columns the table lacks: "
                         f"{missing} (columns: {sorted(names)})")
