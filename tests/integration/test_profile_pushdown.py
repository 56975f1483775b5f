"""Pushed-down profiling on real engines: PostgreSQL (fixture server), ClickHouse on the embedded chdb engine and,
when CLICKHOUSE_URL is set, on a ClickHouse server. Tables are landed with the project's own destinations; the
exact facts computed in SQL must equal the in-process Arrow profile of the same data."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from etl_assets.profile.profiler import profile_arrow
from etl_assets.profile.pushdown import PushdownProfiler, TableNotFoundError
from resources.clickhouse import ClickHouseResource
from resources.postgres import PostgresResource
from resources.protocol import WriteMode
from resources.schema import Column, TableSchema

pytestmark = pytest.mark.integration

UTC = dt.UTC


@pytest.fixture(params=["postgres", "chdb", "clickhouse_server"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PostgresResource | ClickHouseResource]:
    if request.param == "postgres":
        yield PostgresResource.from_dsn(request.getfixturevalue("pg_dsn"))
        return
    if request.param == "clickhouse_server":
        url = os.environ.get("CLICKHOUSE_URL")
        if not url:
            pytest.skip("CLICKHOUSE_URL not set: no ClickHouse server is configured (the chdb run covers the engine)")
        yield ClickHouseResource(url=url, user=os.environ.get("CLICKHOUSE_USER", "default"),
                                 password=os.environ.get("CLICKHOUSE_PASSWORD", ""))
        return
    yield ClickHouseResource(chdb_path=str(tmp_path / "chdb"))


def land(warehouse: PostgresResource | ClickHouseResource, schema: TableSchema, data: pa.Table) -> str:
    """Write ``data`` with the warehouse's own Destination into a fresh namespace; returns the namespace."""
    namespace = f"raw_p{uuid.uuid4().hex[:8]}"
    if warehouse.dialect == "clickhouse":
        warehouse.execute(f"CREATE DATABASE IF NOT EXISTS {namespace}")
    warehouse.ensure_table(namespace, schema)
    warehouse.write(namespace, schema, data.cast(schema.arrow_schema()).to_batches(), WriteMode.REPLACE)
    return namespace


def profile_of(warehouse, schema: TableSchema, data: pa.Table, **options):
    namespace = land(warehouse, schema, data)
    profiler = PushdownProfiler(warehouse, namespace, schema.name)
    known = {c.name: c.logical_type for c in schema.columns}
    return profiler, profiler.profile(schema.source, primary_key=schema.primary_key, known_types=known, **options)


ORDERS = TableSchema(
    source="shop", name="orders", primary_key=["order_id"],
    columns=[Column("order_id", "int64", nullable=False), Column("email", "string"), Column("status", "string"),
             Column("total", "float64"), Column("paid", "bool"), Column("created_at", "timestamptz"),
             Column("select", "string")],
)


def orders_data(rows: int = 400) -> pa.Table:
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    return pa.table({
        "order_id": list(range(1, rows + 1)),
        "email": [None if n % 10 == 0 else f"user{n}@example.com" for n in range(rows)],
        "status": [("paid", "shipped", "shipped", "returned")[n % 4] for n in range(rows)],
        "total": [None if n % 25 == 0 else round(n * 1.75, 2) for n in range(rows)],
        "paid": [n % 3 == 0 for n in range(rows)],
        "created_at": [start + dt.timedelta(hours=n) for n in range(rows)],
        "select": [f"reserved {n % 7}" for n in range(rows)],
    })


def test_pushdown_equals_the_arrow_profile(warehouse) -> None:
    data = orders_data()
    _, pushed = profile_of(warehouse, ORDERS, data)
    local = profile_arrow(data, "shop", "orders", primary_key=["order_id"],
                          logical_types={c.name: c.logical_type for c in ORDERS.columns})

    assert pushed.row_count == local.row_count == 400
    assert pushed.sampled is False and pushed.sample_rows == 400
    for mine, theirs in zip(pushed.columns, local.columns):
        assert (mine.name, mine.null_count, mine.distinct_count) == (theirs.name, theirs.null_count,
                                                                     theirs.distinct_count)
        assert mine.semantic_type == theirs.semantic_type, mine.name
        assert (mine.min_length, mine.max_length) == (theirs.min_length, theirs.max_length)
        assert [count for _, count in mine.top_values] == [count for _, count in theirs.top_values], mine.name
        assert mine.mean == pytest.approx(theirs.mean) if theirs.mean is not None else mine.mean is None
        assert mine.std == pytest.approx(theirs.std) if theirs.std is not None else mine.std is None
        for label, value in theirs.quantiles.items():
            assert mine.quantiles[label] == pytest.approx(value), (mine.name, label)
    assert pushed.column("total").min == 1.75 and pushed.column("total").max == pytest.approx(698.25)
    assert pushed.column("created_at").min.startswith("2026-01-01T00:00:00")
    assert pushed.column("status").top_values[0] == ("shipped", 200)
    assert pushed.column("email").semantic_type == "email"
    assert pushed.column("select").semantic_type == "category"
    assert pushed.candidate_keys == local.candidate_keys == [["order_id"], ["created_at"]]
    assert pushed.time_columns == ["created_at"]
    assert pushed.size_bytes and pushed.size_bytes > 0


def test_sampled_profile_states_its_sample(warehouse) -> None:
    _, pushed = profile_of(warehouse, ORDERS, orders_data(3000), sample_rows=500)

    assert pushed.sampled is True
    assert 0 < pushed.sample_rows <= 500
    assert pushed.column("order_id").distinct_count == 3000
    assert pushed.column("email").semantic_type == "email"
    assert any("sample" in note for note in pushed.notes)


def test_key_facts_name_duplicates_and_nulls(warehouse) -> None:
    schema = TableSchema(source="shop", name="lines", columns=[Column("order_id", "int64"), Column("line", "int32"),
                                                                Column("qty", "int32")])
    data = pa.table({"order_id": [1, 1, 2, 2, 2, None], "line": [1, 2, 1, 1, 2, 1], "qty": [5, 5, 1, 1, 1, 3]})
    profiler, profile = profile_of(warehouse, schema, data)

    facts = profiler.key_facts(["order_id", "line"])

    assert (facts.rows, facts.null_keys, facts.duplicate_keys, facts.rows_in_duplicates) == (6, 1, 1, 2)
    assert facts.examples == [{"order_id": 2, "line": 1, "n": 2}]
    assert profile.duplicate_rows == 1
    assert profile.candidate_keys == []


def test_composite_candidate_key_is_found(warehouse) -> None:
    schema = TableSchema(source="shop", name="items", primary_key=["order_id", "line_no"],
                         columns=[Column("order_id", "int64"), Column("line_no", "int16"), Column("sku", "string")])
    data = pa.table({"order_id": [1, 1, 2, 2, 3], "line_no": [1, 2, 1, 2, 1], "sku": ["A", "B", "A", "C", "B"]})

    _, profile = profile_of(warehouse, schema, data)

    assert profile.candidate_keys == [["order_id", "line_no"]]
    assert profile.duplicate_rows == 0


def test_columns_that_repeat_each_other_are_found_in_the_warehouse(warehouse) -> None:
    schema = TableSchema(source="air", name="flights", columns=[
        Column("carrier", "string"), Column("order", "string"), Column("gate", "string"), Column("n", "int64")])
    codes = ["AA", "UA", "DL", "B6"] * 50
    data = pa.table({"carrier": codes, "order": [f"{c} Airlines" for c in codes],
                     "gate": [f"G{(i // 4) % 4}" for i in range(200)], "n": list(range(200))})

    _, profile = profile_of(warehouse, schema, data)

    assert profile.equivalent_columns == [["carrier", "order"]]
    local = profile_arrow(data, "air", "flights", logical_types={c.name: c.logical_type for c in schema.columns})
    assert local.equivalent_columns == profile.equivalent_columns


BAD = TableSchema(
    source="bad", name="awkward",
    columns=[Column("from", "string"), Column("group by", "int64"), Column("nothing", "float64"),
             Column("mixed", "string"), Column("body", "string")],
)


def test_bad_inputs_empty_table(warehouse) -> None:
    empty = pa.table({c.name: pa.array([], type=BAD.arrow_schema().field(c.name).type) for c in BAD.columns})

    _, profile = profile_of(warehouse, BAD, empty)

    assert profile.row_count == 0 and profile.candidate_keys == [] and profile.duplicate_rows == 0
    assert all(c.null_share == 0 and c.distinct_count == 0 and c.top_values == [] for c in profile.columns)


def test_bad_inputs_nulls_mixed_types_one_value_huge_text_reserved_words(warehouse) -> None:
    rows = 24
    huge = "word " * 100_000
    data = pa.table({
        "from": ["same"] * rows,
        "group by": list(range(rows)),
        "nothing": pa.array([None] * rows, pa.float64()),
        "mixed": [("1", "2.5", "abc", "2026-01-01", "true", '{"a": 1}')[n % 6] for n in range(rows)],
        "body": [huge + str(n) for n in range(rows)],
    })

    _, profile = profile_of(warehouse, BAD, data)

    constant, numbers, nothing, mixed, body = profile.columns
    assert (constant.distinct_count, constant.top_values, constant.semantic_type) == (1, [("same", 24)], "category")
    assert numbers.name == "group by" and numbers.max == 23
    assert (nothing.null_share, nothing.distinct_count, nothing.mean, nothing.quantiles) == (1.0, 0, None, {})
    assert mixed.semantic_type == "category" and len(mixed.patterns) == 5
    assert body.max_length == len(huge) + 2 and body.semantic_type == "text"
    assert len(body.max) <= 80 and all(len(value) <= 80 for value, _ in body.top_values)


def test_quotes_in_the_table_name_are_safe_in_catalog_reads(warehouse) -> None:
    """The catalog reads (columns, size) name the table as a literal or a quoted identifier: quotes cannot break out."""
    schema = TableSchema(source="shop", name='it\'s "odd"', columns=[Column("n", "int64"), Column("it's", "string")])

    _, profile = profile_of(warehouse, schema, pa.table({"n": [1, 2, 3], "it's": ["a", "b", None]}))

    assert profile.table == schema.name and profile.row_count == 3
    assert [(c.name, c.logical_type) for c in profile.columns] == [("n", "int64"), ("it's", "string")]
    assert profile.size_bytes is not None and profile.size_bytes > 0


def test_missing_table_is_named(warehouse) -> None:
    profiler = PushdownProfiler(warehouse, "raw_nowhere", "ghost")

    with pytest.raises(TableNotFoundError, match="raw_nowhere.ghost does not exist"):
        profiler.profile("nowhere")


def test_histograms_in_sql_equal_the_arrow_histograms(warehouse) -> None:
    data = orders_data()
    _, pushed = profile_of(warehouse, ORDERS, data)
    local = profile_arrow(data, "shop", "orders", primary_key=["order_id"],
                          logical_types={c.name: c.logical_type for c in ORDERS.columns})

    for name in ("order_id", "total", "created_at"):
        mine, theirs = pushed.column(name), local.column(name)
        assert mine.histogram_edges == pytest.approx(theirs.histogram_edges), name
        assert mine.histogram_counts == theirs.histogram_counts, name
        assert sum(mine.histogram_counts) == 400 - mine.null_count
    created = pushed.column("created_at")
    assert len(created.histogram_counts) == 20 and set(created.histogram_counts) == {20}
    assert created.histogram_edges[0] == dt.datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert pushed.column("status").histogram_counts == [] and pushed.column("paid").histogram_edges == []
