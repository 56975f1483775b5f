"""What every dialect module shares: the table being built, the script it yields, and the sqlglot node builders.

Every identifier is quoted; every statement is idempotent (IF NOT EXISTS), so a rerun of the DDL changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from sqlglot import exp
from sqlglot.errors import ParseError

from etl_assets.profile.model import ColumnProfile
from etl_assets.recommend.model import ColumnType, Recommendation
from resources.schema import Column, LogicalType, TableSchema, TypeMapper, parse_logical
from resources.schema.types import decimal, decimal_parameters

MAX_IDENTIFIER_BYTES = {"postgres": 63, "redshift": 127, "mysql": 64, "clickhouse": 200, "snowflake": 255,
                        "bigquery": 300}
_PARTITION = re.compile(r"^(day|month|year|hash)\(([^,]+?)(?:,\s*(\d+))?\)$")


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
class Table:
    """Everything a dialect builder needs, resolved once."""

    schema: TableSchema
    recommendation: Recommendation
    namespace: str
    profiles: dict[str, ColumnProfile]
    cluster: str | None
    row_count: int | None = None
    """Rows the profile saw (None without a profile)."""
    source_namespaces: Mapping[str, str] = field(default_factory=dict)
    """The namespace of each other source a foreign key references (a source's tables have one of their own)."""

    @property
    def name(self) -> str:
        return self.schema.name

    def namespace_of(self, source: str) -> str:
        """Where ``source``'s tables are: this table's namespace for its own source."""
        return self.source_namespaces.get(source, self.namespace) if source != self.schema.source else self.namespace

    def max_length(self, column: str) -> int | None:
        profile = self.profiles.get(column)
        return profile.max_length if profile is not None else None

    def logical(self, column: str) -> str:
        """The recommended logical type (chosen from the profile), else the source's."""
        chosen = self.recommendation.column_type(column)
        return chosen.logical if chosen is not None else self.schema.column(column).logical_type

    def chosen(self, column: str) -> ColumnType | None:
        return self.recommendation.column_type(column)

    def nullable(self, column: Column) -> bool:
        """NULLs allowed: where the profile saw them (or the sync mode may bring them), else as the source says."""
        chosen = self.chosen(column.name)
        return chosen.nullable if chosen is not None else column.nullable


@dataclass(frozen=True)
class TypeHints:
    """What a column's profile and the recommendation say beyond its logical type."""

    nullable: bool = True
    max_length: int | None = None
    """Longest value seen, in characters (strings) or bytes (binary)."""
    key: bool = False
    """Part of a primary, sort or index key (MySQL needs a bounded VARCHAR; ClickHouse a non-Nullable type)."""
    low_cardinality: bool = False
    min_value: int | None = None
    max_value: int | None = None
    """Integer range seen (ClickHouse picks UInt8 .. Int64 from it)."""
    fixed_length: bool = False
    enum_values: tuple[str, ...] = ()
    """A complete, small set of string values (MySQL ENUM)."""
    compact_time: bool = False
    """Dates/timestamps within ClickHouse's Date/DateTime range, timestamps in whole seconds."""


NO_HINTS = TypeHints()


def chosen_hints(table: Table, column: Column, keys: set[str], **extra: bool) -> TypeHints:
    """The hints of ``column``: its recommended type choice (NULLs, range, lengths, values) and key membership."""
    chosen = table.chosen(column.name)
    key = column.name in keys
    if chosen is None:
        return TypeHints(nullable=column.nullable and not key, max_length=table.max_length(column.name), key=key,
                         **extra)
    return TypeHints(
        nullable=chosen.nullable and not key, max_length=chosen.max_length or table.max_length(column.name),
        key=key, min_value=chosen.min_value, max_value=chosen.max_value, fixed_length=chosen.fixed_length,
        enum_values=chosen.enum_values, **extra,
    )


class DialectTypes(TypeMapper, Protocol):
    """A dialect's type mapper plus the hint-aware column type its DDL uses."""

    def column_type(self, logical: LogicalType, hints: TypeHints = NO_HINTS,
                    column: str = "") -> tuple[exp.DataType, list[str]]: ...


ANSI_TYPES = {
    "bool": "BOOLEAN", "int16": "SMALLINT", "int32": "INT", "int64": "BIGINT", "float32": "REAL",
    "float64": "DOUBLE PRECISION", "string": "VARCHAR", "date": "DATE", "time": "TIME", "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMP WITH TIME ZONE", "json": "JSON", "uuid": "CHAR(36)",
}
"""The standard SQL spellings; each DDL-only dialect's table is these with its own differences over them."""


class TableTypes:
    """A DDL-only dialect's types from one table (logical -> its spelling), read back with sqlglot.

    The table is :data:`ANSI_TYPES` updated with the dialect's ``types``. Decimals are narrowed to the dialect's
    limits; a dialect that sizes strings from the profile names ``string`` in ``sized`` and overrides
    :meth:`string_type`.
    """

    def __init__(self, name: str, types: dict[str, str], read_back: dict[exp.DataType.Type, str],
                 decimal_limits: tuple[int, int], sized: tuple[str, ...] = ()):
        self.system = name
        table = {logical: spelled for logical, spelled in {**ANSI_TYPES, **types}.items() if logical not in sized}
        self._native = {logical: exp.DataType.build(spelled, dialect=name) for logical, spelled in table.items()}
        self._read_back = read_back
        self.decimal_limits = decimal_limits

    def to_native(self, logical: LogicalType, nullable: bool = True) -> str:
        return self.column_type(logical, TypeHints(nullable=nullable))[0].sql(self.system)

    def from_native(self, native: str) -> LogicalType:
        return read_type(native, self.system, self._read_back)

    def column_type(self, logical: LogicalType, hints: TypeHints = NO_HINTS,
                    column: str = "") -> tuple[exp.DataType, list[str]]:
        notes: list[str] = []
        if logical.is_decimal:
            return self.decimal_type(fit_decimal(logical, self.decimal_limits, self.system, column, notes)), notes
        if logical.name not in self._native:
            return self.string_type(hints, column, notes), notes
        return self._native[logical.name].copy(), notes

    def decimal_type(self, fitted: LogicalType) -> exp.DataType:
        return fitted.data_type()

    def string_type(self, hints: TypeHints, column: str, notes: list[str]) -> exp.DataType:
        raise NotImplementedError(f"{self.system}: no string type")


class Partition(NamedTuple):
    granularity: str
    """year, month, day or hash."""
    column: str
    buckets: int
    """Hash partitions (0: not given)."""


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column_ref(name: str) -> exp.Column:
    return exp.Column(this=ident(name))


def table_ref(namespace: str, name: str) -> exp.Table:
    return exp.Table(this=ident(name), db=ident(namespace) if namespace else None)


def create_schema(namespace: str) -> exp.Create:
    return exp.Create(this=exp.Table(this=ident(namespace)), kind="SCHEMA", exists=True)


def create_table(target: exp.Table, body: list[exp.Expr], properties: list[exp.Expr]) -> exp.Create:
    return exp.Create(
        this=exp.Schema(this=target, expressions=body), kind="TABLE", exists=True,
        properties=exp.Properties(expressions=properties) if properties else None,
    )


def typed_columns(table: Table, types: DialectTypes, notes: list[str],
                  hints: Callable[[Column], TypeHints]) -> list[tuple[Column, exp.DataType, bool]]:
    """``(column, its type, NOT NULL)`` for every column, in order; the type's notes are added to ``notes``."""
    typed = []
    for column in table.schema.columns:
        column_hints = hints(column)
        data_type, type_notes = types.column_type(column_logical(table.logical(column.name), column.name),
                                                  column_hints, column.name)
        notes.extend(type_notes)
        typed.append((column, data_type, not column_hints.nullable))
    return typed


def column_defs(table: Table, types: DialectTypes, notes: list[str],
                hints: Callable[[Column], TypeHints]) -> list[exp.Expr]:
    return [
        exp.ColumnDef(this=ident(column.name), kind=data_type,
                      constraints=[exp.ColumnConstraint(kind=exp.NotNullColumnConstraint())] if not_null else None)
        for column, data_type, not_null in typed_columns(table, types, notes, hints)
    ]


def column_logical(text: str, column: str) -> LogicalType:
    """The parsed logical type of a column, or a ValueError naming the column."""
    try:
        return parse_logical(text)
    except ValueError:
        raise ValueError(f"column {column!r}: unknown logical type {text!r}") from None


def default_hints(table: Table, keys: set[str]) -> Callable[[Column], TypeHints]:
    def hints(column: Column) -> TypeHints:
        return chosen_hints(table, column, keys)
    return hints


def foreign_key_notes(table: Table, dialect: str) -> list[str]:
    """The recommended foreign keys as notes: the referenced table may not exist yet when this script runs, and
    a key with orphans cannot be validated, so each is given as the statement to run once both tables exist."""
    notes = []
    for fk in table.recommendation.foreign_keys:
        constraint = exp.Alter(
            this=table_ref(table.namespace, table.name), kind="TABLE",
            actions=[exp.AddConstraint(expressions=[exp.Constraint(
                this=ident(index_name(dialect, table.name, fk.columns, "fk")),
                expressions=[exp.ForeignKey(
                    expressions=[ident(c) for c in fk.columns],
                    reference=exp.Reference(this=exp.Schema(
                        this=table_ref(table.namespace_of(fk.ref_source), fk.ref_table),
                        expressions=[ident(c) for c in fk.ref_columns])),
                )],
            )])],
        ).sql(dialect=dialect)
        clean = "" if fk.orphans == 0 else f" ({fk.orphans:,} orphan values: clean them first)"
        notes.append(f"foreign key ({', '.join(fk.columns)}) -> {fk.ref_table} ({', '.join(fk.ref_columns)}), "
                     f"{fk.match_share:.1%} matching{clean}: {constraint}")
    return notes


def primary_key(columns: list[str]) -> exp.PrimaryKey:
    return exp.PrimaryKey(expressions=[ident(name) for name in columns])


def keyed_body(table: Table, types: DialectTypes, notes: list[str], key: list[str],
               hinted: set[str] | None = None) -> list[exp.Expr]:
    """The column definitions, then ``PRIMARY KEY (key)`` when there is one; ``hinted`` columns (the key by
    default) get key hints (NOT NULL, bounded strings)."""
    body = column_defs(table, types, notes, default_hints(table, set(key) if hinted is None else hinted))
    return [*body, primary_key(key)] if key else body


def schema_and_table(table: Table, body: list[exp.Expr], properties: list[exp.Expr]) -> list[exp.Expr]:
    """``CREATE SCHEMA IF NOT EXISTS`` and the table's ``CREATE TABLE IF NOT EXISTS``."""
    return [create_schema(table.namespace), create_table(table_ref(table.namespace, table.name), body, properties)]


def index_name(dialect: str, table: str, columns: tuple[str, ...], method: str) -> str:
    """``<table>_<cols>_<method>``, shortened with a stable hash to the dialect's identifier limit."""
    name = f"{table}_{'_'.join(columns)}_{method}"
    limit = MAX_IDENTIFIER_BYTES[dialect]
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    head = name.encode()[: limit - 9].decode("utf-8", errors="ignore")
    return f"{head}_{digest}"


def partition_parts(recommendation: Recommendation) -> Partition | None:
    """The partitioning of "year(col)", "month(col)", "day(col)" or "hash(col, n)"; None when there is none."""
    if not recommendation.partition_by:
        return None
    match = _PARTITION.match(recommendation.partition_by.strip())
    if not match:
        raise ValueError(f"unsupported partitioning {recommendation.partition_by!r}; expected year(col), month(col), "
                         "day(col) or hash(col, n)")
    return Partition(match.group(1), recommendation.partition_column or match.group(2).strip(),
                     int(match.group(3) or 0))


def fit_decimal(logical: LogicalType, limits: tuple[int, int], dialect: str, column: str,
                notes: list[str]) -> LogicalType:
    """``logical`` narrowed to the dialect's (max precision, max scale), with a note when it had to be."""
    max_precision, max_scale = limits
    precision = max(1, min(logical.precision, max_precision))
    scale = min(logical.scale, max_scale, precision)
    if (precision, scale) != (logical.precision, logical.scale):
        notes.append(f"{column}: {logical} exceeds {dialect}'s limits; narrowed to ({precision},{scale})")
    return decimal(precision, scale)


def read_type(native: str, dialect: str, read_back: dict[exp.DataType.Type, str],
              default_precision: int = 38) -> LogicalType:
    """The logical type of a type ``native`` spelled in ``dialect``; a type outside the vocabulary travels as
    string. ``read_back`` names the logical type of the dialect's own type nodes (LONGBLOB, SUPER, VARIANT ...)."""
    try:
        data_type = exp.DataType.build(native, dialect=dialect)
    except ParseError as error:
        raise ValueError(f"{dialect}: cannot read the type {native!r}: {error}") from None
    name = read_back.get(data_type.this)
    if name == "decimal" or data_type.this == exp.DataType.Type.DECIMAL:
        precision, scale = decimal_parameters(data_type)
        return decimal(precision or default_precision, scale or 0)
    if name:
        return parse_logical(name)
    return LogicalType.from_data_type(data_type) or parse_logical("string")


def sized(kind: exp.DataType.Type, size: int) -> exp.DataType:
    """A type with one size parameter, e.g. VARCHAR(255)."""
    return exp.DataType(this=kind, expressions=[exp.DataTypeParam(this=exp.Literal.number(size))])
