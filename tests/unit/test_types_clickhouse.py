"""The ClickHouse type mapper: round trips for every logical type, the landing's overrides and the type trees."""

from __future__ import annotations

import pytest
from sqlglot import exp

from resources.clickhouse.types import CLICKHOUSE, LANDED_AS, LANDING, data_type, parse_native
from resources.schema import LOGICAL_TYPES, parse_logical
from tests.support.types import SUPPORTED, assert_round_trips, round_trip

Type = exp.DataType.Type


def test_every_logical_type_round_trips() -> None:
    assert_round_trips(CLICKHOUSE, widened={"binary": "string", "time": "string"})


def test_every_logical_type_round_trips_as_landed() -> None:
    assert_round_trips(LANDING, widened={"binary": "string", "time": "string", "json": "string"})


def test_the_landing_differs_only_where_declared() -> None:
    differing = {name for name in LOGICAL_TYPES if name != "decimal"
                 and CLICKHOUSE.to_native(parse_logical(name)) != LANDING.to_native(parse_logical(name))}
    assert differing == set(LANDED_AS)
    assert CLICKHOUSE.to_native(parse_logical("time"), nullable=False) == "Time64(6)"
    assert CLICKHOUSE.to_native(parse_logical("json")) == "JSON"
    assert LANDING.to_native(parse_logical("json")) == "Nullable(String)"


@pytest.mark.parametrize("logical", SUPPORTED, ids=str)
@pytest.mark.parametrize("nullable", [True, False])
def test_strings_render_the_trees(logical, nullable: bool) -> None:
    for mapper, landing in ((CLICKHOUSE, False), (LANDING, True)):
        tree = data_type(logical, nullable, landing=landing)
        assert isinstance(tree, exp.DataType)
        assert mapper.to_native(logical, nullable) == tree.sql("clickhouse")
        assert mapper.data_type(logical, nullable) == tree


def test_nullability_is_set_for_sqlglots_generator() -> None:
    assert data_type("int64", nullable=True).args["nullable"] is True
    assert data_type("int64", nullable=False).args["nullable"] is False
    assert data_type("json", nullable=True).args["nullable"] is False  # ClickHouse JSON cannot be Nullable
    assert data_type("decimal(12,3)", nullable=False).sql("clickhouse") == "Decimal(12, 3)"
    assert data_type("time", nullable=False).this == Type.USERDEFINED


@pytest.mark.parametrize(("native", "inner", "nullable"), [
    ("LowCardinality(Nullable(String))", "String", True),
    ("Nullable(DateTime64(3, 'UTC'))", "DateTime64(3, 'UTC')", True),
    ("SimpleAggregateFunction(max, UInt64)", "UInt64", False), ("Nullable(Time64(6))", "Time64(6)", True),
    ("Decimal(10, 2)", "Decimal(10, 2)", False),
])
def test_wrappers_are_peeled(native: str, inner: str, nullable: bool) -> None:
    parsed = parse_native(native)
    assert (parsed.sql(), parsed.nullable) == (inner, nullable)


@pytest.mark.parametrize(("native", "logical"), [
    ("Decimal", "decimal(10,0)"), ("Decimal(10)", "decimal(10,0)"), ("Decimal32(2)", "decimal(9,2)"),
    ("Decimal128(3)", "decimal(38,3)"), ("Decimal256(5)", "string"), ("numeric(12, 3)", "decimal(12,3)"),
])
def test_decimals(native: str, logical: str) -> None:
    assert str(CLICKHOUSE.from_native(native)) == logical


def test_round_trip_helper_agrees() -> None:
    assert str(round_trip(CLICKHOUSE, "decimal(38,10)")) == "decimal(38,10)"
