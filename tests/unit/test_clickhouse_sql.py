"""ClickHouse connector pieces that need no engine: type mapping, SQL text (with and without ON CLUSTER), key and
cursor discovery rules, client settings for TLS, batch conformance and error messages."""

from __future__ import annotations

import json
from dataclasses import replace

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from resources.clickhouse import ClickHouseResource
from resources.clickhouse.batches import conform_batch
from resources.clickhouse.ddl import create_database, create_table, engine, order_by, partition_by
from resources.clickhouse.discovery import (
    cursor_candidates,
    is_collapsing,
    sorting_key_columns,
    table_schema_from_system,
    version_column,
)
from resources.clickhouse.sql import (
    add_column_sql,
    attach_partition_sql,
    create_database_sql,
    create_stage_sql,
    create_table_sql,
    drop_table_sql,
    exchange_tables_sql,
    max_cursor_sql,
    rename_table_sql,
    rename_tables_sql,
    select_expression,
    select_sql,
    since_parameter_type,
)
from resources.clickhouse.types import clickhouse_type, data_type, is_nullable, logical_type
from resources.embedded.kafka import free_port
from resources.protocol import SourceUnavailableError
from resources.schema import Column, QuarantinedRecord, TableSchema
from tests.support.sql import assert_same_sql


def same(actual: str, expected: str) -> None:
    assert_same_sql(actual, expected, "clickhouse")


@pytest.mark.parametrize(("native", "logical", "nullable"), [
    ("Int8", "int16", False), ("UInt8", "int16", False), ("Int16", "int16", False), ("UInt16", "int32", False),
    ("Int32", "int32", False), ("UInt32", "int64", False), ("Int64", "int64", False), ("UInt64", "int64", False),
    ("Float32", "float32", False), ("Float64", "float64", False), ("Bool", "bool", False),
    ("Decimal(12, 2)", "decimal(12,2)", False), ("Decimal64(4)", "decimal(18,4)", False),
    ("Decimal(50, 2)", "string", False), ("String", "string", False), ("FixedString(16)", "string", False),
    ("Date", "date", False), ("Date32", "date", False), ("DateTime", "timestamp", False),
    ("DateTime('Europe/Berlin')", "timestamptz", False), ("DateTime64(3)", "timestamp", False),
    ("DateTime64(6, 'UTC')", "timestamptz", False), ("UUID", "uuid", False), ("JSON", "json", False),
    ("Map(String, Array(Int32))", "json", False), ("Array(Nullable(String))", "json", False),
    ("Tuple(a Int32, b String)", "json", False), ("Enum8('a' = 1, 'b, c' = 2)", "string", False),
    ("IPv4", "string", False), ("IPv6", "string", False), ("Nullable(Int32)", "int32", True),
    ("LowCardinality(String)", "string", False), ("LowCardinality(Nullable(String))", "string", True),
    ("Nullable(DateTime64(3, 'UTC'))", "timestamptz", True), ("SimpleAggregateFunction(max, UInt64)", "int64", False),
    ("Int128", "string", False),
    # types sqlglot cannot parse are mapped by name
    ("Time64(6)", "string", False), ("Nullable(Time64(3))", "string", True), ("BFloat16", "float32", False),
    ("DateTime32", "timestamp", False), ("Nullable(DateTime32('UTC'))", "timestamptz", True),
    ("IntervalDay", "int64", False), ("Object('json')", "json", False), ("Array(Time64(3))", "json", False),
    ("LowCardinality(Nullable(BFloat16))", "float32", True),
])
def test_logical_types(native: str, logical: str, nullable: bool) -> None:
    assert logical_type(native) == logical
    assert is_nullable(native) is nullable


@pytest.mark.parametrize(("source_type", "logical", "expression"), [
    ("UInt32", "int64", '"c"'),
    ("DateTime", "timestamp", "toDateTime64(toString(\"c\"), 0, 'UTC')"),
    ("DateTime64(3)", "timestamp", "toDateTime64(toString(\"c\"), 3, 'UTC')"),
    ("DateTime('Asia/Tokyo')", "timestamptz", 'toDateTime64("c", 0)'),
    ("DateTime64(3, 'UTC')", "timestamptz", '"c"'),
    ("UUID", "uuid", 'toString("c")'),
    ("Enum8('a' = 1)", "string", 'toString("c")'),
    ("Map(String, Int32)", "json", 'toJSONString("c")'),
    ("LowCardinality(Nullable(String))", "string", '"c"'),
    ("AggregateFunction(uniq, String)", "string", 'toString(finalizeAggregation("c"))'),
    ("DateTime32", "timestamp", "toDateTime64(toString(\"c\"), 0, 'UTC')"),
])
def test_select_expressions(source_type: str, logical: str, expression: str) -> None:
    actual = select_expression(Column("c", logical, source_type=source_type)).sql("clickhouse")
    assert actual == expression
    same(f"SELECT {actual}", f"SELECT {expression}")


@pytest.mark.parametrize(("logical", "nullable", "native"), [
    ("int64", False, "Int64"), ("string", True, "Nullable(String)"),
    ("decimal(10,2)", True, "Nullable(Decimal(10, 2))"),
    ("timestamptz", True, "Nullable(DateTime64(6, 'UTC'))"), ("timestamp", False, "DateTime64(6)"),
    ("date", True, "Nullable(Date32)"), ("json", True, "Nullable(String)"), ("uuid", True, "Nullable(UUID)"),
    ("time", True, "Nullable(String)"), ("bool", True, "Nullable(Bool)"), ("binary", True, "Nullable(String)"),
])
def test_destination_types(logical: str, nullable: bool, native: str) -> None:
    assert clickhouse_type(logical, nullable) == native
    assert data_type(logical, nullable, landing=True).sql("clickhouse") == native


def test_destination_type_rejects_unknown_logical_types() -> None:
    with pytest.raises(ValueError, match="unknown logical type 'money'"):
        clickhouse_type("money", True)


ORDERS = TableSchema(source="shop", name="orders", primary_key=["id"],
                     columns=[Column("id", "int64", nullable=False), Column("odd name`", "string")])


def test_create_table_with_a_key_is_replacing_merge_tree_ordered_by_it() -> None:
    same(create_table_sql("raw_shop", ORDERS),
         'CREATE TABLE IF NOT EXISTS "raw_shop"."orders"\n(\n    "id" Int64,\n    "odd name`" Nullable(String)\n)\n'
         'ENGINE = ReplacingMergeTree ORDER BY ("id")')


def test_create_table_without_a_key_is_merge_tree() -> None:
    same(create_table_sql("raw_shop", replace(ORDERS, primary_key=[]), name="orders__new"),
         'CREATE TABLE IF NOT EXISTS "raw_shop"."orders__new" ("id" Nullable(Int64), "odd name`" Nullable(String)) '
         "ENGINE = MergeTree ORDER BY tuple()")


def test_cluster_ddl_uses_on_cluster_and_replicated_engines() -> None:
    cluster = "main"
    same(create_database_sql("raw_shop", cluster), 'CREATE DATABASE IF NOT EXISTS "raw_shop" ON CLUSTER "main"')
    same(create_table_sql("raw_shop", ORDERS, cluster=cluster),
         'CREATE TABLE IF NOT EXISTS "raw_shop"."orders" ON CLUSTER "main" ("id" Int64, "odd name`" Nullable(String)) '
         'ENGINE = ReplicatedReplacingMergeTree ORDER BY ("id")')
    same(add_column_sql("raw_shop", "orders", Column("x", "float64"), cluster),
         'ALTER TABLE "raw_shop"."orders" ON CLUSTER "main" ADD COLUMN IF NOT EXISTS "x" Nullable(Float64)')
    assert exchange_tables_sql("raw_shop", "orders__new", "orders", cluster) == (
        'EXCHANGE TABLES "raw_shop"."orders__new" AND "raw_shop"."orders" ON CLUSTER "main"')
    assert rename_table_sql("raw_shop", "orders__new", "orders", cluster) == (
        'RENAME TABLE "raw_shop"."orders__new" TO "raw_shop"."orders" ON CLUSTER "main"')
    same(drop_table_sql("raw_shop", "orders__new", cluster),
         'DROP TABLE IF EXISTS "raw_shop"."orders__new" ON CLUSTER "main" SYNC')
    same(create_stage_sql("raw_shop", "orders__stage", "orders", "id", "ReplicatedReplacingMergeTree", cluster),
         'CREATE TABLE "raw_shop"."orders__stage" AS "raw_shop"."orders" ENGINE = ReplacingMergeTree ORDER BY (id)')
    same(create_stage_sql("raw_shop", "s", "orders", "toDate(at), id", "SharedMergeTree", cluster),
         'CREATE TABLE "raw_shop"."s" AS "raw_shop"."orders" ENGINE = MergeTree ORDER BY (toDate(at), id)')


def test_single_node_ddl_has_no_on_cluster() -> None:
    same(drop_table_sql("raw_shop", "orders"), 'DROP TABLE IF EXISTS "raw_shop"."orders"')
    same(create_stage_sql("raw_shop", "s", "orders", "id", "ReplacingMergeTree", None),
         'CREATE TABLE "raw_shop"."s" AS "raw_shop"."orders"')
    assert attach_partition_sql("raw_shop", "orders", "s", "all") == (
        'ALTER TABLE "raw_shop"."orders" ATTACH PARTITION ID \'all\' FROM "raw_shop"."s"')
    assert rename_tables_sql("db", [("t", "t__old"), ("t__new", "t")]) == (
        'RENAME TABLE "db"."t" TO "db"."t__old", "db"."t__new" TO "db"."t"')


def test_names_and_partition_ids_are_quoted() -> None:
    assert attach_partition_sql("d", 'o"x', "s", "it's") == (
        'ALTER TABLE "d"."o""x" ATTACH PARTITION ID \'it\'\'s\' FROM "d"."s"')
    assert exchange_tables_sql("d", "a b", "c") == 'EXCHANGE TABLES "d"."a b" AND "d"."c"'


def test_ddl_builder_puts_clauses_in_clickhouse_order() -> None:
    index = exp.IndexColumnConstraint(this=exp.to_identifier("idx", quoted=True), expression=exp.column("name"),
                                      index_type=exp.var("bloom_filter"), granularity=exp.Literal.number(4))
    statement = create_table(
        "ns", "t", [sqlglot.parse_one("CREATE TABLE x (a Int64)", read="clickhouse").this.expressions[0], index],
        [order_by(["a", exp.func("toDate", exp.column("at"))]), partition_by(exp.func("toYYYYMM", exp.column("at"))),
         engine("ReplacingMergeTree", [exp.column("v")])],
        cluster="c", if_not_exists=True)
    same(statement.sql("clickhouse"),
         'CREATE TABLE IF NOT EXISTS "ns"."t" ON CLUSTER "c" (a Int64, INDEX "idx" name TYPE bloom_filter '
         'GRANULARITY 4) ENGINE = ReplacingMergeTree(v) PARTITION BY toYYYYMM(at) ORDER BY ("a", toDate(at))')
    same(create_database("ns").sql("clickhouse"), 'CREATE DATABASE IF NOT EXISTS "ns"')
    assert order_by([]).sql("clickhouse") == "ORDER BY tuple()"


def test_select_filters_raw_columns_in_a_subquery() -> None:
    table = TableSchema(source="a", name="t", columns=[
        Column("id", "int64", source_type="UInt32"), Column("at", "timestamp", source_type="DateTime")],
        cursor_column="at")
    same(select_sql("db", table, final=True, since=True),
         "SELECT \"id\" AS \"id\", toDateTime64(toString(\"at\"), 0, 'UTC') AS \"at\" FROM "
         '(SELECT "id", "at" FROM "db"."t" FINAL WHERE "at" >= {since:DateTime64(6)})')
    same(select_sql("db", table, final=False, since=False),
         "SELECT \"id\" AS \"id\", toDateTime64(toString(\"at\"), 0, 'UTC') AS \"at\" FROM "
         '(SELECT "id", "at" FROM "db"."t")')
    same(max_cursor_sql("db", table),
         "SELECT toDateTime64(toString(\"at\"), 0, 'UTC') AS \"at\" FROM "
         '(SELECT maxOrNull("at") AS "at" FROM "db"."t")')


@pytest.mark.parametrize(("source_type", "parameter"), [
    ("DateTime('Asia/Tokyo')", "DateTime64(6, 'Asia/Tokyo')"), ("DateTime64(3, 'UTC')", "DateTime64(6, 'UTC')"),
    ("Date", "Date32"), ("UInt64", "UInt64"), ("Nullable(Int32)", "Int32"), ("Enum8('a' = 1)", "String"),
])
def test_cursor_parameter_types(source_type: str, parameter: str) -> None:
    column = Column("c", logical_type(source_type), source_type=source_type)
    assert since_parameter_type(column).sql("clickhouse") == parameter
    table = TableSchema(source="a", name="t", columns=[column], cursor_column="c")
    placeholder = sqlglot.parse_one(select_sql("db", table, final=False, since=True), read="clickhouse").find(
        exp.Placeholder)
    assert placeholder is not None and placeholder.name == "since"
    assert placeholder.args["kind"] == exp.DataType.build(parameter, dialect="clickhouse")


def test_reading_from_a_cursor_needs_a_cursor_column() -> None:
    with pytest.raises(ValueError, match="has no cursor column"):
        select_sql("db", replace(ORDERS, cursor_column=None), final=False, since=True)


@pytest.mark.parametrize(("key", "columns"), [
    ("(id)", ["id"]), ("day, store_id", ["day", "store_id"]), ("(day, store_id)", ["day", "store_id"]),
    ("toDate(at), id", []), ("", []), ("unknown", []), ("`odd name`, id", ["odd name", "id"]),
])
def test_sorting_key_columns(key: str, columns: list[str]) -> None:
    assert sorting_key_columns(key, {"id", "day", "store_id", "at", "odd name"}) == columns


@pytest.mark.parametrize(("engine_full", "version"), [
    ("ReplacingMergeTree(updated_at) ORDER BY id", "updated_at"),
    ("ReplicatedReplacingMergeTree('/clickhouse/{shard}', '{replica}', ver) ORDER BY id", "ver"),
    ("ReplacingMergeTree ORDER BY id", None), ("VersionedCollapsingMergeTree(sign, v) ORDER BY id", "v"),
    ("MergeTree ORDER BY id", None), ("SharedReplacingMergeTree('/p', '{replica}', `my ver`) ORDER BY id", "my ver"),
    ("CollapsingMergeTree(sign) ORDER BY id", None),
])
def test_version_column(engine_full: str, version: str | None) -> None:
    assert version_column(engine_full) == version


def test_collapsing_engines_are_read_final() -> None:
    assert is_collapsing("ReplacingMergeTree") and is_collapsing("ReplicatedCollapsingMergeTree")
    assert is_collapsing("SharedReplacingMergeTree")
    assert not is_collapsing("MergeTree") and not is_collapsing("Log") and not is_collapsing("View")


def test_cursor_candidates_put_the_version_and_update_columns_first() -> None:
    columns = [Column("created", "timestamp"), Column("updated_at", "timestamptz"), Column("day", "date"),
               Column("ver", "int64"), Column("name", "string")]
    assert cursor_candidates(columns, "ver") == ["ver", "updated_at", "created", "day"]


def test_schema_from_system_rows() -> None:
    table = table_schema_from_system(
        "analytics", "db",
        {"name": "t", "engine": "ReplacingMergeTree", "engine_full": "ReplacingMergeTree(v) ORDER BY (k)",
         "sorting_key": "k", "total_rows": 7},
        [{"name": "k", "type": "UInt32", "comment": "the key"}, {"name": "v", "type": "DateTime"}],
    )
    assert table.primary_key == ["k"] and table.cursor_candidates == ["v"] and table.row_estimate == 7
    assert table.columns[0] == Column("k", "int64", False, "UInt32", "the key")


def test_http_client_arguments_carry_tls_and_timeouts() -> None:
    resource = ClickHouseResource(url="https://ch.example.com:9443", user="etl", password="s3cret",
                                  ca_cert="/etc/ca.pem", client_cert="/etc/c.pem", client_key="/etc/c.key",
                                  verify_tls=False, connect_timeout_s=3, send_receive_timeout_s=60)
    arguments = resource.http_client_arguments()
    assert arguments | {"password": "-"} == {
        "host": "ch.example.com", "port": 9443, "interface": "https", "secure": True, "username": "etl",
        "password": "-", "connect_timeout": 3, "send_receive_timeout": 60, "autogenerate_session_id": False,
        "client_name": "aietl", "compress": True, "verify": False, "ca_cert": "/etc/ca.pem",
        "client_cert": "/etc/c.pem", "client_cert_key": "/etc/c.key",
    }
    assert resource.endpoint == "https://ch.example.com:9443"


def test_plain_http_gets_default_port_and_no_tls_arguments() -> None:
    arguments = ClickHouseResource(url="http://127.0.0.1").http_client_arguments()
    assert arguments["port"] == 8123 and arguments["secure"] is False and "verify" not in arguments


@pytest.mark.parametrize("config", [{}, {"url": "http://h:8123", "chdb_path": "/tmp/x"}])
def test_exactly_one_endpoint(config: dict) -> None:
    with pytest.raises(ValueError, match="exactly one of url"):
        ClickHouseResource(**config).client()


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="must look like http"):
        ClickHouseResource(url="tcp://h:9000").http_client_arguments()


def test_unreachable_server_is_source_unavailable_without_the_password() -> None:
    port = free_port()
    resource = ClickHouseResource(url=f"http://127.0.0.1:{port}", password="s3cret-pw", connect_timeout_s=2,
                                  source_name="analytics")
    with pytest.raises(SourceUnavailableError, match=f"ClickHouse source 'analytics'.*127.0.0.1:{port}") as raised:
        resource.discover()
    assert "s3cret-pw" not in str(raised.value)


def test_conform_batch_casts_and_names_bad_rows() -> None:
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("n", pa.int32()), pa.field("day", pa.date32())])
    batch = pa.RecordBatch.from_pydict({"id": pa.array([1, 2**64 - 1, 3, 4], pa.uint64()),
                                        "n": pa.array([1, 2, 2**40, 4], pa.int64()),
                                        "day": pa.array([19000, 19001, 19002, 19003], pa.uint16())})
    with pytest.raises(ValueError, match=r"src\.tbl: row 11: column 'id' \(uint64\): value does not fit int64"):
        conform_batch(batch, schema, "src.tbl", first_row=10)

    quarantined: list[QuarantinedRecord] = []
    kept = conform_batch(batch, schema, "src.tbl", first_row=10, on_bad_record=quarantined.append)
    assert kept.schema == schema and kept.column("id").to_pylist() == [1, 4]
    assert kept.column("day").to_pylist()[0].isoformat() == "2022-01-08"
    assert [(q.table, q.location) for q in quarantined] == [("tbl", "row 11"), ("tbl", "row 12")]
    assert {q.source for q in quarantined} == {"src"}
    assert json.loads(quarantined[0].raw)["id"] == 2**64 - 1 and "'n'" in quarantined[1].reason


def test_conform_batch_names_missing_columns() -> None:
    with pytest.raises(ValueError, match=r"lacks columns \['day'\]"):
        conform_batch(pa.RecordBatch.from_pydict({"id": [1]}),
                      pa.schema([pa.field("id", pa.int64()), pa.field("day", pa.date32())]), "s.t")
