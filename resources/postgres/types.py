"""The PostgreSQL type mapper: one table from logical types to PostgreSQL column types, and ``format_type()``
strings read back through sqlglot's postgres dialect.

Types without a logical counterpart (intervals, enums, network types, ``time with time zone``, numerics wider than
38 digits ...) travel as strings; arrays travel as JSON.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ParseError

from resources.schema import LogicalType, parse_logical
from resources.schema.types import decimal, decimal_parameters

Type = exp.DataType.Type

MAX_DECIMAL_PRECISION = 38
UNCONSTRAINED_NUMERIC = "decimal(38,10)"
"""What a ``numeric`` without precision lands as (values are rounded to 10 decimals when read)."""

_NATIVE = {
    "bool": "boolean", "int16": "smallint", "int32": "integer", "int64": "bigint", "float32": "real",
    "float64": "double precision", "string": "text", "binary": "bytea", "date": "date", "time": "time",
    "timestamp": "timestamp", "timestamptz": "timestamptz", "json": "jsonb", "uuid": "uuid",
}
_READ_AS = {
    **{exp.DataType.build(native, dialect="postgres").this: logical for logical, native in _NATIVE.items()},
    Type.VARCHAR: "string", Type.CHAR: "string", Type.JSON: "json", Type.ARRAY: "json",
}
"""sqlglot type -> logical type: the types ``_NATIVE`` writes, plus the other spellings read as the same type."""


class PostgresTypeMapper:
    system = "postgres"

    def to_native(self, logical: LogicalType, nullable: bool = True) -> str:
        if logical.is_decimal:
            return f"numeric({logical.precision},{logical.scale})"
        return _NATIVE[logical.name]

    def from_native(self, native: str) -> LogicalType:
        native = native.strip()
        if native.endswith("[]"):
            return LogicalType("json")
        try:
            data_type = exp.DataType.build(native, dialect="postgres")
        except ParseError:
            return LogicalType("string")
        if data_type.this == Type.DECIMAL:
            return _numeric(data_type)
        return LogicalType(_READ_AS.get(data_type.this, "string"))


def _numeric(data_type: exp.DataType) -> LogicalType:
    precision, scale = decimal_parameters(data_type)
    if precision is None:
        return parse_logical(UNCONSTRAINED_NUMERIC)
    if precision > MAX_DECIMAL_PRECISION:
        return LogicalType("string")
    return decimal(precision, scale or 0)


POSTGRES_TYPES_MAPPER = PostgresTypeMapper()


def logical_type(pg_type: str) -> str:
    """The logical type (as text) for a ``format_type()`` string."""
    return str(POSTGRES_TYPES_MAPPER.from_native(pg_type))


def ddl_type(logical: str | LogicalType) -> str:
    """The PostgreSQL column type that lands values of a logical type."""
    return POSTGRES_TYPES_MAPPER.to_native(parse_logical(logical))


class SchemaConflictError(ValueError):
    """The target's column type cannot hold the incoming type; the message names table, column and both types."""
