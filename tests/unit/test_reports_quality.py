"""The quality report on hand-made profiles, rules, check outcomes and ingestion logs."""

from __future__ import annotations

from typing import Any

import pytest

from etl_assets.reports.analysis import build_analysis_report
from etl_assets.reports.model import Report
from etl_assets.reports.quality import CheckOutcome, TableRules, build_quality_report
from tests.support.reports import (
    facts_of,
    issue_with,
    issues_of,
    load,
    sample_customers,
    sample_empty,
    sample_log,
    sample_orders,
    section,
)


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
    issue_with(customers, "fail", "email", "1.2%", "0.0%")
    assert not any("phone" in text for _, text in issues_of(customers))
    nulls = next(g for g in customers.grids if g.title == "NULLs and distinct values")
    assert nulls.rows[1] == ["email", "string", 12, 0.012, 0.0, 0.98, "fail"]
    assert nulls.rows[2][-1] == "ok" and nulls.rows[3][-1] == "warn"


def test_quality_non_blocking_limits_only_warn_and_unknown_columns_are_named() -> None:
    rules = {("shop_files", "customers"): TableRules((), {"email": 0.0, "fax": 0.1}, blocking=False)}
    customers = section(quality(rules=rules), "customers")

    issue_with(customers, "warn", "email", "1.2%", "0.0%")
    issue_with(customers, "warn", "NULL limit", "'fax'")
    assert customers.health == "warn"


@pytest.mark.parametrize(("key", "expected"), [
    (("order_id", "line"), []),
    (("order_id", "line", "updated_at"), []),
    (("line",), [("fail", "(line)")]),
    (("order_no",), [("warn", "(order_no)")]),
])
def test_quality_checks_that_the_declared_key_is_unique(key: tuple[str, ...], expected: list) -> None:
    orders = section(quality(rules={("shop_db", "orders"): TableRules(key)}), "orders")
    key_issues = [(level, text) for level, text in issues_of(orders) if "key" in text]
    assert [level for level, _ in key_issues] == [level for level, _ in expected]
    assert all(fact in text for (_, text), (_, fact) in zip(key_issues, expected, strict=True))


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

    issue_with(orders, "fail", "row_count_anomaly", "profile/shop_db/orders", "5000 rows vs median 100")
    issue_with(orders, "warn", "freshness", "raw/shop_db/orders", "9 hours old")
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
    issue_with(customers, "warn", "quarantined 7 rows", "raw_shop_files._quarantine")
    grid = next(g for g in customers.grids if g.title == "Loads with quarantined rows")
    assert [row[2] for row in grid.rows] == [7, 5]
    assert report.counts["rows_quarantined"] == 12


def test_quality_without_an_ingestion_log_says_quarantine_is_unknown() -> None:
    report = quality(ingestion=None)
    [note] = report.notes
    assert note.level == "warn" and "ingestion log" in note.text and "quarantined rows are unknown" in note.text
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
