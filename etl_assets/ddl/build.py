"""CREATE TABLE (and its schema, partitions and indexes) for six dialects, built as sqlglot expression trees.

One builder per dialect turns the same inputs (the table's columns, the Recommendation, optional profile facts) into
statements with that dialect's own properties; nothing is transpiled between dialects, because sqlglot does not
translate storage properties. Every identifier is quoted. Every statement is idempotent (IF NOT EXISTS), so a
rerun of the DDL changes nothing.

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

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from sqlglot import exp

from etl_assets.ddl.types import DIALECTS, MYSQL_MAX_KEY_CHARS, TypeHints, column_type
from etl_assets.profile.model import ColumnProfile, TableProfile
from etl_assets.recommend.model import Index, Recommendation
from etl_assets.recommend.querylog import split_statements
from etl_assets.recommend.rules import parse_instant
from resources.schema import Column, TableSchema

POSTGRES_METHODS = ("btree", "brin", "gin", "gin_trgm")
CLICKHOUSE_SKIP_INDEXES: dict[str, tuple[int, ...]] = {
    "minmax": (), "set": (1000,), "bloom_filter": (), "tokenbf_v1": (10240, 3, 0), "ngrambf_v1": (3, 10240, 3, 0),
}
TEXT_SKIP_INDEXES = ("tokenbf_v1", "ngrambf_v1")
MAX_IDENTIFIER_BYTES = {"postgres": 63, "redshift": 127, "mysql": 64, "clickhouse": 200, "snowflake": 255,
                        "bigquery": 300}
MAX_RANGE_PARTITIONS = 60
PARTITIONS_AHEAD = 3
BIGQUERY_MAX_CLUSTER = 4
SNOWFLAKE_MAX_CLUSTER = 3
_PARTITION = re.compile(r"^(day|month|hash)\(([^,]+?)(?:,\s*(\d+))?\)$")
_ENGINE = re.compile(r"^(\w+)(?:\((.*)\))?$")


@dataclass
class Ddl:
    """The statements for one dialect, and notes on what could not be expressed exactly."""

    dialect: str
    statements: list[exp.Expr]
    notes: list[str] = field(default_factory=list)

    def sql(self) -> str:
        header = "".join(f"-- note: {note}\n" for note in dict.fromkeys(self.notes))
        body = ";\n\n".join(statement.sql(dialect=self.dialect, pretty=True) for statement in self.statements)
        return f"{header}{body};\n"


@dataclass
class _Table:
    """Everything a dialect builder needs, resolved once."""

    schema: TableSchema
    recommendation: Recommendation
    namespace: str
    profiles: dict[str, ColumnProfile]
    cluster: str | None

    @property
    def name(self) -> str:
        return self.schema.name

    def key_columns(self) -> set[str]:
        engine_args = _engine_parts(self.recommendation.engine)[1]
        rec = self.recommendation
        return {*rec.primary_key, *rec.order_by, *engine_args, *([rec.partition_column] if rec.partition_column else [])}

    def max_length(self, column: str) -> int | None:
        profile = self.profiles.get(column)
        return profile.max_length if profile is not None else None


class SqlExecutor(Protocol):
    dialect: str

    def execute(self, sql: str, params: Any = None) -> Any: ...


def build_ddl(
    schema: TableSchema, recommendation: Recommendation, dialect: str, *, namespace: str,
    profile: TableProfile | None = None, cluster: str | None = None,
) -> Ddl:
    """The DDL of ``schema`` laid out as ``recommendation`` says, for ``dialect``, in schema/database ``namespace``."""
    if not schema.columns:
        raise ValueError(f"{schema.source}.{schema.name}: no columns to create a table with")
    _check_columns_exist(schema, recommendation)
    table = _Table(schema, recommendation, namespace, {c.name: c for c in profile.columns} if profile else {},
                   cluster)
    builder = BUILDERS.get(dialect)
    if builder is None:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    return builder(table)


def build_all(
    schema: TableSchema, recommendation: Recommendation, *, namespace: str, profile: TableProfile | None = None,
    cluster: str | None = None,
) -> dict[str, Ddl]:
    return {
        dialect: build_ddl(schema, recommendation, dialect, namespace=namespace, profile=profile, cluster=cluster)
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


# ---------------------------------------------------------------------------------------------------- shared


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column_ref(name: str) -> exp.Column:
    return exp.Column(this=ident(name))


def table_ref(namespace: str, name: str) -> exp.Table:
    return exp.Table(this=ident(name), db=ident(namespace) if namespace else None)


def create_schema(namespace: str, properties: list[exp.Expr] | None = None) -> exp.Create:
    return exp.Create(
        this=exp.Table(this=ident(namespace)), kind="SCHEMA", exists=True,
        properties=exp.Properties(expressions=properties) if properties else None,
    )


def create_table(
    target: exp.Table, body: list[exp.Expr], properties: list[exp.Expr], kind: str = "TABLE"
) -> exp.Create:
    return exp.Create(
        this=exp.Schema(this=target, expressions=body), kind=kind, exists=True,
        properties=exp.Properties(expressions=properties) if properties else None,
    )


def column_defs(table: _Table, dialect: str, notes: list[str], hints: Callable[[Column], TypeHints]) -> list[exp.Expr]:
    definitions: list[exp.Expr] = []
    for column in table.schema.columns:
        typed = column_type(column.logical_type, dialect, hints(column), column.name)
        notes.extend(typed.notes)
        not_null = not hints(column).nullable
        constraints = [exp.ColumnConstraint(kind=exp.NotNullColumnConstraint())] if not_null else None
        definitions.append(exp.ColumnDef(this=ident(column.name), kind=typed.data_type, constraints=constraints))
    return definitions


def default_hints(table: _Table, keys: set[str]) -> Callable[[Column], TypeHints]:
    def hints(column: Column) -> TypeHints:
        return TypeHints(
            nullable=column.nullable and column.name not in keys, max_length=table.max_length(column.name),
            key=column.name in keys,
        )
    return hints


def primary_key(columns: list[str]) -> exp.PrimaryKey:
    return exp.PrimaryKey(expressions=[ident(name) for name in columns])


def index_name(dialect: str, table: str, columns: tuple[str, ...], method: str) -> str:
    """``<table>_<cols>_<method>``, shortened with a stable hash to the dialect's identifier limit."""
    name = f"{table}_{'_'.join(columns)}_{method}"
    limit = MAX_IDENTIFIER_BYTES[dialect]
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    head = name.encode()[: limit - 9].decode("utf-8", errors="ignore")
    return f"{head}_{digest}"


def _partition_parts(recommendation: Recommendation) -> tuple[str, str, int] | None:
    """(granularity, column, buckets) from "month(col)", "day(col)" or "hash(col, n)"."""
    if not recommendation.partition_by:
        return None
    match = _PARTITION.match(recommendation.partition_by.strip())
    if not match:
        raise ValueError(f"unsupported partitioning {recommendation.partition_by!r}; expected month(col), day(col) "
                         "or hash(col, n)")
    return match.group(1), recommendation.partition_column or match.group(2).strip(), int(match.group(3) or 0)


def _engine_parts(engine: str | None) -> tuple[str, list[str]]:
    if not engine:
        return "MergeTree", []
    match = _ENGINE.match(engine.strip())
    if not match:
        raise ValueError(f"unsupported ClickHouse engine {engine!r}")
    arguments = [a.strip() for a in (match.group(2) or "").split(",") if a.strip()]
    return match.group(1), arguments


def _logical(table: _Table, name: str) -> str:
    return table.schema.column(name).logical_type


# ---------------------------------------------------------------------------------------------------- postgres


def build_postgres(table: _Table) -> Ddl:
    rec, notes = table.recommendation, []
    own_layout = rec.target_store == "postgres"
    indexes = [i for i in rec.indexes if i.method in POSTGRES_METHODS and own_layout
               and list(i.columns) != rec.primary_key]
    partition = _partition_parts(rec) if own_layout else None
    key = list(rec.primary_key)
    if partition and key and partition[1] not in key:
        key.append(partition[1])
        notes.append(f"primary key extended with {partition[1]}: PostgreSQL needs the partition column in it")
    body = column_defs(table, "postgres", notes, default_hints(table, set(key)))
    if key:
        body.append(primary_key(key))
    properties = [_postgres_partition_property(partition)] if partition else []
    target = table_ref(table.namespace, table.name)
    statements: list[exp.Expr] = [create_schema(table.namespace)]
    if any(i.method == "gin_trgm" for i in indexes):
        statements.append(exp.Command(this="CREATE", expression="EXTENSION IF NOT EXISTS pg_trgm"))
    statements.append(create_table(target, body, properties))
    if partition:
        statements.extend(_postgres_partitions(table, partition, notes))
    statements.extend(_postgres_index(table, index) for index in indexes)
    return Ddl("postgres", statements, notes)


def _postgres_partition_property(partition: tuple[str, str, int]) -> exp.PartitionedByProperty:
    method = "HASH" if partition[0] == "hash" else "RANGE"
    return exp.PartitionedByProperty(this=exp.Anonymous(this=method, expressions=[column_ref(partition[1])]))


def _postgres_partitions(table: _Table, partition: tuple[str, str, int], notes: list[str]) -> list[exp.Create]:
    granularity, column, buckets = partition
    parent = table_ref(table.namespace, table.name)
    if granularity == "hash":
        bounds = [exp.PartitionBoundSpec(this=exp.Literal.number(buckets or 8), expression=exp.Literal.number(r))
                  for r in range(buckets or 8)]
        suffixes = [f"h{r}" for r in range(buckets or 8)]
    else:
        ranges = _range_bounds(table.profiles.get(column), granularity, notes)
        bounds = [exp.PartitionBoundSpec(from_expressions=[exp.Literal.string(start.isoformat())],
                                         to_expressions=[exp.Literal.string(end.isoformat())]) for start, end in ranges]
        suffixes = [f"p{start:%Y%m%d}" for start, _ in ranges]
        bounds.append(exp.var("DEFAULT"))
        suffixes.append("default")
    return [
        exp.Create(
            this=table_ref(table.namespace, index_name("postgres", table.name, (suffix,), "part")), kind="TABLE",
            exists=True, properties=exp.Properties(expressions=[exp.PartitionedOfProperty(this=parent.copy(),
                                                                                          expression=bound)]),
        )
        for suffix, bound in zip(suffixes, bounds)
    ]


def _range_bounds(profile: ColumnProfile | None, granularity: str, notes: list[str]) -> list[tuple[date, date]]:
    """Monthly/daily ranges covering the profiled min..max plus a few ahead; the DEFAULT partition takes the rest."""
    first = parse_instant(profile.min) if profile else None
    last = parse_instant(profile.max) if profile else None
    if first is None or last is None:
        notes.append("no profiled time range: only the DEFAULT partition is created")
        return []
    step = _next_month if granularity == "month" else _next_day
    start = date(first.year, first.month, 1) if granularity == "month" else first.date()
    ranges: list[tuple[date, date]] = []
    horizon = last.date()
    for _ in range(PARTITIONS_AHEAD):
        horizon = step(horizon)
    while start <= horizon and len(ranges) < MAX_RANGE_PARTITIONS:
        ranges.append((start, step(start)))
        start = step(start)
    if start <= horizon:
        notes.append(f"range partitions capped at {MAX_RANGE_PARTITIONS}; create later ones as time passes")
    return ranges


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _next_day(day: date) -> date:
    return date.fromordinal(day.toordinal() + 1)


def _postgres_index(table: _Table, index: Index) -> exp.Create:
    method = "gin" if index.method == "gin_trgm" else index.method
    columns: list[exp.Expr] = []
    for name in index.columns:
        column: exp.Expr = column_ref(name)
        if index.method == "gin_trgm":
            column = exp.Opclass(this=column, expression=exp.var("gin_trgm_ops"))
        columns.append(exp.Ordered(this=column, nulls_first=False))
    return exp.Create(
        this=exp.Index(
            this=ident(index_name("postgres", table.name, index.columns, index.method)),
            table=table_ref(table.namespace, table.name),
            params=exp.IndexParameters(using=exp.var(method), columns=columns),
        ),
        kind="INDEX", exists=True,
    )


# ---------------------------------------------------------------------------------------------------- clickhouse


def build_clickhouse(table: _Table) -> Ddl:
    rec, notes = table.recommendation, []
    skip_indexes = [i for i in rec.indexes if i.method in CLICKHOUSE_SKIP_INDEXES and _skippable(table, i, notes)]
    keys = table.key_columns() | {name for i in skip_indexes if i.method in TEXT_SKIP_INDEXES for name in i.columns}
    low_cardinality = set(rec.low_cardinality) if rec.target_store in ("clickhouse", "kafka") else set()

    def hints(column: Column) -> TypeHints:
        nullable = column.nullable and column.name not in keys
        return TypeHints(nullable=nullable, max_length=table.max_length(column.name), key=column.name in keys,
                         low_cardinality=column.name in low_cardinality)

    body = column_defs(table, "clickhouse", notes, hints)
    body.extend(_skip_index(table, index) for index in skip_indexes)
    local_name = f"{table.name}_local" if table.cluster else table.name
    statements: list[exp.Expr] = [create_schema(table.namespace, _on_cluster(table))]
    properties = [*_on_cluster(table), _engine_property(table), *_clickhouse_layout(table)]
    statements.append(create_table(table_ref(table.namespace, local_name), body, properties))
    if table.cluster:
        statements.append(_distributed_table(table, local_name, notes))
    return Ddl("clickhouse", statements, notes)


def _skippable(table: _Table, index: Index, notes: list[str]) -> bool:
    """Token/ngram bloom filters need non-Nullable strings: only columns the profile shows without NULLs."""
    if index.method not in TEXT_SKIP_INDEXES:
        return True
    for name in index.columns:
        profile = table.profiles.get(name)
        has_nulls = profile.null_count > 0 if profile is not None else table.schema.column(name).nullable
        if _logical(table, name) != "string" or has_nulls:
            notes.append(f"{index.method} index on {name} left out: it needs a string column without NULLs")
            return False
    return True


def _on_cluster(table: _Table) -> list[exp.Expr]:
    return [exp.OnCluster(this=ident(table.cluster))] if table.cluster else []


def _engine_property(table: _Table) -> exp.EngineProperty:
    name, arguments = _engine_parts(table.recommendation.engine)
    if not name.endswith("MergeTree"):
        raise ValueError(f"{table.name}: engine {name!r} is not of the MergeTree family")
    columns: list[exp.Expr] = [column_ref(argument) for argument in arguments]
    if table.cluster:
        name = f"Replicated{name}"
        columns = [exp.Literal.string("/clickhouse/tables/{shard}/{database}/{table}"),
                   exp.Literal.string("{replica}"), *columns]
    return exp.EngineProperty(this=exp.Anonymous(this=name, expressions=columns))


def _clickhouse_layout(table: _Table) -> list[exp.Expr]:
    rec = table.recommendation
    properties: list[exp.Expr] = []
    partition = _partition_parts(rec)
    if partition and partition[0] in ("month", "day"):
        function = "toYYYYMM" if partition[0] == "month" else "toYYYYMMDD"
        properties.append(exp.PartitionedByProperty(
            this=exp.Anonymous(this=function, expressions=[column_ref(partition[1])])))
    order = rec.order_by or rec.primary_key
    sort_key: exp.Expr = (
        exp.Tuple(expressions=[column_ref(name) for name in order]) if order
        else exp.Anonymous(this="tuple", expressions=[])
    )
    properties.append(exp.Order(expressions=[exp.Ordered(this=sort_key, nulls_first=False)]))
    return properties


def _skip_index(table: _Table, index: Index) -> exp.IndexColumnConstraint:
    parameters = CLICKHOUSE_SKIP_INDEXES[index.method]
    index_type: exp.Expr = (
        exp.Anonymous(this=index.method, expressions=[exp.Literal.number(p) for p in parameters])
        if parameters else exp.var(index.method)
    )
    expression: exp.Expr = (
        column_ref(index.columns[0]) if len(index.columns) == 1
        else exp.Tuple(expressions=[column_ref(name) for name in index.columns])
    )
    return exp.IndexColumnConstraint(
        this=ident(index_name("clickhouse", "idx", index.columns, index.method)), expression=expression,
        index_type=index_type, granularity=exp.Literal.number(4),
    )


def _distributed_table(table: _Table, local_name: str, notes: list[str]) -> exp.Create:
    rec = table.recommendation
    sharding: exp.Expr = (
        exp.Anonymous(this="cityHash64", expressions=[column_ref(name) for name in rec.distribution_key])
        if rec.distribution_key else exp.Anonymous(this="rand", expressions=[])
    )
    if not rec.distribution_key:
        notes.append("no distribution key: the Distributed table shards rows at random")
    engine = exp.Anonymous(this="Distributed", expressions=[
        exp.Literal.string(table.cluster or ""), exp.Literal.string(table.namespace),
        exp.Literal.string(local_name), sharding,
    ])
    body = column_defs(table, "clickhouse", [], lambda c: _distributed_hints(table, c))
    properties = [*_on_cluster(table), exp.EngineProperty(this=engine)]
    return create_table(table_ref(table.namespace, table.name), body, properties)


def _distributed_hints(table: _Table, column: Column) -> TypeHints:
    keys = table.key_columns()
    return TypeHints(nullable=column.nullable and column.name not in keys, key=column.name in keys,
                     low_cardinality=column.name in table.recommendation.low_cardinality
                     and table.recommendation.target_store in ("clickhouse", "kafka"))


# ---------------------------------------------------------------------------------------------------- mysql


def build_mysql(table: _Table) -> Ddl:
    rec, notes = table.recommendation, []
    indexed = [i for i in rec.indexes if i.method == "btree" and list(i.columns) != rec.primary_key]
    indexed = [i for i in indexed if _mysql_indexable(table, i, notes)]
    keys = set(rec.primary_key) | {name for index in indexed for name in index.columns}
    body = column_defs(table, "mysql", notes, default_hints(table, keys))
    if rec.primary_key:
        body.append(primary_key(rec.primary_key))
    body.extend(
        exp.IndexColumnConstraint(this=ident(index_name("mysql", table.name, i.columns, "idx")),
                                  expressions=[column_ref(name) for name in i.columns])
        for i in indexed
    )
    if rec.partition_by:
        notes.append(f"{rec.partition_by} partitioning is not applied in MySQL (it would force the partition "
                     "column into every unique key)")
    properties = [exp.EngineProperty(this=exp.var("InnoDB")),
                  exp.CharacterSetProperty(this=exp.var("utf8mb4"), default=True)]
    statements = [create_schema(table.namespace), create_table(table_ref(table.namespace, table.name), body,
                                                               properties)]
    return Ddl("mysql", statements, notes)


def _mysql_indexable(table: _Table, index: Index, notes: list[str]) -> bool:
    for name in index.columns:
        logical = _logical(table, name)
        too_long = logical == "string" and (table.max_length(name) or 0) > MYSQL_MAX_KEY_CHARS
        if logical in ("json", "binary") or too_long:
            notes.append(f"index on {name} left out: MySQL cannot index {logical} values of this size")
            return False
    return True


# ---------------------------------------------------------------------------------------------------- redshift


def build_redshift(table: _Table) -> Ddl:
    rec, notes = table.recommendation, []
    body = column_defs(table, "redshift", notes, default_hints(table, set(rec.primary_key)))
    if rec.primary_key:
        body.append(primary_key(rec.primary_key))
    properties: list[exp.Expr] = [exp.DistStyleProperty(this=exp.var(rec.distribution.upper()))]
    if rec.distribution == "key" and rec.distribution_key:
        properties.append(exp.DistKeyProperty(this=ident(rec.distribution_key[0])))
    sort_key = [name for name in rec.order_by if _logical(table, name) not in ("json", "binary")]
    if sort_key:
        properties.append(exp.SortKeyProperty(this=[ident(name) for name in sort_key], compound=True))
    statements = [create_schema(table.namespace), create_table(table_ref(table.namespace, table.name), body,
                                                               properties)]
    return Ddl("redshift", statements, notes)


# ---------------------------------------------------------------------------------------------------- snowflake


def build_snowflake(table: _Table) -> Ddl:
    rec, notes = table.recommendation, []
    body = column_defs(table, "snowflake", notes, default_hints(table, set(rec.primary_key)))
    if rec.primary_key:
        body.append(primary_key(rec.primary_key))
    properties: list[exp.Expr] = []
    partition = _partition_parts(rec)
    if partition and partition[0] in ("month", "day"):
        bucket: exp.Expr = exp.TsOrDsToDate(this=column_ref(partition[1]))
        if partition[0] == "month":
            bucket = exp.DateTrunc(this=bucket, unit=exp.var("MONTH"))
        dimensions = [column_ref(n) for n in rec.order_by if n != partition[1] and _logical(table, n) != "json"]
        properties.append(exp.ClusterProperty(expressions=[bucket, *dimensions][:SNOWFLAKE_MAX_CLUSTER]))
    statements = [create_schema(table.namespace), create_table(table_ref(table.namespace, table.name), body,
                                                               properties)]
    return Ddl("snowflake", statements, notes)


# ---------------------------------------------------------------------------------------------------- bigquery

_BIGQUERY_CLUSTERABLE = ("bool", "int16", "int32", "int64", "string", "uuid", "date", "timestamp", "timestamptz")


def build_bigquery(table: _Table) -> Ddl:
    rec, notes = table.recommendation, []
    body = column_defs(table, "bigquery", notes, default_hints(table, set(rec.primary_key)))
    properties: list[exp.Expr] = []
    partition = _partition_parts(rec)
    if partition and partition[0] in ("month", "day"):
        properties.append(exp.PartitionedByProperty(this=_bigquery_partition(table, partition)))
    elif partition:
        notes.append(f"{rec.partition_by} is not applied in BigQuery (no hash partitioning); clustering instead")
    cluster = [n for n in (rec.order_by or rec.primary_key) if _clusterable(table, n)][:BIGQUERY_MAX_CLUSTER]
    if cluster:
        properties.append(exp.ClusterProperty(expressions=[column_ref(name) for name in cluster]))
    statements = [create_schema(table.namespace), create_table(table_ref(table.namespace, table.name), body,
                                                               properties)]
    return Ddl("bigquery", statements, notes)


def _bigquery_partition(table: _Table, partition: tuple[str, str, int]) -> exp.Expr:
    granularity, column, _ = partition
    logical = _logical(table, column)
    if logical == "date" and granularity == "day":
        return column_ref(column)
    truncate = {"date": exp.DateTrunc, "timestamp": exp.DatetimeTrunc, "timestamptz": exp.TimestampTrunc}.get(logical)
    if truncate is None:
        raise ValueError(f"{table.name}: cannot partition by {column} of type {logical} in BigQuery")
    return truncate(this=column_ref(column), unit=exp.var(granularity.upper()))


def _clusterable(table: _Table, name: str) -> bool:
    logical = _logical(table, name)
    return logical in _BIGQUERY_CLUSTERABLE or logical.startswith("decimal")


BUILDERS: dict[str, Callable[[_Table], Ddl]] = {
    "postgres": build_postgres, "clickhouse": build_clickhouse, "mysql": build_mysql,
    "redshift": build_redshift, "snowflake": build_snowflake, "bigquery": build_bigquery,
}
