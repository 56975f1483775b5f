"""Logical types: the one type vocabulary every system maps to and from, built on sqlglot's ``DataType``.

The vocabulary is ``bool, int16, int32, int64, float32, float64, decimal(P,S), string, binary, date, time,
timestamp, timestamptz, json, uuid``. A column's type is stored as that text (in the catalog, in ``Column``);
:func:`parse_logical` turns it into a :class:`LogicalType`, whose ``data_type()`` is the sqlglot tree that every
system's :class:`TypeMapper` renders in its own dialect. Each system has exactly one mapper: PostgreSQL, ClickHouse
and YDB in their connector packages, the DDL-only dialects in ``etl_assets/ddl/dialects``, Arrow in
:mod:`resources.schema.arrow`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from sqlglot import exp
from sqlglot.errors import ParseError

Type = exp.DataType.Type

_SQLGLOT_TYPES = {
    "bool": Type.BOOLEAN, "int16": Type.SMALLINT, "int32": Type.INT, "int64": Type.BIGINT, "float32": Type.FLOAT,
    "float64": Type.DOUBLE, "decimal": Type.DECIMAL, "string": Type.TEXT, "binary": Type.VARBINARY,
    "date": Type.DATE, "time": Type.TIME, "timestamp": Type.TIMESTAMP, "timestamptz": Type.TIMESTAMPTZ,
    "json": Type.JSON, "uuid": Type.UUID,
}
_LOGICAL_NAMES = {sqlglot_type: name for name, sqlglot_type in _SQLGLOT_TYPES.items()}
LOGICAL_TYPES = tuple(_SQLGLOT_TYPES)
INTEGER_DIGITS = {"int16": 5, "int32": 10, "int64": 19}
"""Decimal digits an integer type can need (the precision of a decimal that holds it)."""


@dataclass(frozen=True)
class LogicalType:
    """A parsed logical type: its name, and precision and scale for decimals."""

    name: str
    precision: int | None = None
    scale: int | None = None

    def __str__(self) -> str:
        return f"decimal({self.precision},{self.scale})" if self.name == "decimal" else self.name

    @property
    def is_decimal(self) -> bool:
        return self.name == "decimal"

    @property
    def is_integer(self) -> bool:
        return self.name in INTEGER_DIGITS

    def data_type(self) -> exp.DataType:
        """The sqlglot tree of this type (generic dialect); mappers render or rewrite it per system."""
        if self.is_decimal:
            return exp.DataType(this=Type.DECIMAL, expressions=[
                exp.DataTypeParam(this=exp.Literal.number(self.precision)),
                exp.DataTypeParam(this=exp.Literal.number(self.scale))])
        return exp.DataType(this=_SQLGLOT_TYPES[self.name])

    @classmethod
    def from_data_type(cls, data_type: exp.DataType) -> LogicalType | None:
        """The logical type a sqlglot tree denotes exactly, or None when it is not one of the vocabulary."""
        name = _LOGICAL_NAMES.get(data_type.this)
        if name != "decimal":
            return cls(name) if name else None
        precision, scale = decimal_parameters(data_type)
        return None if precision is None else cls("decimal", precision, scale or 0)


def decimal_parameters(data_type: exp.DataType) -> tuple[int | None, int | None]:
    """``(precision, scale)`` of a parsed DECIMAL-like type; None for each parameter it does not give."""
    values = [int(param.name) for param in data_type.expressions if param.name.isdigit()]
    return (values[0] if values else None), (values[1] if len(values) > 1 else None)


@lru_cache(maxsize=4096)
def parse_logical(text: str | LogicalType) -> LogicalType:
    """``"int64"``, ``"decimal(10, 2)"`` ... as a :class:`LogicalType`; anything else raises ValueError."""
    if isinstance(text, LogicalType):
        return text
    name = text.strip()
    if name in _SQLGLOT_TYPES and name != "decimal":
        return LogicalType(name)
    try:
        parsed = LogicalType.from_data_type(exp.DataType.build(name)) if name.startswith("decimal") else None
    except ParseError:
        parsed = None
    if parsed is None or parsed.precision is None:
        raise ValueError(f"unknown logical type {text!r}; expected one of {', '.join(LOGICAL_TYPES)} "
                         f"(decimal as decimal(P,S))")
    return parsed


def decimal(precision: int, scale: int) -> LogicalType:
    return LogicalType("decimal", precision, scale)


_WIDENINGS = {
    "int16": ("int32", "int64", "float32", "float64"), "int32": ("int64", "float64"),
    "float32": ("float64",), "date": ("timestamp",),
}


def widest_type(current: str, incoming: str) -> str | None:
    """The type a landed column must have to hold both its ``current`` values and ``incoming`` ones without loss.

    Returns ``current`` when it already holds ``incoming`` (e.g. int64 holds int32), ``incoming`` when the column
    must be widened (int32 -> int64, float32 -> float64, date -> timestamp, a decimal with more digits), and None
    when neither holds the other: an incompatible change (e.g. int64 -> string, timestamp -> int64).
    """
    if current == incoming:
        return current
    for wide, narrow in ((current, incoming), (incoming, current)):
        if holds(parse_logical(wide), parse_logical(narrow)):
            return wide
    return None


def holds(wide: LogicalType, narrow: LogicalType) -> bool:
    """Whether every value of ``narrow`` fits ``wide`` without loss."""
    if wide == narrow or wide.name in _WIDENINGS.get(narrow.name, ()):
        return True
    if not wide.is_decimal:
        return False
    integer_digits = wide.precision - wide.scale
    if narrow.is_integer:
        return integer_digits >= INTEGER_DIGITS[narrow.name]
    return narrow.is_decimal and wide.scale >= narrow.scale and integer_digits >= narrow.precision - narrow.scale


class TypeMapper(Protocol):
    """One system's types: a logical type to the system's spelling and back (one table per system)."""

    system: str

    def to_native(self, logical: LogicalType, nullable: bool = True) -> str:
        """The system's type for ``logical`` (``nullable`` matters only where the type itself says it)."""

    def from_native(self, native: str) -> LogicalType:
        """The logical type that carries values of the system's type ``native``."""
