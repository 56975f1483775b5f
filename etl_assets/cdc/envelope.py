"""The schema envelope of Kafka Connect's JsonConverter (``schemas.enable=true``): ``{"schema": ..., "payload": ...}``.
The schema gives each column's Connect type (``int16``, ``int64``, ``double``, ``bytes`` ...) and, for Debezium's
semantic types, a name (``io.debezium.time.MicroTimestamp``, ``org.apache.kafka.connect.data.Decimal`` with its
scale ...). Here it becomes the replica's logical column types, and the payload's values the text PostgreSQL reads
into those types (``jsonb_populate_record``): ISO dates and times, decimal strings, ``\\x`` hex bytes, JSON values.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

EPOCH = datetime(1970, 1, 1)
MIDNIGHT = datetime(2000, 1, 1)
UNSCALED_DECIMAL = "decimal(38,10)"
"""A decimal whose scale varies per value (``VariableScaleDecimal``), as an unconstrained numeric lands."""

Decoder = Callable[[Any], Any]


class EnvelopeError(ValueError):
    """A schema or a value that does not match its schema; the message says which field and why."""


@dataclass(frozen=True)
class ColumnSchema:
    logical: str
    decode: Decoder


def _same(value: Any) -> Any:
    return value


def _to_text(value: Any) -> Any:
    return value if isinstance(value, str) else json.dumps(value)


def _base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise EnvelopeError(f"expected base64 text, got {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as error:
        raise EnvelopeError(f"not base64 ({error})") from None


def _bytes(value: Any) -> str:
    return "\\x" + _base64(value).hex()


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EnvelopeError(f"expected an integer, got {value!r:.40}")
    return value


def _microseconds(value: Any, per_unit: int) -> int:
    """``value`` in units of ``per_unit`` microseconds (negative: nanoseconds, truncated as PostgreSQL keeps µs)."""
    return _integer(value) * per_unit if per_unit > 0 else _integer(value) // -per_unit


def _epoch(per_unit: int) -> Decoder:
    return lambda value: (EPOCH + timedelta(microseconds=_microseconds(value, per_unit))).isoformat()


def _time_of_day(per_unit: int) -> Decoder:
    return lambda value: (MIDNIGHT + timedelta(microseconds=_microseconds(value, per_unit))).time().isoformat()


def _days(value: Any) -> str:
    return (date(1970, 1, 1) + timedelta(days=_integer(value))).isoformat()


def _decimal(scale: int) -> Decoder:
    def decode(value: Any) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):  # JsonConverter decimal.format=NUMERIC
            return str(Decimal(str(value)))
        unscaled = int.from_bytes(_base64(value), "big", signed=True)
        return str(Decimal(unscaled).scaleb(-scale))
    return decode


def _variable_scale_decimal(value: Any) -> str:
    if not isinstance(value, dict) or "scale" not in value or "value" not in value:
        raise EnvelopeError(f"expected {{\"scale\", \"value\"}}, got {value!r:.60}")
    return _decimal(_integer(value["scale"]))(value["value"])


def _json_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise EnvelopeError(f"an io.debezium.data.Json value that is not JSON: {value!r:.60}") from None


_NAMED: dict[str, tuple[str, Decoder]] = {
    "io.debezium.time.Date": ("date", _days),
    "org.apache.kafka.connect.data.Date": ("date", _days),
    "io.debezium.time.Time": ("time", _time_of_day(1_000)),
    "org.apache.kafka.connect.data.Time": ("time", _time_of_day(1_000)),
    "io.debezium.time.MicroTime": ("time", _time_of_day(1)),
    "io.debezium.time.NanoTime": ("time", _time_of_day(-1_000)),
    "io.debezium.time.Timestamp": ("timestamp", _epoch(1_000)),
    "org.apache.kafka.connect.data.Timestamp": ("timestamp", _epoch(1_000)),
    "io.debezium.time.MicroTimestamp": ("timestamp", _epoch(1)),
    "io.debezium.time.NanoTimestamp": ("timestamp", _epoch(-1_000)),
    "io.debezium.time.ZonedTimestamp": ("timestamptz", _same),
    "io.debezium.time.IsoDate": ("date", _same),
    "io.debezium.time.IsoTime": ("time", _same),
    "io.debezium.time.IsoTimestamp": ("timestamp", _same),
    "io.debezium.time.ZonedTime": ("string", _same),
    "io.debezium.time.MicroDuration": ("int64", _same),
    "io.debezium.time.Interval": ("string", _same),
    "io.debezium.data.Json": ("json", _json_text),
    "io.debezium.data.Uuid": ("uuid", _same),
    "io.debezium.data.Xml": ("string", _same),
    "io.debezium.data.Enum": ("string", _same),
    "io.debezium.data.EnumSet": ("string", _same),
    "io.debezium.data.Bits": ("binary", _bytes),
    "io.debezium.data.VariableScaleDecimal": (UNSCALED_DECIMAL, _variable_scale_decimal),
}

_PLAIN: dict[str, tuple[str, Decoder]] = {
    "int8": ("int16", _same), "int16": ("int16", _same), "int32": ("int32", _same), "int64": ("int64", _same),
    "float": ("float32", _same), "float32": ("float32", _same), "double": ("float64", _same),
    "float64": ("float64", _same), "boolean": ("bool", _same), "string": ("string", _to_text),
    "bytes": ("binary", _bytes), "array": ("json", _same), "map": ("json", _same), "struct": ("json", _same),
}


def column_schema(field: Mapping[str, Any]) -> ColumnSchema:
    """The logical type and value decoder of one Connect field schema."""
    name, kind = field.get("name"), field.get("type")
    if name == "org.apache.kafka.connect.data.Decimal":
        parameters = field.get("parameters") or {}
        try:
            scale = int(parameters.get("scale", 0))
            precision = int(parameters.get("connect.decimal.precision", 38))
        except (TypeError, ValueError):
            raise EnvelopeError(f"decimal parameters must be integers, got {parameters!r:.80}") from None
        precision = max(precision, scale, 1)
        logical = f"decimal({precision},{scale})" if precision <= 38 else "string"
        return ColumnSchema(logical, _decimal(scale))
    if name in _NAMED:
        return ColumnSchema(*_NAMED[name])
    if kind in _PLAIN:
        return ColumnSchema(*_PLAIN[kind])
    raise EnvelopeError(f"unknown Connect type {kind!r}" + (f" ({name})" if name else ""))


def struct_columns(schema: Any, what: str) -> dict[str, ColumnSchema]:
    """Column -> schema of a Connect ``struct`` schema (a row image or a key)."""
    if not isinstance(schema, dict) or schema.get("type") != "struct" or not isinstance(schema.get("fields"), list):
        raise EnvelopeError(f"the {what} schema must be a struct with fields")
    columns = {}
    for field in schema["fields"]:
        if not isinstance(field, dict) or not isinstance(field.get("field"), str):
            raise EnvelopeError(f"a field of the {what} schema has no name: {field!r:.80}")
        try:
            columns[field["field"]] = column_schema(field)
        except EnvelopeError as error:
            raise EnvelopeError(f"{what} column {field['field']!r}: {error}") from None
    return columns


def row_columns(value_schema: Any) -> dict[str, ColumnSchema]:
    """The row's columns from a Debezium envelope schema: the ``after`` field's struct (``before`` for deletes)."""
    if not isinstance(value_schema, dict) or not isinstance(value_schema.get("fields"), list):
        raise EnvelopeError("the value schema must be a struct with fields")
    images = {field.get("field"): field for field in value_schema["fields"] if isinstance(field, dict)}
    image = images.get("after") or images.get("before")
    if image is None:
        raise EnvelopeError("the value schema has no \"after\" or \"before\" field")
    return struct_columns(image, "row")


def decode_row(row: Mapping[str, Any], columns: Mapping[str, ColumnSchema]) -> dict[str, Any]:
    """The row's values as PostgreSQL reads them into the columns' types (columns the schema lacks pass as is)."""
    decoded = {}
    for name, value in row.items():
        column = columns.get(name)
        if value is None or column is None:
            decoded[name] = value
            continue
        try:
            decoded[name] = column.decode(value)
        except EnvelopeError as error:
            raise EnvelopeError(f"column {name!r} ({column.logical}): {error}") from None
    return decoded


def logical_types(columns: Mapping[str, ColumnSchema]) -> dict[str, str]:
    return {name: column.logical for name, column in columns.items()}
