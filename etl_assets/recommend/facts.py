"""What the recommendation rules look at: a table's profile, settings and query-log usage condensed into Facts.

"Event time" is the non-NULL date/timestamp column that best marks when a row happened: the sync cursor of an
incremental table, else created/event-like names, never the version column of a mutable table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from etl_assets.catalog import SourceTable
from etl_assets.profile.model import ColumnProfile, TableProfile
from etl_assets.recommend.querylog import TableUsage
from etl_assets.relationships.model import Relationships

BIG_ROWS = 1_000_000
LOW_CARDINALITY_MAX = 10_000
LOW_CARDINALITY_MAX_SHARE = 0.5
SMALL_TABLE_ROWS = 100_000
TIME_TYPES = ("date", "timestamp", "timestamptz")
KEY_EXCLUDED_TYPES = ("float32", "float64", "json", "binary")
KEY_EXCLUDED_SEMANTICS = ("text",)
"""A candidate key with a column of these types / semantic types is never the primary key (unique by accident)."""
_CREATED_LIKE = re.compile(r"(created|inserted|event|occurred|ts$|time|date|day|_at$)", re.IGNORECASE)
_VERSION_LIKE = re.compile(r"(updated|modified|changed|version)", re.IGNORECASE)


@dataclass
class Facts:
    """What the rules look at, computed once from the profile, the table's settings and the query log."""

    profile: TableProfile
    kind: str
    sync_mode: str
    sync_cursor: str | None
    freshness_hours: float | None
    primary_key: list[str]
    primary_key_origin: str
    usage: TableUsage | None
    event_time: ColumnProfile | None = None
    version_column: ColumnProfile | None = None
    span_days: float | None = None
    active_days: float | None = None
    """The event time's span without far outliers: for a date column the days that hold rows (its distinct
    count) when fewer than the min..max span; else the span."""
    rows_per_day: float | None = None
    rows_per_day_origin: str = ""
    unusable: dict[str, str] = field(default_factory=dict)
    """Column -> why it can never be a key or index (all NULL, constant)."""

    @property
    def rows(self) -> int:
        return self.profile.row_count

    @property
    def rows_per_month(self) -> float | None:
        return None if self.rows_per_day is None else self.rows_per_day * 30

    @property
    def mutable(self) -> bool:
        return self.sync_mode == "merge" or self.version_column is not None


def gather_facts(profile: TableProfile, table: SourceTable | None, usage: TableUsage | None,
                 relationships: Relationships | None = None) -> Facts:
    primary_key, origin = _declared_key(profile, table, relationships)
    facts = Facts(
        profile=profile, kind=table.kind if table else "", usage=usage,
        sync_mode=table.sync.mode if table else "full", sync_cursor=table.sync.cursor if table else None,
        freshness_hours=table.checks.freshness_hours if table else None,
        primary_key=primary_key, primary_key_origin=origin,
    )
    facts.unusable = {c.name: why for c in profile.columns if (why := _unusable_reason(c, profile.row_count))}
    facts.version_column = _version_column(facts)
    facts.event_time = _event_time(facts)
    if facts.event_time is not None:
        facts.span_days = _span_days(facts.event_time)
        facts.active_days = _active_days(facts.event_time, facts.span_days)
    facts.rows_per_day, facts.rows_per_day_origin = _growth(facts)
    return facts


def _declared_key(profile: TableProfile, table: SourceTable | None,
                  relationships: Relationships | None) -> tuple[list[str], str]:
    if table and table.schema.primary_key:
        return list(table.schema.primary_key), "declared primary key"
    found = [(list(k), "the profile's candidate key (unique, no NULLs)") for k in profile.candidate_keys]
    if relationships is not None:
        found += [(list(k.columns), "a candidate key verified exactly on the warehouse")
                  for k in relationships.keys if (k.table.source, k.table.table) == (profile.source, profile.table)]
    usable = [(key, origin) for key, origin in found if all(_key_column(find_column(profile, c)) for c in key)]
    if not usable:
        return [], ""
    key, origin = min(usable, key=lambda item: _key_rank(profile, item[0]))
    skipped = len({tuple(k) for k, _ in found}) - len({tuple(k) for k, _ in usable})
    return key, origin + (f"; fewest, narrowest columns ({skipped} candidate(s) of free text or floats skipped)"
                          if skipped else "")


def _key_column(column: ColumnProfile | None) -> bool:
    """Free text (comments, addresses) and floats are unique by accident, never by design: no key columns."""
    return column is not None and column.logical_type not in KEY_EXCLUDED_TYPES and \
        column.semantic_type not in KEY_EXCLUDED_SEMANTICS


def _key_rank(profile: TableProfile, key: list[str]) -> tuple[int, int, int]:
    """Fewest columns first, then most integer columns, then the earliest columns."""
    columns = [find_column(profile, name) for name in key]
    integers = sum(1 for c in columns if c is not None and c.logical_type.startswith("int"))
    return len(key), -integers, sum(_position(profile, c) for c in columns if c is not None)


def _unusable_reason(column: ColumnProfile, rows: int) -> str:
    if rows and column.null_count >= rows:
        return f"{column.name} is NULL in all {rows:,} rows"
    if rows > 1 and column.distinct_count == 1:
        return f"{column.name} holds one distinct value in {rows:,} rows"
    return ""


def _time_columns(facts: Facts) -> list[ColumnProfile]:
    named = set(facts.profile.time_columns)
    return [
        c for c in facts.profile.columns
        if (c.name in named or c.logical_type in TIME_TYPES) and c.name not in facts.unusable
    ]


def _version_column(facts: Facts) -> ColumnProfile | None:
    if facts.sync_mode == "merge" and facts.sync_cursor:
        cursor = find_column(facts.profile, facts.sync_cursor)
        if cursor is not None and cursor.null_count == 0 and _is_orderable(cursor):
            return cursor
    if facts.sync_mode == "incremental":
        return None
    return next((c for c in _time_columns(facts) if _VERSION_LIKE.search(c.name) and c.null_count == 0), None)


def _is_orderable(column: ColumnProfile) -> bool:
    return column.logical_type in TIME_TYPES or column.logical_type.startswith("int")


def _event_time(facts: Facts) -> ColumnProfile | None:
    if facts.sync_mode == "incremental" and facts.sync_cursor:
        cursor = find_column(facts.profile, facts.sync_cursor)
        if cursor is not None and cursor.logical_type in TIME_TYPES and cursor.name not in facts.unusable:
            return cursor
    version = facts.version_column.name if facts.version_column else None
    candidates = [c for c in _time_columns(facts) if c.name != version and c.null_count == 0]
    return min(candidates, key=lambda c: (not _CREATED_LIKE.search(c.name), _position(facts.profile, c)), default=None)


def _position(profile: TableProfile, column: ColumnProfile) -> int:
    return next(index for index, c in enumerate(profile.columns) if c.name == column.name)


def find_column(profile: TableProfile, name: str) -> ColumnProfile | None:
    return next((c for c in profile.columns if c.name == name), None)


def parse_instant(value: Any) -> datetime | None:
    """A profile min/max (datetime, date, or ISO text) as a naive UTC datetime; None if it is not a time."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _span_days(column: ColumnProfile) -> float | None:
    first, last = parse_instant(column.min), parse_instant(column.max)
    if first is None or last is None or last < first:
        return None
    return (last - first).total_seconds() / 86_400


def _active_days(column: ColumnProfile, span: float | None) -> float | None:
    if span is None or column.logical_type != "date" or not column.distinct_count:
        return span
    return min(span, float(column.distinct_count))


def _growth(facts: Facts) -> tuple[float | None, str]:
    growth = facts.profile.growth
    if growth.rows_per_day is not None:
        return growth.rows_per_day, f"ingestion log: {growth.rows_per_day:,.0f} rows/day over {growth.loads:,} loads"
    days = facts.active_days
    if facts.event_time is not None and days and days >= 1:
        per_day = facts.rows / days
        active = "" if days == facts.span_days else " holding rows"
        return per_day, f"{span_text(facts)}: {facts.rows:,} rows over {days:,.0f} days{active} = " \
                        f"{per_day:,.0f} rows/day"
    return None, ""


def span_text(facts: Facts) -> str:
    column = facts.event_time
    assert column is not None
    return f"{column.name} spans {_day(column.min)}..{_day(column.max)}"


def _day(value: Any) -> str:
    moment = parse_instant(value)
    return moment.date().isoformat() if moment else str(value)


def is_low_cardinality(column: ColumnProfile, rows: int) -> bool:
    return 1 <= column.distinct_count <= LOW_CARDINALITY_MAX and rows > 0 and \
        column.distinct_count / rows <= LOW_CARDINALITY_MAX_SHARE
