"""The ClickHouse type mapper: logical types to ClickHouse column types and ClickHouse type text back.

One table maps each logical type to ClickHouse (``_TO_CLICKHOUSE``, the types the DDL layer recommends); the
landing resource stores two of them differently (``LANDED_AS``). Type text read from a server
(``system.columns.type``) is parsed with sqlglot's ClickHouse grammar; the few types it does not know
(``Time64(6)``, ``BFloat16``, ``DateTime32``, ``Interval*``, ``Object('json')``) are mapped by their name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import ParseError

from resources.schema.types import LogicalType, decimal, decimal_parameters, parse_logical

Type = exp.DataType.Type

_TO_CLICKHOUSE = {
    "bool": "Bool", "int16": "Int16", "int32": "Int32", "int64": "Int64", "float32": "Float32",
    "float64": "Float64", "string": "String", "binary": "String", "date": "Date32", "time": "Time64(6)",
    "timestamp": "DateTime64(6)", "timestamptz": "DateTime64(6, 'UTC')", "json": "JSON", "uuid": "UUID",
}
LANDED_AS = {"json": "String", "time": "String"}
"""What the landing resource stores instead: JSON text and ``HH:MM:SS`` text, portable to every reader (and the
JSON type cannot be Nullable). The DDL layer's recommendations use the table above."""
UDT_TYPES = ("Time64",)
"""ClickHouse types sqlglot's grammar lacks: carried as user-defined type nodes."""

_FROM_CLICKHOUSE = {
    Type.BOOLEAN: "bool", Type.TINYINT: "int16", Type.UTINYINT: "int16", Type.SMALLINT: "int16",
    Type.USMALLINT: "int32", Type.INT: "int32", Type.UINT: "int64", Type.BIGINT: "int64", Type.UBIGINT: "int64",
    Type.FLOAT: "float32", Type.DOUBLE: "float64", Type.TEXT: "string", Type.FIXEDSTRING: "string",
    Type.DATE: "date", Type.DATE32: "date", Type.UUID: "uuid",
}
_JSON = {
    Type.JSON, Type.MAP, Type.ARRAY, Type.STRUCT, Type.NESTED, Type.VARIANT, Type.DYNAMIC, Type.POINT, Type.RING,
    Type.POLYGON, Type.MULTIPOLYGON, Type.LINESTRING, Type.MULTILINESTRING,
}
_FIXED_DECIMALS = {Type.DECIMAL32: 9, Type.DECIMAL64: 18, Type.DECIMAL128: 38, Type.DECIMAL256: 76}
_BY_NAME = {  # types sqlglot cannot parse (or that hold one it cannot), by name
    "BFloat16": "float32", "Time64": "string", "Object": "json", "JSON": "json", "Map": "json", "Array": "json",
    "Tuple": "json", "Nested": "json", "Variant": "json", "Dynamic": "json",
}
_WRAPPERS = ("Nullable", "LowCardinality", "SimpleAggregateFunction")


@dataclass(frozen=True)
class NativeType:
    """A ClickHouse column type with its Nullable / LowCardinality / SimpleAggregateFunction wrappers removed."""

    data_type: exp.DataType
    """Non-nullable; a user-defined type node (``Type.USERDEFINED``) for what sqlglot cannot parse."""
    nullable: bool

    @property
    def kind(self) -> exp.DataType.Type:
        return self.data_type.this

    @property
    def udt_name(self) -> str:
        """The name of a type sqlglot cannot parse (``Time64`` of ``Time64(6)``); "" for the others."""
        return self.data_type.text("kind").split("(", 1)[0].strip() if self.kind == Type.USERDEFINED else ""

    def sql(self) -> str:
        """The inner type as ClickHouse text."""
        return data_type_sql(self.data_type, nullable=False)

    def logical(self) -> LogicalType:
        """The logical type that carries this type's values."""
        kind, arguments = self.kind, self.data_type.expressions
        if kind == Type.USERDEFINED:
            return _logical_by_name(self.udt_name, "(" in self.data_type.text("kind"))
        if kind in _FIXED_DECIMALS or kind == Type.DECIMAL:
            precision, scale = _decimal_precision_scale(self.data_type)
            return decimal(precision, scale) if precision <= 38 else LogicalType("string")
        if kind == Type.DATETIME:
            return LogicalType("timestamptz" if arguments else "timestamp")
        if kind == Type.DATETIME64:
            return LogicalType("timestamptz" if len(arguments) > 1 else "timestamp")
        if kind in _JSON:
            return LogicalType("json")
        return LogicalType(_FROM_CLICKHOUSE.get(kind, "string"))


def parse_native(text: str) -> NativeType:
    """Parse ClickHouse type text (``LowCardinality(Nullable(String))``, ``DateTime64(6, 'UTC')``, ...)."""
    try:
        data_type = exp.DataType.build(text, dialect="clickhouse")
    except ParseError:
        return _parse_by_name(text)
    nullable = False
    while True:
        nullable = nullable or bool(data_type.args.get("nullable"))
        if data_type.this == Type.LOWCARDINALITY:
            data_type = data_type.expressions[0]
        elif data_type.this == Type.SIMPLEAGGREGATEFUNCTION:
            data_type = data_type.expressions[-1]
        else:
            break
    return NativeType(_non_nullable(data_type), nullable)


def _parse_by_name(text: str) -> NativeType:
    """The fallback for types sqlglot cannot parse: peel the wrappers off the text, keep the rest as a UDT."""
    inner, nullable = text.strip(), False
    while inner.endswith(")") and inner.split("(", 1)[0].strip() in _WRAPPERS:
        wrapper, argument = (part.strip() for part in inner.split("(", 1))
        nullable = nullable or wrapper == "Nullable"
        inner = argument[:-1].strip()
        if wrapper == "SimpleAggregateFunction":
            inner = inner.split(",", 1)[-1].strip()
    return NativeType(_non_nullable(exp.DataType.build(inner, dialect="clickhouse", udt=True)), nullable)


def _non_nullable(data_type: exp.DataType) -> exp.DataType:
    inner = data_type.copy()
    inner.set("nullable", False)
    return inner


def _logical_by_name(name: str, has_arguments: bool) -> LogicalType:
    if name.startswith("Interval"):
        return LogicalType("int64")
    if name == "DateTime32":
        return LogicalType("timestamptz" if has_arguments else "timestamp")
    return LogicalType(_BY_NAME.get(name, "string"))


def _decimal_precision_scale(data_type: exp.DataType) -> tuple[int, int]:
    precision, scale = decimal_parameters(data_type)
    if data_type.this in _FIXED_DECIMALS:
        return _FIXED_DECIMALS[data_type.this], precision or 0
    return (10 if precision is None else precision), scale or 0


def data_type(logical: LogicalType | str, nullable: bool, landing: bool = False) -> exp.DataType:
    """The ClickHouse type tree of ``logical`` (``landing``: as the landing resource stores it, see
    ``LANDED_AS``). ``nullable`` is set the way sqlglot's ClickHouse generator reads it (unset or True renders
    ``Nullable(...)``); JSON cannot be Nullable in ClickHouse, so its node is always non-nullable."""
    return _data_type(parse_logical(logical), nullable, LANDED_AS if landing else {})


def _data_type(logical: LogicalType, nullable: bool, overrides: Mapping[str, str]) -> exp.DataType:
    if logical.is_decimal:
        tree = logical.data_type()
    else:
        spelled = overrides.get(logical.name) or _TO_CLICKHOUSE[logical.name]
        tree = exp.DataType.build(spelled, dialect="clickhouse", udt=spelled.startswith(UDT_TYPES))
    tree.set("nullable", nullable and tree.this != Type.JSON)
    return tree


def data_type_sql(tree: exp.DataType, nullable: bool | None = None) -> str:
    """ClickHouse text of a type tree (``nullable`` overrides the tree's own flag)."""
    if nullable is not None:
        tree = tree.copy()
        tree.set("nullable", nullable)
    return tree.sql("clickhouse")


class ClickHouseTypeMapper:
    """ClickHouse's TypeMapper; ``landed_as`` overrides the table for the types a user of it stores differently."""

    system = "clickhouse"

    def __init__(self, landed_as: Mapping[str, str] | None = None) -> None:
        self.overrides = dict(landed_as or {})

    def data_type(self, logical: LogicalType | str, nullable: bool = True) -> exp.DataType:
        return _data_type(parse_logical(logical), nullable, self.overrides)

    def to_native(self, logical: LogicalType | str, nullable: bool = True) -> str:
        return data_type_sql(self.data_type(logical, nullable))

    def from_native(self, native: str) -> LogicalType:
        return parse_native(native).logical()


CLICKHOUSE = ClickHouseTypeMapper()
"""The DDL layer's ClickHouse types (JSON, Time64(6))."""
LANDING = ClickHouseTypeMapper(LANDED_AS)
"""The landing resource's ClickHouse types (json and time as String)."""


def logical_type(clickhouse_type: str) -> str:
    """The logical type (as text) that carries values of a ClickHouse column type."""
    return str(CLICKHOUSE.from_native(clickhouse_type))


def clickhouse_type(logical: str, nullable: bool) -> str:
    """The ClickHouse column type the landing resource stores a logical type as."""
    return LANDING.to_native(logical, nullable)


def is_nullable(clickhouse_type: str) -> bool:
    return parse_native(clickhouse_type).nullable
