"""Kafka JSON messages -> typed rows, and the messages that cannot become rows -> quarantine entries (pure logic).

Column types come from the JSON values (logical types of resources/schema); once a column exists in the
warehouse its type is fixed, and a message whose value does not fit is quarantined with the reason.

When the columns' types are known, runs of messages are decoded by Arrow's JSON reader in one call (C++, without
the GIL); a run it rejects is halved until the messages at fault go through the per-message path, which finds
their reason. Arrow accepts exactly the JSON that ``json.loads`` accepts for these types (checked in the tests).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from operator import itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from resources.kafka import KafkaMessage
from resources.schema import to_arrow

pa.array([], pa.int64())
"""pyarrow loads its pandas support (pandas itself and a version check) on its first ``pa.array``, to recognise pandas
objects: done with this module, that cost (0.2-0.4 s) is paid when the code location loads, not by a run's first
micro-batch on the landing thread, where it holds the GIL the reading thread needs."""

SYSTEM_COLUMNS = ("_partition", "_offset", "_timestamp", "_ingested_at")
MESSAGE_FIELDS = tuple(map(itemgetter, (0, 1, 2, 4)))
"""A message's partition, offset, timestamp and value: one C-level pass each over a batch (``zip(*messages)`` is ten
times slower on 20,000 messages, and holds the GIL the reading thread needs)."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL truncates longer identifiers, which would merge distinct JSON keys into one column."""
FIRST_RUN = 2048
"""The first messages of a batch, decoded by Arrow in one call, or else one by one, the types of their new keys
guessed from them."""
ARROW_RUN = 65536
"""Messages decoded by one Arrow call after the first run (few calls: each hands the GIL back and forth); a
rejected run is halved down to ``MESSAGE_RUN``, then parsed one by one."""
MESSAGE_RUN = 64
ARROW_TYPES = ("int64", "float64", "bool", "string", "timestamptz")
"""Stream types Arrow reads as ``json.loads`` + the coercers would. Other columns (json) are read as Arrow's null
type: only messages where they are null or absent are decoded by Arrow."""


@dataclass(frozen=True)
class QuarantinedMessage:
    partition: int
    offset: int
    reason: str
    raw: str


@dataclass
class ParsedBatch:
    """Rows ready to land (the JSON objects), where each came from, and the messages set aside.

    The system columns are kept as parallel lists rather than in every row, so that they become Arrow arrays in one
    call each."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    timestamps_ms: list[int] = field(default_factory=list)
    quarantined: list[QuarantinedMessage] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    """The message bytes of each row, kept for quarantining rows that fail to fit their columns."""
    arrow_runs: list[tuple[int, pa.RecordBatch]] = field(default_factory=list)
    """Runs of messages decoded by Arrow (typed, with their system columns), each with the number of ``rows``
    before it: the batch's rows in message order are rows and runs interleaved so."""
    guessed: dict[str, str] = field(default_factory=dict)
    """Types of new keys guessed from the first rows, with which Arrow read the later runs."""

    @cached_property
    def columns(self) -> list[str]:
        """The JSON keys of the rows, in order of first appearance, then the columns with values in the Arrow runs
        (computed once: rows are final by then)."""
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        for _, run in self.arrow_runs:
            seen.update(dict.fromkeys(name for name, column in zip(run.schema.names, run.columns)
                                      if name not in SYSTEM_COLUMNS and column.null_count < len(column)))
        return list(seen)

    @property
    def row_count(self) -> int:
        return len(self.rows) + sum(run.num_rows for _, run in self.arrow_runs)

    def system_column(self, name: str) -> pa.Array:
        return _system_column(name, self.partitions, self.offsets, self.timestamps_ms)


def _system_column(name: str, partitions: Sequence[int], offsets: Sequence[int], timestamps_ms: Sequence[int]
                   ) -> pa.Array:
    if name == "_timestamp":
        milliseconds = pa.array(timestamps_ms, pa.int64())
        return milliseconds.cast(pa.timestamp("ms", "UTC")).cast(to_arrow("timestamptz"))
    return pa.array(partitions if name == "_partition" else offsets, pa.int64())


def parse_messages(messages: Sequence[KafkaMessage], column_types: Mapping[str, str] | None = None,
                   guess_new_columns: bool = True) -> ParsedBatch:
    """Decode every message as one JSON object; anything else is quarantined with its partition and offset.

    ``column_types``: the stream types of the table's columns; runs of messages whose keys are all such columns
    and whose values all fit them are decoded by Arrow (the others, and every message without it, one by one).
    When the first run is not all of known columns, it goes one by one and, with ``guess_new_columns``, the types
    of its new keys are guessed from it (:attr:`ParsedBatch.guessed`) so that Arrow reads them in the later runs;
    the caller must parse again without guessing if a guess differs from the type inferred over ``rows``."""
    batch = ParsedBatch()
    good_keys: set[str] = set()
    if column_types is None:
        _parse_each(messages, batch, good_keys)
        return batch
    known = _arrow_columns(column_types)
    first = _read_with_arrow(messages[:FIRST_RUN], _arrow_schema(known), known) if known else None
    if first is not None:
        batch.arrow_runs.append((0, first))
    else:
        _parse_each(messages[:FIRST_RUN], batch, good_keys)
        if guess_new_columns:
            batch.guessed = _guess_types(batch.rows, column_types)
            known.update(_arrow_columns(batch.guessed))
    if not known:
        _parse_each(messages[FIRST_RUN:], batch, good_keys)
        return batch
    schema = _arrow_schema(known)
    for start in range(FIRST_RUN, len(messages), ARROW_RUN):
        _parse_run(messages[start:start + ARROW_RUN], schema, known, batch, good_keys)
    return batch


def _arrow_columns(column_types: Mapping[str, str]) -> dict[str, str]:
    return {name: logical if logical in ARROW_TYPES else "null" for name, logical in column_types.items()
            if name not in SYSTEM_COLUMNS}


def _arrow_schema(known: Mapping[str, str]) -> pa.Schema:
    """Timestamps are read as text and converted after (as the per-message path would)."""
    return pa.schema([pa.field(name, READ_AS.get(logical) or to_arrow(logical)) for name, logical in known.items()])


READ_AS = {"timestamptz": pa.string(), "null": pa.null()}


def _guess_types(rows: list[dict[str, Any]], column_types: Mapping[str, str]) -> dict[str, str]:
    """The inferred types of the keys of ``rows`` that are not columns yet ("null" for keys with only nulls, which
    Arrow then reads only where they stay null)."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    guessed = {}
    for name in keys:
        if name in column_types:
            continue
        values = [row.get(name) for row in rows]
        guessed[name] = infer_logical_type(values) if any(value is not None for value in values) else "null"
    return guessed


def _parse_run(messages: Sequence[KafkaMessage], schema: pa.Schema, known: Mapping[str, str], batch: ParsedBatch,
               good_keys: set[str]) -> None:
    run = _read_with_arrow(messages, schema, known)
    if run is not None:
        batch.arrow_runs.append((len(batch.rows), run))
    elif len(messages) <= MESSAGE_RUN:
        _parse_each(messages, batch, good_keys)
    else:
        half = len(messages) // 2
        _parse_run(messages[:half], schema, known, batch, good_keys)
        _parse_run(messages[half:], schema, known, batch, good_keys)


def _read_with_arrow(messages: Sequence[KafkaMessage], schema: pa.Schema, known: Mapping[str, str]
                     ) -> pa.RecordBatch | None:
    """The messages as one typed record batch with system columns, or None when any of them needs the
    per-message path: not an object on a line of its own, an unknown key, or a value that does not fit."""
    if not messages:
        return None
    partitions, offsets, timestamps_ms, values = (list(map(field, messages)) for field in MESSAGE_FIELDS)
    if None in values:
        return None
    data = b"\n".join(values)
    count = len(values)
    if data[:1] != b"{" or data.count(b"\n") != count - 1 or data.count(b"\n{") != count - 1:
        return None  # each value must be exactly one line starting an object, so that rows match messages
    try:
        table = pa_json.read_json(pa.py_buffer(data), read_options=pa_json.ReadOptions(
            use_threads=False, block_size=len(data) + 1), parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="error", newlines_in_values=False))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.num_rows != count:
        return None
    arrays = {}
    for name, logical in known.items():
        array = _fitting(table.column(name).combine_chunks(), logical)
        if array is None:
            return None
        arrays[name] = array
    for name in SYSTEM_COLUMNS[:3]:
        arrays[name] = _system_column(name, partitions, offsets, timestamps_ms)
    return pa.RecordBatch.from_arrays(list(arrays.values()), names=list(arrays))


def _fitting(array: pa.Array, logical: str) -> pa.Array | None:
    """The array as its stream type, or None when a value would be rejected by the per-message coercers (or by
    ``bytes.decode``: Arrow's JSON reader does not check that strings are UTF-8, a full validation does)."""
    if logical == "null":
        return array
    if pa.types.is_string(array.type):
        try:
            array.validate(full=True)
        except pa.ArrowInvalid:
            return None
    if logical == "timestamptz":
        return _convert_timestamps(array, to_arrow(logical))
    if logical == "float64" and pc.any(pc.invert(pc.is_finite(array))).as_py():
        return None
    if logical == "string" and pc.any(pc.match_substring(array, "\x00")).as_py():
        return None
    return array


def _parse_each(messages: Iterable[KafkaMessage], batch: ParsedBatch, good_keys: set[str]) -> None:
    loads = json.loads
    for message in messages:
        value = message.value
        try:
            row = loads(value.decode("utf-8"))
        except (ValueError, AttributeError):
            row = None
        if type(row) is not dict or not good_keys.issuperset(row):
            try:
                row = _decode_object(value)
            except ValueError as error:
                batch.quarantined.append(QuarantinedMessage(message.partition, message.offset, str(error),
                                                            _text(value)))
                continue
            good_keys.update(row)
        batch.rows.append(row)
        batch.partitions.append(message.partition)
        batch.offsets.append(message.offset)
        batch.timestamps_ms.append(message.timestamp_ms)
        batch.values.append(value)


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
    present = [value for value in values if value is not None]
    kinds = {_value_kind(value) for value in {type(v): v for v in present if type(v) is not str}.values()}
    texts = [value for value in present if type(value) is str]
    if texts:
        kinds.add("timestamptz" if all(parse_timestamp(text) is not None for text in texts) else "string")
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
    return _unicode(text, "is not Unicode text")


def _to_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if "\\u0000" in text:
        raise ValueError("contains a NUL character, which PostgreSQL jsonb cannot hold")
    return _unicode(text, "PostgreSQL jsonb cannot hold")


def _unicode(text: str, why: str) -> str:
    """``text`` when it encodes to UTF-8; a lone surrogate escape decodes from JSON but is no Unicode character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"contains a lone UTF-16 surrogate (\\ud800-\\udfff), which {why}") from None
    return text


COERCERS: dict[str, Callable[[Any], Any]] = {
    "int64": _to_int, "float64": _to_float, "bool": _to_bool, "timestamptz": _to_timestamp,
    "string": _to_text, "json": _to_json,
}


def coerce_to_arrow(batch: ParsedBatch, column_types: dict[str, str]
                    ) -> tuple[pa.RecordBatch, list[QuarantinedMessage]]:
    """The rows as one Arrow record batch with ``column_types`` (logical types) in that order; a row with a value
    that does not fit its column is left out and quarantined with the first such value's reason."""
    reasons: dict[int, str] = {}
    coerced = {name: batch.system_column(name) if name in SYSTEM_COLUMNS
               else coerce_column(name, logical_type, [row.get(name) for row in batch.rows], reasons)
               for name, logical_type in column_types.items()}
    record_batch = pa.RecordBatch.from_arrays(list(coerced.values()), names=list(coerced))
    keep = pa.array([index not in reasons for index in range(len(batch.rows))]) if reasons else None
    if batch.arrow_runs:
        record_batch = _interleave(record_batch, keep, batch.arrow_runs, column_types)
    elif keep is not None:
        record_batch = record_batch.filter(keep)
    return record_batch, [_rejected(batch, index, reason) for index, reason in sorted(reasons.items())]


def _run_column(run: pa.RecordBatch, name: str, logical: str) -> pa.Array:
    if name in run.schema.names and not pa.types.is_null(run.schema.field(name).type):
        return run.column(name)
    return pa.nulls(run.num_rows, to_arrow(logical))


def _interleave(rows: pa.RecordBatch, keep: pa.Array | None, runs: list[tuple[int, pa.RecordBatch]],
                column_types: dict[str, str]) -> pa.RecordBatch:
    """The rows decoded one by one (those kept) and the Arrow runs, in message order, with ``column_types``."""
    pieces, done = [], 0
    for position, run in [*runs, (rows.num_rows, None)]:
        piece = rows.slice(done, position - done)
        pieces.append(piece if keep is None else piece.filter(keep.slice(done, position - done)))
        if run is not None:
            pieces.append(pa.RecordBatch.from_arrays(
                [_run_column(run, name, logical) for name, logical in column_types.items()], schema=rows.schema))
        done = position
    return pa.concat_batches(pieces)


def _rejected(batch: ParsedBatch, index: int, reason: str) -> QuarantinedMessage:
    return QuarantinedMessage(batch.partitions[index], batch.offsets[index], reason, _text(batch.values[index]))


def coerce_column(name: str, logical_type: str, values: list[Any], reasons: dict[int, str]) -> pa.Array:
    """One column as an Arrow array of ``logical_type``. Values that do not fit become null and their row index
    gets a reason in ``reasons`` (unless an earlier column already gave it one).

    Columns whose Python types already match convert in one Arrow call; anything else goes value by value."""
    arrow_type = to_arrow(logical_type)
    if name in SYSTEM_COLUMNS:
        return pa.array(values, arrow_type)
    fast = _convert_whole_column(logical_type, values, arrow_type)
    if fast is not None:
        return fast
    converted = []
    for index, value in enumerate(values):
        try:
            converted.append(None if value is None else COERCERS[logical_type](value))
        except (TypeError, OverflowError, ValueError) as error:
            converted.append(None)
            reasons.setdefault(index, _reason(name, logical_type, value, error))
    return pa.array(converted, arrow_type)


FAST_PYTHON_TYPES: dict[str, set[type]] = {
    "int64": {int, type(None)}, "float64": {int, float, type(None)}, "bool": {bool, type(None)},
    "string": {str, type(None)}, "timestamptz": {str, type(None)},
}
ISO_ZONED = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
ISO_NAIVE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$"
"""The ISO 8601 shapes that Arrow's cast and :func:`parse_timestamp` read alike; other shapes go value by value."""


def _convert_whole_column(logical_type: str, values: list[Any], arrow_type: pa.DataType) -> pa.Array | None:
    """The column converted by Arrow in one call when every value is of a type that needs no checks beyond
    Arrow's own; None when any value needs the per-value path (which also finds the reason)."""
    allowed = FAST_PYTHON_TYPES.get(logical_type)
    if allowed is None or not set(map(type, values)) <= allowed:
        return None
    try:
        if logical_type == "timestamptz":
            return _convert_timestamps(pa.array(values, pa.string()), arrow_type)
        array = pa.array(values, arrow_type)
    except (pa.ArrowInvalid, OverflowError, UnicodeEncodeError):
        return None
    if logical_type == "float64" and pc.any(pc.invert(pc.is_finite(array))).as_py():
        return None
    if logical_type == "string" and pc.any(pc.match_substring(array, "\x00")).as_py():
        return None
    return array


def _convert_timestamps(texts: pa.Array, arrow_type: pa.DataType) -> pa.Array | None:
    """ISO 8601 strings all with a zone, or all without one (taken as UTC), cast by Arrow in one call."""
    for pattern, parsed_type in ((ISO_ZONED, arrow_type), (ISO_NAIVE, pa.timestamp(arrow_type.unit))):
        if pc.all(pc.match_substring_regex(texts, pattern)).as_py() is not False:
            try:
                return pc.cast(texts, parsed_type).cast(arrow_type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
    return None


def _reason(name: str, logical_type: str, value: Any, error: Exception) -> str:
    if isinstance(error, ValueError):
        return f"field {name!r}: {error}"
    return f"field {name!r}: value {json.dumps(value)[:80]} does not fit column type {logical_type}"
