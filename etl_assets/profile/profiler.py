"""Profile an Arrow table in-process with Arrow compute kernels: pure data in, ``TableProfile`` out.

Counts, distincts, min/max/mean/std, quantiles, lengths and top values are exact over the whole table; semantic
types and patterns are judged on a seeded random sample. The same
table-level logic (candidate keys, time columns, descriptions) serves the pushdown profiler in ``pushdown.py``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import math
import operator
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl_assets.profile.model import COORDINATES, ColumnProfile, GrowthFacts, TableProfile
from etl_assets.profile.semantic import (
    ColumnShape,
    base_logical,
    infer_semantic_type,
    value_patterns,
)
from resources.schema import from_arrow

SAMPLE_ROWS = 10_000
TOP_VALUES = 16
"""Most frequent values kept per column: every value of a set of up to 16 (a status, a property type, an airline)
is known, which the type advice needs to call the set closed."""
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MAX_SHOWN_CHARS = 80
MAX_KEY_PAIRS = 6
NUMERIC = ("int16", "int32", "int64", "float32", "float64", "decimal")
TEXTUAL = ("string", "json", "uuid")
TEMPORAL = ("date", "time", "timestamp", "timestamptz")
HISTOGRAM_TYPES = (*NUMERIC, "date", "timestamp", "timestamptz")
HISTOGRAM_BINS = 20

DistinctCounter = Callable[[Sequence[str]], int]
"""Exact number of distinct combinations of the given columns over rows where none of them is NULL."""
MAX_EQUIVALENCE_CHECKS = 20
"""Distinct counts of column pairs :func:`equivalent_columns` may run per table (only pairs of equal distinct counts
are candidates, so a table rarely has more)..."""
EQUIVALENCE_MAX_DISTINCT = 10_000
"""... among columns with at most this many values: the codes and names a sort key or a GROUP BY would take."""


def quantile_label(q: float) -> str:
    return f"p{round(q * 100):02d}"


def shown(value: Any) -> Any:
    """A JSON-friendly, bounded form of a value for min/max/top values."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        value = value.hex()
    text = str(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 1] + "…"


def profile_arrow(
    data: pa.Table,
    source: str,
    table: str,
    *,
    primary_key: Sequence[str] = (),
    logical_types: dict[str, str] | None = None,
    sample_rows: int = SAMPLE_ROWS,
    growth: GrowthFacts | None = None,
) -> TableProfile:
    """The profile of ``data``; ``logical_types`` overrides the types read from the Arrow schema (e.g. json)."""
    logical_types = logical_types or {}
    sample = sample_table(data, sample_rows)
    columns = _in_threads(
        lambda i: arrow_column_profile(data.schema[i].name, data.column(i),
                                       logical_types.get(data.schema[i].name) or from_arrow(data.schema[i].type)),
        range(data.num_columns),
    )
    count = functools.partial(_arrow_distinct, data)
    keys = candidate_keys(columns, data.num_rows, primary_key, count)
    for i, column in enumerate(columns):
        is_key = [column.name] in keys or list(primary_key) == [column.name]
        annotate(column, sample.column(i), row_count=data.num_rows, is_key=is_key)
    return TableProfile(
        source=source, table=table, row_count=data.num_rows, size_bytes=data.nbytes, columns=columns,
        candidate_keys=keys, time_columns=time_columns(columns),
        equivalent_columns=equivalent_columns(columns, data.num_rows, count),
        duplicate_rows=_arrow_duplicate_rows(data, columns, keys),
        sampled=sample.num_rows < data.num_rows, sample_rows=sample.num_rows, growth=growth or GrowthFacts(),
        profiled_at=now_iso(),
        notes=[
            "exact over all rows: counts, nulls, distincts, min/max/mean/std, quantiles, lengths, top values, "
            "duplicates, keys",
            f"from a random sample of {sample.num_rows} rows: semantic types and patterns",
        ],
    )


def _in_threads(work: Callable[[int], ColumnProfile], indexes: Sequence[int]) -> list[ColumnProfile]:
    """Arrow kernels release the GIL and most are single-threaded, so columns are profiled side by side."""
    with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 8))) as pool:
        return list(pool.map(work, indexes))


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def sample_table(data: pa.Table, rows: int, seed: int = 42) -> pa.Table:
    """A seeded random sample of at most ``rows`` rows, in table order."""
    if data.num_rows <= rows:
        return data
    picked = np.sort(np.random.default_rng(seed).choice(data.num_rows, size=rows, replace=False))
    return data.take(pa.array(picked))


def arrow_column_profile(name: str, values: pa.ChunkedArray, logical_type: str) -> ColumnProfile:
    rows = len(values)
    nulls = values.null_count
    top, distinct = _top_values(values)
    if distinct == rows - nulls:
        top = []
    column = ColumnProfile(
        name=name, logical_type=logical_type, semantic_type="", null_count=nulls,
        null_share=nulls / rows if rows else 0.0, distinct_count=distinct,
        distinct_share=distinct / (rows - nulls) if rows > nulls else 0.0, top_values=top,
        physical_type=str(values.type),
    )
    if rows > nulls:
        _add_value_stats(column, values, base_logical(logical_type))
        _add_histogram(column, values)
    return column


def histogram_edges(column: ColumnProfile) -> list[float]:
    """Equal-width bin edges from the column's min to its max (at most ``HISTOGRAM_BINS`` bins, one per integer
    for a narrow integer range); empty when the column has no histogram."""
    logical = base_logical(column.logical_type)
    if logical not in HISTOGRAM_TYPES or column.min is None or column.max is None:
        return []
    low, high = as_number(column.min), as_number(column.max)
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low, low]
    bins = HISTOGRAM_BINS
    if logical.startswith("int") or logical == "date":
        bins = min(bins, int((high - low) / (86400 if logical == "date" else 1)) + 1)
    width = (high - low) / bins
    return [low + i * width for i in range(bins)] + [high]


def as_number(value: Any) -> float | None:
    """A min/max as a float: numbers as they are, ISO dates and timestamps as seconds since the epoch (naive = UTC)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _add_histogram(column: ColumnProfile, values: pa.ChunkedArray) -> None:
    edges = histogram_edges(column)
    if not edges:
        return
    numbers = _as_seconds(pc.drop_null(values)).to_numpy(zero_copy_only=False)
    column.histogram_edges = edges
    column.histogram_counts = [int(len(numbers))] if edges[0] == edges[-1] else [
        int(n) for n in np.histogram(numbers, bins=np.asarray(edges))[0]]


def _as_seconds(values: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Values as float64; dates and timestamps as seconds since the epoch."""
    kind = values.type
    if pa.types.is_timestamp(kind):
        per_second = {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[kind.unit]
        integers = values.combine_chunks().cast(pa.timestamp(kind.unit)).view(pa.int64())
        return pc.divide(pc.cast(integers, pa.float64()), per_second)
    if pa.types.is_date(kind):
        days = values.combine_chunks().cast(pa.date32()).view(pa.int32())
        return pc.multiply(pc.cast(days, pa.float64()), 86400.0)
    return pc.cast(values, pa.float64())


def _top_values(values: pa.ChunkedArray) -> tuple[list[tuple[str, int]], int]:
    as_integers = _integer_view(values)
    if as_integers is not None:
        return _integer_top_values(values.type, as_integers)
    return _hashed_top_values(values)


def _integer_view(values: pa.ChunkedArray) -> np.ndarray | None:
    """The non-null values as int64 for integer and 64-bit timestamp columns (counted without hashing)."""
    kind = values.type
    if pa.types.is_timestamp(kind):
        return pc.drop_null(values).combine_chunks().view(pa.int64()).to_numpy(zero_copy_only=False)
    if pa.types.is_integer(kind) and kind != pa.uint64():
        return pc.cast(pc.drop_null(values), pa.int64()).combine_chunks().to_numpy(zero_copy_only=False)
    return None


def _integer_top_values(kind: pa.DataType, integers: np.ndarray) -> tuple[list[tuple[str, int]], int]:
    """Exact distinct count and top values by counting: ``bincount`` when the range is small, else a sort."""
    if len(integers) == 0:
        return [], 0
    low, high = int(integers.min()), int(integers.max())
    if high - low <= 4 * len(integers) + 1024:
        counts = np.bincount(integers - low)
        uniques = np.flatnonzero(counts)
        counts = counts[uniques]
        uniques = uniques + low
    else:
        uniques, counts = np.unique(integers, return_counts=True)
    k = min(TOP_VALUES, len(uniques))
    picked = np.argpartition(-counts, k - 1)[:k] if k < len(uniques) else np.arange(len(uniques))
    picked = picked[np.lexsort((uniques[picked], -counts[picked]))]
    shown_values = pa.array(uniques[picked].astype(np.int64), pa.int64())
    shown_values = shown_values.view(kind) if pa.types.is_timestamp(kind) else shown_values
    return [(str(shown(v)), int(c)) for v, c in zip(shown_values.to_pylist(), counts[picked])], len(uniques)


def _hashed_top_values(values: pa.ChunkedArray) -> tuple[list[tuple[str, int]], int]:
    """The most frequent non-null values (ties broken by value) and the exact number of distinct values.

    Callers drop the top values of a column whose values are all distinct: every count would be 1."""
    try:
        counts = pc.value_counts(values)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return [], 0
    frame = pa.Table.from_batches([pa.RecordBatch.from_struct_array(counts)])
    frame = frame.filter(pc.is_valid(frame.column("values")))
    if frame.num_rows == 0:
        return [], 0
    order = [("counts", "descending")]
    if not pa.types.is_nested(frame.schema.field("values").type):
        order.append(("values", "ascending"))
    picked = frame.take(pc.select_k_unstable(frame, k=min(TOP_VALUES, frame.num_rows), sort_keys=order))
    top = [(str(shown(value)), int(count))
           for value, count in zip(picked.column("values").to_pylist(), picked.column("counts").to_pylist())]
    return top, frame.num_rows


def _add_value_stats(column: ColumnProfile, values: pa.ChunkedArray, logical: str) -> None:
    if logical in NUMERIC:
        floats = pc.cast(values, pa.float64())
        column.mean = _float(pc.mean(floats))
        column.std = _float(pc.stddev(floats, ddof=1))
        column.quantiles = _quantiles(floats)
    if logical in TEXTUAL and is_text(values.type):
        lengths = pc.utf8_length(values)
        extremes = pc.min_max(lengths)
        column.min_length, column.max_length = extremes["min"].as_py(), extremes["max"].as_py()
        column.mean_length = _float(pc.mean(lengths))
    if logical == "bool":
        column.mean = _float(pc.mean(pc.cast(values, pa.int8())))
    if logical in (*NUMERIC, *TEMPORAL) or (logical in TEXTUAL and is_text(values.type)):
        extremes = pc.min_max(values)
        column.min, column.max = shown(extremes["min"].as_py()), shown(extremes["max"].as_py())


def _quantiles(floats: pa.ChunkedArray) -> dict[str, float]:
    """Exact quantiles (linear interpolation, like PostgreSQL's percentile_cont) by numpy's O(n) selection."""
    values = pc.drop_null(floats).to_numpy()
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return {}
    return {quantile_label(q): float(v) for q, v in zip(QUANTILES, np.quantile(values, QUANTILES))}


def is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(
        arrow_type)


def _float(scalar: pa.Scalar) -> float | None:
    value = scalar.as_py()
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool) else None


def annotate(
    column: ColumnProfile, sample: pa.Array | pa.ChunkedArray, *, row_count: int, is_key: bool
) -> ColumnProfile:
    """Semantic type, patterns and a one-line description, from exact facts plus the sampled values."""
    shape = ColumnShape(
        name=column.name, logical_type=column.logical_type, non_null_count=row_count - column.null_count,
        distinct_count=column.distinct_count, max_length=column.max_length, is_key=is_key,
        min=_number(column.min), max=_number(column.max),
    )
    column.semantic_type = infer_semantic_type(shape, sample)
    if base_logical(column.logical_type) in TEXTUAL and is_text(sample.type):
        column.patterns = value_patterns(sample)
    column.description = describe_column(column)
    return column


def describe_column(column: ColumnProfile) -> str:
    """One line for the UI's column schema: semantic type, nulls, distincts, range or lengths, main pattern."""
    parts = [column.semantic_type, f"{column.null_share:.1%} null", f"{column.distinct_count:,} distinct"]
    if column.min is not None and column.max is not None:
        parts.append(f"range {column.min} .. {column.max}")
    if column.mean is not None and base_logical(column.logical_type) in NUMERIC:
        parts.append(f"mean {column.mean:.4g}")
    if column.min_length is not None:
        parts.append(f"length {column.min_length}..{column.max_length}")
    if column.patterns:
        parts.append(f"pattern {column.patterns[0][0]!r}")
    if column.top_values and column.distinct_count <= TOP_VALUES:
        parts.append("values " + ", ".join(value for value, _ in column.top_values[:5]))
    return "; ".join(parts)


def time_columns(columns: Sequence[ColumnProfile]) -> list[str]:
    return [c.name for c in columns if c.semantic_type in ("date", "timestamp")]


def candidate_keys(
    columns: Sequence[ColumnProfile], row_count: int, primary_key: Sequence[str], count_distinct: DistinctCounter
) -> list[list[str]]:
    """Columns (and, failing those, pairs) whose values are unique and never NULL; the declared key first if true.

    Single columns are decided from exact per-column facts; combinations cost one exact distinct count each.
    """
    if row_count == 0:
        return []
    singles = [[c.name] for c in columns if c.null_count == 0 and c.distinct_count == row_count]
    keys: list[list[str]] = []
    declared = list(primary_key)
    if declared and (declared in singles or (len(declared) > 1 and _unique(declared, columns, row_count,
                                                                           count_distinct))):
        keys.append(declared)
    keys.extend(single for single in singles if single not in keys)
    if not keys:
        keys.extend(_unique_pairs(columns, row_count, count_distinct))
    return keys


def equivalent_columns(columns: Sequence[ColumnProfile], row_count: int,
                       count_distinct: DistinctCounter) -> list[list[str]]:
    """Groups of columns that determine each other one to one (a carrier's name and its code): the same distinct
    count, without NULLs, and no more distinct pairs than values, in table order; a sort key or a GROUP BY needs
    only one of a group. One exact distinct count per pair checked, at most ``MAX_EQUIVALENCE_CHECKS``."""
    by_count: dict[int, list[ColumnProfile]] = {}
    for column in columns:
        if column.null_count == 0 and 1 < column.distinct_count < min(row_count, EQUIVALENCE_MAX_DISTINCT + 1) \
                and column.logical_type not in ("json", "binary"):
            by_count.setdefault(column.distinct_count, []).append(column)
    groups: list[list[str]] = []
    checks = 0
    for distinct, candidates in sorted(by_count.items()):
        while len(candidates) > 1 and checks < MAX_EQUIVALENCE_CHECKS:
            first, *rest = candidates
            group, candidates = [first.name], []
            for other in rest:
                checks += 1
                if checks <= MAX_EQUIVALENCE_CHECKS and count_distinct([first.name, other.name]) == distinct:
                    group.append(other.name)
                else:
                    candidates.append(other)
            if len(group) > 1:
                groups.append(group)
    return groups


def _unique(names: Sequence[str], columns: Sequence[ColumnProfile], row_count: int, count: DistinctCounter) -> bool:
    by_name = {c.name: c for c in columns}
    if any(name not in by_name or by_name[name].null_count for name in names):
        return False
    return count(names) == row_count


def _unique_pairs(columns: Sequence[ColumnProfile], row_count: int, count: DistinctCounter) -> list[list[str]]:
    eligible = sorted((c for c in columns if c.null_count == 0 and 1 < c.distinct_count < row_count
                       and c.semantic_type not in ("decimal", "text", "json", *COORDINATES)),
                      key=lambda c: -c.distinct_count)[:4]
    pairs = [[a.name, b.name] for i, a in enumerate(eligible) for b in eligible[i + 1:]
             if a.distinct_count * b.distinct_count >= row_count][:MAX_KEY_PAIRS]
    return [pair for pair in pairs if count(pair) == row_count]


def _groupable(data: pa.Table, names: Sequence[str]) -> list[str]:
    return [n for n in names if not pa.types.is_nested(data.schema.field(n).type)]


def _arrow_distinct(data: pa.Table, names: Sequence[str]) -> int:
    names = list(names)
    all_valid = functools.reduce(operator.and_, [pc.field(name).is_valid() for name in names])
    return data.select(names).filter(all_valid).group_by(names, use_threads=True).aggregate([]).num_rows


def _arrow_duplicate_rows(data: pa.Table, columns: Sequence[ColumnProfile], keys: list[list[str]]) -> int:
    """Rows that repeat an earlier row in every column; zero without work when a single-column key exists."""
    if data.num_rows < 2 or any(len(key) == 1 for key in keys):
        return 0
    names = _groupable(data, [c.name for c in columns])
    if not names:
        return 0
    return data.num_rows - data.select(names).group_by(names, use_threads=True).aggregate([]).num_rows
