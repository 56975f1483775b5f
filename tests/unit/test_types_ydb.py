"""The YDB type mapper: every logical type round-trips through its YDB type, and YDB's own types read as the
logical types the connector has always given them."""

from __future__ import annotations

import pytest
import ydb

from resources.schema import parse_logical
from resources.ydb.types import YDB, decimal_of
from tests.support.types import assert_round_trips, round_trip


def test_every_logical_type_round_trips() -> None:
    assert_round_trips(YDB, widened={
        "timestamp": "timestamptz",  # one Timestamp type, in UTC
        "time": "int64",  # no time of day: the Interval since midnight, read as microseconds
        "binary": "string",  # YDB's String holds bytes, read as UTF-8 text
    })


@pytest.mark.parametrize(("logical", "native"), [
    ("int64", "Int64?"), ("decimal(22,9)", "Decimal(22,9)?"), ("uuid", "Uuid?"), ("json", "JsonDocument?"),
])
def test_nullable_types_are_spelled_as_the_sdk_does(logical: str, native: str) -> None:
    assert YDB.to_native(parse_logical(logical)) == native
    assert YDB.to_native(parse_logical(logical), nullable=False) == native.rstrip("?")


def test_the_sdk_spelling_of_a_type_reads_back() -> None:
    assert YDB.from_native(str(ydb.OptionalType(ydb.DecimalType(35, 10)))) == parse_logical("decimal(35,10)")
    assert YDB.from_native("Optional<Optional<Int8>>") == parse_logical("int16")
    assert round_trip(YDB, "decimal(38,10)") == parse_logical("decimal(38,10)")


@pytest.mark.parametrize(("native", "logical"), [
    ("Decimal(22, 9)", "decimal(22,9)"), ("Decimal(abc)", "string"), ("Decimal(22,9", "string"),
    ("PgInt4", "string"), ("Tuple<Int32,Utf8>", "json"), ("Whatever", "string"),
])
def test_unusual_spellings(native: str, logical: str) -> None:
    assert str(YDB.from_native(native)) == logical


def test_decimal_parameters_only_for_decimals() -> None:
    assert decimal_of("Decimal(22,9)") == (22, 9)
    assert decimal_of("Double") is None
