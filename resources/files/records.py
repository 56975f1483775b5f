"""Parsed records (JSON objects, XML elements as dicts) -> chunks for the caster, and their inferred columns."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from resources.files.cast import infer_value_type, values_to_array
from resources.files.common import Chunk
from resources.schema import Column

Located = tuple[str, dict[str, Any]]
"""A record and where it is ("products.json:record 5")."""
MAX_VALUE_CHARS = 64 << 20
"""The longest string value of a record; PostgreSQL text takes up to 1 GB, but a record must fit in memory."""
MAX_DEPTH = 64
"""The deepest nesting of a record's values: past it the record is quarantined (Python's JSON parser would hit its
recursion limit at about 1,000, and every later step would recurse too)."""
_LONE_SURROGATES = re.compile("[\ud800-\udfff]")


def value_problem(record: Any) -> str | None:
    """Why a parsed record cannot be stored (too deep, invalid Unicode, a NUL, a huge string); None when it can.

    Iterative, so that a deep record cannot exhaust the stack here either.
    """
    pending = [(record, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return problem
    return None


def text_problem(value: str) -> str | None:
    if len(value) > MAX_VALUE_CHARS:
        return f"a string of {len(value):,} characters is longer than the limit of {MAX_VALUE_CHARS:,}"
    found = _LONE_SURROGATES.search(value)
    if found:
        return f"holds a lone surrogate \\u{ord(found.group()):04x}, which is not valid Unicode"
    if "\x00" in value:
        return "holds a NUL character (\\u0000), which text columns cannot store"
    return None


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
