"""Rows -> what to embed (pure logic): the text of a row, its content hash, its point id, and which rows changed."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

POINT_NAMESPACE = uuid.UUID("6b7c1f0e-2f55-4c1b-9a53-4d0a3e6f7a10")
TEXT_SEPARATOR = ". "


def collection_name(source: str, table: str) -> str:
    return f"{source}__{table}"


@dataclass(frozen=True)
class IndexedRow:
    """One source row ready for the index: where it goes (point id), what identifies it, and what it holds."""

    point_id: str
    pk: dict[str, Any]
    text: str
    payload: dict[str, Any]
    content_hash: str


@dataclass
class Changes:
    to_embed: list[IndexedRow] = field(default_factory=list)
    unchanged: int = 0
    to_delete: list[str] = field(default_factory=list)


def json_safe(value: Any) -> Any:
    """A value Qdrant payloads and JSON can hold (decimals as floats, times as ISO text, bytes as base64)."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.time, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def row_text(row: dict[str, Any], text_columns: Sequence[str]) -> str:
    """The text embedded for a row: its non-empty text column values in the configured order."""
    values = (row.get(column) for column in text_columns)
    return TEXT_SEPARATOR.join(str(value).strip() for value in values if value is not None and str(value).strip())


def indexed_row(collection: str, row: dict[str, Any], primary_key: Sequence[str], text_columns: Sequence[str],
                model_signature: str) -> IndexedRow:
    payload = {name: json_safe(value) for name, value in row.items()}
    text = row_text(row, text_columns)
    content = json.dumps({"text": text, "payload": payload, "model": model_signature}, sort_keys=True, default=str)
    content_hash = hashlib.sha256(content.encode()).hexdigest()
    pk = {column: payload[column] for column in primary_key} if primary_key else {"_content": content_hash}
    point_id = str(uuid.uuid5(POINT_NAMESPACE, f"{collection}/{json.dumps(pk, sort_keys=True, default=str)}"))
    return IndexedRow(point_id, pk, text, payload, content_hash)


def plan_changes(rows: list[IndexedRow], indexed_hashes: dict[str, str], deletions: bool = True) -> Changes:
    """Rows whose hash is new or differs are embedded; indexed points with no row any more are deleted (unless
    ``deletions`` is off: ``rows`` is then one batch of the table, and the caller finds deletions at the end)."""
    changes = Changes()
    current = set()
    for row in rows:
        current.add(row.point_id)
        if indexed_hashes.get(row.point_id) == row.content_hash:
            changes.unchanged += 1
        else:
            changes.to_embed.append(row)
    if deletions:
        changes.to_delete = sorted(set(indexed_hashes) - current)
    return changes


def duplicate_keys(rows: list[IndexedRow]) -> list[dict[str, Any]]:
    """Primary-key values shared by more than one row (each would overwrite the other's point)."""
    seen: dict[str, int] = {}
    for row in rows:
        seen[row.point_id] = seen.get(row.point_id, 0) + 1
    return [row.pk for row in rows if seen.pop(row.point_id, 0) > 1]
