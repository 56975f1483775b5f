"""The in-process Arrow profiler: exact facts, keys, duplicates, sampling and the awkward inputs."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from etl_assets.profile.model import TableProfile
from etl_assets.profile.profiler import profile_arrow, sample_table


def test_exact_column_facts() -> None:
    data = pa.table({
        "id": [1, 2, 3, 4, 5],
        "price": pa.array([Decimal("1.50"), Decimal("2.50"), None, Decimal("4.00"), Decimal("2.50")],
                          pa.decimal128(6, 2)),
        "city": ["Rome", "Paris", "Rome", None, "Rome"],
        "at": pa.array([dt.datetime(2026, 1, d) for d in (1, 2, 3, 4, 5)], pa.timestamp("us")),
        "ok": [True, False, True, True, None],
    })

    profile = profile_arrow(data, "s", "t")

    price = profile.column("price")
    assert (price.null_count, price.null_share, price.distinct_count) == (1, 0.2, 3)
    assert (price.min, price.max, price.mean) == (1.5, 4.0, pytest.approx(2.625))
    assert price.std == pytest.approx(float(np.std([1.5, 2.5, 4.0, 2.5], ddof=1)))
    assert price.quantiles["p50"] == pytest.approx(2.5) and price.quantiles["p25"] == pytest.approx(2.25)
    assert price.top_values[0] == ("2.5", 2)
    city = profile.column("city")
    assert city.top_values == [("Rome", 3), ("Paris", 1)]
    assert (city.min_length, city.max_length, city.mean_length) == (4, 5, 4.25)
    assert city.patterns == [("Aa", 4)]
    assert profile.column("at").min == "2026-01-01T00:00:00" and profile.column("at").semantic_type == "timestamp"
    assert profile.column("ok").mean == pytest.approx(0.75)
    assert profile.candidate_keys == [["id"], ["at"]]
    assert profile.time_columns == ["at"]
    assert profile.column("id").top_values == []
    assert "0.0% null" in profile.column("id").description


def test_declared_composite_key_and_duplicate_rows() -> None:
    data = pa.table({"order_id": [1, 1, 2, 2, 2], "line": [1, 2, 1, 2, 2], "qty": [3, 1, 1, 5, 5]})

    profile = profile_arrow(data, "s", "lines", primary_key=["order_id", "line"])

    assert profile.candidate_keys == []
    assert profile.duplicate_rows == 1
    clean = profile_arrow(data.slice(0, 4), "s", "lines", primary_key=["order_id", "line"])
    assert clean.candidate_keys == [["order_id", "line"]]
    assert clean.duplicate_rows == 0


def test_pairs_are_tried_when_no_single_column_is_unique() -> None:
    data = pa.table({"a": [1, 1, 2, 2], "b": ["x", "y", "x", "y"], "note": ["n", "n", "n", "m"]})

    assert profile_arrow(data, "s", "t").candidate_keys == [["a", "b"]]


def test_sampling_is_seeded_bounded_and_stated() -> None:
    data = pa.table({"n": list(range(50_000)), "email": [f"u{n}@example.com" for n in range(50_000)]})

    profile = profile_arrow(data, "s", "t", sample_rows=1000)

    assert profile.sampled and profile.sample_rows == 1000
    assert profile.column("n").distinct_count == 50_000
    assert profile.column("email").semantic_type == "email"
    assert sample_table(data, 1000).equals(sample_table(data, 1000))
    assert any("sample of 1000 rows" in note for note in profile.notes)


def test_columns_that_repeat_each_other_one_to_one_are_grouped() -> None:
    codes = ["AA", "UA", "DL", "B6"] * 25
    data = pa.table({
        "carrier": codes,
        "carrier_name": [{"AA": "American", "UA": "United", "DL": "Delta", "B6": "JetBlue"}[c] for c in codes],
        "gate": [f"G{(i // 4) % 4}" for i in range(100)],  # four values too, but not one per carrier
        "carrier_id": [{"AA": 1, "UA": 2, "DL": 3, "B6": 4}[c] for c in codes],
    })

    profile = profile_arrow(data, "air", "flights")

    assert profile.equivalent_columns == [["carrier", "carrier_name", "carrier_id"]]
    assert profile.repeats("carrier_id", ["carrier"]) and not profile.repeats("gate", ["carrier"])
    assert TableProfile.from_dict(profile.to_dict()).equivalent_columns == profile.equivalent_columns


def test_empty_table() -> None:
    data = pa.table({"id": pa.array([], pa.int64()), "name": pa.array([], pa.string())})

    profile = profile_arrow(data, "s", "empty")

    assert profile.row_count == 0 and profile.candidate_keys == [] and profile.duplicate_rows == 0
    assert all(c.null_share == 0 and c.distinct_count == 0 and c.min is None for c in profile.columns)


def test_only_nulls() -> None:
    data = pa.table({"a": pa.array([None] * 100, pa.int64()), "b": pa.array([None] * 100, pa.string()),
                     "c": pa.nulls(100)})

    profile = profile_arrow(data, "s", "nulls")

    assert all(c.null_share == 1.0 and c.distinct_count == 0 and c.top_values == [] for c in profile.columns)
    assert profile.column("a").mean is None and profile.column("a").quantiles == {}
    assert profile.duplicate_rows == 99


def test_mixed_types_one_distinct_huge_text_and_reserved_names() -> None:
    huge = "lorem ipsum " * 90_000
    data = pa.table({
        "select": ["1", "2.5", "abc", "2026-01-01", "true", None] * 4,
        "from": ["same"] * 24,
        "group by": [huge + str(n) for n in range(24)],
    })

    profile = profile_arrow(data, "s", "awkward")

    mixed, constant, text = profile.columns
    assert mixed.semantic_type == "category"
    assert mixed.patterns == [("a", 8), ("9", 4), ("9-9-9", 4), ("9.9", 4)]
    assert constant.distinct_count == 1 and constant.semantic_type == "category"
    assert text.max_length == len(huge) + 2 and text.semantic_type == "text"
    assert len(text.max) == 80 and all(len(value) <= 80 for value, _ in text.top_values)
    assert profile.candidate_keys == [["group by"]]


def test_nested_values_are_profiled_as_json() -> None:
    data = pa.table({"tags": [["a", "b"], ["a"], None, ["a"]]})

    column = profile_arrow(data, "s", "t").column("tags")

    assert column.logical_type == "json" and column.semantic_type == "json"
    assert column.null_count == 1 and column.patterns == []


def test_profile_round_trips_through_json() -> None:
    data = pa.table({"id": [1, 2], "city": ["Rome", "Oslo"]})
    profile = profile_arrow(data, "s", "t")

    restored = TableProfile.from_dict(json.loads(json.dumps(profile.to_dict(), default=str)))

    assert restored.row_count == 2 and restored.column("city").patterns[0][0] == "Aa"
