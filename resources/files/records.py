"""Parsed records (JSON objects, XML elements as dicts) -> chunks for the caster, and their inferred columns."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from resources.files.cast import infer_value_type, values_to_array
from resources.files.common import Chunk
from resources.schema import Column

Located = tuple[str, dict[str, Any]]
"""A record and where it is ("products.json:record 5")."""


def to_chunk(records: list[Located], columns: list[Column]) -> Chunk:
    arrays = {
        column.name: values_to_array([record.get(column.name) for _, record in records], column.logical_type)
        for column in columns
    }
    return Chunk(
        num_rows=len(records), columns=arrays, locate=lambda index: records[index][0],
        raw=lambda index: json.dumps(records[index][1], ensure_ascii=False, default=str),
    )


def chunked(records: Iterable[Located], columns: list[Column], size: int) -> Iterator[Chunk]:
    batch: list[Located] = []
    for located in records:
        batch.append(located)
        if len(batch) >= size:
            yield to_chunk(batch, columns)
            batch = []
    if batch:
        yield to_chunk(batch, columns)


def infer_columns(records: list[dict[str, Any]], source_type: str) -> list[Column]:
    """Columns in order of first appearance, each typed from every sampled value."""
    values: dict[str, list[Any]] = {}
    for record in records:
        for key in record:
            values.setdefault(key, [])
    for record in records:
        for key, column in values.items():
            column.append(record.get(key))
    return [Column(name, infer_value_type(column), source_type=source_type) for name, column in values.items()]
