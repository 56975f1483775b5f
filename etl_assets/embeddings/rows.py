"""Rows -> what to embed (pure logic): a row's document, its content hash, the point ids of its chunks, and which
rows changed since the index was written."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import string
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from resources.qdrant import collection_name
from resources.search import CHUNK_FIELD, PK_FIELD, TEXT_FIELD

__all__ = ["IndexedRow", "Changes", "collection_name", "document_text", "indexed_row", "plan_changes", "point_id"]

POINT_NAMESPACE = uuid.UUID("6b7c1f0e-2f55-4c1b-9a53-4d0a3e6f7a10")
TEXT_SEPARATOR = ". "
_FORMATTER = string.Formatter()
PAYLOAD_TEXT_CHARS = 2_000
"""Longer string values are clipped in the Qdrant payload (the full row stays in the warehouse)."""


@dataclass(frozen=True)
class IndexedRow:
    """One source row ready for the index: what identifies it, its document, and what it holds."""

    point_id: str
    """The id of its first chunk's point, which identifies the row."""
    pk: dict[str, Any]
    text: str
    payload: dict[str, Any]
    content_hash: str

    def point(self, collection: str, chunk: int, chunk_text: str) -> tuple[str, dict[str, Any]]:
        """The id and payload of the point of chunk ``chunk``."""
        return point_id(collection, self.pk, chunk), {**self.payload, PK_FIELD: self.pk, CHUNK_FIELD: chunk,
                                                      TEXT_FIELD: _clip(chunk_text)}


@dataclass
class Changes:
    to_embed: list[IndexedRow] = field(default_factory=list)
    unchanged: int = 0
    unchanged_points: set[str] = field(default_factory=set)
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
    """The default document of a row: its non-empty text column values in the configured order."""
    values = (row.get(column) for column in text_columns)
    return TEXT_SEPARATOR.join(str(value).strip() for value in values if value is not None and str(value).strip())


def document_text(row: dict[str, Any], text_columns: Sequence[str], template: str | None = None) -> str:
    """The text embedded for a row: ``template`` with its ``{column}`` placeholders filled (NULL as empty; a row
    whose placeholders are all empty has no text), or the joined text columns. Whitespace only is empty (the row
    gets no point). ``template`` is one that :func:`template_columns` accepted."""
    if not template:
        return row_text(row, text_columns)
    values = {name: "" if row.get(name) is None else str(row[name]).strip() for name in template_columns(template)}
    if not any(values.values()):
        return ""
    return _FORMATTER.vformat(template, (), values).strip()


def template_columns(template: str, columns: Sequence[str] | None = None) -> list[str]:
    """The column names a row template refers to, in order; a ValueError saying what is wrong when it is not a
    template of plain ``{column}`` placeholders (of ``columns``, when given)."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in _FORMATTER.parse(template)
                  if name is not None]
    except ValueError as error:
        raise ValueError(f"text_template {template!r}: {error} (write {{{{ and }}}} for literal braces)") from None
    if not fields:
        raise ValueError(f"text_template {template!r} has no {{column}} placeholder")
    names: list[str] = []
    for name, spec, conversion in fields:
        if not name or name.isdigit() or "." in name or "[" in name:
            raise ValueError(f"text_template {template!r}: placeholder {{{name}}} is not a plain column name "
                             f"(positions, attributes and indexes are not supported)")
        if spec or conversion:
            raise ValueError(f"text_template {template!r}: placeholder {{{name}}} has a format or conversion; "
                             f"write {{{name}}} (values are read as text)")
        if columns is not None and name not in columns:
            raise ValueError(f"text_template {template!r}: {{{name}}} is not a column of the table "
                             f"(columns: {sorted(columns)})")
        if name not in names:
            names.append(name)
    return names


def point_id(collection: str, pk: dict[str, Any], chunk: int) -> str:
    """Stable per collection, key and chunk: a rerun overwrites the same points."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{collection}/{json.dumps(pk, sort_keys=True, default=str)}/{chunk}"))


def indexed_row(collection: str, row: dict[str, Any], primary_key: Sequence[str], text_columns: Sequence[str],
                model_signature: str, template: str | None = None) -> IndexedRow:
    safe = {name: json_safe(value) for name, value in row.items()}
    text = document_text(row, text_columns, template)
    content = json.dumps({"text": text, "row": safe, "model": model_signature}, sort_keys=True, default=str)
    content_hash = hashlib.sha256(content.encode()).hexdigest()
    pk = {column: safe[column] for column in primary_key} if primary_key else {"_content": content_hash}
    payload = {name: _clip(value) for name, value in safe.items()}
    return IndexedRow(point_id(collection, pk, 0), pk, text, payload, content_hash)


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > PAYLOAD_TEXT_CHARS:
        return value[:PAYLOAD_TEXT_CHARS] + "…"
    return value


def points_by_hash(indexed_hashes: dict[str, str]) -> dict[str, set[str]]:
    """Content hash -> the indexed points written for it (all chunks of one row version share its hash)."""
    grouped: dict[str, set[str]] = {}
    for point, content_hash in indexed_hashes.items():
        grouped.setdefault(content_hash, set()).add(point)
    return grouped


def plan_changes(rows: list[IndexedRow], indexed_hashes: dict[str, str], deletions: bool = True,
                 by_hash: dict[str, set[str]] | None = None) -> Changes:
    """Rows whose hash is new or differs are embedded; the points of unchanged rows are kept; indexed points of no
    row any more are deleted (unless ``deletions`` is off: ``rows`` is then one batch of the table, and the caller
    finds deletions at the end)."""
    by_hash = points_by_hash(indexed_hashes) if by_hash is None else by_hash
    changes = Changes()
    for row in rows:
        if indexed_hashes.get(row.point_id) == row.content_hash:
            changes.unchanged += 1
            changes.unchanged_points.update(by_hash.get(row.content_hash, {row.point_id}))
        else:
            changes.to_embed.append(row)
    if deletions:
        kept = changes.unchanged_points | {row.point_id for row in changes.to_embed}
        changes.to_delete = sorted(set(indexed_hashes) - kept)
    return changes
