"""Check evaluations, check specs, growth from the ingestion log and the Markdown summary: pure functions."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pyarrow as pa
import pytest

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.profile import checks
from etl_assets.profile.growth import growth_facts
from etl_assets.profile.profiler import profile_arrow
from etl_assets.profile.pushdown import KeyFacts
from etl_assets.profile.render import profile_markdown
from resources.schema import Column, TableSchema

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCHEMA = TableSchema(source="shop", name="orders", primary_key=["id"], cursor_column="updated_at",
                     columns=[Column("id", "int64"), Column("email", "string"), Column("updated_at", "timestamptz")])


def source_table(settings: CheckSettings, schema: TableSchema = SCHEMA) -> SourceTable:
    return SourceTable(kind="postgres", schema=schema, sync=SyncSettings(mode="incremental", cursor="updated_at"),
                       batch_size=100, semantic_search=False, text_columns=(), checks=settings, target="warehouse")


@pytest.fixture
def profile():
    data = pa.table({
        "id": [1, 2, 3, 4],
        "email": ["a@x.com", None, "c@x.com", "d@x.com"],
        "updated_at": pa.array([NOW - dt.timedelta(hours=h) for h in (30, 20, 10, 5)], pa.timestamp("us", "UTC")),
    })
    return profile_arrow(data, "shop", "orders", primary_key=["id"])


def test_specs_follow_settings_and_blocking() -> None:
    key = dg.AssetKey(["profile", "shop", "orders"])
    full = checks.check_specs(source_table(CheckSettings(max_null_share={"email": 0.1}, freshness_hours=6)), key)
    assert [s.name for s in full] == ["null_share", "primary_key_unique", "cursor_freshness", "schema_drift",
                                      "row_count_anomaly"]
    assert all(s.blocking and s.asset_key == key for s in full)
    keyless = TableSchema(source="shop", name="log", columns=[Column("line", "string")])
    minimal = checks.check_specs(source_table(CheckSettings(blocking=False), keyless), key)
    assert [s.name for s in minimal] == ["schema_drift", "row_count_anomaly"]
    assert not any(s.blocking for s in minimal)


def test_null_share(profile) -> None:
    passed = checks.null_share_check(profile, {"email": 0.25, "id": 0.0})
    assert passed.passed and "email 25.00% <= 25.00%" in passed.description

    failed = checks.null_share_check(profile, {"email": 0.1})
    assert not failed.passed
    assert failed.description == "shop.orders: email: 25.00% NULL > limit 10.00% (1 of 4 rows)"
    assert failed.metadata["null_shares"] == {"email": 0.25}

    missing = checks.null_share_check(profile, {"phone": 0.1})
    assert not missing.passed and "['phone'] are not in the table" in missing.description


def test_primary_key(profile) -> None:
    clean = KeyFacts(columns=["id"], rows=4, null_keys=0, duplicate_keys=0, rows_in_duplicates=0)
    assert checks.primary_key_check(profile, clean).passed

    dirty = KeyFacts(columns=["id"], rows=6, null_keys=1, duplicate_keys=1, rows_in_duplicates=2,
                     examples=[{"id": 7, "n": 2}])
    outcome = checks.primary_key_check(profile, dirty)
    assert not outcome.passed
    assert "1 row(s) have a NULL in (id)" in outcome.description
    assert "1 key value(s) repeat across 2 rows, e.g. id=7 (2 rows)" in outcome.description
    assert outcome.metadata["examples"] == [{"id": 7, "n": 2}]


def test_freshness(profile) -> None:
    fresh = checks.freshness_check(profile, "updated_at", 6, now=NOW)
    assert fresh.passed and fresh.metadata["age_hours"] == 5.0

    stale = checks.freshness_check(profile, "updated_at", 4, now=NOW)
    assert not stale.passed and "5.0 h old > limit 4 h" in stale.description

    assert not checks.freshness_check(profile, None, 4, now=NOW).passed
    assert checks.freshness_column(source_table(CheckSettings()), profile) == "updated_at"


def test_freshness_of_an_empty_column_and_of_dates() -> None:
    empty = profile_arrow(pa.table({"at": pa.array([None], pa.timestamp("us"))}), "s", "t")
    assert "has no values" in checks.freshness_check(empty, "at", 1, now=NOW).description
    dates = profile_arrow(pa.table({"day": pa.array([dt.date(2026, 3, 1)])}), "s", "t")
    assert checks.freshness_check(dates, "day", 24, now=NOW).passed


def test_schema_drift(profile) -> None:
    same = [("id", "int64"), ("email", "string"), ("updated_at", "timestamptz")]
    assert checks.schema_drift_check(profile, SCHEMA, same).passed

    widened = [("id", "decimal(20,0)"), ("email", "json"), ("updated_at", "timestamp")]
    assert checks.schema_drift_check(profile, SCHEMA, widened).passed

    added = checks.schema_drift_check(profile, SCHEMA, [*same, ("phone", "string")])
    assert not added.passed and added.severity == "WARN" and "['phone']" in added.description

    broken = checks.schema_drift_check(profile, SCHEMA, [("id", "string"), ("updated_at", "timestamptz")])
    assert not broken.passed and broken.severity == "ERROR"
    assert broken.metadata["removed"] == ["email"] and broken.metadata["retyped"] == {"id": "int64 -> string"}


def test_row_count_anomaly(profile) -> None:
    few = checks.row_count_check(profile, [4, 4], 0.5)
    assert few.passed and "not enough history" in few.description

    steady = checks.row_count_check(profile, [5, 4, 3, 100], 0.5)
    assert steady.passed and steady.metadata["median"] == 4.5

    dropped = checks.row_count_check(profile, [10, 11, 9, 10], 0.5)
    assert not dropped.passed and "-60.0% is beyond ±50%" in dropped.description

    from_zero = checks.row_count_check(profile, [0, 0, 0], 0.5)
    assert not from_zero.passed and from_zero.metadata["change"] == "inf"


def test_check_result_carries_everything() -> None:
    outcome = checks.CheckOutcome("null_share", False, "why", {"shares": {"a": 0.5}, "rows": 3, "none": None},
                                  severity="WARN")

    result = checks.to_check_result(outcome, dg.AssetKey(["profile", "s", "t"]))

    assert (result.passed, result.severity, result.description) == (False, dg.AssetCheckSeverity.WARN, "why")
    assert result.metadata["shares"] == dg.MetadataValue.json({"a": 0.5})


def load(day: int, mode: str, rows: int, status: str = "success") -> dict:
    started = dt.datetime(2026, 3, day, 1, 0, tzinfo=UTC)
    return {"started_at": started, "finished_at": started + dt.timedelta(minutes=5), "mode": mode,
            "rows_written": rows, "status": status}


def test_growth_of_full_loads_is_the_change_in_size() -> None:
    facts = growth_facts([load(5, "full", 1400), load(1, "full", 1000), load(3, "full", 1200),
                          load(4, "full", 0, status="failed")])

    assert facts.loads == 3
    assert facts.loads_per_day == pytest.approx(0.5)
    assert facts.rows_per_day == pytest.approx(100.0)
    assert facts.last_loaded_at == "2026-03-05T01:05:00+00:00"


def test_growth_of_incremental_loads_sums_new_rows_after_the_first() -> None:
    facts = growth_facts([load(1, "incremental", 5000), load(2, "incremental", 300), load(3, "merge", 500)])

    assert facts.rows_per_day == pytest.approx(400.0)
    assert facts.loads_per_day == pytest.approx(1.0)


def test_growth_without_enough_history() -> None:
    assert growth_facts([]).loads == 0
    single = growth_facts([load(1, "full", 10)])
    assert single.loads == 1 and single.rows_per_day is None
    assert growth_facts([{"started_at": "2026-03-01T00:00:00", "status": "success", "mode": "full",
                          "rows_written": 1}]).last_loaded_at == "2026-03-01T00:00:00+00:00"


def test_markdown_summary(profile) -> None:
    profile.growth = growth_facts([load(1, "full", 2), load(3, "full", 4)])

    markdown = profile_markdown(profile)

    assert markdown.startswith("### Profile of `shop.orders`")
    assert "**Rows:** 4" in markdown and "(`id`)" in markdown and "`updated_at`" in markdown
    assert "+1 rows/day" in markdown
    assert "| `email` | string | email | 25.0% | 3 |" in markdown
    assert markdown.count("\n| `") == 3


def test_markdown_escapes_pipes_and_bounds_cells() -> None:
    data = pa.table({"a|b": ["x|y" * 100, "x|y" * 100]})

    markdown = profile_markdown(profile_arrow(data, "s", "t"))

    row = markdown.strip().splitlines()[-1]
    assert row.startswith("| `a\\|b` |") and "…" in row


def test_statistical_checks_warn_by_default_and_tables_can_ask_for_error(profile) -> None:
    failing = checks.null_share_check(profile, {name: -1.0 for name in [profile.columns[0].name]})
    assert not failing.passed
    assert checks.with_severity(failing, {}).severity == "WARN"
    again = checks.null_share_check(profile, {profile.columns[0].name: -1.0})
    assert checks.with_severity(again, {checks.NULL_SHARE: "ERROR"}).severity == "ERROR"
    key = checks.primary_key_check(profile, KeyFacts(columns=["id"], rows=3, null_keys=1, duplicate_keys=0,
                                                     rows_in_duplicates=0, examples=[]))
    assert checks.with_severity(key, {}).severity == "ERROR"
    assert CheckSettings.model_validate({"severity": {"null_share": "ERROR"}}).severity == {"null_share": "ERROR"}
    with pytest.raises(ValueError):
        CheckSettings.model_validate({"severity": {"null_share": "LOUD"}})
