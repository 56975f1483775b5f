"""Types chosen from the profile, the role deciding the layout, relationships in the advice and DDL, growth from
changed content; with the issue's bad input."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pyarrow as pa
import pytest

from etl_assets.ddl.build import build_all, build_ddl
from etl_assets.profile.growth import growth_facts
from etl_assets.profile.model import TableProfile
from etl_assets.profile.profiler import profile_arrow
from etl_assets.recommend.decisions import recommend
from etl_assets.recommend.model import Recommendation
from etl_assets.relationships.model import CandidateKey, Relationship, Relationships, TableRef
from resources.schema import Column, TableSchema
from tests.support.profiles import col

FLIGHTS, CARRIERS = TableRef("air", "flights"), TableRef("air", "carriers")


def flights(rows: int = 2_000) -> pa.Table:
    start = dt.datetime(2013, 1, 1)
    return pa.table({
        "id": list(range(rows)),
        "carrier": [["AA", "UA", "DL", "B6"][i % 4] for i in range(rows)],
        "dep_delay": [float(i % 90) if i % 7 else None for i in range(rows)],
        "distance": [float(100 + i % 977) for i in range(rows)],
        "time_hour": [start + dt.timedelta(hours=i * 4) for i in range(rows)],
    })


def carriers() -> pa.Table:
    return pa.table({"carrier": ["AA", "UA", "DL", "B6"], "name": ["American", "United", "Delta", "JetBlue"]})


RELATIONSHIPS = Relationships(
    keys=[CandidateKey(FLIGHTS, ("id",)), CandidateKey(CARRIERS, ("carrier",))],
    relationships=[Relationship(FLIGHTS, ("carrier",), CARRIERS, ("carrier",), 1.0, 0, 4)],
)


def test_types_are_chosen_from_the_profile_with_reasons():
    profile = profile_arrow(flights(), "air", "flights", primary_key=["id"])
    decided = recommend(profile, None, None, RELATIONSHIPS)
    chosen = {c.name: c for c in decided.column_types}
    assert chosen["id"].logical == "int16" and not chosen["id"].nullable
    assert chosen["dep_delay"].logical == "int16" and chosen["dep_delay"].nullable  # whole numbers, with NULLs
    assert "whole numbers" in chosen["dep_delay"].reason
    assert chosen["carrier"].low_cardinality and chosen["carrier"].fixed_length and not chosen["carrier"].nullable
    ddl = build_all(profile_schema(profile), decided, namespace="ns", profile=profile)
    clickhouse = ddl["clickhouse"].sql()
    assert '"carrier" LowCardinality(String) NOT NULL' in clickhouse
    assert '"dep_delay" Nullable(UInt8)' in clickhouse and '"time_hour" DateTime NOT NULL' in clickhouse
    assert "`carrier` ENUM('AA', 'B6', 'DL', 'UA') NOT NULL" in ddl["mysql"].sql()


def test_the_sort_key_takes_one_of_two_codes_that_repeat_each_other():
    """ICAO beside IATA carrier codes, one to one: sorting by the second after the first sorts nothing further."""
    data = flights()
    icao = {"AA": "AAL", "UA": "UAL", "DL": "DAL", "B6": "JBU"}
    data = data.append_column("carrier_icao", pa.array([icao[c] for c in data.column("carrier").to_pylist()]))
    profile = profile_arrow(data, "air", "flights", primary_key=["id"])
    assert profile.equivalent_columns == [["carrier", "carrier_icao"]]

    decided = recommend(profile, None, None, RELATIONSHIPS)

    assert decided.order_by == ["carrier", "time_hour", "id"]


def test_a_closed_set_needs_rows_to_show_it_closed():
    """Four carriers over 2,000 rows are a closed set (MySQL ENUM, ClickHouse Enum8 off the sort key); the same four
    in 40 rows are just what a small table holds yet."""
    from etl_assets.recommend.types import ENUM_MIN_ROWS_PER_VALUE

    def carrier(rows: int):
        profile = profile_arrow(flights(rows), "air", "flights", primary_key=["id"])
        return next(c for c in recommend(profile, None, None, RELATIONSHIPS).column_types if c.name == "carrier")

    assert carrier(2_000).enum_values == ("AA", "B6", "DL", "UA")
    assert carrier(4 * ENUM_MIN_ROWS_PER_VALUE - 1).enum_values == ()


def test_a_closed_set_of_values_too_long_to_show_whole_is_no_enum():
    """The profile's top values are shortened past MAX_SHOWN_CHARS: an enum of them would reject the real values."""
    from etl_assets.profile.profiler import MAX_SHOWN_CHARS

    rows = 1_000
    data = pa.table({"id": list(range(rows)),
                     "label": [("a" * MAX_SHOWN_CHARS + "x", "b" * MAX_SHOWN_CHARS + "y")[i % 2] for i in range(rows)]})
    profile = profile_arrow(data, "s", "labels", primary_key=["id"])
    (label,) = [c for c in recommend(profile, None).column_types if c.name == "label"]
    assert label.enum_values == ()


def test_postgres_gets_an_enum_type_for_a_closed_set_off_the_keys():
    """Not for a column of a foreign key (it keeps the type of the key it references) nor of the primary key."""
    from etl_assets.ddl.common import Table
    from etl_assets.ddl.dialects.postgres import enum_ref

    profile = profile_arrow(flights(), "air", "flights", primary_key=["id"])
    decided = recommend(profile, None, None, RELATIONSHIPS)
    schema = profile_schema(profile)

    def postgres(layout: Recommendation) -> str:
        return build_ddl(schema, layout, "postgres", namespace="ns", profile=profile).sql()

    unrelated = replace(decided, foreign_keys=[])
    name = enum_ref(Table(schema, unrelated, "ns", {}, None), "carrier").name
    assert name.startswith("flights_carrier_")
    assert (f"DO 'BEGIN CREATE TYPE \"ns\".\"{name}\" AS ENUM (''AA'', ''B6'', ''DL'', ''UA''); EXCEPTION "
            "WHEN duplicate_object THEN NULL; END'") in postgres(unrelated)
    assert f'"carrier" "ns"."{name}" NOT NULL' in postgres(unrelated)
    assert [fk.columns for fk in decided.foreign_keys] == [("carrier",)] and "CREATE TYPE" not in postgres(decided)
    assert "CREATE TYPE" not in postgres(replace(unrelated, primary_key=["carrier", "id"]))
    long_labels = replace(unrelated, column_types=[
        replace(c, enum_values=tuple(v * 40 for v in c.enum_values)) if c.name == "carrier" else c
        for c in unrelated.column_types])
    assert "CREATE TYPE" not in postgres(long_labels), "PostgreSQL enum labels are at most 63 bytes"


def test_enum_type_names_are_short_and_never_meet():
    from etl_assets.ddl.common import Table
    from etl_assets.ddl.dialects.postgres import MAX_IDENTIFIER_BYTES, enum_ref

    def name(table: str, column: str) -> str:
        return enum_ref(Table(TableSchema("s", table, [Column(column, "string")]), Recommendation("s", table,
                                                                                            "postgres"),
                              "ns", {}, None), column).name

    long = name("t" * 40, "ü" * 20)
    assert len(long.encode()) <= MAX_IDENTIFIER_BYTES and long.startswith("t" * 40 + "_")
    assert long != name("t" * 40, "ü" * 19 + "x")
    assert name("order", "status_code") != name("order_status", "code")


def profile_schema(profile) -> TableSchema:
    return TableSchema(profile.source, profile.table, [Column(c.name, c.logical_type) for c in profile.columns],
                       primary_key=["id"] if profile.table == "flights" else ["carrier"])


def test_fact_and_dimension_roles_decide_the_layout_and_relationships_reach_the_ddl():
    fact_profile = profile_arrow(flights(), "air", "flights", primary_key=["id"])
    fact = recommend(fact_profile, None, None, RELATIONSHIPS)
    # a balanced 2-letter code (4 values, 25% each) leads the sort, then the time (OnTime, Cell towers)
    assert fact.role == "fact" and fact.order_by == ["carrier", "time_hour", "id"]
    redshift = build_ddl(profile_schema(fact_profile), fact, "redshift", namespace="ns", profile=fact_profile)
    assert 'SORTKEY("time_hour", "carrier", "id")' in redshift.sql()  # zone maps prune time ranges
    assert [(fk.columns, fk.ref_table) for fk in fact.foreign_keys] == [(("carrier",), "carriers")]
    assert fact.joins and fact.joins[0].ref_table == "carriers"
    postgres = build_ddl(profile_schema(fact_profile), fact, "postgres", namespace="ns", profile=fact_profile)
    assert any('FOREIGN KEY ("carrier") REFERENCES "ns"."carriers" ("carrier")' in n for n in postgres.notes)
    dimension_profile = profile_arrow(carriers(), "air", "carriers", primary_key=["carrier"])
    dimension = recommend(dimension_profile, None, None, RELATIONSHIPS)
    assert dimension.role == "reference" and dimension.order_by == ["carrier"] and dimension.dictionary
    clickhouse = build_ddl(profile_schema(dimension_profile), dimension, "clickhouse", namespace="ns",
                           profile=dimension_profile)
    assert any("CREATE DICTIONARY" in n for n in clickhouse.notes)
    assert dimension.distribution == "all"


def big_flights_profile(rows: int, first: str, last: str, days_with_rows: int, logical: str = "date"):
    """A flights profile of ``rows`` rows (too many to generate in a unit test), time column ``day``."""
    return TableProfile("air", "flights", rows, None, [
        col("id", "int64", rows, rows, semantic="identifier", min=0, max=rows - 1),
        col("carrier", "string", 4, rows, max_length=2, min_length=2, patterns=[("A", 10)],
            top_values=[("AA", rows // 4), ("B6", rows // 4), ("DL", rows // 4), ("UA", rows // 4)]),
        col("distance", "float64", 977, rows, semantic="decimal", min=100.5, max=1076.5),
        col("day", logical, days_with_rows, rows, semantic="date", min=first, max=last),
    ], candidate_keys=[["id"]], time_columns=["day"])


def test_big_fact_is_time_partitioned_in_every_dialect_and_outliers_make_few_partitions():
    # 400M rows in 2013 (33M a month) and three outliers back to 1901: the days holding rows set the density
    profile = big_flights_profile(400_000_000, "1901-01-01", "2013-12-31", 368)
    decided = recommend(profile, None, None, RELATIONSHIPS)
    assert decided.role == "fact" and decided.target_store == "clickhouse"
    assert decided.partition_by == "month(day)"
    schema = TableSchema("air", "flights", [Column(c.name, c.logical_type) for c in profile.columns],
                         primary_key=["id"])
    ddl = build_all(schema, decided, namespace="ns", profile=profile)
    assert "PARTITION BY toYYYYMM" in ddl["clickhouse"].sql()
    assert "PARTITION BY DATE_TRUNC" in ddl["bigquery"].sql() or "PARTITION BY DATE" in ddl["bigquery"].sql()
    postgres = ddl["postgres"].sql()
    assert "PARTITION BY RANGE" in postgres and "USING brin" in postgres
    assert postgres.count("PARTITION OF") <= 61
    assert "DISTKEY" in ddl["redshift"].sql() and 'SORTKEY("day"' in ddl["redshift"].sql()


@pytest.mark.parametrize(("rows", "first", "days", "expected"), [
    (200_000, "2013-01-01", 365, None),  # 17k rows a month: partitions would be tiny
    (60_000_000, "2010-01-01", 1461, "year(day)"),  # 1.2M a month < 10M, 15M a year: yearly
    (60_000_000, "1901-01-01", 40_000, None),  # a timestamp-like spread over a century: 600k a year
    (2_700_000_000, "2013-01-01", 900, "day(day)"),  # 90M rows a month: daily
    (3_285_000_000, "2013-01-01", 1_095, "month(day)"),  # as dense, but 1,095 days > MAX_PARTITIONS: monthly
])
def test_partition_granularity_follows_rows_per_partition(rows, first, days, expected):
    last = (dt.date.fromisoformat(first) + dt.timedelta(days=days - 1)).isoformat()
    decided = recommend(big_flights_profile(rows, first, last, days))
    assert decided.partition_by == expected
    if expected is None:
        assert any(r.claim == "no partitioning on day" for r in decided.reasons)


@pytest.mark.parametrize("rows", [1, 3])
def test_one_row_and_all_columns_key_tables(rows):
    data = pa.table({"a": ["x", "y", "z"][:rows], "b": [1, 1, 2][:rows]})
    profile = profile_arrow(data, "s", "tiny", primary_key=[])
    decided = recommend(profile)
    assert Recommendation.from_dict(decided.to_dict()) == decided
    for ddl in build_all(TableSchema("s", "tiny", [Column("a", "string"), Column("b", "int64")]), decided,
                         namespace="ns", profile=profile).values():
        assert "CREATE TABLE" in ddl.sql()


def test_a_key_with_one_duplicate_is_not_a_key_and_a_thousand_columns_work():
    data = pa.table({"id": [1, 2, 3, 3], **{f"c{i}": [i, i + 1, i, i] for i in range(1_000)}})
    profile = profile_arrow(data, "s", "wide", primary_key=[])
    decided = recommend(profile)
    assert "id" not in decided.primary_key
    assert len(decided.column_types) == 1_001


def test_override_wins_and_older_dicts_load():
    profile = profile_arrow(flights(), "air", "flights", primary_key=["id"])
    decided = recommend(profile, column_types={"id": "int64"})
    assert decided.column_type("id").logical == "int64" and "datasources.yaml" in decided.column_type("id").reason
    with pytest.raises(ValueError, match="column_types names columns the table lacks: \\['nope'\\]"):
        recommend(profile, column_types={"nope": "int32"})
    old = {"source": "s", "table": "t", "target_store": "postgres", "reasons": [], "indexes": []}
    assert Recommendation.from_dict(old).role == "table"


def load(minutes: int, mode: str, rows: int) -> dict:
    started = dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
    return {"started_at": started, "finished_at": started, "mode": mode, "rows_written": rows, "status": "success"}


def test_growth_comes_from_changed_content_not_from_how_often_loads_ran():
    reloads = growth_facts([load(0, "replace", 300), load(5, "replace", 300)])
    assert reloads.rows_per_day is None and reloads.loads_per_day is None  # minutes apart: no rate
    days = growth_facts([load(0, "replace", 300), load(2 * 1440, "replace", 300)])
    assert days.rows_per_day == 0.0
    grown = growth_facts([load(0, "replace", 300), load(2 * 1440, "replace", 500)])
    assert grown.rows_per_day == pytest.approx(100.0)
    profile = profile_arrow(flights(), "air", "flights", primary_key=["id"])
    first = recommend(profile)
    profile.growth = reloads
    assert recommend(profile).refresh_cadence == first.refresh_cadence == "daily"
