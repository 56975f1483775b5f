"""The six DDL dialects' type mappers: every logical type round-trips (or reads back as the declared wider type),
profile hints size and wrap types, and lossy mappings carry notes. Types are compared by meaning: both sides parsed
by sqlglot in the dialect."""

from __future__ import annotations

import pytest
from sqlglot import exp

from etl_assets.ddl.dialects import DIALECTS
from etl_assets.ddl.types import TypeHints, column_type
from tests.support.types import assert_round_trips

WIDENED = {
    "postgres": {},
    "clickhouse": {"binary": "string", "time": "string"},
    "mysql": {"timestamptz": "timestamp", "uuid": "string"},
    "redshift": {"uuid": "string"},
    "snowflake": {"float32": "float64", "uuid": "string"},
    "bigquery": {"int16": "int64", "int32": "int64", "float32": "float64", "uuid": "string"},
}
"""What each dialect reads back wider or as a carrier: BigQuery has one integer and one float type, ClickHouse
keeps binary in String and reads Time64 as text, CHAR(36) / VARCHAR(36) read back as strings."""


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_logical_type_round_trips(dialect):
    mapper = DIALECTS[dialect].MAPPER
    assert mapper.system == dialect
    assert_round_trips(mapper, widened=WIDENED[dialect])


@pytest.mark.parametrize(("dialect", "native", "logical"), [
    ("mysql", "VARCHAR(80)", "string"), ("mysql", "LONGTEXT", "string"), ("mysql", "DECIMAL(65, 30)", "decimal(65,30)"),
    ("redshift", "SUPER", "json"), ("redshift", "VARCHAR(512)", "string"), ("redshift", "TIMESTAMPTZ", "timestamptz"),
    ("snowflake", "NUMBER(38, 20)", "decimal(38,20)"), ("snowflake", "TIMESTAMP_NTZ", "timestamp"),
    ("bigquery", "BIGNUMERIC(50, 20)", "decimal(50,20)"), ("bigquery", "DATETIME", "timestamp"),
    ("clickhouse", "LowCardinality(Nullable(String))", "string"), ("postgres", "character varying(20)", "string"),
])
def test_native_spellings_read_back(dialect, native, logical):
    assert str(DIALECTS[dialect].MAPPER.from_native(native)) == logical


@pytest.mark.parametrize(("logical", "dialect", "hints", "expected"), [
    ("int64", "clickhouse", TypeHints(), "Nullable(Int64)"),
    ("int64", "clickhouse", TypeHints(nullable=False), "Int64"),
    ("string", "clickhouse", TypeHints(low_cardinality=True), "LowCardinality(Nullable(String))"),
    ("string", "clickhouse", TypeHints(key=True, low_cardinality=True), "LowCardinality(String)"),
    ("string", "clickhouse", TypeHints(nullable=False, low_cardinality=True, enum_values=("b", "a")),
     "Enum8('a' = 1, 'b' = 2)"),
    ("string", "clickhouse", TypeHints(low_cardinality=True, enum_values=("x", "y")), "Nullable(Enum8('x' = 1, 'y' = 2))"),
    ("string", "clickhouse", TypeHints(nullable=False, enum_values=("it's", "a\\b")),  # a backslash escaped
     "Enum8('a\\\\b' = 1, 'it''s' = 2)"),
    ("string", "clickhouse", TypeHints(key=True, low_cardinality=True, enum_values=("a", "b")), "LowCardinality(String)"),
    ("json", "clickhouse", TypeHints(), "JSON"),
    ("time", "clickhouse", TypeHints(), "Nullable(Time64(6))"),
    ("timestamptz", "clickhouse", TypeHints(nullable=False), "DateTime64(6, 'UTC')"),
    ("date", "clickhouse", TypeHints(nullable=False), "Date32"),
    ("json", "redshift", TypeHints(), "SUPER"),
    ("json", "snowflake", TypeHints(), "VARIANT"),
    ("json", "postgres", TypeHints(), "JSONB"),
    ("uuid", "mysql", TypeHints(), "CHAR(36)"),
    ("timestamptz", "bigquery", TypeHints(), "TIMESTAMP"),
    ("timestamp", "bigquery", TypeHints(), "DATETIME"),
    ("timestamptz", "snowflake", TypeHints(), "TIMESTAMPTZ"),
    ("string", "mysql", TypeHints(max_length=40), "VARCHAR(128)"),
    ("string", "mysql", TypeHints(max_length=2, fixed_length=True), "CHAR(2)"),
    ("string", "mysql", TypeHints(enum_values=("a", "b")), "ENUM('a', 'b')"),
    ("string", "mysql", TypeHints(enum_values=("a", "b" * 256), max_length=256), "TEXT"),
    ("string", "redshift", TypeHints(max_length=2), "VARCHAR(8)"),
    ("int64", "clickhouse", TypeHints(nullable=False, min_value=0, max_value=200), "UInt8"),
    ("int64", "clickhouse", TypeHints(min_value=-5, max_value=70_000), "Nullable(Int32)"),
    ("date", "clickhouse", TypeHints(nullable=False, compact_time=True), "Date"),
    ("timestamp", "clickhouse", TypeHints(nullable=False, compact_time=True), "DateTime"),
    ("string", "mysql", TypeHints(max_length=40, key=True), "VARCHAR(80)"),
    ("string", "mysql", TypeHints(max_length=5_000_000), "LONGTEXT"),
    ("string", "redshift", TypeHints(max_length=100), "VARCHAR(512)"),
    ("string", "redshift", TypeHints(), "VARCHAR(65535)"),
    ("decimal(12,2)", "bigquery", TypeHints(), "NUMERIC(12, 2)"),
    ("decimal(50,20)", "bigquery", TypeHints(), "BIGNUMERIC(50, 20)"),
    ("decimal(50,20)", "snowflake", TypeHints(), "DECIMAL(38, 20)"),
    ("decimal(12,2)", "postgres", TypeHints(), "NUMERIC(12, 2)"),
    ("int32", "postgres", TypeHints(), "INTEGER"),
])
def test_type_layer(logical, dialect, hints, expected):
    actual = column_type(logical, dialect, hints, "c").data_type.sql(dialect)
    assert _parsed(actual, dialect) == _parsed(expected, dialect), (actual, expected)


def _parsed(text: str, dialect: str) -> exp.DataType:
    """A type's tree as sqlglot reads it back (Time64 is not in its ClickHouse grammar: a user-defined type)."""
    return exp.DataType.build(text, dialect=dialect, udt=True)


def test_lossy_types_carry_notes():
    assert "exceed Redshift's 65,535-byte VARCHAR" in column_type("string", "redshift", TypeHints(max_length=90_000),
                                                                 "essay").notes[0]
    assert "narrowed to (38,20)" in column_type("decimal(50,20)", "redshift", TypeHints(), "x").notes[0]
    assert "cannot be Nullable" in column_type("json", "clickhouse", TypeHints(), "j").notes[0]
    assert column_type("string", "mysql", TypeHints(max_length=1_000, key=True), "k").notes == [
        "k: values up to 1,000 characters exceed MySQL's key limit of 768 characters; longer values will be rejected"]
    with pytest.raises(ValueError, match="unknown logical type 'money'"):
        column_type("money", "postgres", TypeHints(), "m")
    with pytest.raises(ValueError, match="unknown dialect 'oracle'"):
        column_type("int64", "oracle")
