"""The two small protocols every connector and destination implements, and the catalog types they share.

Types are described by a *logical type* string, one vocabulary for every system:
``bool, int16, int32, int64, float32, float64, decimal(P,S), string, binary, date, time, timestamp,
timestamptz, json, uuid``. Each connector maps its native types to these; the DDL layer maps them out again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

LOGICAL_TYPES = (
    "bool", "int16", "int32", "int64", "float32", "float64", "decimal", "string", "binary",
    "date", "time", "timestamp", "timestamptz", "json", "uuid",
)
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


def to_arrow(logical_type: str) -> pa.DataType:
    """The Arrow type that carries values of ``logical_type`` in record batches."""
    decimal = _DECIMAL.match(logical_type)
    if decimal:
        return pa.decimal128(int(decimal.group(1)), int(decimal.group(2)))
    simple = {
        "bool": pa.bool_(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
        "float32": pa.float32(), "float64": pa.float64(), "string": pa.string(), "binary": pa.binary(),
        "date": pa.date32(), "time": pa.time64("us"), "timestamp": pa.timestamp("us"),
        "timestamptz": pa.timestamp("us", tz="UTC"), "json": pa.string(), "uuid": pa.string(),
    }
    if logical_type not in simple:
        raise ValueError(f"unknown logical type {logical_type!r}; expected one of {', '.join(LOGICAL_TYPES)}")
    return simple[logical_type]


def from_arrow(arrow_type: pa.DataType) -> str:
    """The logical type for an Arrow type (used when a source only yields Arrow, such as files)."""
    checks: list[tuple[Callable[[pa.DataType], bool], str]] = [
        (pa.types.is_boolean, "bool"), (pa.types.is_int8, "int16"), (pa.types.is_uint8, "int16"),
        (pa.types.is_int16, "int16"), (pa.types.is_uint16, "int32"), (pa.types.is_int32, "int32"),
        (pa.types.is_uint32, "int64"), (pa.types.is_int64, "int64"), (pa.types.is_uint64, "int64"),
        (pa.types.is_float16, "float32"), (pa.types.is_float32, "float32"), (pa.types.is_float64, "float64"),
        (pa.types.is_date, "date"), (pa.types.is_time, "time"), (pa.types.is_binary, "binary"),
        (pa.types.is_large_binary, "binary"), (pa.types.is_null, "string"),
    ]
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    if pa.types.is_nested(arrow_type):
        return "json"
    for check, logical in checks:
        if check(arrow_type):
            return logical
    return "string"


@dataclass(frozen=True)
class Column:
    name: str
    logical_type: str
    nullable: bool = True
    source_type: str = ""
    description: str = ""


@dataclass
class TableSchema:
    """One source table as discovered (and then refined by datasources.yaml settings)."""

    source: str
    name: str
    columns: list[Column]
    primary_key: list[str] = field(default_factory=list)
    cursor_candidates: list[str] = field(default_factory=list)
    row_estimate: int | None = None
    namespace: str = ""
    cursor_column: str | None = None

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.source}.{self.name} has no column {name!r}")

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, to_arrow(c.logical_type), nullable=c.nullable) for c in self.columns])

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "name": self.name, "namespace": self.namespace,
            "columns": [c.__dict__ for c in self.columns], "primary_key": self.primary_key,
            "cursor_candidates": self.cursor_candidates, "row_estimate": self.row_estimate,
            "cursor_column": self.cursor_column,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSchema:
        return cls(
            source=data["source"], name=data["name"], namespace=data.get("namespace", ""),
            columns=[Column(**c) for c in data["columns"]], primary_key=list(data.get("primary_key", [])),
            cursor_candidates=list(data.get("cursor_candidates", [])), row_estimate=data.get("row_estimate"),
            cursor_column=data.get("cursor_column"),
        )


@dataclass(frozen=True)
class QuarantinedRecord:
    """A record that could not be loaded, with where it came from and why."""

    source: str
    table: str
    location: str
    reason: str
    raw: str = ""


OnBadRecord = Callable[[QuarantinedRecord], None]


class WriteMode(str, Enum):
    REPLACE = "replace"
    APPEND = "append"
    MERGE = "merge"


@dataclass(frozen=True)
class WriteResult:
    rows_written: int
    added_columns: list[str] = field(default_factory=list)


class SourceUnavailableError(RuntimeError):
    """A source could not be reached or stopped answering; the message names the source and the cause."""


@runtime_checkable
class SourceConnector(Protocol):
    def discover(self) -> list[TableSchema]:
        """Every table of the source with columns, logical types, keys and cursor candidates."""

    def read(
        self, table: TableSchema, since: Any = None, on_bad_record: OnBadRecord | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Stream the table (rows with cursor >= ``since`` when given) as batches of ``table.arrow_schema()``."""

    def max_cursor(self, table: TableSchema) -> Any:
        """The current maximum of ``table.cursor_column`` (cheap; used by sensors)."""


@runtime_checkable
class Destination(Protocol):
    def ensure_table(self, namespace: str, table: TableSchema) -> list[str]:
        """Create the table or add new columns; returns the names of columns added."""

    def write(
        self, namespace: str, table: TableSchema, batches: Iterable[pa.RecordBatch], mode: WriteMode
    ) -> WriteResult:
        """Land ``batches`` in ``namespace.table`` atomically with the given mode."""


_INTEGER_DIGITS = {"int16": 5, "int32": 10, "int64": 19}
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
        if _holds(wide, narrow):
            return wide
    return None


def _holds(wide: str, narrow: str) -> bool:
    if wide in _WIDENINGS.get(narrow, ()):
        return True
    wide_decimal = _DECIMAL.match(wide)
    if not wide_decimal:
        return False
    precision, scale = int(wide_decimal.group(1)), int(wide_decimal.group(2))
    if narrow in _INTEGER_DIGITS:
        return precision - scale >= _INTEGER_DIGITS[narrow]
    narrow_decimal = _DECIMAL.match(narrow)
    if not narrow_decimal:
        return False
    narrow_precision, narrow_scale = int(narrow_decimal.group(1)), int(narrow_decimal.group(2))
    return scale >= narrow_scale and precision - scale >= narrow_precision - narrow_scale
