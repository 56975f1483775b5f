"""The analysis report on hand-made profiles, recommendations and proofs."""

from __future__ import annotations

from etl_assets.profile.model import TableProfile
from etl_assets.proof.model import Proof, QueryTiming
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


def measured(source: str, table: str, naive_bytes: int, recommended_bytes: int,
             times: list[tuple[str, float, float]]) -> Proof:
    queries = [QueryTiming(name, "group_by", "SELECT 1", naive_ms=[naive] * 3, recommended_ms=[recommended] * 3,
                           naive_rows=1, recommended_rows=1) for name, naive, recommended in times]
    return Proof(source, table, "clickhouse", "measured", 100_000, rows_loaded=100_000, naive_bytes=naive_bytes,
                 recommended_bytes=recommended_bytes, queries=queries)


def test_analysis_shows_the_proof_sizes_query_medians_and_ratios() -> None:
    proof = measured("shop_files", "customers", 3_100_000, 1_000_000,
                     [("time range", 24.0, 10.0), ("group by", 24.0, 10.0), ("lookup", 2.4, 1.0), ("join", 4.8, 2.0)])

    report = build_analysis_report([sample_customers(), sample_orders()], [sample_recommendation()], proofs=[proof])

    customers = section(report, "customers")
    facts = facts_of(customers)
    assert facts["Proof"] == ("recommended layout: 3.1x smaller, 2.4x faster on these 4 queries (wall time including "
                              "client overhead)")
    assert facts["Speedup measured on"] == "wall time including client overhead"
    assert facts["Naive size"] == 3_100_000 and facts["Recommended size"] == 1_000_000
    assert round(facts["Size ratio vs naive"], 2) == 3.1 and round(facts["Query speedup vs naive"], 2) == 2.4
    grid = next(g for g in customers.grids if g.title.startswith("Proof by measurement"))
    assert grid.rows[0] == ["time range", None, None, 24.0, 10.0, 2.4]
    assert report.summary.rows[0][6].startswith("3.1x smaller, 2.4x faster on these 4 queries")
    assert report.summary.rows[1][6] is None and "Proof" not in facts_of(section(report, "orders"))
    assert report.counts["proofs"] == 1 and report.counts["proofs_flagged"] == 0


def test_a_recommendation_that_measures_worse_than_naive_is_flagged() -> None:
    worse = measured("shop_db", "orders", 1_000_000, 1_500_000, [("group by", 10.0, 20.0)])

    report = build_analysis_report([sample_orders()], proofs=[worse])

    orders = section(report, "orders")
    assert worse.flagged and "FLAGGED" in facts_of(orders)["Proof"]
    assert facts_of(orders)["Proof"].startswith("recommended layout: 1.5x larger, 2.0x slower on this query")
    issue_with(orders, "warn", "measures worse than naive", "1.5x larger")
    assert orders.health in ("warn", "fail") and report.counts["proofs_flagged"] == 1


def test_a_larger_layout_that_answers_faster_is_a_trade_not_a_flag() -> None:
    indexed = measured("shop_db", "orders", 1_000_000, 1_200_000, [("lookup", 30.0, 1.0), ("group by", 10.0, 9.0)])
    same_speed = measured("shop_db", "orders", 1_000_000, 1_200_000, [("group by", 10.0, 10.0)])

    assert not indexed.flagged and indexed.summary().startswith("recommended layout: 1.2x larger, 5.8x faster")
    assert same_speed.flagged


def test_a_failed_or_skipped_proof_says_why() -> None:
    failed = Proof("shop_db", "orders", "postgres", "failed", 100_000, rows_loaded=5000,
                   reason="the recommended layout could not be built or hold the sample: duplicate key")
    skipped = Proof("shop_files", "customers", "postgres", "skipped", 100_000,
                    reason="raw_shop_files.customers has no rows to measure with")

    report = build_analysis_report([sample_customers(), sample_orders()], proofs=[failed, skipped])

    assert facts_of(section(report, "orders"))["Proof"] == (
        "recommended layout FLAGGED: the recommended layout could not be built or hold the sample: duplicate key")
    assert facts_of(section(report, "customers"))["Proof"] == (
        "not measured: raw_shop_files.customers has no rows to measure with")
    assert report.counts["proofs_flagged"] == 1
