"""Kafka JSON messages -> typed rows, and the messages that cannot become rows -> quarantine entries (pure logic).

Column types come from the JSON values (logical types of resources/protocol.py); once a column exists in the
warehouse its type is fixed, and a message whose value does not fit is quarantined with the reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from resources.kafka import KafkaMessage

SYSTEM_COLUMNS = ("_partition", "_offset", "_timestamp", "_ingested_at")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL truncates longer identifiers, which would merge distinct JSON keys into one column."""


@dataclass(frozen=True)
class QuarantinedMessage:
    partition: int
    offset: int
    reason: str
    raw: str


@dataclass
class ParsedBatch:
    """Rows ready to land (JSON keys plus _partition/_offset/_timestamp) and the messages set aside."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[QuarantinedMessage] = field(default_factory=list)
    raw: dict[tuple[int, int], str] = field(default_factory=dict)
    """Message text by (partition, offset), kept for quarantining rows that fail to fit their columns."""

    @property
    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(name for name in row if name not in SYSTEM_COLUMNS))
        return list(seen)


def parse_messages(messages: Iterable[KafkaMessage]) -> ParsedBatch:
    """Decode every message as one JSON object; anything else is quarantined with its partition and offset."""
    batch = ParsedBatch()
    for message in messages:
        raw = _text(message.value)
        try:
            row = _decode_object(message.value)
        except ValueError as error:
            batch.quarantined.append(QuarantinedMessage(message.partition, message.offset, str(error), raw))
            continue
        row.update(_partition=message.partition, _offset=message.offset,
                   _timestamp=datetime.fromtimestamp(message.timestamp_ms / 1000, tz=UTC))
        batch.rows.append(row)
        batch.raw[(message.partition, message.offset)] = raw
    return batch


def _decode_object(value: bytes | None) -> dict[str, Any]:
    if value is None:
        raise ValueError("empty message (null value)")
    try:
        document = json.loads(value.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text: {error.reason} at byte {error.start}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    if not isinstance(document, dict):
        raise ValueError(f"expected a JSON object, got {type(document).__name__}")
    for key in document:
        if key in SYSTEM_COLUMNS:
            raise ValueError(f"key {key!r} is reserved for a system column")
        if not key or len(key.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
            raise ValueError(f"key {key[:80]!r} is empty or longer than {MAX_IDENTIFIER_BYTES} bytes")
    return document


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", errors="replace")


def infer_logical_type(values: Iterable[Any]) -> str:
    """The narrowest logical type that holds every non-null value; mixed scalars widen to string."""
    kinds = {_value_kind(value) for value in values if value is not None}
    if not kinds:
        return "string"
    if "json" in kinds:
        return "json"
    if len(kinds) == 1:
        return kinds.pop()
    if kinds == {"int64", "float64"}:
        return "float64"
    return "string"


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, (dict, list)):
        return "json"
    if isinstance(value, str) and parse_timestamp(value) is not None:
        return "timestamptz"
    return "string"


def parse_timestamp(text: str) -> datetime | None:
    """An ISO 8601 date-time (naive ones are taken as UTC); None for anything else, dates alone included."""
    if len(text) < 16 or text[10] not in "T ":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _to_int(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX:
        return value
    raise TypeError


def _to_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise TypeError


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError


def _to_timestamp(value: Any) -> datetime:
    moment = parse_timestamp(value) if isinstance(value, str) else None
    if moment is None:
        raise TypeError
    return moment


def _to_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    if "\x00" in text:
        raise ValueError("contains a NUL character, which PostgreSQL text cannot hold")
    return text


def _to_json(value: Any) -> str:
    text = json.dumps(value)
    if "\\u0000" in text:
        raise ValueError("contains a NUL character, which PostgreSQL jsonb cannot hold")
    return text


COERCERS: dict[str, Callable[[Any], Any]] = {
    "int64": _to_int, "float64": _to_float, "bool": _to_bool, "timestamptz": _to_timestamp,
    "string": _to_text, "json": _to_json,
}


def coerce_rows(batch: ParsedBatch, column_types: dict[str, str]
                ) -> tuple[list[tuple[Any, ...]], list[QuarantinedMessage]]:
    """Rows as tuples in ``column_types`` order; a row with a value that does not fit its column is quarantined."""
    columns = list(column_types)
    tuples, rejected = [], []
    for row in batch.rows:
        try:
            tuples.append(tuple(_coerce(row, name, column_types[name]) for name in columns))
        except ValueError as error:
            position = (row["_partition"], row["_offset"])
            rejected.append(QuarantinedMessage(*position, str(error), batch.raw.get(position, "")))
    return tuples, rejected


def _coerce(row: dict[str, Any], name: str, logical_type: str) -> Any:
    value = row.get(name)
    if value is None or name in SYSTEM_COLUMNS:
        return value
    try:
        return COERCERS[logical_type](value)
    except (TypeError, OverflowError):
        shown = json.dumps(value)[:80]
        raise ValueError(f"field {name!r}: value {shown} does not fit column type {logical_type}") from None
    except ValueError as error:
        raise ValueError(f"field {name!r}: {error}") from None
