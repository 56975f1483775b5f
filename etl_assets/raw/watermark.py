"""Watermarks (cursor high-water marks): stored as text, typed by the cursor's logical type, moved back by a lookback.

Incremental reads take rows whose cursor is ``>= watermark - lookback``: the inclusive bound re-reads rows that share
the boundary value (the destination deduplicates them), and the lookback re-reads rows that arrived late.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

TEMPORAL_TYPES = ("date", "timestamp", "timestamptz")
_INTEGER_TYPES = ("int16", "int32", "int64")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(weeks?|days?|hours?|minutes?|mins?|seconds?|secs?|[wdhms])\b",
                            re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


class WatermarkError(ValueError):
    """A stored watermark or a configured lookback cannot be understood for the cursor's type."""


def encode(value: Any) -> str | None:
    """The text a watermark is stored and shown as (ISO 8601 for dates and times)."""
    if value is None:
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def decode(text: str | None, logical_type: str) -> Any:
    """The typed value of a stored watermark, comparable with the cursor column's values."""
    if text is None:
        return None
    try:
        if logical_type == "date":
            return date.fromisoformat(text)
        if logical_type in ("timestamp", "timestamptz"):
            return datetime.fromisoformat(text)
        if logical_type in _INTEGER_TYPES:
            return int(text)
        if logical_type.startswith("decimal"):
            return Decimal(text)
        if logical_type in ("float32", "float64"):
            return float(text)
    except (ValueError, InvalidOperation) as error:
        raise WatermarkError(f"stored watermark {text!r} is not a valid {logical_type}: {error}") from None
    return text


def parse_lookback(text: str | None, logical_type: str) -> timedelta | Decimal | None:
    """``"2 hours"``, ``"1 day 30 minutes"`` for dates and times; a number (``"100"``) for numeric cursors."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if logical_type in TEMPORAL_TYPES:
        return _duration(text)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise WatermarkError(f"lookback {text!r} must be a number for a {logical_type} cursor") from None
    if amount < 0:
        raise WatermarkError(f"lookback {text!r} must not be negative")
    return amount


def _duration(text: str) -> timedelta:
    parts = _DURATION_PART.findall(text)
    leftover = _DURATION_PART.sub("", text).replace(",", "").replace("and", "").strip()
    if not parts or leftover:
        raise WatermarkError(f"lookback {text!r} is not a duration such as '2 hours' or '1 day 30 minutes'")
    seconds = sum(float(amount) * _UNIT_SECONDS[unit[0].lower()] for amount, unit in parts)
    return timedelta(seconds=seconds)


def read_from(watermark: Any, lookback: timedelta | Decimal | None, logical_type: str) -> Any:
    """The lower bound (inclusive) of the next incremental read."""
    if watermark is None or lookback is None:
        return watermark
    if isinstance(lookback, timedelta):
        return watermark - lookback
    if logical_type in _INTEGER_TYPES:
        return watermark - int(lookback)
    if isinstance(watermark, float):
        return watermark - float(lookback)
    return watermark - lookback


def later(first: Any, second: Any) -> Any:
    """The larger of two watermarks, ignoring a missing one: a watermark never moves backwards."""
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)
