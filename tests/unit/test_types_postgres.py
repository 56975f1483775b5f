"""The PostgreSQL type mapper: every logical type round-trips, and format_type() strings read as logical types."""

import pytest

from resources.postgres.types import POSTGRES_TYPES_MAPPER, ddl_type, logical_type
from resources.schema import to_arrow
from tests.support.types import assert_round_trips


def test_every_logical_type_round_trips():
    assert_round_trips(POSTGRES_TYPES_MAPPER)


@pytest.mark.parametrize("pg_type, expected", [
    ("smallint", "int16"), ("integer", "int32"), ("bigint", "int64"), ("real", "float32"),
    ("double precision", "float64"), ("numeric(12,2)", "decimal(12,2)"), ("numeric", "decimal(38,10)"),
    ("numeric(50,2)", "string"), ("boolean", "bool"), ("text", "string"), ("character varying(20)", "string"),
    ("character(3)", "string"), ("bytea", "binary"), ("date", "date"), ("time without time zone", "time"),
    ("time(3) without time zone", "time"), ("timestamp(3) without time zone", "timestamp"),
    ("timestamp with time zone", "timestamptz"), ("jsonb", "json"), ("json", "json"), ("uuid", "uuid"),
    ("integer[]", "json"), ("interval", "string"), ("inet", "string"), ("mood", "string"),
    ("time with time zone", "string"),
    ("timestamp(1) with time zone", "timestamptz"), ("numeric(38,38)", "decimal(38,38)"),
    ("numeric(5,-2)", "string"), ("bit varying(4)", "string"), ("\"char\"", "string"), ("cidr[]", "json"),
    ("public.mood", "string"), ("information_schema.sql_identifier", "string"),
])
def test_postgres_types_map_to_logical_types(pg_type, expected):
    assert logical_type(pg_type) == expected


@pytest.mark.parametrize("logical", ["bool", "int16", "int32", "int64", "float32", "float64", "decimal(12,2)",
                                     "string", "binary", "date", "time", "timestamp", "timestamptz", "json", "uuid"])
def test_landed_types_read_back_as_the_same_logical_type(logical):
    ddl = {"time": "time without time zone", "timestamp": "timestamp without time zone",
           "timestamptz": "timestamp with time zone"}.get(logical, ddl_type(logical))
    assert logical_type(ddl) == logical
    assert to_arrow(logical) is not None


@pytest.mark.parametrize("logical, ddl", [
    ("bool", "boolean"), ("int16", "smallint"), ("int32", "integer"), ("int64", "bigint"), ("float32", "real"),
    ("float64", "double precision"), ("decimal(12, 2)", "numeric(12,2)"), ("string", "text"), ("binary", "bytea"),
    ("json", "jsonb"), ("timestamptz", "timestamptz"),
])
def test_logical_types_land_as_these_postgres_types(logical, ddl):
    assert ddl_type(logical) == ddl
