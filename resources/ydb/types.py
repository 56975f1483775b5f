"""The YDB type mapper: logical types <-> YDB types, and result-set values in the form Arrow takes.

YDB spells a nullable column's type ``T?`` (the SDK) or ``Optional<T>`` (YQL); both are unwrapped with plain string
checks because sqlglot has no YDB dialect. ``Decimal(P,S)`` is parsed by sqlglot's generic dialect.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import ydb
from sqlglot import exp
from sqlglot.errors import ParseError

from resources.schema import LogicalType
from resources.schema.types import decimal, decimal_parameters
from resources.ydb.errors import YdbQueryError

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

_TO_YDB = {
    "bool": "Bool", "int16": "Int16", "int32": "Int32", "int64": "Int64", "float32": "Float", "float64": "Double",
    "string": "Utf8", "binary": "String", "date": "Date", "time": "Interval", "timestamp": "Timestamp",
    "timestamptz": "Timestamp", "json": "JsonDocument", "uuid": "Uuid",
}
"""YDB has no time of day (carried as the Interval since midnight) and one Timestamp (UTC); its String is bytes."""
_FROM_YDB = {
    "Bool": "bool", "Int8": "int16", "Uint8": "int16", "Int16": "int16", "Uint16": "int32", "Int32": "int32",
    "Uint32": "int64", "Int64": "int64", "Uint64": "int64", "Float": "float32", "Double": "float64",
    "Utf8": "string", "String": "string", "Json": "json", "JsonDocument": "json", "Yson": "binary",
    "Uuid": "uuid", "UUID": "uuid", "Date": "date", "Date32": "date", "Datetime": "timestamptz",
    "Datetime64": "timestamptz", "Timestamp": "timestamptz", "Timestamp64": "timestamptz", "Interval": "int64",
    "Interval64": "int64", "TzDate": "string", "TzDatetime": "string", "TzTimestamp": "string",
    "DyNumber": "string", "Text": "string", "Bytes": "string",
}
_CONTAINERS = ("List", "Struct", "Dict", "Tuple", "Set", "Variant", "Tagged", "EmptyList", "EmptyDict")


class YdbTypeMapper:
    system = "ydb"

    def to_native(self, logical: LogicalType, nullable: bool = True) -> str:
        """The type as the SDK spells a column's type (``Int64?`` when nullable)."""
        native = f"Decimal({logical.precision},{logical.scale})" if logical.is_decimal else _TO_YDB[logical.name]
        return f"{native}?" if nullable else native

    def from_native(self, native: str) -> LogicalType:
        inner, _ = unwrap_optional(native)
        parameters = decimal_of(inner)
        if parameters:
            return decimal(*parameters)
        if inner.startswith(_CONTAINERS):
            return LogicalType("json")
        if inner.startswith("Pg"):
            return LogicalType("string")
        return LogicalType(_FROM_YDB.get(inner, "string"))


YDB = YdbTypeMapper()


def unwrap_optional(ydb_type: str) -> tuple[str, bool]:
    """``(inner type, nullable)`` for ``T?`` / ``Optional<T>`` spellings of YDB types."""
    text, nullable = str(ydb_type).strip(), False
    while True:
        if text.endswith("?"):
            text, nullable = text[:-1].strip(), True
        elif text.startswith("Optional<") and text.endswith(">"):
            text, nullable = text[len("Optional<"):-1].strip(), True
        else:
            return text, nullable


def decimal_of(inner: str) -> tuple[int, int] | None:
    """``(precision, scale)`` of a ``Decimal(P,S)`` type text, None for any other type."""
    if not inner.startswith("Decimal("):
        return None
    try:
        precision, scale = decimal_parameters(exp.DataType.build(inner))
    except ParseError:
        return None
    return None if precision is None or scale is None else (precision, scale)


def logical_type(ydb_type: Any) -> str:
    """The logical type (as text) for a YDB type (a ydb type object or its text)."""
    return str(YDB.from_native(str(ydb_type)))


def parameter_type(ydb_type: str) -> Any:
    """The SDK type object to bind a value compared with a column of ``ydb_type`` (Optional stripped)."""
    inner, _ = unwrap_optional(ydb_type)
    parameters = decimal_of(inner)
    if parameters:
        return ydb.DecimalType(*parameters)
    name = "UUID" if inner == "Uuid" else inner
    try:
        return ydb.PrimitiveType[name]
    except KeyError:
        raise YdbQueryError(f"cannot compare with a column of YDB type {ydb_type}: use a primitive-typed column "
                            f"as cursor or key") from None


def python_value(value: Any, logical: str, ydb_type: str) -> Any:
    """A value from a result set in the form Arrow takes for ``logical`` (the SDK gives dates and times either
    as numbers or as Python objects depending on its settings; both are accepted)."""
    if value is None:
        return None
    inner, _ = unwrap_optional(ydb_type)
    if logical == "date":
        return EPOCH.date() + dt.timedelta(days=value) if isinstance(value, int) else _as_date(value)
    if logical == "timestamptz":
        return _instant(value, inner)
    if logical == "string" and isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    if logical == "uuid":
        return str(value) if isinstance(value, uuid.UUID) else str(uuid.UUID(str(value)))
    if logical == "json":
        return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    if logical == "int64" and isinstance(value, dt.timedelta):
        return value // dt.timedelta(microseconds=1)
    if logical == "binary" and isinstance(value, str):
        return value.encode()
    if logical == "string" and not isinstance(value, str):
        return str(value)
    return value


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _instant(value: Any, inner: str) -> dt.datetime:
    if isinstance(value, int):
        unit = "seconds" if inner.startswith("Datetime") else "microseconds"
        return EPOCH + dt.timedelta(**{unit: value})
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
    raise ValueError(f"not a point in time: {value!r}")
