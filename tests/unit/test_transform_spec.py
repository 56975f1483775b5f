"""pipelines.yaml validation: every error names the model, the field path and what is wrong, before dbt runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_assets.config.loader import ConfigError
from etl_assets.transform.spec.models import parse_document
from etl_assets.transform.spec.resolver import PipelineSpecError, load_pipelines, resolve
from tests.support.pipelines import PIPELINES, TABLES


def problems(models: dict) -> list[str]:
    with pytest.raises(PipelineSpecError) as raised:
        resolve(parse_document({"version": 1, "models": models}), TABLES)
    return raised.value.problems


def orders_join(on: str, **extra) -> dict:
    return {"from": {"table": "shop_db.orders", "alias": "o"},
            "joins": [{"table": "shop_files.customers", "alias": "c", "type": "inner", "on": [on]}], **extra}


def test_the_sample_pipelines_are_valid() -> None:
    pipelines = load_pipelines(PIPELINES, TABLES)
    assert {"customer_lifetime_value", "product_sales", "daily_store_revenue", "customer_order_history",
            "loyal_customers", "store_traffic", "fct_orders"} <= set(pipelines.models)
    order = [model.name for model in pipelines.ordered()]
    assert order.index("daily_store_revenue") < order.index("store_traffic")
    assert list(pipelines.models["customer_lifetime_value"].output)[:2] == ["customer_id", "first_name"]


def test_unknown_join_column_names_model_path_and_existing_columns() -> None:
    [problem] = problems({"ltv": orders_join("o.customer_id = c.cust_id", columns=["o.order_id"])})
    assert problem.startswith("models.ltv.joins[0].on[0]: column c.cust_id does not exist in shop_files.customers")
    assert "columns: customer_id, first_name" in problem


def test_unqualified_column_in_two_tables_is_ambiguous() -> None:
    [problem] = problems({"ltv": orders_join("customer_id = c.customer_id", columns=["o.order_id"])})
    assert "models.ltv.joins[0].on[0]: column customer_id is ambiguous" in problem
    assert "o (shop_db.orders) and c (shop_files.customers)" in problem


def test_join_condition_that_does_not_involve_the_joined_table_is_rejected() -> None:
    [problem] = problems({"m": orders_join("o.customer_id = o.store_id", columns=["o.order_id"])})
    assert "must compare a column of c (shop_files.customers)" in problem


def test_unknown_table_and_duplicate_alias() -> None:
    assert problems({"m": {"from": "shop_db.ordrs"}})[0].startswith("models.m.from: table 'shop_db.ordrs' is neither")
    duplicate = {"from": {"table": "shop_db.orders", "alias": "o"},
                 "joins": [{"table": "shop_db.order_items", "alias": "o", "on": ["o.order_id = o.order_id"]}]}
    assert "alias 'o' is used twice" in problems({"m": duplicate})[0]


def test_several_problems_are_reported_together() -> None:
    found = problems({"m": {"from": {"table": "shop_db.orders", "alias": "o"},
                            "where": [{"column": "o.state", "op": "=", "value": "paid"}],
                            "group_by": ["o.customer_id"],
                            "aggregations": [{"name": "revenue", "function": "sum", "column": "o.status"}],
                            "having": [{"column": "revnue", "op": ">", "value": 1}]}})
    assert any(p.startswith("models.m.where[0].column: column o.state does not exist") for p in found)
    assert any(p.startswith("models.m.aggregations[0]: sum needs a numeric input, got string") for p in found)
    assert any(p.startswith("models.m.having[0].column: column revnue is not an output") for p in found)


def test_windows_and_derive_see_only_earlier_outputs() -> None:
    found = problems({"m": {"from": {"table": "shop_db.orders", "alias": "o"}, "columns": ["o.order_id"],
                            "windows": [{"name": "n", "function": "row_number", "order_by": ["created_at"]}],
                            "derive": [{"name": "d", "expr": "days_between(n, missing)"}]}})
    assert found[0].startswith("models.m.windows[0].order_by[0]: column created_at is not an output")
    assert found[1].startswith("models.m.derive[0]: column missing is not an output")


def test_incremental_needs_a_catalog_cursor_and_no_grouping() -> None:
    found = problems({"m": {"from": {"table": "shop_db.order_items", "alias": "i"},
                            "group_by": ["i.order_id"], "aggregations": [{"name": "n", "function": "count"}],
                            "materialized": "incremental",
                            "incremental": {"cursor": "order_id", "unique_key": "order_id"}}})
    assert "models.m.incremental: an incremental model cannot group" in found[0]
    assert "shop_db.order_items has no cursor 'order_id' in the catalog" in found[1]


def test_tests_are_checked_against_their_targets() -> None:
    [problem] = problems({"m": {"from": "shop_db.orders", "columns": ["customer_id"], "tests": {
        "customer_id": [{"relationships": {"to": "shop_files.customers", "field": "id"}}]}}})
    assert problem.startswith("models.m.tests.customer_id[0]: relationships.field: shop_files.customers has no column")


def test_cycles_between_models_are_reported() -> None:
    assert "cycle" in problems({"a": {"from": "b"}, "b": {"from": "a"}})[0]


@pytest.mark.parametrize("expression, message", [
    ("o.total > 1", "gt is not supported"),
    ("sum(o.total)", "sum is not supported"),
    ("foo(o.total)", "function foo is not supported"),
])
def test_expressions_are_restricted_to_portable_ones(expression: str, message: str) -> None:
    found = problems({"m": {"from": {"table": "shop_db.orders", "alias": "o"},
                            "columns": [{"expr": expression, "as": "x"}]}})
    assert found[0].startswith("models.m.columns[0]: expression") and message in found[0]


def test_shape_errors_come_from_the_model_itself() -> None:
    with pytest.raises(ConfigError, match="cross join takes no 'on'"):
        parse_document({"models": {"m": {"from": "a.b", "joins": [{"table": "c.d", "type": "cross", "on": ["x = y"]}]}}})
    with pytest.raises(ConfigError, match="needs 'on' conditions"):
        parse_document({"models": {"m": {"from": "a.b", "joins": [{"table": "c.d", "type": "left"}]}}})
    with pytest.raises(ConfigError, match="materialized: incremental"):
        parse_document({"models": {"m": {"from": "a.b", "materialized": "incremental"}}})


def test_yaml_on_key_read_as_true_still_means_on(tmp_path: Path) -> None:
    file = tmp_path / "pipelines.yaml"
    file.write_text("models:\n  m:\n    from: {table: shop_db.orders, alias: o}\n    joins:\n"
                    "      - {table: shop_files.customers, alias: c, on: [o.customer_id = c.cust]}\n", encoding="utf-8")
    with pytest.raises(PipelineSpecError) as raised:
        load_pipelines(file, TABLES)
    assert str(raised.value).startswith("pipelines.yaml: models.m.joins[0].on[0]: column c.cust does not exist")
