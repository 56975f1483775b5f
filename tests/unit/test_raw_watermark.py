from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from etl_assets.raw import watermark as wm


@pytest.mark.parametrize("value, logical_type", [
    (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc), "timestamptz"),
    (datetime(2026, 1, 2, 3, 4, 5), "timestamp"),
    (date(2026, 1, 2), "date"),
    (123456789012, "int64"),
    (Decimal("12.50"), "decimal(10,2)"),
    ("abc", "string"),
])
def test_a_watermark_survives_being_stored_as_text(value, logical_type):
    assert wm.decode(wm.encode(value), logical_type) == value


def test_a_corrupt_stored_watermark_is_a_clear_error():
    with pytest.raises(wm.WatermarkError, match="'yesterday' is not a valid timestamptz"):
        wm.decode("yesterday", "timestamptz")


@pytest.mark.parametrize("text, expected", [
    ("1 hour", timedelta(hours=1)), ("2 hours", timedelta(hours=2)), ("90s", timedelta(seconds=90)),
    ("1 day 30 minutes", timedelta(days=1, minutes=30)), ("1.5 h", timedelta(minutes=90)),
])
def test_lookback_durations(text, expected):
    assert wm.parse_lookback(text, "timestamptz") == expected


@pytest.mark.parametrize("text, logical_type", [("soon", "timestamp"), ("2 fortnights", "date"), ("x", "int64"),
                                                ("-5", "int64")])
def test_a_bad_lookback_names_itself(text, logical_type):
    with pytest.raises(wm.WatermarkError, match=repr(text)):
        wm.parse_lookback(text, logical_type)


def test_read_from_moves_the_watermark_back_by_the_lookback():
    stamp = datetime(2026, 1, 2, 12, tzinfo=timezone.utc)
    assert wm.read_from(stamp, wm.parse_lookback("2 hours", "timestamptz"), "timestamptz") == stamp - timedelta(hours=2)
    assert wm.read_from(date(2026, 1, 10), wm.parse_lookback("3 days", "date"), "date") == date(2026, 1, 7)
    assert wm.read_from(1000, wm.parse_lookback("100", "int64"), "int64") == 900
    assert wm.read_from(stamp, None, "timestamptz") == stamp
    assert wm.read_from(None, timedelta(hours=1), "timestamptz") is None


def test_a_watermark_never_moves_backwards():
    assert wm.later(5, 3) == 5
    assert wm.later(None, 3) == 3
    assert wm.later(5, None) == 5
    assert wm.later(None, None) is None
