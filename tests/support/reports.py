"""Hand-made profiles, recommendations and ingestion logs for the report tests, and ways to look into a Report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from etl_assets.profile.model import ColumnProfile, TableProfile
from etl_assets.recommend.model import Index, Reason, Recommendation
from etl_assets.reports.model import Issue, Report, Section

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


def issue_with(section: Section, level: str, *facts: str) -> Issue:
    """The section's one issue of ``level`` that mentions every fact (numbers, names), whatever its wording."""
    matches = [i for i in section.issues if i.level == level and all(fact in i.text for fact in facts)]
    assert len(matches) == 1, f"expected one {level} issue with {facts}, got {issues_of(section)}"
    return matches[0]
