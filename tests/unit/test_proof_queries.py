"""The proof's pure parts: queries derived from a profile, logged queries retargeted, the naive layout, the sample
copy statement and the verdict."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from etl_assets.profile.model import TableProfile
from etl_assets.proof.engines import copy_statement, table_ref
from etl_assets.proof.measure import proof_namespaces
from etl_assets.proof.model import Proof, QueryTiming
from etl_assets.proof.naive import naive_ddl
from etl_assets.proof.queries import JoinTarget, SampleFacts, derived_queries, logged_queries, render, window
from etl_assets.recommend.model import Recommendation
from etl_assets.recommend.querylog import LoggedQuery
from resources.schema import Column, TableSchema
from tests.support.reports import column
from tests.support.sql import assert_same_sql

ROWS = 1000


def flights_profile() -> TableProfile:
    return TableProfile("air", "flights", ROWS, None, [
        column("id", ROWS, logical="int64", semantic="identifier"),
        column("carrier", ROWS, distinct=8, semantic="category"),
        column("dep_time", ROWS, logical="timestamptz", semantic="timestamp"),
        column("delay", ROWS, distinct=90, logical="float64", semantic="decimal"),
    ], candidate_keys=[["id"]], time_columns=["dep_time"])


FACTS = SampleFacts(ROWS, (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 11, 1, tzinfo=UTC)), {"id": 500})


def test_queries_from_the_profile_cover_time_range_group_by_lookup_and_joins() -> None:
    recommendation = Recommendation("air", "flights", "clickhouse", low_cardinality=["carrier"])
    joins = [JoinTarget(("carrier",), "carriers", ("code",))]

    queries = derived_queries(flights_profile(), recommendation, FACTS, joins)

    assert [q.kind for q in queries] == ["time_range", "group_by", "point_lookup", "join"]
    sql = {q.kind: render(q, "ns", "flights", "postgres") for q in queries}
    assert_same_sql(sql["time_range"], 'SELECT COUNT(*) AS row_count, SUM("delay") AS sum_0 FROM "ns"."flights" '
                    """WHERE "dep_time" >= '2024-05-17 06:00:00' AND "dep_time" < '2024-06-16 18:00:00'""", "postgres")
    assert_same_sql(sql["group_by"], 'SELECT "carrier", COUNT(*) AS row_count, SUM("delay") AS sum_0 '
                    'FROM "ns"."flights" GROUP BY "carrier"', "postgres")
    assert_same_sql(sql["point_lookup"], 'SELECT * FROM "ns"."flights" WHERE "id" = 500', "postgres")
    assert_same_sql(sql["join"], 'SELECT COUNT(*) AS row_count FROM "ns"."flights" AS "f" '
                    'INNER JOIN "ns"."carriers" AS "d" ON "f"."carrier" = "d"."code"', "postgres")
    assert "raw_air" not in sql["join"], "each layout joins its own layout of the dimension, not the raw table"


def test_without_a_time_column_or_key_only_what_the_profile_supports_is_asked() -> None:
    profile = TableProfile("s", "t", ROWS, None, [column("note", ROWS, semantic="text")])

    assert derived_queries(profile, Recommendation("s", "t", "postgres"), SampleFacts(ROWS)) == []


def test_group_by_falls_back_to_low_distinct_columns_of_the_profile() -> None:
    (query,) = [q for q in derived_queries(flights_profile(), Recommendation("air", "flights", "postgres"),
                                           SampleFacts(ROWS)) if q.kind == "group_by"]
    assert query.name == "group by carrier"


def test_group_by_takes_the_fewest_distinct_low_cardinality_columns_and_stops_before_a_group_per_row() -> None:
    rows = 100_000
    profile = TableProfile("land", "sales", rows, None, [
        column("postcode1", rows, distinct=2_300), column("postcode2", rows, distinct=3_200),
        column("type", rows, distinct=5), column("duration", rows, distinct=3), column("town", rows, distinct=1_150),
    ])
    every = Recommendation("land", "sales", "clickhouse", low_cardinality=["postcode1", "postcode2", "type",
                                                                          "duration", "town"])
    postcodes = Recommendation("land", "sales", "clickhouse", low_cardinality=["postcode1", "postcode2"])

    def grouped(recommendation: Recommendation) -> str:
        (query,) = [q for q in derived_queries(profile, recommendation, SampleFacts(rows)) if q.kind == "group_by"]
        return query.name

    assert grouped(every) == "group by duration, type"
    assert grouped(postcodes) == "group by postcode1", "2,300 x 3,200 groups would be one group per sampled row"


def test_group_by_skips_a_column_that_repeats_a_chosen_one() -> None:
    rows = 100_000
    profile = TableProfile("air", "ontime", rows, None, [
        column("Reporting_Airline", rows, distinct=16), column("IATA_CODE_Reporting_Airline", rows, distinct=16),
        column("Origin", rows, distinct=300),
    ], equivalent_columns=[["Reporting_Airline", "IATA_CODE_Reporting_Airline"]])
    layout = Recommendation("air", "ontime", "clickhouse",
                            low_cardinality=["Reporting_Airline", "IATA_CODE_Reporting_Airline", "Origin"])

    (query,) = [q for q in derived_queries(profile, layout, SampleFacts(rows)) if q.kind == "group_by"]

    assert query.name == "group by Reporting_Airline, Origin"


def test_coordinates_are_never_summed_as_measures() -> None:
    profile = TableProfile("nyc", "trips", ROWS, None, [
        column("pickup_datetime", ROWS, logical="timestamp", semantic="timestamp"),
        column("dropoff_longitude", ROWS, distinct=990, logical="float64", semantic="longitude"),
        column("dropoff_latitude", ROWS, distinct=980, logical="float64", semantic="latitude"),
        column("fare_amount", ROWS, distinct=400, logical="float64", semantic="decimal"),
    ], time_columns=["pickup_datetime"])
    facts = SampleFacts(ROWS, (datetime(2015, 7, 1), datetime(2015, 9, 30)))

    (query,) = derived_queries(profile, Recommendation("nyc", "trips", "clickhouse"), facts)

    assert [s.alias for s in query.tree.expressions] == ["row_count", "sum_0"]
    assert query.tree.expressions[1].this.this.name == "fare_amount"


def test_time_windows_are_the_middle_tenth_in_whole_seconds_or_days() -> None:
    assert window(date(2024, 1, 1), date(2024, 1, 3)) == (date(2024, 1, 1), date(2024, 1, 2))
    low, high = window(datetime(2024, 1, 1), datetime(2024, 1, 1, 0, 0, 10))
    assert (low, high) == (datetime(2024, 1, 1, 0, 0, 4), datetime(2024, 1, 1, 0, 0, 5))


def test_logged_queries_read_the_table_and_point_at_the_measured_one() -> None:
    log = [LoggedQuery("SELECT carrier, count(*) FROM flights f JOIN carriers c ON f.carrier = c.code "
                       "GROUP BY carrier", 1, "q.sql:1"),
           LoggedQuery("SELECT * FROM other", 5, "q.sql:2"),
           LoggedQuery("SELECT carrier, count(*) FROM flights f JOIN carriers c ON f.carrier = c.code "
                       "GROUP BY carrier", 2, "q.sql:3"),
           LoggedQuery("WITH x AS (SELECT id FROM flights) SELECT count(*) FROM x", 1, "q.sql:4"),
           LoggedQuery("SELEC nonsense", 9, "q.sql:5")]
    problems: list[str] = []

    queries = logged_queries(log, "flights", "postgres", "raw_air", problems)

    assert [q.name for q in queries] == ["logged query q.sql:1", "logged query q.sql:4"]
    assert_same_sql(render(queries[0], "ns", "flights", "clickhouse"),
                    'SELECT carrier, COUNT(*) FROM "ns"."flights" AS f JOIN "raw_air".carriers AS c '
                    "ON f.carrier = c.code GROUP BY carrier", "clickhouse")
    assert_same_sql(render(queries[1], "ns", "flights", "postgres"),
                    'WITH x AS (SELECT id FROM "ns"."flights" AS "flights") SELECT COUNT(*) FROM x', "postgres")
    assert problems == [] or all(p.startswith("q.sql:5") for p in problems)


SCHEMA = TableSchema("air", "Flights Data", [Column("id", "int64", nullable=False), Column("at", "timestamptz"),
                                              Column("payload", "json")])


def test_the_naive_layout_is_every_column_nullable_without_keys_or_order() -> None:
    assert_same_sql(";".join(naive_ddl(SCHEMA, "postgres", "n")),
                    'CREATE SCHEMA IF NOT EXISTS "n"; CREATE TABLE IF NOT EXISTS "n"."Flights Data" '
                    '("id" BIGINT, "at" TIMESTAMPTZ, "payload" JSONB)', "postgres")
    assert_same_sql(";".join(naive_ddl(SCHEMA, "clickhouse", "n")),
                    'CREATE DATABASE IF NOT EXISTS "n"; CREATE TABLE IF NOT EXISTS "n"."Flights Data" '
                    """("id" Nullable(Int64), "at" Nullable(DateTime64(6, 'UTC')), "payload" Nullable(String)) """
                    "ENGINE=MergeTree ORDER BY tuple()", "clickhouse")
    with pytest.raises(ValueError, match="no naive layout for dialect 'mysql'"):
        naive_ddl(SCHEMA, "mysql", "n")


def test_the_sample_copy_is_one_insert_select_with_quoted_names_and_casts() -> None:
    statement = copy_statement(table_ref("raw_air", "Flights Data"), table_ref("n", "Flights Data"), ["id", "at"],
                               "postgres", limit=100, casts={"id": "integer"})
    assert_same_sql(statement, 'INSERT INTO "n"."Flights Data" ("id", "at") SELECT CAST("id" AS INT), "at" '
                    'FROM "raw_air"."Flights Data" LIMIT 100', "postgres")


def test_proof_namespaces_are_stable_short_and_distinct_per_table() -> None:
    naive, recommended = proof_namespaces("air", "x" * 300)
    assert (naive, recommended) == proof_namespaces("air", "x" * 300)
    assert naive != recommended and len(naive) < 40 and naive.startswith("aietl_proof_")
    assert proof_namespaces("air", "a") != proof_namespaces("air", "b")


def timing(naive: float, recommended: float) -> QueryTiming:
    return QueryTiming("q", "group_by", "", naive_ms=[naive, naive * 2, naive], recommended_ms=[recommended] * 3)


def test_the_verdict_uses_medians_and_the_geometric_mean() -> None:
    proof = Proof("s", "t", "clickhouse", "measured", 10, rows_loaded=10, naive_bytes=310, recommended_bytes=100,
                  queries=[timing(8.0, 2.0), timing(2.0, 1.0)])
    assert proof.queries[0].naive_median_ms == 8.0 and round(proof.speedup, 3) == round((4 * 2) ** 0.5, 3)
    assert proof.summary() == ("recommended layout: 3.1x smaller, 2.8x faster on these 2 queries (wall time "
                               "including client overhead)")
    assert not proof.flagged and Proof.from_dict(proof.to_dict()) == proof

    mixed = Proof("s", "t", "postgres", "measured", 10, naive_bytes=100, recommended_bytes=100,
                  queries=[timing(8.0, 2.0), timing(1.0, 2.0)])
    assert not mixed.flagged and mixed.summary().endswith("(slower on: q)")
    slower = Proof("s", "t", "postgres", "measured", 10, naive_bytes=100, recommended_bytes=90,
                   queries=[timing(1.0, 3.0)])
    assert slower.flagged and slower.summary().endswith("FLAGGED: it measures worse than the naive layout")


def test_the_speedup_is_of_the_engine_time_when_the_engine_reports_every_run_of_both_layouts() -> None:
    reported = QueryTiming("q", "group_by", "", naive_ms=[9.0] * 3, recommended_ms=[5.0] * 3,
                           naive_engine_ms=[8.0] * 3, recommended_engine_ms=[4.0] * 3)
    partly = QueryTiming("q", "group_by", "", naive_ms=[9.0] * 3, recommended_ms=[5.0] * 3,
                         naive_engine_ms=[8.0] * 3, recommended_engine_ms=[4.0] * 2)
    assert reported.clock == "engine" and reported.speedup == 2.0
    assert partly.clock == "wall" and partly.speedup == 1.8
    proof = Proof("s", "t", "clickhouse", "measured", 10, naive_bytes=100, recommended_bytes=50, queries=[reported])
    assert proof.summary() == "recommended layout: 2.0x smaller, 2.0x faster on this query (engine time)"
    both = Proof("s", "t", "clickhouse", "measured", 10, naive_bytes=100, recommended_bytes=50,
                 queries=[reported, partly])
    assert both.clock == "engine time where reported, else wall time including client overhead"
    assert Proof.from_dict(both.to_dict()) == both
