"""The pipeline report on hand-made ingestion logs."""

from __future__ import annotations

import json
from typing import Any

from etl_assets.reports.model import Report
from etl_assets.reports.pipeline import build_pipeline_report
from tests.support.reports import EVIL, facts_of, issue_with, issues_of, load, sample_log, section


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
    assert [level for level, _ in issues_of(orders)] == ["fail"]
    issue_with(orders, "fail", "last load failed", f"source unavailable: {EVIL}")
    assert facts_of(orders)["Watermark"] == "2026-11-20T07:59:00"
    assert facts_of(orders)["Median throughput (rows/s)"] == 500.0
    assert [level for level, _ in issues_of(section(report, "customers"))] == ["warn"]
    issue_with(section(report, "customers"), "warn", "1 earlier load(s) failed")
    issue_with(section(report, "empty_table"), "warn", "no loads logged")
    assert report.health == "fail" and report.summary.rows[1][8] == "fail"


def test_pipeline_treats_blocked_and_running_loads_apart_from_successes() -> None:
    running = {**load(9, 0), "finished_at": None, "status": "running"}
    blocked = load(8, 0, rows=0, status="blocked", error="open sync conflicts: 3")
    log = {("shop_files", "customers"): [load(0, 2), blocked], ("shop_db", "orders"): [load(0, 10), running]}
    report = pipeline(log)

    assert [level for level, _ in issues_of(section(report, "customers"))] == ["warn"]
    issue_with(section(report, "customers"), "warn", "blocked", "open sync conflicts: 3")
    assert [level for level, _ in issues_of(section(report, "orders"))] == ["info"]
    issue_with(section(report, "orders"), "info", "running", "2026-11-20 17:00:00 UTC")
    assert section(report, "orders").health == "ok"
    assert facts_of(section(report, "customers"))["Succeeded"] == 1


def test_pipeline_accepts_iso_strings_for_times() -> None:
    row = {**load(0, 3), "started_at": "2026-11-20T08:00:00+00:00", "finished_at": "2026-11-20T08:00:03+00:00"}
    report = build_pipeline_report([("s", "t")], {("s", "t"): [row]})
    assert facts_of(report.sections[0])["Median duration"] == 3.0


def test_pipeline_without_an_ingestion_log_is_unknown() -> None:
    report = build_pipeline_report([("s", "t")], None)
    assert report.health == "unknown" and report.sections[0].health == "unknown"
    [note] = report.notes
    assert note.level == "warn" and "ingestion log" in note.text and "not available" in note.text
    assert report.summary.rows[0][2] is None and report.counts["loads"] == 0


def test_report_dict_round_trips_through_json() -> None:
    data = json.loads(json.dumps(pipeline().to_dict(), default=str))
    assert data["name"] == "pipeline" and len(data["sections"]) == 3
    assert data["summary"]["fields"][0] == {"title": "Source", "format": "text"}
