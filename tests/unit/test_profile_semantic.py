"""Semantic type inference and value patterns on small Arrow samples."""

from __future__ import annotations

import pyarrow as pa
import pytest

from etl_assets.profile.semantic import ColumnShape, infer_semantic_type, value_patterns


def semantic(values: list, name: str = "value", logical: str = "string", distinct: int | None = None,
             is_key: bool = False) -> str:
    non_null = [v for v in values if v is not None]
    lengths = [len(str(v)) for v in non_null] or [0]
    shape = ColumnShape(name=name, logical_type=logical, non_null_count=len(non_null),
                        distinct_count=len(set(non_null)) if distinct is None else distinct,
                        max_length=max(lengths), is_key=is_key)
    return infer_semantic_type(shape, pa.array(values))


@pytest.mark.parametrize("values, expected", [
    (["a@b.com", "first.last+tag@mail.example.org", None], "email"),
    (["+49 30 2458591", "+1 (555) 123-4567", "030 1234567"], "phone"),
    (["https://example.com/a?b=1", "http://x.org"], "url"),
    (["3fa85f64-5717-4562-b3fc-2c963f66afa6", "0b7e6a2c-1d2f-4a5b-9c8d-7e6f5a4b3c2d"], "uuid"),
    (["10.0.0.1", "192.168.1.254", "::1", "fe80::1"], "ip"),
    (['{"a": 1}', "[1, 2]", '{"nested": {"b": null}}'], "json"),
    (["2026-01-01", "2025-12-31"], "date"),
    (["2026-01-01T10:00:00Z", "2026-01-01 10:00:00+02:00", "2026-01-01T10:00"], "timestamp"),
    (["true", "False", "yes", "N"], "boolean"),
    (["12", "-3", "+40", "12"], "integer"),
    (["1.5", "-0.25", "3", "1e3"], "decimal"),
])
def test_string_rules(values: list, expected: str) -> None:
    assert semantic(values) == expected


def test_ninety_percent_of_values_must_match() -> None:
    assert semantic(["a@b.com"] * 9 + ["not an email"]) == "email"
    assert semantic(["a@b.com"] * 8 + ["not an email", "neither"]) == "category"


def test_clock_times_are_not_ip_addresses() -> None:
    assert semantic(["12:30:00", "11:00:00", "09:15:00"]) != "ip"


@pytest.mark.parametrize("logical, expected", [
    ("bool", "boolean"), ("int32", "integer"), ("float64", "decimal"), ("decimal(12,2)", "decimal"),
    ("date", "date"), ("timestamptz", "timestamp"), ("json", "json"), ("uuid", "uuid"), ("binary", "text"),
])
def test_logical_types_map_directly(logical: str, expected: str) -> None:
    assert semantic([None], logical=logical, distinct=5) == expected


def test_coordinates_need_the_name_and_the_range() -> None:
    def coordinate(name: str, low: float, high: float) -> str:
        shape = ColumnShape(name=name, logical_type="float64", non_null_count=2, distinct_count=2, min=low, max=high)
        return infer_semantic_type(shape, pa.array([low, high]))

    assert coordinate("pickup_latitude", 40.5, 40.9) == "latitude"
    assert coordinate("lat", -33.9, 51.5) == "latitude"
    assert coordinate("dropoff_longitude", -74.1, -73.7) == "longitude"
    assert coordinate("lng", -179.5, 179.9) == "longitude"
    assert coordinate("lat", 10.0, 120.0) == "decimal"  # beyond 90 degrees: not a latitude
    assert coordinate("flat_rate", 1.0, 2.0) == "decimal"
    assert coordinate("fare_amount", 5.0, 80.0) == "decimal"


def test_unique_key_like_integers_are_identifiers() -> None:
    assert semantic([1, 2, 3], name="customer_id", logical="int64") == "identifier"
    assert semantic([1, 2, 3], name="amount", logical="int64") == "integer"
    assert semantic([1, 2, 3], name="amount", logical="int64", is_key=True) == "identifier"
    assert semantic([1, 1, 3], name="customer_id", logical="int64") == "integer"


def test_codes_categories_and_free_text() -> None:
    assert semantic([f"KIT-{n:04d}" for n in range(50)], name="sku") == "identifier"
    assert semantic(["Paris", "Rome", "Paris", "Rome", "Berlin", "Paris"]) == "category"
    sentences = [f"order {n} arrived late and the box was damaged" for n in range(50)]
    assert semantic(sentences) == "text"
    assert semantic(["only"] * 10) == "category"
    assert semantic([None, None], distinct=0) == "category"


def test_patterns_collapse_runs_and_rank_by_frequency() -> None:
    values = pa.array(["kira.smith1@example.com", "Liam.Dubois22@mail.de", "+49 30 2458591", None, "ÜBER straße 7"])

    patterns = value_patterns(values)

    assert patterns == [("+9 9 9", 1), ("A a 9", 1), ("Aa.Aa9@a.a", 1), ("a.a9@a.a", 1)]
    assert value_patterns(pa.array(["ab1", "cd2", "X"])) == [("a9", 2), ("A", 1)]


def test_patterns_of_huge_values_use_a_prefix() -> None:
    patterns = value_patterns(pa.array(["x" * 1_000_000, "y" * 2_000_000]))

    assert patterns == [("a", 2)]


def test_patterns_of_nothing() -> None:
    assert value_patterns(pa.array([None, None], pa.string())) == []
