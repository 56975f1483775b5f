"""PostgreSQL: PRIMARY KEY; when PostgreSQL is the recommended store also PARTITION BY RANGE (yearly, monthly or daily
partitions + DEFAULT) or HASH, and btree / brin / gin / gin_trgm indexes.

Types are the PostgreSQL connector's (:mod:`resources.postgres.types`), the one PostgreSQL table; decimals are
narrowed to PostgreSQL's NUMERIC limits first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date

from sqlglot import exp

from etl_assets.ddl.common import (
    MAX_IDENTIFIER_BYTES as IDENTIFIER_LIMITS,
    NO_HINTS,
    Ddl,
    Partition,
    Table,
    TypeHints,
    column_defs,
    column_ref,
    create_schema,
    create_table,
    default_hints,
    fit_decimal,
    foreign_key_notes,
    ident,
    index_name,
    partition_parts,
    primary_key,
    table_ref,
)
from etl_assets.profile.model import ColumnProfile
from etl_assets.recommend.facts import parse_instant
from etl_assets.recommend.model import Index
from resources.postgres.types import POSTGRES_TYPES_MAPPER
from resources.schema import Column, LogicalType, parse_logical

NAME = "postgres"
METHODS = ("btree", "brin", "gin", "gin_trgm")
DECIMAL_LIMITS = (1000, 1000)
MAX_RANGE_PARTITIONS = 60
PARTITIONS_AHEAD = 3
TIME_ROLES = ("fact", "event_log")
"""Roles time-partitioned (with BRIN on the time column) in PostgreSQL whatever the recommended store."""
HASH_PARTITIONS = 8
"""Hash partitions when the recommendation does not say how many."""
MAX_IDENTIFIER_BYTES = IDENTIFIER_LIMITS[NAME]
"""PostgreSQL's longest identifier, also its longest enum label (NAMEDATALEN - 1)."""
ENUM_DIGEST_CHARS = 6


class PostgresTypes:
    """The connector's PostgreSQL types, as sqlglot trees for the DDL (no hint changes a PostgreSQL type)."""

    system = NAME

    def to_native(self, logical: LogicalType, nullable: bool = True) -> str:
        return POSTGRES_TYPES_MAPPER.to_native(logical, nullable)

    def from_native(self, native: str) -> LogicalType:
        return POSTGRES_TYPES_MAPPER.from_native(native)

    def column_type(self, logical: LogicalType, hints: TypeHints = NO_HINTS,
                    column: str = "") -> tuple[exp.DataType, list[str]]:
        notes: list[str] = []
        if logical.is_decimal:
            logical = fit_decimal(logical, DECIMAL_LIMITS, NAME, column, notes)
        return exp.DataType.build(self.to_native(logical), dialect=NAME), notes


MAPPER = PostgresTypes()


def build(table: Table) -> Ddl:
    rec, notes = table.recommendation, []
    own_layout = rec.target_store == NAME
    indexes = [i for i in rec.indexes if i.method in METHODS and own_layout and list(i.columns) != rec.primary_key]
    partition = partition_parts(rec)
    if partition and not (own_layout or (rec.role in TIME_ROLES and partition.granularity != "hash")):
        partition = None
    if partition and partition.granularity != "hash" and not any(i.method == "brin" for i in indexes):
        indexes.append(Index((partition.column,), "brin"))
    key = list(rec.primary_key)
    if partition and key and partition.column not in key:
        key.append(partition.column)
        notes.append(f"primary key extended with {partition.column}: PostgreSQL needs the partition column in it")
    hints = default_hints(table, set(key))
    body = column_defs(table, MAPPER, notes, hints)
    enums = _enums(table, hints, {*key, *([partition.column] if partition else [])})
    for definition in body:
        if definition.name in enums:
            definition.set("kind", exp.DataType.build(enum_ref(table, definition.name).sql(NAME), dialect=NAME,
                                                      udt=True))
    if key:
        body.append(primary_key(key))
    properties = [_partition_property(partition)] if partition else []
    statements: list[exp.Expr] = [create_schema(table.namespace)]
    statements.extend(_create_enum(enum_ref(table, column), values) for column, values in enums.items())
    if enums:
        notes.append(f"ENUM types for {', '.join(enums)}: closed sets (every value seen, each in many rows, no key), "
                     "4 bytes a row, grouped and sorted without collation; an insert with a value not in the set "
                     "fails naming it until ALTER TYPE ... ADD VALUE adds it")
    if any(i.method == "gin_trgm" for i in indexes):
        statements.append(exp.Command(this="CREATE", expression="EXTENSION IF NOT EXISTS pg_trgm"))
    statements.append(create_table(table_ref(table.namespace, table.name), body, properties))
    if partition:
        statements.extend(_partitions(table, partition, notes))
    statements.extend(_index(table, index) for index in indexes)
    notes.extend(foreign_key_notes(table, NAME))
    return Ddl(NAME, statements, notes)


def _enums(table: Table, hints: Callable[[Column], TypeHints], keys: set[str]) -> dict[str, tuple[str, ...]]:
    """The closed sets among the string columns off the keys and foreign keys (a referencing column keeps the type
    of the key it references) whose labels PostgreSQL accepts (at most 63 bytes each)."""
    excluded = keys | {name for fk in table.recommendation.foreign_keys for name in fk.columns}
    return {column.name: tuple(sorted(values)) for column in table.schema.columns
            if column.name not in excluded and (values := hints(column).enum_values)
            and all(len(value.encode()) <= MAX_IDENTIFIER_BYTES for value in values)
            and parse_logical(table.logical(column.name)).name == "string"}


def enum_ref(table: Table, column: str) -> exp.Table:
    """The column's ENUM type in the table's schema: ``<table>_<column>_<digest of both>``. The digest keeps two
    tables apart whose names would otherwise meet (``order`` + ``status_code``, ``order_status`` + ``code``), and
    the name is shortened before it to PostgreSQL's 63 bytes (a longer one would be truncated silently)."""
    digest = hashlib.sha1(f"{table.name}\x00{column}".encode()).hexdigest()[:ENUM_DIGEST_CHARS]
    prefix = f"{table.name}_{column}".encode()[:MAX_IDENTIFIER_BYTES - ENUM_DIGEST_CHARS - 1].decode(errors="ignore")
    return table_ref(table.namespace, f"{prefix}_{digest}")


def _create_enum(type_ref: exp.Table, values: tuple[str, ...]) -> exp.Command:
    """``CREATE TYPE ... AS ENUM`` (a sqlglot tree) inside a DO block that lets an existing type stand: PostgreSQL
    has no ``CREATE TYPE IF NOT EXISTS``, and the script must run twice. The block is one string literal."""
    create = exp.Create(this=type_ref, kind="TYPE", expression=exp.DataType(
        this=exp.DataType.Type.ENUM, expressions=[exp.Literal.string(value) for value in values]))
    block = " ".join(("BEGIN", create.sql(NAME) + ";", "EXCEPTION WHEN duplicate_object THEN NULL;", "END"))
    return exp.Command(this="DO", expression=exp.Literal.string(block).sql(NAME))


def _partition_property(partition: Partition) -> exp.PartitionedByProperty:
    method = "HASH" if partition.granularity == "hash" else "RANGE"
    return exp.PartitionedByProperty(this=exp.Anonymous(this=method, expressions=[column_ref(partition.column)]))


def _partitions(table: Table, partition: Partition, notes: list[str]) -> list[exp.Create]:
    parent = table_ref(table.namespace, table.name)
    if partition.granularity == "hash":
        buckets = partition.buckets or HASH_PARTITIONS
        bounds: list[exp.Expr] = [
            exp.PartitionBoundSpec(this=exp.Literal.number(buckets), expression=exp.Literal.number(remainder))
            for remainder in range(buckets)
        ]
        suffixes = [f"h{remainder}" for remainder in range(buckets)]
    else:
        ranges = _range_bounds(table.profiles.get(partition.column), partition.granularity, notes)
        bounds = [exp.PartitionBoundSpec(from_expressions=[exp.Literal.string(start.isoformat())],
                                         to_expressions=[exp.Literal.string(end.isoformat())]) for start, end in ranges]
        suffixes = [f"p{start:%Y%m%d}" for start, _ in ranges]
        bounds.append(exp.var("DEFAULT"))
        suffixes.append("default")
    return [
        exp.Create(
            this=table_ref(table.namespace, index_name(NAME, table.name, (suffix,), "part")), kind="TABLE",
            exists=True, properties=exp.Properties(expressions=[exp.PartitionedOfProperty(this=parent.copy(),
                                                                                          expression=bound)]),
        )
        for suffix, bound in zip(suffixes, bounds)
    ]


def _range_bounds(profile: ColumnProfile | None, granularity: str, notes: list[str]) -> list[tuple[date, date]]:
    """Yearly/monthly/daily ranges covering the profiled min..max plus a few ahead; DEFAULT takes the rest."""
    first = parse_instant(profile.min) if profile else None
    last = parse_instant(profile.max) if profile else None
    if first is None or last is None:
        notes.append("no profiled time range: only the DEFAULT partition is created")
        return []
    step = {"year": _next_year, "month": _next_month}.get(granularity, _next_day)
    start = {"year": date(first.year, 1, 1), "month": date(first.year, first.month, 1)}.get(granularity, first.date())
    ranges: list[tuple[date, date]] = []
    horizon = last.date()
    for _ in range(PARTITIONS_AHEAD):
        horizon = step(horizon)
    earliest = _back(horizon, granularity, MAX_RANGE_PARTITIONS)
    begin = max(start, earliest)
    while begin <= horizon:
        ranges.append((begin, step(begin)))
        begin = step(begin)
    if ranges and ranges[0][0] > first.date():
        notes.append(f"range partitions capped at the latest {MAX_RANGE_PARTITIONS}: rows before "
                     f"{ranges[0][0].isoformat()} (e.g. outliers back to {first.date().isoformat()}) land in the "
                     "DEFAULT partition")
    return ranges[-MAX_RANGE_PARTITIONS:]


def _back(day: date, granularity: str, count: int) -> date:
    """The start of the partition ``count - 1`` steps before the one holding ``day``."""
    if granularity == "day":
        return date.fromordinal(max(1, day.toordinal() - count + 1))
    if granularity == "year":
        return date(max(1, day.year - count + 1), 1, 1)
    months = day.year * 12 + day.month - 1 - (count - 1)
    return date(max(1, months // 12), months % 12 + 1, 1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _next_year(day: date) -> date:
    return date(day.year + 1, 1, 1)


def _next_day(day: date) -> date:
    return date.fromordinal(day.toordinal() + 1)


def _index(table: Table, index: Index) -> exp.Create:
    method = "gin" if index.method == "gin_trgm" else index.method
    columns: list[exp.Expr] = []
    for name in index.columns:
        column: exp.Expr = column_ref(name)
        if index.method == "gin_trgm":
            column = exp.Opclass(this=column, expression=exp.var("gin_trgm_ops"))
        columns.append(exp.Ordered(this=column, nulls_first=False))
    return exp.Create(
        this=exp.Index(
            this=ident(index_name(NAME, table.name, index.columns, index.method)),
            table=table_ref(table.namespace, table.name),
            params=exp.IndexParameters(using=exp.var(method), columns=columns),
        ),
        kind="INDEX", exists=True,
    )
