"""Time partitions of raw tables: one shared ``PartitionsDefinition`` per grain and start, and the period of a key.

Periods are cut in UTC, start inclusive and end exclusive; the current (still filling) period is a partition too, so
the sensor can load today's rows as they arrive.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any

import dagster as dg

from etl_assets.catalog import SourceTable
from etl_assets.config.models import PartitionSettings
from resources.protocol import Period


@lru_cache(maxsize=None)
def _definition(grain: str, start: date) -> dg.TimeWindowPartitionsDefinition:
    first = start.isoformat() if grain == "daily" else start.replace(day=1).isoformat()
    if grain == "daily":
        return dg.DailyPartitionsDefinition(start_date=first, timezone="UTC", end_offset=1)
    return dg.MonthlyPartitionsDefinition(start_date=first, timezone="UTC", end_offset=1)


def partitions_def(partition: PartitionSettings | None) -> dg.TimeWindowPartitionsDefinition | None:
    """The definition shared by every table of the same grain and start (one object, however many tables)."""
    return None if partition is None else _definition(partition.grain, partition.start)


def period(table: SourceTable, window: dg.TimeWindow) -> Period:
    """The rows of ``table`` that one partition holds, with bounds typed like its partition column."""
    logical_type = table.schema.column(table.partition.column).logical_type
    return Period(column=table.partition.column, start=_bound(window.start, logical_type),
                  end=_bound(window.end, logical_type))


def _bound(moment: datetime, logical_type: str) -> Any:
    utc = moment.astimezone(timezone.utc)
    if logical_type == "date":
        return utc.date()
    return utc if logical_type == "timestamptz" else utc.replace(tzinfo=None)


def keys_between(table: SourceTable, low: Any, high: Any) -> list[str]:
    """The partition keys whose periods hold values from ``low`` to ``high`` (inclusive), oldest first; only ``high``'s
    when ``low`` is None. Values outside the partitions' range are left out."""
    definition = partitions_def(table.partition)
    first = _moment(high if low is None else low)
    last = _moment(high)
    keys = definition.get_partition_keys_in_range(
        dg.PartitionKeyRange(*_clamped(definition, first, last))) if first <= last else []
    return keys


def _clamped(definition: dg.TimeWindowPartitionsDefinition, first: datetime, last: datetime) -> tuple[str, str]:
    keys = definition.get_partition_keys()
    lowest, highest = keys[0], keys[-1]
    first_key = definition.get_partition_key_for_timestamp(first.timestamp()) \
        if first >= definition.start else lowest
    last_key = definition.get_partition_key_for_timestamp(last.timestamp())
    return first_key, min(last_key, highest)  # ISO keys sort as their periods do


def _moment(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
