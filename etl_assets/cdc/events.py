"""Debezium change events read from Kafka, as plain data: what the apply step needs of each (position, operation,
key, after image) and the replica columns they imply.

Any producer's events in Debezium's JSON format are accepted, with or without the converter's schema envelope
(``{"schema": ..., "payload": ...}``): with one, the envelope's field types give the replica's column types and
decode the values (see :mod:`etl_assets.cdc.envelope`); without, types are implied by the values.
The position that makes applying idempotent is the source's ``lsn`` (the PostgreSQL connector sets it on every
event); events without one are positioned by their Kafka offset.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from etl_assets.cdc.envelope import EnvelopeError, decode_row, logical_types, row_columns, struct_columns
from etl_assets.stream.parse import infer_logical_type
from resources.kafka import KafkaMessage

ROW_OPERATIONS = {"c", "u", "d", "r"}
"""create, update, delete, read (snapshot); others (``t`` truncate, ``m`` message) are counted and skipped."""


class DebeziumEventError(ValueError):
    """A message that is not a Debezium change event; the message names topic, partition, offset and reason."""


@dataclass(frozen=True)
class ChangeEvent:
    position: int
    """The source LSN (or the Kafka offset when the event has none): a row never moves back to an older one."""
    sequence: int
    """Order among events of equal position (partition and offset)."""
    op: str
    key: dict[str, Any]
    after: dict[str, Any] | None
    types: Mapping[str, str] | None = None
    """Column -> logical type from the event's schema envelope (its values are decoded already); None without."""


@dataclass
class ParsedEvents:
    events: list[ChangeEvent]
    skipped: int
    """Messages that carry no row change (tombstones, truncates, logical messages)."""


def _decode(raw: bytes | None, what: str, where: str) -> tuple[Any, Any]:
    """The document and its envelope schema (None when it has no ``{"schema", "payload"}`` envelope)."""
    if raw is None:
        return None, None
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise DebeziumEventError(f"{where}: the {what} is not JSON ({error})") from None
    if isinstance(document, dict) and set(document) == {"schema", "payload"}:
        return document["payload"], document["schema"]
    return document, None


def parse_event(topic: str, message: KafkaMessage) -> ChangeEvent | None:
    """One message as a change event; None for a message without a row change."""
    where = f"topic {topic!r} partition {message.partition} offset {message.offset}"
    value, value_schema = _decode(message.value, "value", where)
    if value is None:
        return None
    if not isinstance(value, dict) or "op" not in value:
        raise DebeziumEventError(f"{where}: not a Debezium change event (no \"op\" field)")
    op = value["op"]
    if op not in ROW_OPERATIONS:
        return None
    after, before = value.get("after"), value.get("before")
    if op != "d" and not isinstance(after, dict):
        raise DebeziumEventError(f"{where}: a {op!r} event needs an \"after\" object")
    key, key_schema = _decode(message.key, "key", where)
    if not isinstance(key, dict) or not key:
        raise DebeziumEventError(f"{where}: the message key must be the row's primary key as a JSON object, e.g. "
                                 f"{{\"id\": 1}}; got {message.key!r:.80}")
    missing = [name for name in key if op != "d" and name not in after]
    if missing:
        raise DebeziumEventError(f"{where}: key column(s) {missing} are missing from the after image")
    source = value.get("source") or {}
    lsn = source.get("lsn")
    if lsn is not None and not isinstance(lsn, int):
        raise DebeziumEventError(f"{where}: source.lsn must be an integer, got {lsn!r:.40}")
    if op == "d" and before is not None and not isinstance(before, dict):
        raise DebeziumEventError(f"{where}: \"before\" must be an object or null")
    types = None
    if value_schema is not None:
        try:
            columns = row_columns(value_schema)
            key_fields = struct_columns(key_schema, "key") if key_schema is not None else columns
            key = decode_row(key, key_fields)
            after = decode_row(after, columns) if op != "d" else None
        except EnvelopeError as error:
            raise DebeziumEventError(f"{where}: {error}") from None
        types = logical_types(columns)
    return ChangeEvent(position=message.offset if lsn is None else lsn,
                       sequence=(message.partition << 48) + message.offset, op=op, key=key,
                       after=after if op != "d" else None, types=types)


def parse_events(topic: str, messages: Iterable[KafkaMessage]) -> ParsedEvents:
    events, skipped = [], 0
    for message in messages:
        event = parse_event(topic, message)
        if event is None:
            skipped += 1
        else:
            events.append(event)
    return ParsedEvents(events, skipped)


def implied_columns(events: Sequence[ChangeEvent]) -> dict[str, str]:
    """Column -> logical type of every column the events' after images (or keys, for deletes) carry, in first-seen
    order; types come from the values (all-null columns are strings)."""
    values: dict[str, list[Any]] = {}
    for event in events:
        for name, value in {**event.key, **(event.after or {})}.items():
            values.setdefault(name, []).append(value)
    return {name: infer_logical_type(seen) for name, seen in values.items()}


def declared_columns(events: Sequence[ChangeEvent]) -> dict[str, str]:
    """Column -> logical type the events' schema envelopes declare (the latest event's type wins)."""
    declared: dict[str, str] = {}
    for event in events:
        if event.types is not None:
            declared.update(event.types)
    return declared


def replica_columns(events: Sequence[ChangeEvent], known: Mapping[str, str] | None) -> dict[str, str]:
    """The replica's columns: the source catalog's type for each column it knows (``known``), else the type the
    events' schema envelopes declare, else the type the values imply (a column added after discovery, or events
    produced elsewhere without a schema)."""
    declared = declared_columns(events)
    columns = {**declared, **{name: implied for name, implied in implied_columns(events).items()
                              if name not in declared}}
    return {name: (known or {}).get(name, logical) for name, logical in columns.items()}


def replica_values(event: ChangeEvent, types: Mapping[str, str]) -> dict[str, Any] | None:
    """The event's after image as the replica reads it (an envelope's values are decoded when parsed)."""
    return event.after if event.types is not None else as_replica_values(event.after, types)


def as_replica_values(after: dict[str, Any] | None, types: Mapping[str, str]) -> dict[str, Any] | None:
    """The after image in the replica's types: Debezium sends json as its text and binary as hex (the capture's
    ``binary.handling.mode``); times are ISO strings (``time.precision.mode: isostring``) PostgreSQL reads as is."""
    if after is None:
        return None
    converted = dict(after)
    for name, value in after.items():
        if not isinstance(value, str):
            continue
        if types.get(name) == "json":
            try:
                converted[name] = json.loads(value)
            except ValueError:
                pass  # a JSON string scalar sent as such
        elif types.get(name) == "binary":
            converted[name] = "\\x" + value
    return converted


def key_columns(events: Sequence[ChangeEvent]) -> list[str]:
    """The key columns (those of the first event; Debezium keys every event of a table alike)."""
    return list(events[0].key) if events else []
