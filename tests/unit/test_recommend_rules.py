"""The rules engine: tables of (profile [+ settings, query log] -> decisions), edge cases, and cited facts."""

from __future__ import annotations

import re

import pytest

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.profile.model import TableProfile
from etl_assets.recommend.decisions import recommend
from etl_assets.recommend.model import Index, Recommendation
from etl_assets.recommend.querylog import LoggedQuery, analyze
from resources.schema import Column, TableSchema
from tests.support.profiles import col, events_profile, orders_profile


def source_table(profile: TableProfile, kind: str = "postgres", sync: SyncSettings = SyncSettings(),
                 primary_key: list[str] | None = None, checks: CheckSettings = CheckSettings()) -> SourceTable:
    columns = [Column(c.name, c.logical_type, nullable=c.null_count > 0) for c in profile.columns]
    schema = TableSchema(profile.source, profile.table, columns, primary_key=primary_key or [],
                         cursor_column=sync.cursor)
    return SourceTable(kind=kind, schema=schema, sync=sync, batch_size=1000, semantic_search=False, text_columns=(),
                       checks=checks, target="warehouse")


def assert_in_order(text: str, *facts: str) -> None:
    """``text`` mentions every fact, in this order, whatever the words around them."""
    positions = [text.find(fact) for fact in facts]
    assert -1 not in positions and positions == sorted(positions), f"{facts} not in order in {text!r}"


MERGE = SyncSettings(mode="merge", cursor="updated_at")
INCREMENTAL = SyncSettings(mode="incremental", cursor="created_at")


@pytest.mark.parametrize(("label", "profile", "table", "expected"), [
    ("big append-only time series", events_profile(), None, {
        "target_store": "clickhouse", "engine": "MergeTree", "partition_by": "day(created_at)",
        "order_by": ["created_at", "event_id"], "refresh_cadence": "*/15 * * * *", "role": "fact",
        "low_cardinality": ["country", "kind"],
    }),
    ("big time series, slower growth", events_profile(per_day=200_000), None, {
        # 6M rows/month < MIN_ROWS_PER_PARTITION: yearly partitions (73M rows a year at this growth)
        "target_store": "clickhouse", "partition_by": "year(created_at)", "refresh_cadence": "hourly",
    }),
    ("mutable orders, big", orders_profile(30_000_000), source_table(orders_profile(30_000_000), sync=MERGE,
                                                                     primary_key=["order_id"]), {
        "target_store": "clickhouse", "engine": "ReplacingMergeTree(updated_at)", "order_by": ["order_id"],
        "partition_by": "month(created_at)", "primary_key": ["order_id"], "refresh_cadence": "hourly",
    }),
    ("small mutable orders", orders_profile(), source_table(orders_profile(), sync=MERGE, primary_key=["order_id"]), {
        "target_store": "postgres", "engine": None, "partition_by": None, "primary_key": ["order_id"],
        "indexes": [Index(("order_id",), "btree")], "distribution": "all", "refresh_cadence": "daily",
    }),
    ("clickhouse source stays analytical", orders_profile(), source_table(orders_profile(), kind="clickhouse",
                                                                         sync=MERGE, primary_key=["order_id"]), {
        # 3,000 rows: partitions would hold a few hundred rows each; none
        "target_store": "clickhouse", "engine": "ReplacingMergeTree(updated_at)", "partition_by": None,
    }),
    ("kafka stream", events_profile(), source_table(events_profile(), kind="kafka"), {
        "target_store": "kafka", "refresh_cadence": "streaming",
    }),
    ("tight freshness", orders_profile(), source_table(orders_profile(), checks=CheckSettings(freshness_hours=0.5)), {
        "target_store": "postgres", "refresh_cadence": "*/15 * * * *",
    }),
])
def test_decisions(label, profile, table, expected):
    decided = recommend(profile, table)
    assert {key: getattr(decided, key) for key in expected} == expected, label


def test_big_append_only_table_read_by_key_stays_in_postgres_with_brin_and_range_partitions():
    rows = 120_000_000
    profile = events_profile(rows, per_day=None)
    lookups = analyze([LoggedQuery("SELECT * FROM events WHERE event_id = $1", 900),
                       LoggedQuery("SELECT * FROM events e JOIN users u ON u.id = e.user_id", 50)])
    table = source_table(profile, sync=INCREMENTAL, primary_key=["event_id"])
    decided = recommend(profile, table, lookups.for_table("events"))
    assert decided.target_store == "postgres"
    assert (decided.partition_by, decided.partition_column) == ("month(created_at)", "created_at")
    assert decided.primary_key == ["event_id", "created_at"]  # the partition column joins the key
    assert Index(("created_at",), "brin") in decided.indexes
    assert Index(("event_id", "created_at"), "btree") in decided.indexes
    assert Index(("payload",), "gin") in decided.indexes
    assert decided.distribution_key == ["user_id"]  # the most joined column


def test_huge_table_without_time_is_hash_partitioned_in_postgres():
    rows = 20_000_000
    profile = TableProfile("s", "accounts", rows, None, [col("account_id", "int64", rows, rows),
                                                        col("name", "string", rows // 2, rows)])
    decided = recommend(profile, source_table(profile, primary_key=["account_id"]))
    assert (decided.target_store, decided.partition_by) == ("postgres", "hash(account_id, 8)")


def test_a_log_in_which_nothing_reads_a_big_table_makes_it_a_parquet_archive():
    profile = orders_profile(24_000_000)
    decided = recommend(profile, source_table(profile, primary_key=["order_id"]), analyze([]).for_table("orders"))
    assert (decided.target_store, decided.partition_by, decided.indexes) == ("parquet", "month(created_at)", [])
    archive = next(r for r in decided.reasons if "Parquet" in r.claim)
    assert_in_order(archive.fact, "24,000,000", "no query", "orders")


def test_query_log_drives_postgres_indexes():
    profile = orders_profile()
    usage = analyze([
        LoggedQuery("SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at DESC", 500),
        LoggedQuery("SELECT * FROM orders WHERE status LIKE 'pa%'", 20),
    ]).for_table("orders")
    decided = recommend(profile, source_table(profile, sync=MERGE, primary_key=["order_id"]), usage)
    assert Index(("customer_id",), "btree") in decided.indexes
    assert Index(("created_at",), "btree") in decided.indexes
    assert Index(("status",), "gin_trgm") in decided.indexes
    reason = next(r for r in decided.reasons if r.claim.startswith("BTREE index on customer_id"))
    assert "equality in 500" in reason.fact


def test_query_log_drives_clickhouse_sort_key_and_skip_indexes():
    profile = events_profile()
    usage = analyze([
        LoggedQuery("SELECT count() FROM events WHERE country = 'DE' AND created_at > now() - 1", 900),
        LoggedQuery("SELECT * FROM events WHERE user_id = 42", 300),
        LoggedQuery("SELECT * FROM events WHERE amount BETWEEN 1 AND 5", 30),
    ], dialect="clickhouse").for_table("events")
    decided = recommend(profile, None, usage)
    assert decided.order_by == ["country", "created_at", "event_id"]
    assert Index(("user_id",), "bloom_filter") in decided.indexes
    assert Index(("amount",), "minmax") in decided.indexes
    assert "filtered by" in decided.summary


def test_summary_reads_like_the_product_brief():
    decided = recommend(events_profile(), None)
    shape, layout = decided.summary.split(" -> ")
    assert_in_order(shape, "time-series", "3,000,000 rows", "2M rows/day")
    assert_in_order(layout, "ClickHouse MergeTree", "day", "every 15 minutes")


def test_every_reason_cites_a_fact_with_numbers_or_settings():
    for profile, table in [(events_profile(), None), (orders_profile(), source_table(orders_profile(), sync=MERGE))]:
        for reason in recommend(profile, table).reasons:
            assert reason.claim and reason.fact
            assert re.search(r"\d|sync mode|source|declared|json|no ", reason.fact), reason


def test_the_rules_are_deterministic():
    assert recommend(events_profile(), None) == recommend(events_profile(), None)


# ---------------------------------------------------------------------------------------------------- edge cases


def test_empty_table_gets_safe_defaults():
    profile = TableProfile("s", "empty", 0, 0, [col("id", "int64", 0, 0), col("at", "timestamp", 0, 0)])
    decided = recommend(profile, source_table(profile, primary_key=["id"]))
    assert (decided.target_store, decided.partition_by, decided.low_cardinality) == ("postgres", None, [])
    assert decided.primary_key == ["id"]
    assert any("row_count=0" in r.fact for r in decided.reasons)
    assert decided.summary.startswith("empty (0 rows)")


def test_all_null_and_constant_columns_are_never_keys_or_indexes():
    rows = 2_000_000
    profile = events_profile(rows)
    profile.columns += [col("nothing", "string", 0, rows, nulls=rows), col("always", "string", 1, rows)]
    usage = analyze([LoggedQuery("SELECT * FROM events WHERE nothing = 'x' AND always = 'y'", 99)]).for_table("events")
    decided = recommend(profile, None, usage)
    used = {*decided.order_by, *decided.primary_key, *(c for i in decided.indexes for c in i.columns)}
    assert not used & {"nothing", "always"}
    facts = " ".join(r.fact for r in decided.reasons)
    assert "nothing is NULL in all 2,000,000 rows" in facts and "always holds one distinct value" in facts


def test_primary_key_with_nulls_is_dropped_with_a_reason():
    profile = orders_profile()
    profile.columns[0] = col("order_id", "int64", 2_990, 3_000, nulls=10)
    decided = recommend(profile, source_table(profile, primary_key=["order_id"]))
    assert decided.primary_key == []
    assert any("order_id has 10 NULLs" in r.fact for r in decided.reasons)


def test_mixed_types_huge_text_and_unparsable_times_do_not_break_the_rules():
    rows = 5_000
    profile = TableProfile("s", "odd", rows, None, [
        col("id", "int64", rows, rows),
        col("mixed", "string", 40, rows, min=3, max="zebra"),
        col("essay", "string", rows, rows, semantic="text", max_length=5_000_000, mean_length=900_000),
        col("when", "timestamp", rows, rows, min="not a time", max=None),
    ], time_columns=["when"])
    decided = recommend(profile, None)
    assert decided.target_store == "postgres"
    assert Index(("essay",), "gin_trgm") not in decided.indexes  # too long for a trigram index
    assert isinstance(Recommendation.from_dict(decided.to_dict()), Recommendation)


def test_foreign_key_columns_take_the_key_type_unless_their_own_values_do_not_fit():
    from etl_assets.recommend.model import ColumnType, ForeignKey
    from etl_assets.recommend.types import match_references
    from etl_assets.relationships.model import KeyColumnType

    own = [ColumnType("cust", "int16", False, min_value=1, max_value=900, reason="int16: integers 1..900; no NULLs"),
           ColumnType("shop", "int64", True, min_value=1, max_value=5_000_000_000, reason="int64: ...; 3 NULLs"),
           ColumnType("code", "string", False, max_length=2, fixed_length=True, enum_values=("AA", "BB"),
                      reason="string, length 2..2")]
    fks = [ForeignKey(("cust",), "s", "customers", ("c_id",), ref_types=(KeyColumnType("c_id", "int64", 1, 40_000),)),
           ForeignKey(("shop",), "s", "shops", ("id",), 0.995, 2, ref_types=(KeyColumnType("id", "int64", 1, 99),)),
           ForeignKey(("code",), "s", "carriers", ("code",),
                      ref_types=(KeyColumnType("code", "string", max_length=3),))]

    cust, shop, code = match_references(own, fks)

    assert (cust.logical, cust.nullable, cust.min_value, cust.max_value) == ("int32", False, 1, 40_000)
    assert cust.reason == "int32: matches customers.c_id, which it references (own values 1..900); no NULLs"
    assert shop.logical == "int64" and shop.nullable and "kept: its values 1..5000000000 fall outside" in shop.reason
    assert (code.max_length, code.fixed_length, code.enum_values) == (3, False, ())
    assert "matches carriers.code" in code.reason


def test_columns_the_log_aggregates_are_named_and_clickhouse_keeps_them_fast_to_decode():
    from etl_assets.ddl.build import build_ddl

    profile = events_profile()
    schema = TableSchema("app", "events", [Column(c.name, c.logical_type) for c in profile.columns])
    usage = analyze([LoggedQuery("SELECT kind, sum(amount), avg(amount) FROM events GROUP BY kind", 50)],
                    dialect="clickhouse").for_table("events")
    logged, unlogged = recommend(profile, None, usage), recommend(profile, None)
    assert (logged.aggregated, unlogged.aggregated) == (["amount"], [])
    reason = next(r for r in logged.reasons if r.claim == "aggregated by the query log: amount")
    assert reason.fact == "amount: aggregate in 50 executions"

    def amount_sql(recommendation: Recommendation) -> tuple[str, list[str]]:
        ddl = build_ddl(schema, recommendation, "clickhouse", namespace="ns", profile=profile)
        return next(line for line in ddl.sql().splitlines() if line.strip().startswith('"amount"')), ddl.notes

    (with_log, notes), (without_log, _) = amount_sql(logged), amount_sql(unlogged)
    assert "CODEC(ZSTD(1))" in without_log and "CODEC" not in with_log
    assert "default LZ4 (no CODEC) on amount: the query log aggregates them, and LZ4 decodes several times faster " \
           "than ZSTD" in notes
