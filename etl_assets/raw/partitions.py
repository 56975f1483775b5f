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
from etl_assets.keys import RAW, asset_key
from resources.protocol import Period


EAGER_OVER_PARTITIONS = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
"""``eager`` for a whole-table asset built on a time-partitioned raw table: it follows each partition that lands
instead of waiting until every partition since the first exists (plain ``eager`` would)."""


def eager_condition(tables: list[SourceTable], eager: dg.AutomationCondition) -> dg.AutomationCondition:
    """``eager`` for an asset depending on the raw ``tables``, unless one of them is time-partitioned."""
    return EAGER_OVER_PARTITIONS if any(table.partition is not None for table in tables) else eager


@lru_cache(maxsize=None)
def _definition(grain: str, start: date) -> dg.TimeWindowPartitionsDefinition:
    if grain == "daily":
        return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)
    return dg.MonthlyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)


def partitions_def(partition: PartitionSettings | None) -> dg.TimeWindowPartitionsDefinition | None:
    """The definition shared by every table of the same grain and first period (one object, however many tables):
    Dagster runs one job only over assets that share a partitions definition."""
    if partition is None:
        return None
    start = partition.start if partition.grain == "daily" else partition.start.replace(day=1)
    return _definition(partition.grain, start)


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


def keys_between(table: SourceTable, low: Any, high: Any, limit: int | None = None) -> list[str]:
    """The partition keys whose periods hold values from ``low`` to ``high`` (inclusive), oldest first, at most
    ``limit``; only ``high``'s when ``low`` is None. Values before the first partition clamp to it, values after the
    last (the current period) to that one; a ``low`` past ``high`` gives no key."""
    definition = partitions_def(table.partition)
    last_window = definition.get_last_partition_window()
    first, last = _moment(high if low is None else low), _moment(high)
    if last_window is None or first > last or last < definition.start:
        return []
    key = _key_at(definition, max(first, definition.start), last_window)
    last_key = _key_at(definition, last, last_window)
    keys: list[str] = []
    while key is not None and (limit is None or len(keys) < limit):
        keys.append(key)
        key = None if key == last_key else definition.get_next_partition_key(key)
    return keys


def _key_at(definition: dg.TimeWindowPartitionsDefinition, moment: datetime, last_window: dg.TimeWindow) -> str:
    """The key of the partition holding ``moment`` (not before the first), or of the last one past it."""
    if moment >= last_window.start:
        moment = last_window.start
    return definition.get_partition_key_for_timestamp(moment.timestamp())


def key_start(table: SourceTable, key: str) -> str:
    """The start of partition ``key`` as ISO text (the sensor keeps it as "requested up to here")."""
    return partitions_def(table.partition).time_window_for_partition_key(key).start.isoformat()


def _moment(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)


def whole_table_selection(selection: dg.AssetSelection, tables: list[SourceTable]) -> dg.AssetSelection:
    """``selection`` without the time-partitioned raw assets, for jobs run without a partition key (the main job,
    the scheduled refreshes): their partitions are loaded by backfills and the incremental sensor instead."""
    keys = [asset_key(RAW, table.source, table.name) for table in tables if table.partition is not None]
    return selection - dg.AssetSelection.assets(*keys) if keys else selection
