"""The report builders on hand-made profiles, recommendations, check outcomes and ingestion logs.

The ``sample_*`` builders are shared with the render and integration tests of the reports.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from etl_assets.profile.model import ColumnProfile, TableProfile
from etl_assets.recommend.model import Index, Reason, Recommendation
from etl_assets.reports.build import (
    CHART_BARS,
    CheckOutcome,
    TableRules,
    build_analysis_report,
    build_pipeline_report,
    build_quality_report,
)
from etl_assets.reports.model import Report, Section

EVIL = "<script>alert('x')</script>"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def column(name: str, rows: int, nulls: int = 0, distinct: int | None = None, logical: str = "string",
           semantic: str = "text", **extra: Any) -> ColumnProfile:
    distinct = rows - nulls if distinct is None else distinct
    return ColumnProfile(name=name, logical_type=logical, semantic_type=semantic, null_count=nulls,
                         null_share=nulls / rows if rows else 0.0, distinct_count=distinct,
                         distinct_share=distinct / rows if rows else 0.0, **extra)


def sample_customers() -> TableProfile:
    rows = 1000
    return TableProfile(
        source="shop_files", table="customers", row_count=rows, size_bytes=52_000,
        columns=[
            column("customer_id", rows, logical="int64", semantic="identifier", min=1, max=1000),
            column("email", rows, nulls=12, distinct=980, semantic="email", top_values=[("a@example.org", 3)]),
            column("phone", rows, nulls=400, distinct=590, semantic="phone"),
            column(EVIL, rows, nulls=rows, distinct=0),
        ],
        candidate_keys=[["customer_id"]], duplicate_rows=2, profiled_at="2026-11-22T10:00:00+00:00",
    )


def sample_orders() -> TableProfile:
    rows = 5000
    return TableProfile(
        source="shop_db", table="orders", row_count=rows, size_bytes=900_000,
        columns=[column("order_id", rows, logical="int64", semantic="identifier"),
                 column("line", rows, distinct=4, logical="int16", semantic="integer"),
                 column("updated_at", rows, logical="timestamptz", semantic="timestamp")],
        candidate_keys=[["order_id", "line"]], time_columns=["updated_at"],
    )


def sample_empty() -> TableProfile:
    return TableProfile(source="shop_db", table="empty_table", row_count=0, size_bytes=0,
                        columns=[column("id", 0, logical="int64", semantic="integer")])


def sample_recommendation() -> Recommendation:
    return Recommendation(
        source="shop_files", table="customers", target_store="postgres", engine="heap",
        primary_key=["customer_id"], indexes=[Index(("email",), "btree")],
        reasons=[Reason("primary key customer_id", "customer_id is unique and NOT NULL in 1,000 rows"),
                 Reason("btree index on email", f"email is an email column; looked up by {EVIL}")],
        summary="Small dimension table: keep it in PostgreSQL.", narrative=f"Looks fine {EVIL}",
    )


def load(hours: float, seconds: float, rows: int = 1000, status: str = "success", quarantined: int = 0,
         error: str | None = None, watermark: str | None = None) -> dict[str, Any]:
    started = T0 + timedelta(hours=hours)
    return {"started_at": started, "finished_at": started + timedelta(seconds=seconds), "mode": "full",
            "rows_read": rows + quarantined, "rows_written": rows, "rows_quarantined": quarantined,
            "watermark_from": None, "watermark_to": watermark, "status": status, "error": error}


def sample_log() -> dict[tuple[str, str], list[dict[str, Any]]]:
    return {
        ("shop_files", "customers"): [load(0, 2), load(1, 4, quarantined=5), load(2, 1)],
        ("shop_db", "orders"): [load(0, 10, rows=5000, watermark="2026-11-20T07:59:00"),
                                load(3, 1, rows=0, status="failed", error=f"source unavailable: {EVIL}")],
    }


def issues_of(section: Section) -> list[tuple[str, str]]:
    return [(issue.level, issue.text) for issue in section.issues]


def section(report: Report, table: str) -> Section:
    return next(s for s in report.sections if s.table == table)


def facts_of(section: Section) -> dict[str, Any]:
    return {fact.label: fact.value for fact in section.facts}


# --------------------------------------------------------------------------------------------------------- analysis

def test_analysis_summarises_every_table_with_its_recommendation() -> None:
    report = build_analysis_report([sample_customers(), sample_orders(), sample_empty()], [sample_recommendation()],
                                   generated_at="2026-11-22T12:00:00+00:00")

    assert report.name == "analysis" and report.generated_at == "2026-11-22T12:00:00+00:00"
    assert [row[:4] for row in report.summary.rows] == [
        ["shop_files", "customers", 1000, 4], ["shop_db", "orders", 5000, 3], ["shop_db", "empty_table", 0, 1]]
    assert report.summary.rows[0][4] == "postgres (heap)"
    assert report.counts["tables"] == 3 and report.counts["rows"] == 6000 and report.counts["recommendations"] == 1

    customers = section(report, "customers")
    facts = facts_of(customers)
    assert facts["Target store"] == "postgres" and facts["Indexes"] == ["btree(email)"]
    assert facts["DDL asset"] == "ddl/shop_files/customers"
    why = next(g for g in customers.grids if g.title == "Why this layout")
    assert why.rows[0] == ["primary key customer_id", "customer_id is unique and NOT NULL in 1,000 rows"]
    assert customers.paragraphs == ["Small dimension table: keep it in PostgreSQL.",
                                    f"Narrative (LLM, advisory only): Looks fine {EVIL}"]
    columns = next(g for g in customers.grids if g.title == "Columns")
    assert [row[0] for row in columns.rows] == ["customer_id", "email", "phone", EVIL]
    assert columns.rows[1][7] == "a@example.org (3)"


def test_analysis_flags_empty_tables_null_only_columns_and_missing_recommendations() -> None:
    report = build_analysis_report([sample_customers(), sample_orders(), sample_empty()], [sample_recommendation()])

    assert ("warn", f"columns with only NULLs: {EVIL}") in issues_of(section(report, "customers"))
    assert ("warn", "2 duplicate rows") in issues_of(section(report, "customers"))
    empty = issues_of(section(report, "empty_table"))
    assert ("warn", "the table is empty") in empty
    assert ("warn", "no storage recommendation yet: materialize recommendation/shop_db/empty_table") in empty
    assert section(report, "orders").health == "warn"
    assert report.health == "warn" and report.counts["tables_warn"] == 3


def test_analysis_of_a_healthy_table_is_ok_and_orphan_recommendations_are_noted() -> None:
    orders = sample_orders()
    recommendation = Recommendation(source="shop_db", table="orders", target_store="clickhouse",
                                    engine="ReplacingMergeTree(updated_at)", partition_by="month(updated_at)")
    stray = Recommendation(source="gone", table="t", target_store="postgres")

    report = build_analysis_report([orders], [recommendation, stray])

    assert report.health == "ok" and section(report, "orders").issues == []
    assert [n.text for n in report.notes] == ["recommendations without a profile (not shown): gone.t"]


def test_analysis_charts_rows_null_shares_and_semantic_types() -> None:
    report = build_analysis_report([sample_customers(), sample_orders(), sample_empty()])
    charts = {c.name: c for c in report.charts}

    assert charts["rows"].labels == ["shop_db.orders", "shop_files.customers", "shop_db.empty_table"]
    assert charts["rows"].values == [5000, 1000, 0]
    assert charts["null_shares"].labels == [f"customers.{EVIL}", "customers.phone", "customers.email"]
    assert charts["null_shares"].values == [1.0, 0.4, 0.012] and charts["null_shares"].format == "pct"
    assert dict(zip(charts["semantic_types"].labels, charts["semantic_types"].values, strict=True)) == {
        "identifier": 2, "integer": 2, "text": 1, "email": 1, "phone": 1, "timestamp": 1}


def test_charts_keep_the_largest_bars_and_say_so() -> None:
    profiles = [TableProfile("s", f"t{i:02}", i, None, []) for i in range(CHART_BARS + 5)]
    chart = build_analysis_report(profiles).charts[0]

    assert len(chart.labels) == CHART_BARS and chart.values[0] == CHART_BARS + 4
    assert chart.note == f"the {CHART_BARS} largest of {CHART_BARS + 5}"


def test_no_tables_gives_an_empty_but_valid_report() -> None:
    report = build_analysis_report([])
    assert report.health == "ok" and report.sections == [] and report.summary.rows == []
    assert all(chart.labels == [] for chart in report.charts)


# ---------------------------------------------------------------------------------------------------------- quality

def quality(**overrides: Any) -> Report:
    arguments: dict[str, Any] = {
        "rules": {("shop_files", "customers"): TableRules(("customer_id",), {"email": 0.0, "phone": 0.5}),
                  ("shop_db", "orders"): TableRules(("order_id", "line"))},
        "ingestion": sample_log(),
    }
    arguments.update(overrides)
    return build_quality_report([sample_customers(), sample_orders(), sample_empty()], **arguments)


def test_quality_fails_a_blocking_null_limit_and_passes_the_others() -> None:
    report = quality()
    customers = section(report, "customers")

    assert customers.health == "fail"
    assert ("fail", "email: 1.2% NULLs, above the limit of 0.0%") in issues_of(customers)
    assert not any("phone" in text for _, text in issues_of(customers))
    nulls = next(g for g in customers.grids if g.title == "NULLs and distinct values")
    assert nulls.rows[1] == ["email", "string", 12, 0.012, 0.0, 0.98, "fail"]
    assert nulls.rows[2][-1] == "ok" and nulls.rows[3][-1] == "warn"


def test_quality_non_blocking_limits_only_warn_and_unknown_columns_are_named() -> None:
    rules = {("shop_files", "customers"): TableRules((), {"email": 0.0, "fax": 0.1}, blocking=False)}
    customers = section(quality(rules=rules), "customers")

    assert ("warn", "email: 1.2% NULLs, above the limit of 0.0%") in issues_of(customers)
    assert ("warn", "a NULL limit is set for column 'fax', which the profile does not have") in issues_of(customers)
    assert customers.health == "warn"


@pytest.mark.parametrize(("key", "expected"), [
    (("order_id", "line"), []),
    (("order_id", "line", "updated_at"), []),
    (("line",), [("fail", "declared key (line) is not unique")]),
    (("order_no",), [("warn", "declared key (order_no) names columns the profile lacks")]),
])
def test_quality_checks_that_the_declared_key_is_unique(key: tuple[str, ...], expected: list) -> None:
    orders = section(quality(rules={("shop_db", "orders"): TableRules(key)}), "orders")
    assert [i for i in issues_of(orders) if "key" in i[1]] == expected


def test_a_single_not_null_all_distinct_column_is_a_unique_key_without_candidate_keys() -> None:
    profile = sample_orders()
    profile.candidate_keys = []
    report = build_quality_report([profile], rules={("shop_db", "orders"): TableRules(("order_id",))})
    assert section(report, "orders").issues == []


def test_quality_reports_failed_checks_by_severity() -> None:
    checks = [
        CheckOutcome("shop_db", "orders", "profile/shop_db/orders", "row_count_anomaly", False, "ERROR",
                     "5000 rows vs median 100"),
        CheckOutcome("shop_db", "orders", "raw/shop_db/orders", "freshness", False, "WARN", "9 hours old"),
        CheckOutcome("shop_db", "orders", "profile/shop_db/orders", "nulls", True),
    ]
    report = quality(checks=checks)
    orders = section(report, "orders")

    assert ("fail", "check row_count_anomaly on profile/shop_db/orders failed: 5000 rows vs median 100") in \
        issues_of(orders)
    assert ("warn", "check freshness on raw/shop_db/orders failed: 9 hours old") in issues_of(orders)
    grid = next(g for g in orders.grids if g.title.startswith("Asset checks"))
    assert [row[1:3] for row in grid.rows] == [["row_count_anomaly", "fail"], ["freshness", "warn"], ["nulls", "ok"]]
    assert facts_of(orders)["Checks passed"] == "1 of 3"
    assert report.counts["checks"] == 3 and report.counts["checks_failed"] == 2
    assert report.summary.rows[1][4] == 2


def test_quality_counts_quarantined_rows_from_the_ingestion_log() -> None:
    log = sample_log()
    log[("shop_files", "customers")].append(load(5, 1, quarantined=7))
    report = quality(ingestion=log)
    customers = section(report, "customers")

    assert facts_of(customers)["Rows quarantined (logged loads)"] == 12
    assert facts_of(customers)["Quarantine table"] == "raw_shop_files._quarantine"
    assert ("warn", "the last load quarantined 7 rows: see raw_shop_files._quarantine") in issues_of(customers)
    grid = next(g for g in customers.grids if g.title == "Loads with quarantined rows")
    assert [row[2] for row in grid.rows] == [7, 5]
    assert report.counts["rows_quarantined"] == 12


def test_quality_without_an_ingestion_log_says_quarantine_is_unknown() -> None:
    report = quality(ingestion=None)
    assert [n.text for n in report.notes] == ["the ingestion log was not available: quarantined rows are unknown"]
    assert facts_of(section(report, "customers"))["Rows quarantined (logged loads)"] is None
    assert report.summary.rows[0][5] is None


def test_reports_say_how_the_profile_was_made() -> None:
    sampled = sample_orders()
    sampled.sampled, sampled.sample_rows = True, 1000
    noted = sample_customers()
    noted.notes = ["exact over all rows: counts, nulls", "from a random sample of 500 rows: semantic types"]

    quality_report = build_quality_report([sampled, noted])
    analysis_report = build_analysis_report([noted])

    assert section(quality_report, "orders").paragraphs == ["Profile method: some facts come from a sample of "
                                                            "1,000 rows."]
    expected = ("Profile method: exact over all rows: counts, nulls; from a random sample of 500 rows: "
                "semantic types.")
    assert section(quality_report, "customers").paragraphs == [expected]
    assert section(analysis_report, "customers").paragraphs == [expected]


# --------------------------------------------------------------------------------------------------------- pipeline

def pipeline(log: Any = None) -> Report:
    tables = [("shop_files", "customers"), ("shop_db", "orders"), ("shop_db", "empty_table")]
    return build_pipeline_report(tables, sample_log() if log is None else log)


def test_pipeline_measures_loads_rows_durations_and_throughput() -> None:
    report = pipeline()
    customers = facts_of(section(report, "customers"))

    assert customers["Loads logged"] == 3 and customers["Succeeded"] == 3 and customers["Failed"] == 0
    assert customers["Rows written"] == 3000 and customers["Rows read"] == 3005
    assert customers["Median duration"] == 2.0
    assert customers["Median throughput (rows/s)"] == 500.0
    assert customers["Last load"] == "2026-11-20 10:00:00 UTC"
    recent = next(g for g in section(report, "customers").grids if g.title == "Recent loads")
    assert [row[0] for row in recent.rows] == ["2026-11-20 10:00:00 UTC", "2026-11-20 09:00:00 UTC",
                                               "2026-11-20 08:00:00 UTC"]
    assert recent.rows[1][5:7] == [4.0, 250.0]
    assert report.counts["loads"] == 5 and report.counts["loads_failed"] == 1
    assert report.counts["rows_written"] == 8000 and report.counts["rows_quarantined"] == 5


def test_pipeline_fails_a_table_whose_last_load_failed_and_warns_on_earlier_failures() -> None:
    log = sample_log()
    log[("shop_files", "customers")].insert(0, load(0.5, 1, status="failed", error="boom"))
    report = pipeline(log)

    orders = section(report, "orders")
    assert orders.health == "fail"
    assert issues_of(orders) == [("fail", f"the last load failed: source unavailable: {EVIL}")]
    assert facts_of(orders)["Watermark"] == "2026-11-20T07:59:00"
    assert facts_of(orders)["Median throughput (rows/s)"] == 500.0
    assert issues_of(section(report, "customers")) == [("warn", "1 earlier load(s) failed")]
    assert section(report, "empty_table").issues[0].text == "no loads logged yet"
    assert report.health == "fail" and report.summary.rows[1][8] == "fail"


def test_pipeline_treats_blocked_and_running_loads_apart_from_successes() -> None:
    running = {**load(9, 0), "finished_at": None, "status": "running"}
    blocked = load(8, 0, rows=0, status="blocked", error="open sync conflicts: 3")
    log = {("shop_files", "customers"): [load(0, 2), blocked], ("shop_db", "orders"): [load(0, 10), running]}
    report = pipeline(log)

    assert issues_of(section(report, "customers")) == [("warn", "the last load was blocked: open sync conflicts: 3")]
    assert issues_of(section(report, "orders")) == [("info", "a load is running since 2026-11-20 17:00:00 UTC")]
    assert section(report, "orders").health == "ok"
    assert facts_of(section(report, "customers"))["Succeeded"] == 1


def test_pipeline_accepts_iso_strings_for_times() -> None:
    row = {**load(0, 3), "started_at": "2026-11-20T08:00:00+00:00", "finished_at": "2026-11-20T08:00:03+00:00"}
    report = build_pipeline_report([("s", "t")], {("s", "t"): [row]})
    assert facts_of(report.sections[0])["Median duration"] == 3.0


def test_pipeline_without_an_ingestion_log_is_unknown() -> None:
    report = build_pipeline_report([("s", "t")], None)
    assert report.health == "unknown" and report.sections[0].health == "unknown"
    assert [n.text for n in report.notes] == ["the ingestion log was not available"]
    assert report.summary.rows[0][2] is None and report.counts["loads"] == 0


def test_report_dict_round_trips_through_json() -> None:
    import json

    data = json.loads(json.dumps(pipeline().to_dict(), default=str))
    assert data["name"] == "pipeline" and len(data["sections"]) == 3
    assert data["summary"]["fields"][0] == {"title": "Source", "format": "text"}
