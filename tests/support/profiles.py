"""Sample table profiles (an event stream, an orders table) for the recommendation tests."""

from __future__ import annotations

from etl_assets.profile.model import ColumnProfile, GrowthFacts, TableProfile


def col(name: str, logical: str, distinct: int, rows: int, nulls: int = 0, semantic: str = "", **extra) -> ColumnProfile:
    semantic = semantic or {"string": "category", "json": "json"}.get(logical, "integer")
    return ColumnProfile(
        name=name, logical_type=logical, semantic_type=semantic, null_count=nulls,
        null_share=nulls / rows if rows else 0.0, distinct_count=distinct,
        distinct_share=distinct / rows if rows else 0.0, **extra,
    )


def events_profile(rows: int = 3_000_000, per_day: float | None = 2_000_000.0) -> TableProfile:
    columns = [
        col("event_id", "int64", rows, rows, semantic="identifier"),
        col("user_id", "int64", rows // 10, rows, semantic="identifier"),
        col("country", "string", 40, rows),
        col("kind", "string", 6, rows),
        col("payload", "json", rows, rows, nulls=rows // 2),
        col("amount", "float64", rows // 3, rows, semantic="decimal"),
        col("created_at", "timestamptz", rows, rows, semantic="timestamp",
            min="2026-01-01T00:00:00+00:00", max="2026-07-24T00:00:00+00:00"),
    ]
    growth = GrowthFacts(loads=24, rows_per_day=per_day, loads_per_day=24) if per_day else GrowthFacts()
    return TableProfile("app", "events", rows, None, columns, candidate_keys=[["event_id"]],
                        time_columns=["created_at"], growth=growth)


def orders_profile(rows: int = 3_000) -> TableProfile:
    columns = [
        col("order_id", "int64", rows, rows, semantic="identifier", min=1, max=rows),
        col("customer_id", "int32", 290, rows, semantic="identifier"),
        col("status", "string", 4, rows, max_length=9),
        col("total", "decimal(12,2)", rows - 10, rows, semantic="decimal"),
        col("created_at", "timestamptz", rows, rows, semantic="timestamp",
            min="2026-01-01T00:00:00+00:00", max="2026-03-02T00:00:00+00:00"),
        col("updated_at", "timestamptz", rows, rows, semantic="timestamp",
            min="2026-01-02T00:00:00+00:00", max="2026-03-03T00:00:00+00:00"),
    ]
    return TableProfile("shop_db", "orders", rows, None, columns, candidate_keys=[["order_id"]],
                        time_columns=["created_at", "updated_at"])
