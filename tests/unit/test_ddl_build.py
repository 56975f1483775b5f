"""DDL trees for six dialects: per-dialect types and properties, quoting, notes, and sqlglot round trips.

The case helpers here (sample tables, a table of every logical type with awkward identifiers, forced layouts)
are shared with tests/integration/test_ddl_engines.py, which runs the same DDL on PostgreSQL and chdb.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from dataclasses import replace

import pyarrow as pa
import pytest
import sqlglot

from etl_assets.catalog import SourceTable, load_catalog, source_tables
from etl_assets.config.loader import load_datasources
from etl_assets.ddl.build import (
    CLICKHOUSE_SKIP_INDEXES,
    build_all,
    build_ddl,
    index_name,
)
from etl_assets.ddl.types import DIALECTS, TypeHints, column_type
from etl_assets.paths import CATALOG_FILE, DATASOURCES_FILE
from etl_assets.profile.model import TableProfile
from etl_assets.profile.profiler import profile_arrow
from etl_assets.recommend.model import Index, Recommendation
from etl_assets.recommend.rules import recommend
from resources.schema import LOGICAL_TYPES, Column, TableSchema, to_arrow

NAMESPACE = "optimized test"
AWKWARD_NAMES = ["select", "Order", "group by", 'we"ird', "back`tick", "Ümlaut name", "user", "123start"]


def sample_tables() -> list[SourceTable]:
    return source_tables(load_datasources(DATASOURCES_FILE), load_catalog(CATALOG_FILE))


def every_type_schema() -> TableSchema:
    types = [t for t in LOGICAL_TYPES if t != "decimal"] + ["decimal(38,9)"]
    columns = [Column("id", "int64", nullable=False), Column("created at", "timestamptz", nullable=False)]
    columns += [Column(f"c_{t.split('(')[0]}", t) for t in types]
    columns += [Column(name, "string") for name in AWKWARD_NAMES]
    return TableSchema("test src", "Every Type's table", columns, primary_key=["id"])


def value(logical: str, row: int) -> object:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=row * 3)
    return {
        "bool": row % 2 == 0, "int16": row % 7, "int32": row * 10, "int64": row, "float32": row / 4,
        "float64": row / 3, "string": f"value {row % 5}", "binary": bytes([row % 256]), "date": start.date(),
        "time": dt.time(row % 24, 30), "timestamp": start.replace(tzinfo=None), "timestamptz": start,
        "json": json.dumps({"n": row}), "uuid": f"00000000-0000-0000-0000-{row:012d}",
    }.get(logical, decimal.Decimal(row) / 4)


def synthetic_profile(schema: TableSchema, rows: int = 60) -> TableProfile:
    """The real profiler over generated rows shaped like the schema (time columns span ~6 months)."""
    data = pa.table({
        c.name: pa.array([value(c.logical_type.split("(")[0], r + 1) for r in range(rows)], to_arrow(c.logical_type))
        for c in schema.columns
    })
    json_columns = {c.name: "json" for c in schema.columns if c.logical_type == "json"}
    uuid_columns = {c.name: "uuid" for c in schema.columns if c.logical_type == "uuid"}
    return profile_arrow(data, schema.source, schema.name, primary_key=schema.primary_key,
                         logical_types={**json_columns, **uuid_columns})


def time_column(schema: TableSchema) -> str | None:
    return next((c.name for c in schema.columns if c.logical_type in ("date", "timestamp", "timestamptz")
                 and c.name not in schema.primary_key), None)


def layouts(schema: TableSchema, profile: TableProfile, table: SourceTable | None) -> dict[str, Recommendation]:
    """The rules' recommendation and forced variants that exercise every property the builders can emit."""
    ruled = recommend(profile, table)
    key = schema.primary_key or [schema.columns[0].name]
    event = time_column(schema)
    variants = {"rules": ruled}
    month = f"month({event})" if event else f"hash({key[0]}, 4)"
    variants["postgres partitioned"] = replace(
        ruled, target_store="postgres", partition_by=month, partition_column=event or key[0], primary_key=key,
        indexes=[Index((c.name,), _postgres_method(c)) for c in schema.columns[:6]] + (
            [Index((event,), "brin")] if event else []),
    )
    strings = [c.name for c in schema.columns if c.logical_type == "string" and c.name not in key]
    variants["clickhouse replacing"] = replace(
        ruled, target_store="clickhouse", primary_key=key, order_by=key,
        engine=f"ReplacingMergeTree({event})" if event else "MergeTree",
        partition_by=f"month({event})" if event else None, partition_column=event,
        low_cardinality=strings[:2],
        indexes=[Index((c,), m) for c, m in zip(strings * 5, CLICKHOUSE_SKIP_INDEXES)],
    )
    return variants


def _postgres_method(column: Column) -> str:
    return {"json": "gin", "string": "gin_trgm"}.get(column.logical_type, "btree")


def cases() -> list[tuple[str, TableSchema, TableProfile, Recommendation]]:
    found = []
    for table in sample_tables():
        profile = synthetic_profile(table.schema)
        for label, layout in layouts(table.schema, profile, table).items():
            found.append((f"{table.source}.{table.name} {label}", table.schema, profile, layout))
    schema = every_type_schema()
    profile = synthetic_profile(schema)
    for label, layout in layouts(schema, profile, None).items():
        found.append((f"every type {label}", schema, profile, layout))
    return found


CASES = cases()


ROUND_TRIP_DIALECTS = ("postgres", "mysql", "redshift", "snowflake", "bigquery")


def orders_case() -> tuple[TableSchema, TableProfile, Recommendation]:
    table = next(t for t in sample_tables() if t.name == "orders")
    profile = synthetic_profile(table.schema)
    return table.schema, profile, recommend(profile, table)


@pytest.mark.parametrize(("logical", "dialect", "hints", "expected"), [
    ("int64", "clickhouse", TypeHints(), "Nullable(Int64)"),
    ("int64", "clickhouse", TypeHints(nullable=False), "Int64"),
    ("string", "clickhouse", TypeHints(low_cardinality=True), "LowCardinality(Nullable(String))"),
    ("string", "clickhouse", TypeHints(key=True, low_cardinality=True), "LowCardinality(String)"),
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
    ("string", "mysql", TypeHints(max_length=40), "VARCHAR(255)"),
    ("string", "mysql", TypeHints(max_length=40, key=True), "VARCHAR(80)"),
    ("string", "mysql", TypeHints(max_length=5_000_000), "LONGTEXT"),
    ("string", "redshift", TypeHints(max_length=100), "VARCHAR(512)"),
    ("string", "redshift", TypeHints(), "VARCHAR(65535)"),
    ("decimal(12,2)", "bigquery", TypeHints(), "NUMERIC(12, 2)"),
    ("decimal(50,20)", "bigquery", TypeHints(), "BIGNUMERIC(50, 20)"),
    ("decimal(50,20)", "snowflake", TypeHints(), "DECIMAL(38, 20)"),
])
def test_type_layer(logical, dialect, hints, expected):
    assert column_type(logical, dialect, hints, "c").data_type.sql(dialect) == expected


def test_lossy_types_carry_notes():
    assert "exceed Redshift's 65,535-byte VARCHAR" in column_type("string", "redshift", TypeHints(max_length=90_000),
                                                                 "essay").notes[0]
    assert "narrowed to (38,20)" in column_type("decimal(50,20)", "redshift", TypeHints(), "x").notes[0]
    assert "cannot be Nullable" in column_type("json", "clickhouse", TypeHints(), "j").notes[0]
    with pytest.raises(ValueError, match="unknown logical type 'money'"):
        column_type("money", "postgres", TypeHints(), "m")


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_dialect_round_trips_through_sqlglot(case):
    _, schema, profile, layout = case
    for dialect, ddl in build_all(schema, layout, namespace=NAMESPACE, profile=profile).items():
        if dialect == "clickhouse" and any(c.logical_type == "time" for c in schema.columns):
            continue  # Time64 is not in sqlglot's ClickHouse grammar; this DDL is proven on chdb instead
        for statement in ddl.statements:
            text = statement.sql(dialect=dialect)
            if isinstance(statement, sqlglot.exp.Command):
                continue
            assert sqlglot.parse_one(text, read=dialect).sql(dialect=dialect) == text, (dialect, text)


def test_every_identifier_is_quoted_in_every_dialect():
    schema = every_type_schema()
    profile = synthetic_profile(schema)
    for dialect, ddl in build_all(schema, recommend(profile), namespace=NAMESPACE, profile=profile).items():
        create = next(s for s in ddl.statements if isinstance(s, sqlglot.exp.Create) and s.kind == "TABLE")
        identifiers = list(create.find_all(sqlglot.exp.Identifier))
        assert identifiers and all(i.quoted for i in identifiers), dialect
        names = [d.name for d in create.find_all(sqlglot.exp.ColumnDef)]
        assert names == [c.name for c in schema.columns]


def test_clickhouse_layout_properties():
    schema, profile, _ = orders_case()
    layout = Recommendation(
        "shop_db", "orders", "clickhouse", engine="ReplacingMergeTree(updated_at)", partition_by="month(created_at)",
        partition_column="created_at", order_by=["status", "order_id"], primary_key=["order_id"],
        low_cardinality=["status"], indexes=[Index(("customer_id",), "bloom_filter"), Index(("total",), "minmax")],
    )
    sql = build_ddl(schema, layout, "clickhouse", namespace="ns", profile=profile).sql()
    assert 'ENGINE=ReplacingMergeTree("updated_at")' in sql
    assert 'PARTITION BY toYYYYMM("created_at")' in sql
    assert 'ORDER BY ("status", "order_id")' in sql
    assert '"status" LowCardinality(String)' in sql
    assert 'INDEX "idx_customer_id_bloom_filter" "customer_id" TYPE bloom_filter GRANULARITY 4' in sql
    assert 'INDEX "idx_total_minmax" "total" TYPE minmax GRANULARITY 4' in sql


def test_clickhouse_cluster_gets_replicated_tables_and_a_distributed_table():
    schema, profile, _ = orders_case()
    layout = Recommendation("shop_db", "orders", "clickhouse", engine="ReplacingMergeTree(updated_at)",
                            order_by=["order_id"], primary_key=["order_id"], distribution="key",
                            distribution_key=["customer_id"])
    ddl = build_ddl(schema, layout, "clickhouse", namespace="ns", profile=profile, cluster="prod")
    sql = ddl.sql()
    assert 'CREATE DATABASE IF NOT EXISTS "ns"\nON CLUSTER "prod"' in sql
    assert 'CREATE TABLE IF NOT EXISTS "ns"."orders_local"\nON CLUSTER "prod"' in sql
    assert ("ENGINE=ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', "
            '"updated_at")') in sql
    assert "ENGINE=Distributed('prod', 'ns', 'orders_local', cityHash64(\"customer_id\"))" in sql
    for statement in ddl.statements:
        text = statement.sql(dialect="clickhouse")
        assert sqlglot.parse_one(text, read="clickhouse").sql(dialect="clickhouse") == text


def test_postgres_partitioning_indexes_and_extension():
    schema, profile, ruled = orders_case()
    layout = replace(ruled, target_store="postgres", partition_by="month(created_at)", partition_column="created_at",
                     indexes=[Index(("order_id",), "btree"), Index(("created_at",), "brin"),
                              Index(("status",), "gin_trgm")])
    ddl = build_ddl(schema, layout, "postgres", namespace="ns", profile=profile)
    sql = ddl.sql()
    assert 'PRIMARY KEY ("order_id", "created_at")' in sql and 'PARTITION BY RANGE("created_at")' in sql
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm" in sql
    assert 'USING brin("created_at")' in sql and 'USING gin("status" gin_trgm_ops)' in sql
    assert "FOR VALUES FROM ('2026-01-01') TO ('2026-02-01')" in sql
    assert 'PARTITION OF "ns"."orders" DEFAULT' in sql
    assert 'USING btree("order_id")' not in sql  # the primary key already is that index
    assert any("partition column" in note for note in ddl.notes)


@pytest.mark.parametrize(("dialect", "expected"), [
    ("redshift", ["DISTSTYLE KEY", 'DISTKEY("store_id")', 'COMPOUND SORTKEY("status", "created_at")']),
    ("snowflake", ['CLUSTER BY (DATE_TRUNC(\'MONTH\', TO_DATE("created_at")), "status")']),
    ("bigquery", ["PARTITION BY TIMESTAMP_TRUNC(`created_at`, MONTH)", "CLUSTER BY `status`, `created_at`"]),
    ("mysql", ["ENGINE=InnoDB", "PRIMARY KEY (`order_id`)", "INDEX `orders_customer_id_idx` (`customer_id`)",
               "`status` VARCHAR(255)"]),
])
def test_warehouse_dialect_properties(dialect, expected):
    schema, profile, _ = orders_case()
    layout = Recommendation("shop_db", "orders", "postgres", partition_by="month(created_at)",
                            partition_column="created_at", order_by=["status", "created_at"], primary_key=["order_id"],
                            indexes=[Index(("customer_id",), "btree")], distribution="key",
                            distribution_key=["store_id"])
    sql = build_ddl(schema, layout, dialect, namespace="ns", profile=profile).sql()
    for fragment in expected:
        assert fragment in sql, (dialect, fragment, sql)


def test_huge_text_is_typed_per_dialect_with_notes():
    schema = TableSchema("s", "docs", [Column("id", "int64", False), Column("body", "string")], primary_key=["id"])
    profile = profile_arrow(pa.table({"id": [1, 2], "body": ["x" * 70_000, "y"]}), "s", "docs", primary_key=["id"])
    scripts = build_all(schema, recommend(profile), namespace="ns", profile=profile)
    assert "`body` MEDIUMTEXT" in scripts["mysql"].sql()
    assert '"body" VARCHAR(65535)' in scripts["redshift"].sql()
    assert "-- note: body: values up to 70,000 characters may exceed Redshift" in scripts["redshift"].sql()


def test_index_names_fit_the_dialect_and_stay_stable():
    long = index_name("postgres", "t" * 60, ("a_very_long_column_name",), "btree")
    assert len(long.encode()) <= 63 and long == index_name("postgres", "t" * 60, ("a_very_long_column_name",), "btree")
    assert index_name("postgres", "t", ("a",), "brin") == "t_a_brin"


def test_bad_input_is_a_clear_error():
    schema, profile, ruled = orders_case()
    with pytest.raises(ValueError, match=r"shop_db\.orders: the recommendation names columns the table lacks: \['nope'\]"):
        build_ddl(schema, replace(ruled, order_by=["nope"]), "postgres", namespace="ns")
    with pytest.raises(ValueError, match="unknown dialect 'oracle'"):
        build_ddl(schema, ruled, "oracle", namespace="ns")
    with pytest.raises(ValueError, match="no columns"):
        build_ddl(TableSchema("s", "t", []), ruled, "postgres", namespace="ns")
    with pytest.raises(ValueError, match="unsupported partitioning 'year"):
        build_ddl(schema, replace(ruled, partition_by="year(created_at)"), "clickhouse", namespace="ns")


def test_every_dialect_is_built():
    schema, profile, ruled = orders_case()
    assert set(build_all(schema, ruled, namespace="ns", profile=profile)) == set(DIALECTS)
