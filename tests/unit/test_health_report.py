"""The system-health report's judgements on hand-made inputs: staleness against a cron schedule, failures, Kafka lag,
the rows-landed chart, the rendered formats, and the plain tables of ``aietl status``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from etl_assets.keys import key_component
from etl_assets.reports.health import (
    HealthInputs,
    SourceProbe,
    StoreSize,
    TableState,
    TopicLag,
    missed_runs,
    status_text,
    table_statuses,
)
from etl_assets.reports.health_probes import run_bounded
from etl_assets.reports.health_report import build_health_report, rows_landed_chart
from etl_assets.reports.quality import CheckOutcome
from etl_assets.reports.render import render_html, render_json, render_markdown

NOW = datetime(2026, 12, 2, 10, 20, tzinfo=UTC)


def load(hours_ago: float, status: str = "success", rows: int = 10, error: str | None = None,
         watermark: str | None = None) -> dict:
    started = NOW - timedelta(hours=hours_ago)
    return {"started_at": started, "finished_at": started + timedelta(seconds=3), "status": status,
            "rows_written": rows, "error": error, "watermark_to": watermark, "mode": "full"}


def test_missed_runs_counts_the_ticks_after_the_last_sync() -> None:
    assert missed_runs("0 * * * *", NOW - timedelta(minutes=10), NOW) == 0
    assert missed_runs("0 * * * *", NOW - timedelta(minutes=50), NOW) == 1
    assert missed_runs("0 * * * *", NOW - timedelta(hours=5, minutes=1), NOW) == 5
    assert missed_runs("*/30 * * * *", NOW - timedelta(days=30), NOW) == 100  # counted up to a bound


def test_table_status_against_schedule_freshness_and_failures() -> None:
    tables = [
        TableState("db", "fresh", "postgres", "0 * * * *", loads=[load(0.5, watermark="2026-12-02T09:00")],
                   rows=1200),
        TableState("db", "stale", "postgres", "0 * * * *", loads=[load(3)]),
        TableState("db", "broken", "postgres", "0 * * * *",
                   loads=[load(0.2, "failed", error="boom: connection refused"), load(0.8)]),
        TableState("files", "old", "files", None, freshness_hours=1, loads=[load(2)]),
        TableState("files", "never", "files", None, loads=[]),
        TableState("files", "unknown", "files", None, loads=None),
    ]
    tables.append(TableState("shop-db", "Order Items", "postgres", None, loads=[load(1)]))
    odd = [key_component("shop-db"), key_component("Order Items")]
    checks = [CheckOutcome(*odd, f"profile/{odd[0]}/{odd[1]}", "schema", False, "ERROR", "column dropped"),
              CheckOutcome("db", "fresh", "profile/db/fresh", "not_null_id", False, "WARN", "3 NULL ids"),
              CheckOutcome("db", "fresh", "profile/db/fresh", "unique_id", True, "ERROR", "")]
    statuses = {s.table: s for s in table_statuses(HealthInputs([], tables, checks=checks), NOW)}

    fresh = statuses["fresh"]
    assert (fresh.health, fresh.rows, fresh.watermark, fresh.failures) == ("warn", 1200, "2026-12-02T09:00", 1)
    assert fresh.expected == "cron 0 * * * *" and round(fresh.age_s) == 1797
    assert "not_null_id" in fresh.issue
    assert statuses["stale"].health == "warn"
    assert statuses["stale"].issue.startswith("stale: last synced 2 h 59 min ago")
    assert "3 scheduled runs" in statuses["stale"].issue
    assert statuses["broken"].health == "fail" and statuses["broken"].failures == 1
    assert "connection refused" in statuses["broken"].issue
    assert statuses["old"].issue.startswith("stale") and "1 h its freshness check" in statuses["old"].issue
    assert (statuses["never"].health, statuses["never"].issue) == ("warn", "never synced")
    assert statuses["unknown"].health == "unknown"
    assert statuses["Order Items"].health == "fail" and "column dropped" in statuses["Order Items"].issue


def test_rows_landed_chart_is_chronological_per_hour_or_day() -> None:
    hourly = rows_landed_chart([TableState("a", "t", "files", loads=[load(1, rows=5), load(3, rows=7),
                                                                       load(3.2, rows=1), load(2, "failed")])])
    assert hourly.labels == ["2026-12-02 07:00", "2026-12-02 09:00"] and hourly.values == [8.0, 5.0]
    daily = rows_landed_chart([TableState("a", "t", "files", loads=[load(24 * 5, rows=2), load(1, rows=3)])])
    assert daily.labels == ["2026-11-27", "2026-12-02"] and "per day" in daily.title
    assert rows_landed_chart([]).labels == [] and rows_landed_chart([]).note


def inputs_with_an_unreachable_source() -> HealthInputs:
    return HealthInputs(
        probes=[SourceProbe("shop_db", "postgres", True, "answered SELECT 1", 0.01),
                SourceProbe("gone", "postgres", False, "source gone: cannot connect: connection refused", 0.002),
                SourceProbe("events", "kafka", True, "broker answered", 0.2)],
        tables=[TableState("shop_db", "orders", "postgres", "0 * * * *", loads=[load(0.3, rows=40)], rows=40),
                TableState("gone", "t", "postgres", None, loads=[]),
                TableState("events", "clicks", "kafka", None, loads=[load(0.1, rows=6)])],
        lags=[TopicLag("events", "clicks", {0: 10, 1: 5}, {0: 4, 1: 5})],
        sizes=[StoreSize("warehouse", "raw_shop_db", 16384, 2), StoreSize("qdrant", "shop_db__orders", 9000, 40)],
    )


def test_report_marks_the_unreachable_source_and_keeps_rows_in_step_with_sections() -> None:
    report = build_health_report(inputs_with_an_unreachable_source(), now=NOW)
    assert report.health == "fail"
    assert report.counts["sources_unreachable"] == 1 and report.counts["kafka_lag"] == 6
    assert report.counts["warehouse_bytes"] == 16384 and report.counts["qdrant_points"] == 40
    assert [row[1] for row in report.summary.rows] == [s.title for s in report.sections[:3]]
    gone = report.sections[1]
    assert gone.health == "fail" and gone.issues[0].text.startswith("unreachable: source gone: cannot connect")
    assert [s.title for s in report.sections[3:]] == ["Asset checks", "Storage"]
    markdown = render_markdown(report)
    assert "## gone — ❌ FAIL" in markdown and "Kafka lag per topic" in markdown
    assert "raw\\_shop\\_db" in markdown or "raw_shop_db" in markdown
    assert json.loads(render_json(report))["counts"]["sources"] == 3
    assert "<img src=\"data:image/svg+xml;base64," in render_html(report)


def test_status_text_lists_sources_and_tables() -> None:
    inputs = inputs_with_an_unreachable_source()
    text = status_text(inputs, table_statuses(inputs, NOW))
    lines = text.splitlines()
    assert lines[0].split() == ["SOURCE", "KIND", "REACHABLE", "DETAIL"]
    assert any(line.split()[:3] == ["gone", "postgres", "NO"] for line in lines)
    orders = next(line for line in lines if line.startswith("shop_db") and "orders" in line)
    assert "40" in orders and "OK" in orders
    clicks = next(line for line in lines if line.startswith("events") and "clicks" in line)
    assert clicks.split()[-3:-1] == ["6", "0"]


def test_kafka_lag_trusts_the_count_read_over_under_reported_end_offsets() -> None:
    assert TopicLag("e", "t", {0: 3}, {0: 1}, read=9, drained=True).lag == 9
    assert TopicLag("e", "t", {0: 30}, {0: 1}, read=9).lag == 29
    assert TopicLag("e", "t", error="no answer within 5 s").lag is None


def test_run_bounded_gives_up_on_a_probe_that_does_not_answer() -> None:
    import threading

    release = threading.Event()
    outcomes = run_bounded({"slow": lambda: release.wait(30), "fast": lambda: 1,
                            "bad": lambda: (_ for _ in ()).throw(RuntimeError("password s3cret refused"))},
                           timeout_s=0.5, secrets={"bad": ["s3cret"]})
    release.set()
    assert outcomes["fast"].value == 1 and not outcomes["fast"].error
    assert outcomes["slow"].error == "no answer within 0.5 s"
    assert outcomes["bad"].error == "password *** refused"


def test_health_schedule_materializes_only_the_report_hourly_and_is_on_by_default() -> None:
    import dagster as dg

    from etl_assets.config.models import DataSources
    from etl_assets.keys import report_key
    from etl_assets.reports.assets import build_health_asset
    from resources.metadata import MetadataResource
    from resources.postgres import PostgresResource
    from sensors.schedules import HEALTH_JOB, build_schedules

    datasources = DataSources.model_validate({"warehouse": "wh", "metadata": "wh",
                                              "targets": {"postgres": {"wh": {"database": "wh"}}}})
    [schedule] = build_schedules(datasources, [])
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("5 * * * *", "UTC")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    defs = dg.Definitions(assets=[build_health_asset(datasources, []), dg.AssetSpec(["raw", "s", "t"])],
                          schedules=[schedule], resources={"warehouse": PostgresResource(),
                                                           "metadata": MetadataResource(postgres=PostgresResource())})
    job = defs.resolve_job_def(HEALTH_JOB)
    assert set(job.asset_layer.executable_asset_keys) == {report_key("health")}
    tick = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=NOW))
    assert len(tick.run_requests) == 1
