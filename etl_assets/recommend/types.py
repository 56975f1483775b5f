"""Column types chosen from the profile: the narrowest type that holds what was seen, each with its reason.

The choice is logical (``int16``, ``decimal(9,2)``, NOT NULL, low cardinality, a closed set of values); every DDL
dialect spells it in its own types (:mod:`etl_assets.ddl`). A per-table ``column_types`` override in
datasources.yaml wins over the profile.

NOT NULL: a full-sync table is re-profiled after every load of its whole content, so a column without NULLs is
NOT NULL. Incremental and merge tables get new rows the profile has not seen, so only their key, cursor and
source-declared NOT NULL columns become NOT NULL; the others stay nullable, with that reason.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from dataclasses import replace
from collections.abc import Mapping, Sequence
from typing import Any

from etl_assets.profile.model import ColumnProfile, TableProfile
from etl_assets.profile.profiler import MAX_SHOWN_CHARS, TOP_VALUES
from etl_assets.recommend.facts import is_low_cardinality, parse_instant
from etl_assets.recommend.model import ColumnType, ForeignKey
from etl_assets.relationships.model import KeyColumnType
from resources.schema import TableSchema, parse_logical

INTEGER_RANGES = {"int16": (-(2**15), 2**15 - 1), "int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
ENUM_MAX_VALUES = TOP_VALUES
"""A string column with at most this many distinct values, all of them known (among the profile's top values), is
a closed set (MySQL ENUM, ClickHouse Enum8, a PostgreSQL ENUM type)..."""
ENUM_MIN_ROWS_PER_VALUE = 100
"""... when the rows profiled hold at least this many per value: a set seen saturate over many rows, not a few
values that happen to be all a small table has yet."""
GROWING_DECIMAL_HEADROOM = 2
"""Extra integer digits a decimal of an incremental/merge table keeps over the largest value seen."""
_FLOATS = ("float32", "float64")


def choose_column_types(profile: TableProfile, schema: TableSchema | None, sync_mode: str, keys: set[str],
                        overrides: Mapping[str, str] | None = None) -> list[ColumnType]:
    """One :class:`ColumnType` per profiled column, in order. ``keys`` never get NULLs (primary/sort keys)."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - {c.name for c in profile.columns})
    if unknown:
        raise ValueError(f"{profile.source}.{profile.table}: column_types names columns the table lacks: {unknown}")
    declared = {c.name: c.nullable for c in schema.columns} if schema else {}
    return [_choose(column, profile.row_count, sync_mode, column.name in keys, declared.get(column.name, True),
                    overrides.get(column.name)) for column in profile.columns]


def _choose(column: ColumnProfile, rows: int, sync_mode: str, key: bool, declared_nullable: bool,
            override: str | None) -> ColumnType:
    nullable, null_reason = _nullability(column, rows, sync_mode, key, declared_nullable)
    if override:
        try:
            logical = str(parse_logical(override))
        except ValueError as error:
            raise ValueError(f"column_types override of {column.name!r}: {error}") from None
        return ColumnType(column.name, logical, nullable, reason=f"datasources.yaml column_types: {override}; "
                                                                f"{null_reason}")
    if rows == 0:
        return ColumnType(column.name, column.logical_type, nullable, reason="no rows profiled: source type kept")
    if _growing_identifier(column.logical_type, sync_mode) and (key or column.semantic_type == "identifier"):
        return ColumnType(column.name, column.logical_type, nullable,
                          reason=f"{column.logical_type} kept: an identifier of a growing table (sync {sync_mode}) "
                                 f"outgrows the range seen ({column.min}..{column.max}); {null_reason}")
    logical, details, why = _narrowed(column, rows)
    chosen = ColumnType(column.name, logical, nullable, reason=f"{why}; {null_reason}", **details)
    return with_headroom(chosen, sync_mode)


def _growing_identifier(logical: str, sync_mode: str) -> bool:
    """An integer identifier of a table that gets new rows keeps its source type (new ids outgrow the range seen)."""
    return sync_mode != "full" and logical.startswith("int")


def referenced_type(key: KeyColumnType) -> dict[str, Any]:
    """The type fields (``logical``, range or length bound) the key's own recommendation chooses for it, by the
    same rules as :func:`_choose` for a key column: the source integer type of a growing table, else the narrowest
    integer holding the key's range; strings as long as its longest value."""
    if key.logical.startswith("int") and not _growing_identifier(key.logical, key.sync_mode) \
            and key.min is not None and key.max is not None:
        return {"logical": _narrowest(key.min, key.max), "min_value": key.min, "max_value": key.max}
    if key.logical.startswith("int"):
        return {"logical": key.logical, "min_value": None, "max_value": None}
    return {"logical": key.logical, "max_length": key.max_length}


def match_references(chosen: list[ColumnType], foreign_keys: Sequence[ForeignKey]) -> list[ColumnType]:
    """The columns of recommended foreign keys take the type of the key they reference (joins then need no cast and
    PostgreSQL/MySQL accept the FOREIGN KEY); nullability stays the column's own. An override in datasources.yaml
    still wins, and a column whose own values (orphans) do not fit the key's type keeps its own type."""
    by_name = {c.name: c for c in chosen}
    for fk in foreign_keys:
        for column, ref_column, key in zip(fk.columns, fk.ref_columns, fk.ref_types or [None] * len(fk.columns)):
            own = by_name.get(column)
            if own is None or key is None or own.reason.startswith("datasources.yaml"):
                continue
            by_name[column] = _matched(own, key, f"{fk.ref_table}.{ref_column}")
    return [by_name[c.name] for c in chosen]


def _matched(own: ColumnType, key: KeyColumnType, target: str) -> ColumnType:
    fields = referenced_type(key)
    logical = fields["logical"]
    references = f"matches {target}, which it references"
    if logical == own.logical != "string" and "which it references" in own.reason:  # a second key it references
        return replace(own, reason=f"{own.reason}; also {references}")
    if logical.startswith("int") and own.logical.startswith("int"):
        low, high = (key.min, key.max) if fields["min_value"] is not None else INTEGER_RANGES[logical]
        if own.min_value is not None and not (low <= own.min_value and own.max_value <= high):
            return replace(own, reason=f"{own.reason}; kept: its values {own.min_value}..{own.max_value} fall "
                                       f"outside {target} ({logical} {low}..{high}), which it references")
        return replace(own, **fields, reason=f"{logical}: {references} (own values {own.min_value}.."
                                             f"{own.max_value}); {_null_part(own.reason)}")
    if logical == "string" and own.logical == "string":
        longest = max((n for n in (own.max_length, fields["max_length"]) if n is not None), default=None)
        return replace(own, max_length=longest, enum_values=(),
                       fixed_length=own.fixed_length and longest == own.max_length,
                       reason=f"string up to {longest}: {references} ({own.reason})")
    if logical == own.logical:
        return replace(own, reason=f"{own.reason}; {references}")
    return replace(own, reason=f"{own.reason}; {target}, which it references, is {logical}")


def _null_part(reason: str) -> str:
    """The nullability part of a type decision's reason (after its last "; ")."""
    return reason.rsplit("; ", 1)[-1]


def _nullability(column: ColumnProfile, rows: int, sync_mode: str, key: bool, declared: bool) -> tuple[bool, str]:
    if column.null_count > 0:
        return True, f"{column.null_count:,} NULLs of {rows:,}"
    if rows == 0:
        return declared and not key, "no rows profiled"
    if key or not declared:
        return False, f"no NULLs in {rows:,} rows; {'key column' if key else 'declared NOT NULL'}"
    if sync_mode == "full":
        return False, f"no NULLs in {rows:,} rows (sync full: every load is profiled whole)"
    return True, f"no NULLs in {rows:,} rows, but sync {sync_mode} appends rows not profiled yet"


def _narrowed(column: ColumnProfile, rows: int) -> tuple[str, dict[str, Any], str]:
    logical = column.logical_type
    if logical.startswith("int"):
        return _integer(column, logical, f"integers {column.min}..{column.max}")
    if logical in _FLOATS:
        whole = _whole_range(column)
        if whole is not None:
            return _integer(column, logical, f"{logical} holding whole numbers only ({_evidence(column)}): "
                                             f"{whole[0]}..{whole[1]}", whole)
        return logical, {}, f"{logical}: fractional values seen"
    if logical.startswith("decimal"):
        return _decimal(column, logical)
    if logical == "string":
        return logical, _string_details(column, rows), _string_reason(column, rows)
    if logical in ("timestamp", "timestamptz"):
        seconds = all(_whole_seconds(v) for v in _seen(column))
        why = "whole seconds in min/max/top values" if seconds else "sub-second values seen"
        return logical, {"seconds": seconds}, f"{logical}: {why}"
    return logical, {}, f"{logical}: as profiled"


def _integer(column: ColumnProfile, logical: str, why: str,
             whole: tuple[int, int] | None = None) -> tuple[str, dict[str, Any], str]:
    low, high = whole or (_as_int(column.min), _as_int(column.max))
    if low is None or high is None:
        return logical, {}, f"{logical}: no range profiled"
    narrowest = _narrowest(low, high)
    return narrowest, {"min_value": low, "max_value": high}, f"{narrowest}: {why}"


def _narrowest(low: int, high: int) -> str:
    return next(name for name, (lo, hi) in INTEGER_RANGES.items() if lo <= low and high <= hi)


def _whole_range(column: ColumnProfile) -> tuple[int, int] | None:
    """(min, max) as integers when every profiled value (min, max, quantiles, top values) is a whole number."""
    values = [column.min, column.max, *column.quantiles.values(), *(v for v, _ in column.top_values)]
    numbers = [_as_float(v) for v in values if v is not None]
    if column.min is None or not numbers or any(n is None or not n.is_integer() for n in numbers):
        return None
    low, high = int(_as_float(column.min) or 0), int(_as_float(column.max) or 0)
    return (low, high) if INTEGER_RANGES["int64"][0] <= low and high <= INTEGER_RANGES["int64"][1] else None


def _evidence(column: ColumnProfile) -> str:
    shown = len(column.top_values)
    if shown and shown >= column.distinct_count:
        return f"all {column.distinct_count:,} distinct values"
    return f"min, max, quantiles and {shown} most frequent of {column.distinct_count:,} distinct values"


def _decimal(column: ColumnProfile, logical: str) -> tuple[str, dict[str, Any], str]:
    declared = parse_logical(logical)
    largest = max((abs(d) for d in (_as_decimal(column.min), _as_decimal(column.max)) if d is not None),
                  default=None)
    if largest is None:
        return logical, {}, f"{logical}: no range profiled"
    digits = len(str(int(largest))) if largest >= 1 else 1
    scale = declared.scale or 0
    if scale == 0 and largest <= INTEGER_RANGES["int64"][1]:
        return _integer(column, logical, f"decimal with scale 0, {column.min}..{column.max}",
                        (int(_as_decimal(column.min) or 0), int(_as_decimal(column.max) or 0)))
    precision = min(declared.precision or 38, digits + scale)
    chosen = f"decimal({precision},{scale})"
    return chosen, {}, f"{chosen}: values {column.min}..{column.max} need {digits} integer digits, scale {scale}"


def with_headroom(chosen: ColumnType, sync_mode: str) -> ColumnType:
    """Decimals of growing tables keep extra integer digits (a larger value than seen may arrive)."""
    if sync_mode == "full" or not chosen.logical.startswith("decimal"):
        return chosen
    declared = parse_logical(chosen.logical)
    precision = min(76, (declared.precision or 0) + GROWING_DECIMAL_HEADROOM)
    return ColumnType(**{**chosen.__dict__, "logical": f"decimal({precision},{declared.scale})",
                         "reason": f"{chosen.reason}; +{GROWING_DECIMAL_HEADROOM} digits (sync {sync_mode})"})


def _string_details(column: ColumnProfile, rows: int) -> dict[str, Any]:
    values = tuple(sorted(v for v, _ in column.top_values))
    whole = column.max_length is not None and column.max_length <= MAX_SHOWN_CHARS  # top values not shortened
    closed = column.null_count == 0 and 1 < column.distinct_count <= ENUM_MAX_VALUES and whole and \
        len(values) >= column.distinct_count and rows >= ENUM_MIN_ROWS_PER_VALUE * column.distinct_count
    return {
        "max_length": column.max_length, "low_cardinality": is_low_cardinality(column, rows),
        "fixed_length": column.max_length is not None and column.min_length == column.max_length,
        "enum_values": values if closed else (),
    }


def _string_reason(column: ColumnProfile, rows: int) -> str:
    length = f"length {column.min_length}..{column.max_length}" if column.max_length is not None else "no lengths"
    low = f"; {column.distinct_count:,} distinct of {rows:,} (low cardinality)" if is_low_cardinality(column, rows) \
        else f"; {column.distinct_count:,} distinct of {rows:,}"
    return f"string, {length}{low}"


def _seen(column: ColumnProfile) -> list[Any]:
    return [v for v in (column.min, column.max, *(v for v, _ in column.top_values)) if v is not None]


def _whole_seconds(value: Any) -> bool:
    moment = value if isinstance(value, dt.datetime) else parse_instant(value)
    return moment is not None and moment.microsecond == 0


def _as_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _as_float(value)
    return int(number) if number is not None and number.is_integer() else None


def _as_decimal(value: Any) -> decimal.Decimal | None:
    try:
        return decimal.Decimal(str(value))
    except (decimal.InvalidOperation, ValueError):
        return None
