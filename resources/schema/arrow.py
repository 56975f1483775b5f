"""The Arrow type mapper: record batches carry each logical type as one Arrow type."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from resources.schema.types import LogicalType, decimal, parse_logical

_TO_ARROW = {
    "bool": pa.bool_(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "float32": pa.float32(), "float64": pa.float64(), "string": pa.string(), "binary": pa.binary(),
    "date": pa.date32(), "time": pa.time64("us"), "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"), "json": pa.string(), "uuid": pa.string(),
}
_FROM_ARROW: list[tuple[Callable[[pa.DataType], bool], str]] = [
    (pa.types.is_boolean, "bool"), (pa.types.is_int8, "int16"), (pa.types.is_uint8, "int16"),
    (pa.types.is_int16, "int16"), (pa.types.is_uint16, "int32"), (pa.types.is_int32, "int32"),
    (pa.types.is_uint32, "int64"), (pa.types.is_int64, "int64"), (pa.types.is_uint64, "int64"),
    (pa.types.is_float16, "float32"), (pa.types.is_float32, "float32"), (pa.types.is_float64, "float64"),
    (pa.types.is_date, "date"), (pa.types.is_time, "time"), (pa.types.is_binary, "binary"),
    (pa.types.is_large_binary, "binary"), (pa.types.is_null, "string"),
]


class ArrowTypeMapper:
    system = "arrow"

    def to_native(self, logical: LogicalType, nullable: bool = True) -> pa.DataType:
        if logical.is_decimal:
            return pa.decimal128(logical.precision, logical.scale)
        return _TO_ARROW[logical.name]

    def from_native(self, native: pa.DataType) -> LogicalType:
        if pa.types.is_decimal(native):
            return decimal(native.precision, native.scale)
        if pa.types.is_timestamp(native):
            return LogicalType("timestamptz" if native.tz else "timestamp")
        if pa.types.is_nested(native):
            return LogicalType("json")
        return LogicalType(next((logical for check, logical in _FROM_ARROW if check(native)), "string"))


ARROW = ArrowTypeMapper()


def to_arrow(logical_type: str | LogicalType) -> pa.DataType:
    """The Arrow type that carries values of ``logical_type`` in record batches."""
    return ARROW.to_native(parse_logical(logical_type))


def from_arrow(arrow_type: pa.DataType) -> str:
    """The logical type (as text) for an Arrow type (used when a source only yields Arrow, such as files)."""
    return str(ARROW.from_native(arrow_type))
