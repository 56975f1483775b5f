"""Emitted pandas code run on small frames (expected values worked out by hand); emitted PySpark code compiles."""

from __future__ import annotations

import ast
import datetime as dt

import pandas as pd

from etl_assets.transform.emit_pandas import emit_pandas
from etl_assets.transform.emit_pyspark import emit_pyspark
from etl_assets.transform.spec.models import parse_document
from etl_assets.transform.spec.resolved import Pipelines
from etl_assets.transform.spec.resolver import load_pipelines, resolve
from tests.support.pipelines import PIPELINES, TABLES

UTC = dt.UTC


def run(models: dict, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    namespace: dict = {}
    exec(compile(emit_pandas(resolve(parse_document({"models": models}), TABLES)), "m.py", "exec"), namespace)
    return namespace["run_all"](tables)


ORDERS = pd.DataFrame({
    "order_id": [1, 2, 3, 4, 5],
    "customer_id": [10, 10, 20, 10, None],
    "store_id": [1, 1, 2, 2, 1],
    "status": ["paid", "returned", "paid", None, "paid"],
    "total": [10.0, 20.0, 5.0, 7.0, 1.0],
    "created_at": pd.to_datetime(["2026-01-01T23:30:00+00:00", "2026-01-03T00:00:00+00:00",
                                  "2026-01-02T00:00:00+00:00", "2026-01-05T12:00:00+00:00",
                                  "2026-01-06T00:00:00+00:00"], utc=True),
    "updated_at": pd.to_datetime(["2026-01-07T00:00:00+00:00"] * 5, utc=True),
})
CUSTOMERS = pd.DataFrame({"customer_id": [10, 20, 30], "first_name": ["Ann", "Bo", "Cy"]})


def test_join_where_group_having_follow_sql_null_semantics() -> None:
    result = run({"m": {
        "from": {"table": "shop_db.orders", "alias": "o"},
        "joins": [{"table": "shop_files.customers", "alias": "c", "type": "right", "on": ["o.customer_id = c.customer_id"]}],
        "where": [{"column": "o.status", "op": "!=", "value": "returned"}],
        "group_by": ["c.first_name"],
        "aggregations": [{"name": "n", "function": "count"}, {"name": "revenue", "function": "sum", "column": "o.total"}],
        "having": [{"column": "revenue", "op": ">", "value": 6}],
    }}, {"shop_db.orders": ORDERS, "shop_files.customers": CUSTOMERS})["m"]
    # Ann: orders 1 (paid) and 4 (NULL status: dropped like SQL's NULL != 'returned'); Cy has no orders and its
    # NULL status is dropped by WHERE; Bo's revenue 5 fails HAVING.
    assert result.to_dict("records") == [{"first_name": "Ann", "n": 1, "revenue": 10.0}]


def test_windows_and_derived_columns() -> None:
    result = run({"m": {
        "from": {"table": "shop_db.orders", "alias": "o"},
        "where": [{"column": "o.customer_id", "op": "not_null"}],
        "columns": ["o.order_id", "o.customer_id", "o.total", "o.created_at"],
        "windows": [
            {"name": "seq", "function": "row_number", "partition_by": ["customer_id"], "order_by": ["created_at"]},
            {"name": "prev_at", "function": "lag", "column": "created_at", "partition_by": ["customer_id"],
             "order_by": ["created_at"]},
            {"name": "running", "function": "sum", "column": "total", "partition_by": ["customer_id"],
             "order_by": ["created_at"]},
            {"name": "rank_total", "function": "rank", "order_by": ["customer_id desc"]},
            {"name": "dense", "function": "dense_rank", "order_by": ["customer_id desc"]},
        ],
        "derive": [{"name": "gap_days", "expr": "days_between(prev_at, created_at)"},
                   {"name": "day", "expr": "to_date(created_at)"}],
    }}, {"shop_db.orders": ORDERS})["m"].set_index("order_id")
    assert result["seq"].to_dict() == {1: 1, 2: 2, 3: 1, 4: 3}
    assert result["running"].astype(float).to_dict() == {1: 10.0, 2: 30.0, 3: 5.0, 4: 37.0}
    assert result["gap_days"].isna().to_dict() == {1: True, 2: False, 3: True, 4: False}
    assert result.loc[[2, 4], "gap_days"].tolist() == [1, 2]
    assert result["rank_total"].to_dict() == {1: 2, 2: 2, 3: 1, 4: 2}
    assert result["dense"].to_dict() == {1: 2, 2: 2, 3: 1, 4: 2}
    assert result.loc[1, "day"] == dt.date(2026, 1, 1)


def test_sample_pipelines_emit_valid_pandas_and_pyspark_modules() -> None:
    pipelines: Pipelines = load_pipelines(PIPELINES, TABLES)
    for source in (emit_pandas(pipelines), emit_pyspark(pipelines)):
        tree = ast.parse(source)
        functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert set(pipelines.models) | {"run_all"} <= functions
    spark = emit_pyspark(pipelines)
    assert "F.dense_rank().over(_window_spec(['day'], [('orders', True)]))" in spark
    assert "_window_spec(['store_id'], [('day', False)], 6, 0, framed=True)" in spark
    assert "_join(frame, _table(tables, 'shop_files.products', 'p'), 'right', [('i__product_id', 'p__product_id')])" \
        in spark
