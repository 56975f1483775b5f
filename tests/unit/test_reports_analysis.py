"""The analysis report on hand-made profiles and recommendations."""

from __future__ import annotations

from etl_assets.profile.model import TableProfile
from etl_assets.recommend.model import Recommendation
from etl_assets.reports.analysis import build_analysis_report
from etl_assets.reports.charts import CHART_BARS
from tests.support.reports import (
    EVIL,
    facts_of,
    issue_with,
    sample_customers,
    sample_empty,
    sample_orders,
    sample_recommendation,
    section,
)


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

    customers = section(report, "customers")
    issue_with(customers, "warn", "only NULLs", EVIL)
    issue_with(customers, "warn", "2 duplicate rows")
    empty = section(report, "empty_table")
    issue_with(empty, "warn", "table is empty")
    issue_with(empty, "warn", "recommendation/shop_db/empty_table")
    assert section(report, "orders").health == "warn"
    assert report.health == "warn" and report.counts["tables_warn"] == 3


def test_analysis_of_a_healthy_table_is_ok_and_orphan_recommendations_are_noted() -> None:
    orders = sample_orders()
    recommendation = Recommendation(source="shop_db", table="orders", target_store="clickhouse",
                                    engine="ReplacingMergeTree(updated_at)", partition_by="month(updated_at)")
    stray = Recommendation(source="gone", table="t", target_store="postgres")

    report = build_analysis_report([orders], [recommendation, stray])

    assert report.health == "ok" and section(report, "orders").issues == []
    [note] = report.notes
    assert note.level == "info" and "without a profile" in note.text and note.text.endswith("gone.t")


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
