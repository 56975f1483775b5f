import pytest

from etl_assets.raw.evolution import plan_schema
from resources.schema import Column, TableSchema, widest_type


@pytest.mark.parametrize("current, incoming, expected", [
    ("int32", "int32", "int32"),
    ("int32", "int64", "int64"),
    ("int64", "int16", "int64"),
    ("float32", "float64", "float64"),
    ("int32", "float64", "float64"),
    ("date", "timestamp", "timestamp"),
    ("decimal(10,2)", "decimal(14,4)", "decimal(14,4)"),
    ("int32", "decimal(12,2)", "decimal(12,2)"),
    ("int64", "decimal(12,2)", None),
    ("int64", "float64", None),
    ("int64", "string", None),
    ("string", "int64", None),
    ("timestamp", "timestamptz", None),
    ("decimal(12,2)", "decimal(12,3)", None),
])
def test_widest_type(current, incoming, expected):
    assert widest_type(current, incoming) == expected


def schema(*columns: tuple[str, str], key: tuple[str, ...] = ("id",)) -> TableSchema:
    return TableSchema(source="s", name="t", columns=[Column(n, t, n not in key) for n, t in columns],
                       primary_key=list(key))


def test_the_first_load_lands_the_live_schema_with_nullable_columns():
    plan = plan_schema(None, schema(("id", "int64"), ("name", "string")))
    assert [(c.name, c.logical_type, c.nullable) for c in plan.landed.columns] == [
        ("id", "int64", True), ("name", "string", True)]
    assert not plan.changed


def test_new_columns_are_added_and_removed_ones_kept():
    previous = schema(("id", "int64"), ("name", "string"), ("old", "date"))
    plan = plan_schema(previous, schema(("id", "int64"), ("name", "string"), ("email", "string")))
    assert plan.added == ["email"]
    assert plan.removed == ["old"]
    assert [c.name for c in plan.landed.columns] == ["id", "name", "old", "email"]
    assert plan.diff()["added"] == ["email"]


def test_widening_and_narrowing_keep_the_wider_landed_type():
    previous = schema(("id", "int32"), ("amount", "float64"))
    plan = plan_schema(previous, schema(("id", "int64"), ("amount", "float32")))
    assert plan.widened == {"id": ("int32", "int64")}
    assert plan.narrowed == {"amount": ("float64", "float32")}
    assert {c.name: c.logical_type for c in plan.landed.columns} == {"id": "int64", "amount": "float64"}
    assert not plan.conflicts


def test_an_incompatible_change_is_a_conflict_and_the_landed_type_stays():
    previous = schema(("id", "int64"), ("quantity", "int32"))
    plan = plan_schema(previous, schema(("id", "int64"), ("quantity", "string")))
    assert [(c["column"], c["landed_type"], c["source_type"]) for c in plan.conflicts] == [
        ("quantity", "int32", "string")]
    assert plan.landed.column("quantity").logical_type == "int32"
