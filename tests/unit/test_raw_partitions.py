"""Partition keys of a cursor range and periods of a partition, on Dagster's own time-window partitions."""

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pytest

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, PartitionSettings, SyncSettings
from etl_assets.raw.partitions import key_start, keys_between, partitions_def, period
from resources.schema import Column, TableSchema

TODAY = datetime.now(timezone.utc).date()


def table(grain: str, logical_type: str = "timestamptz", start: date = date(2026, 1, 1)) -> SourceTable:
    schema = TableSchema("shop", "events", [Column("at", logical_type, False)], cursor_column="at")
    return SourceTable(kind="postgres", schema=schema, sync=SyncSettings(mode="incremental", cursor="at"),
                       batch_size=10, semantic_search=False, text_columns=(), checks=CheckSettings(),
                       target="warehouse", partition=PartitionSettings(grain=grain, column="at", start=start))


@pytest.mark.parametrize(("low", "high", "expected"), [
    ("2026-01-03 10:00:00+00:00", "2026-01-05 01:00:00+00:00", ["2026-01-03", "2026-01-04", "2026-01-05"]),
    (None, "2026-01-05 01:00:00", ["2026-01-05"]),
    ("2026-01-05", "2026-01-05 23:59:59.999999", ["2026-01-05"]),
    (date(2020, 1, 1), date(2026, 1, 2), ["2026-01-01", "2026-01-02"]),
    ("2026-01-05", "2026-01-02", []),
    ("2025-06-01", "2025-12-31 23:00:00", []),
])
def test_daily_keys_between_two_cursor_values_clamp_to_the_partitions(low, high, expected):
    assert keys_between(table("daily"), low, high) == expected


def test_values_past_the_current_period_clamp_to_it_and_the_limit_cuts_the_range():
    before = datetime.now(timezone.utc).date()  # not the module's TODAY: a run may cross midnight (UTC)
    future = before + timedelta(days=400)
    clamped = keys_between(table("daily"), future, future + timedelta(days=1))
    after = datetime.now(timezone.utc).date()
    assert clamped in ([before.isoformat()], [after.isoformat()])
    first = keys_between(table("daily"), "2026-01-01", TODAY, limit=3)
    assert first == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert key_start(table("daily"), "2026-01-04") == "2026-01-04T00:00:00+00:00"


def test_monthly_partitions_start_on_the_first_of_the_month_and_share_one_definition():
    monthly = table("monthly", start=date(2026, 1, 15))
    assert keys_between(monthly, date(2026, 1, 20), date(2026, 3, 2)) == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert partitions_def(monthly.partition) is partitions_def(PartitionSettings(grain="monthly",
                                                                                 start=date(2026, 1, 1)))
    assert partitions_def(monthly.partition) is not partitions_def(PartitionSettings(grain="daily"))


@pytest.mark.parametrize(("logical_type", "start", "end"), [
    ("date", date(2026, 2, 1), date(2026, 3, 1)),
    ("timestamp", datetime(2026, 2, 1), datetime(2026, 3, 1)),
    ("timestamptz", datetime(2026, 2, 1, tzinfo=timezone.utc), datetime(2026, 3, 1, tzinfo=timezone.utc)),
])
def test_a_period_is_typed_like_its_column(logical_type, start, end):
    monthly = table("monthly", logical_type)
    window = partitions_def(monthly.partition).time_window_for_partition_key("2026-02-01")
    assert isinstance(window, dg.TimeWindow)
    found = period(monthly, window)
    assert (found.column, found.start, found.end) == ("at", start, end)
    assert type(found.start) is type(start)
