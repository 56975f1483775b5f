"""Type inference from sampled values, and casting parsed rows to a table's Arrow schema.

Inference and casting share one set of rules (``cast_text``), so a type inferred from the sample is exactly a type the
reader can produce. Casting works on whole arrays in Arrow compute; only a column that fails is bisected to find the
rows that do not fit, and those rows (not the batch) are quarantined.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from resources.files.common import Chunk, Quarantine
from resources.schema import to_arrow

CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError)
TEXT_TYPES = ("string", "json", "uuid")
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_LEADING_ZERO = r"^[+-]?0[0-9]"


def cast_text(values: pa.Array, logical: str) -> pa.Array:
    """Strings -> ``logical``'s Arrow type; raises an Arrow error when any value does not parse.

    Arrow's own parsers run first on the values as they are; only when that fails are the values trimmed of
    surrounding whitespace and lower-cased (booleans) and tried again.
    """
    if logical in TEXT_TYPES:
        return values
    if logical == "binary":
        return pc.cast(values, pa.binary())
    if logical == "time":
        trimmed = pc.utf8_trim_whitespace(values)
        as_timestamp = pc.cast(pc.binary_join_element_wise("1970-01-01T", trimmed, ""), pa.timestamp("us"))
        return pc.cast(as_timestamp, pa.time64("us"))
    target = to_arrow(logical)
    try:
        return pc.cast(values, target)
    except CAST_ERRORS:
        trimmed = pc.utf8_trim_whitespace(values)
        return pc.cast(pc.utf8_lower(trimmed) if logical == "bool" else trimmed, target)


def cast_any(values: pa.Array, logical: str) -> pa.Array:
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return cast_text(values, logical)
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), to_arrow(logical))
    return pc.cast(values, to_arrow(logical))


def _castable(values: pa.Array, logical: str) -> bool:
    """Whether every value casts; a small head is tried first because a failing Arrow cast costs O(n)."""
    try:
        cast_text(values.slice(0, 64), logical)
        cast_text(values, logical)
    except CAST_ERRORS:
        return False
    return True


def infer_text_type(values: pa.Array) -> str:
    """The narrowest logical type every non-empty string of ``values`` parses as."""
    present = pc.utf8_trim_whitespace(values.drop_null())
    present = present.filter(pc.not_equal(present, ""))
    if len(present) == 0:
        return "string"
    if pc.all(pc.is_in(pc.utf8_lower(present), pa.array(["true", "false"]))).as_py():
        return "bool"
    if _castable(present, "int64"):
        return "string" if pc.any(pc.match_substring_regex(present, _LEADING_ZERO)).as_py() else "int64"
    if pc.all(pc.match_substring_regex(present, _UUID)).as_py():
        return "uuid"
    for logical in ("float64", "date", "timestamptz", "timestamp"):
        if _castable(present, logical):
            return logical
    return "string"


def infer_value_type(values: list[Any]) -> str:
    """The logical type of one column of parsed JSON (or XML) values."""
    kinds = {type(value) for value in values if value is not None}
    if not kinds:
        return "string"
    if kinds & {dict, list}:
        return "json"
    if kinds == {bool}:
        return "bool"
    if kinds == {int}:
        return "int64" if all(-(2**63) <= value < 2**63 for value in values if value is not None) else "string"
    if kinds <= {int, float}:
        return "float64"
    if kinds == {str}:
        return infer_text_type(pa.array(values, pa.string()))
    return "string"


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def values_to_array(values: list[Any], logical: str) -> pa.Array:
    """Parsed JSON/XML values of one column as an Arrow array ready for ``cast_any``.

    JSON columns carry JSON text; text columns take nested values as JSON text; other columns keep JSON's own
    number/bool types when the column is uniform and fall back to text (parsed by ``cast_text``) when mixed.
    """
    if logical == "json":
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values], pa.string())
    if logical not in TEXT_TYPES and not any(isinstance(v, (dict, list)) for v in values):
        try:
            return pa.array(values)
        except CAST_ERRORS:
            pass
    return pa.array([None if v is None else as_text(v) for v in values], pa.string())


def _bad_rows(values: pa.Array, cast: Callable[[pa.Array], pa.Array], offset: int = 0) -> list[int]:
    """Indexes of the values that fail ``cast``, found by bisection (O(bad * log n) casts)."""
    try:
        cast(values)
    except CAST_ERRORS:
        if len(values) == 1:
            return [offset]
        middle = len(values) // 2
        return _bad_rows(values.slice(0, middle), cast, offset) + _bad_rows(values.slice(middle), cast, offset + middle)
    return []


def _failure_reason(column: str, value: Any, logical: str, values: pa.Array) -> str:
    detail = ""
    try:
        cast_any(values, logical)
    except CAST_ERRORS as error:
        message = str(error)
        if "zone offset" in message:
            detail = " (expected a zone offset)" if "expected a zone offset" in message else " (unexpected zone offset)"
    return f"column {column!r}: {value!r} is not a valid {logical}{detail}"


class Conformer:
    """Casts chunks to one table's schema, quarantining the rows that do not fit and applying ``since``."""

    def __init__(self, schema: pa.Schema, logical_types: dict[str, str], quarantine: Quarantine,
                 cursor: str | None = None, since: Any = None):
        self.schema = schema
        self.logical_types = logical_types
        self.quarantine = quarantine
        self.cursor = cursor
        self.since = None if since is None or cursor is None else since_scalar(since, logical_types[cursor])

    def batch(self, chunk: Chunk) -> pa.RecordBatch | None:
        arrays, bad = self._cast(chunk)
        if bad:
            for index in sorted(bad):
                self.quarantine.add(chunk.locate(index), bad[index], chunk.raw(index))
            keep = pa.array([index not in bad for index in range(chunk.num_rows)])
            arrays = [self._refit(array, chunk, field, keep) for array, field in zip(arrays, self.schema)]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        if self.since is not None:
            batch = batch.filter(pc.greater_equal(batch.column(self.cursor), self.since))
        return batch if batch.num_rows else None

    def _refit(self, array: pa.Array | None, chunk: Chunk, field: pa.Field, keep: pa.Array) -> pa.Array:
        """A column without the bad rows: filtered if it cast, cast again (now cleanly) if it did not."""
        if array is not None:
            return array.filter(keep)
        return cast_any(chunk.columns[field.name].filter(keep), self.logical_types[field.name])

    def _cast(self, chunk: Chunk) -> tuple[list[pa.Array | None], dict[int, str]]:
        """Every column cast (None where some value failed) and the bad rows with their reasons."""
        arrays: list[pa.Array | None] = []
        bad = dict(chunk.bad)
        for field in self.schema:
            logical = self.logical_types[field.name]
            source = chunk.columns.get(field.name)
            if source is None:
                if not field.nullable:
                    raise ValueError(f"{chunk.locate(0).split(':')[0]}: required column {field.name!r} is missing")
                arrays.append(pa.nulls(chunk.num_rows, field.type))
                continue
            for index in _nul_rows(source):
                bad.setdefault(index, f"column {field.name!r} holds a NUL character (0x00), which text columns "
                                      f"cannot store")
            try:
                cast = cast_any(source, logical)
            except CAST_ERRORS:
                arrays.append(None)
                for index in _bad_rows(source, lambda values: cast_any(values, logical)):
                    value = source[index].as_py()
                    bad.setdefault(index, _failure_reason(field.name, value, logical, source.slice(index, 1)))
                continue
            arrays.append(cast)
            if not field.nullable and cast.null_count:
                for index in pc.indices_nonzero(pc.is_null(cast)).to_pylist():
                    bad.setdefault(index, f"column {field.name!r} is required but empty")
        return arrays, bad


def _nul_rows(values: pa.Array) -> list[int]:
    """Rows whose text holds a NUL byte; a memchr over the value bytes first, so clean columns cost almost nothing."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return []
    data = values.buffers()[2]
    if data is None or data.to_pybytes().find(b"\x00") < 0:
        return []
    found = pc.match_substring(values, "\x00").fill_null(False)
    return pc.indices_nonzero(found).to_pylist()


def since_scalar(since: Any, logical: str) -> pa.Scalar:
    """``since`` (a value from a watermark: native, or its string form) as a scalar of the cursor's Arrow type."""
    if isinstance(since, str):
        return cast_text(pa.array([since]), logical)[0]
    if isinstance(since, Decimal) and logical.startswith("int"):
        since = math.ceil(since)
    elif isinstance(since, Decimal) and logical.startswith("float"):
        since = float(since)
    if logical == "timestamptz" and isinstance(since, dt.datetime) and since.tzinfo is None:
        since = since.replace(tzinfo=dt.timezone.utc)
    if logical == "date" and isinstance(since, dt.datetime):
        since = since.date()
    return pa.scalar(since, type=to_arrow(logical))
