"""DDL trees for six dialects: per-dialect properties, quoting, notes, and sqlglot round trips.

Expected DDL is compared by meaning (both sides parsed by sqlglot in the dialect, trees compared), the way sqlglot's
own tests are tables of ``{dialect: expected}``. The cases (tables, profiles, layouts) live in tests/support/ddl.py,
shared with tests/integration/test_ddl_engines.py, which runs the same DDL on PostgreSQL and chdb.
"""

from __future__ import annotations

import re
from dataclasses import replace
from itertools import pairwise

import pyarrow as pa
import pytest
import sqlglot

from etl_assets.ddl.build import DIALECTS, build_all, build_ddl, index_name
from etl_assets.profile.profiler import profile_arrow
from etl_assets.recommend.decisions import recommend
from etl_assets.recommend.model import ForeignKey, Index, Recommendation
from resources.schema import Column, TableSchema
from tests.support.ddl import CASES, NAMESPACE, every_type_schema, orders_case, synthetic_profile
from tests.support.sql import assert_same_sql

ORDERS_COLUMNS = {
    "postgres": '"order_id" BIGINT NOT NULL, "customer_id" INT NOT NULL, "store_id" INT NOT NULL, '
                '"status" TEXT NOT NULL, "total" NUMERIC(12, 2) NOT NULL, "created_at" TIMESTAMPTZ NOT NULL, '
                '"updated_at" TIMESTAMPTZ NOT NULL',
    "clickhouse": '"order_id" Int64 NOT NULL, "customer_id" Int32 NOT NULL, "store_id" Int32 NOT NULL, '
                  '"status" String NOT NULL, "total" Decimal(12, 2) NOT NULL, '
                  '"created_at" DateTime64(6, \'UTC\') NOT NULL, "updated_at" DateTime64(6, \'UTC\') NOT NULL',
    "redshift": '"order_id" BIGINT NOT NULL, "customer_id" INTEGER NOT NULL, "store_id" INTEGER NOT NULL, '
                '"status" VARCHAR(32) NOT NULL, "total" DECIMAL(12, 2) NOT NULL, '
                '"created_at" TIMESTAMPTZ NOT NULL, "updated_at" TIMESTAMPTZ NOT NULL',
    "snowflake": '"order_id" BIGINT NOT NULL, "customer_id" INT NOT NULL, "store_id" INT NOT NULL, '
                 '"status" VARCHAR NOT NULL, "total" NUMBER(12, 2) NOT NULL, "created_at" TIMESTAMP_TZ NOT NULL, '
                 '"updated_at" TIMESTAMP_TZ NOT NULL',
    "bigquery": "`order_id` INT64 NOT NULL, `customer_id` INT64 NOT NULL, `store_id` INT64 NOT NULL, "
                "`status` STRING NOT NULL, `total` NUMERIC(12, 2) NOT NULL, `created_at` TIMESTAMP NOT NULL, "
                "`updated_at` TIMESTAMP NOT NULL",
    "mysql": "`order_id` BIGINT NOT NULL, `customer_id` INT NOT NULL, `store_id` INT NOT NULL, "
             "`status` VARCHAR(16) NOT NULL, `total` DECIMAL(12, 2) NOT NULL, `created_at` DATETIME(6) NOT NULL, "
             "`updated_at` DATETIME(6) NOT NULL",
}
"""The orders table's columns in each dialect, as the source types them (a layout without column type choices)."""
RULED_POSTGRES_COLUMNS = ORDERS_COLUMNS["postgres"].replace("NUMERIC(12, 2)", "NUMERIC(6, 2)")
"""... and as the rules choose them: total's 0.25..15.0 needs 2 integer digits (+2 for a merge table)."""


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
        identifiers = [i for i in create.find_all(sqlglot.exp.Identifier) if not _engine_name(i)]
        assert identifiers and all(i.quoted for i in identifiers), dialect
        names = [d.name for d in create.find_all(sqlglot.exp.ColumnDef)]
        assert names == [c.name for c in schema.columns]


def _engine_name(identifier: sqlglot.exp.Identifier) -> bool:
    """A bare ClickHouse engine name (``ENGINE=MergeTree``) is a keyword, not a name: sqlglot reads it unquoted."""
    return isinstance(identifier.parent, sqlglot.exp.EngineProperty)


def stored(columns: str, codecs: dict[str, str]) -> str:
    """ClickHouse column definitions of a stored table, ``codecs`` by column name (the others without CODEC)."""
    parts = re.split(r', (?=")', columns)
    return ", ".join(f"{part} CODEC({codecs[part.split(chr(34))[1]]})" if part.split('"')[1] in codecs else part
                     for part in parts)


def test_clickhouse_layout_properties():
    schema, profile, _ = orders_case()
    layout = Recommendation(
        "shop_db", "orders", "clickhouse", engine="ReplacingMergeTree(updated_at)", partition_by="month(created_at)",
        partition_column="created_at", order_by=["status", "order_id"], primary_key=["order_id"],
        low_cardinality=["status"], indexes=[Index(("customer_id",), "bloom_filter"), Index(("total",), "minmax")],
    )
    ddl = build_ddl(schema, layout, "clickhouse", namespace="ns", profile=profile)
    columns = stored(ORDERS_COLUMNS["clickhouse"].replace('"status" String', '"status" LowCardinality(String)'),
                     {"order_id": "T64, LZ4", "customer_id": "T64, LZ4", "store_id": "T64, LZ4"})
    assert_same_sql(ddl.sql(), f"""
        CREATE DATABASE IF NOT EXISTS "ns";
        CREATE TABLE IF NOT EXISTS "ns"."orders" (
          {columns},
          INDEX "idx_customer_id_bloom_filter" "customer_id" TYPE bloom_filter GRANULARITY 1,
          INDEX "idx_total_minmax" "total" TYPE minmax GRANULARITY 4
        )
        ENGINE=ReplacingMergeTree("updated_at") PARTITION BY toYYYYMM("created_at") ORDER BY ("status", "order_id")
    """, "clickhouse")
    assert ddl.notes == [
        "CODEC(T64, LZ4) on the integers order_id, customer_id, store_id (all but a leading sort column): T64 drops "
        "the bits their range never uses, LZ4 keeps them fast to decode for sums and joins",
        "default LZ4 (no CODEC) on the sort, partition, join and index columns status, total, created_at, "
        "updated_at: every filter, group and join decodes them, and LZ4 decodes several times faster than ZSTD",
        "queries grouping by status (the sort key's leading columns) aggregate group by group instead of hashing "
        "every row with SETTINGS optimize_aggregation_in_order = 1",
    ]


def test_clickhouse_cluster_gets_replicated_tables_and_a_distributed_table():
    schema, profile, _ = orders_case()
    layout = Recommendation("shop_db", "orders", "clickhouse", engine="ReplacingMergeTree(updated_at)",
                            order_by=["order_id"], primary_key=["order_id"], distribution="key",
                            distribution_key=["customer_id"])
    ddl = build_ddl(schema, layout, "clickhouse", namespace="ns", profile=profile, cluster="prod")
    columns = ORDERS_COLUMNS["clickhouse"]
    cold = {"customer_id": "T64, LZ4", "store_id": "T64, LZ4", "status": "ZSTD(1)", "total": "ZSTD(1)",
            "created_at": "ZSTD(1)"}
    assert_same_sql(ddl.sql(), f"""
        CREATE DATABASE IF NOT EXISTS "ns" ON CLUSTER "prod";
        CREATE TABLE IF NOT EXISTS "ns"."orders_local" ON CLUSTER "prod" ({stored(columns, cold)})
        ENGINE=ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{{database}}/{{table}}', '{{replica}}',
                                            "updated_at")
        ORDER BY ("order_id");
        CREATE TABLE IF NOT EXISTS "ns"."orders" ON CLUSTER "prod" ({columns})
        ENGINE=Distributed('prod', 'ns', 'orders_local', cityHash64("customer_id"))
    """, "clickhouse")
    for statement in ddl.statements:
        text = statement.sql(dialect="clickhouse")
        assert sqlglot.parse_one(text, read="clickhouse").sql(dialect="clickhouse") == text


def test_postgres_partitioning_indexes_and_extension():
    schema, profile, ruled = orders_case()
    layout = replace(ruled, target_store="postgres", partition_by="month(created_at)", partition_column="created_at",
                     indexes=[Index(("order_id",), "btree"), Index(("created_at",), "brin"),
                              Index(("status",), "gin_trgm")])
    ddl = build_ddl(schema, layout, "postgres", namespace="ns", profile=profile)
    months = [f"2026-{month:02d}-01" for month in range(1, 11)]
    partitions = "".join(
        f"""CREATE TABLE IF NOT EXISTS "ns"."orders_p{start.replace('-', '')}_part"
            PARTITION OF "ns"."orders" FOR VALUES FROM ('{start}') TO ('{end}');"""
        for start, end in pairwise(months)
    )
    assert_same_sql(ddl.sql(), f"""
        CREATE SCHEMA IF NOT EXISTS "ns";
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE TABLE IF NOT EXISTS "ns"."orders" ({RULED_POSTGRES_COLUMNS}, PRIMARY KEY ("order_id", "created_at"))
        PARTITION BY RANGE("created_at");
        {partitions}
        CREATE TABLE IF NOT EXISTS "ns"."orders_default_part" PARTITION OF "ns"."orders" DEFAULT;
        CREATE INDEX IF NOT EXISTS "orders_created_at_brin" ON "ns"."orders" USING brin("created_at");
        CREATE INDEX IF NOT EXISTS "orders_status_gin_trgm" ON "ns"."orders" USING gin("status" gin_trgm_ops)
    """, "postgres")  # no btree index on order_id: the primary key already is that index
    assert ddl.notes == ["primary key extended with created_at: PostgreSQL needs the partition column in it"]


WAREHOUSE_DDL = {
    "redshift": f"""CREATE TABLE IF NOT EXISTS "ns"."orders" ({ORDERS_COLUMNS["redshift"]}, PRIMARY KEY ("order_id"))
                    DISTSTYLE KEY DISTKEY("store_id") COMPOUND SORTKEY("status", "created_at")""",
    "snowflake": f"""CREATE TABLE IF NOT EXISTS "ns"."orders" ({ORDERS_COLUMNS["snowflake"]}, PRIMARY KEY ("order_id"))
                     CLUSTER BY (DATE_TRUNC('MONTH', TO_DATE("created_at")), "status")""",
    "bigquery": f"""CREATE TABLE IF NOT EXISTS `ns`.`orders` ({ORDERS_COLUMNS["bigquery"]})
                    PARTITION BY TIMESTAMP_TRUNC(`created_at`, MONTH) CLUSTER BY `status`, `created_at`""",
    "mysql": f"""CREATE TABLE IF NOT EXISTS `ns`.`orders` ({ORDERS_COLUMNS["mysql"]}, PRIMARY KEY (`order_id`),
                                                         INDEX `orders_customer_id_idx` (`customer_id`))
                 ENGINE=InnoDB DEFAULT CHARACTER SET=utf8mb4""",
}
WAREHOUSE_NOTES = {
    "mysql": [("month(created_at) partitioning is not applied in MySQL (it would force the partition column into "
               "every unique key)")],
}


@pytest.mark.parametrize("dialect", WAREHOUSE_DDL)
def test_warehouse_dialect_properties(dialect):
    schema, profile, _ = orders_case()
    layout = Recommendation("shop_db", "orders", "postgres", partition_by="month(created_at)",
                            partition_column="created_at", order_by=["status", "created_at"], primary_key=["order_id"],
                            indexes=[Index(("customer_id",), "btree")], distribution="key",
                            distribution_key=["store_id"])
    ddl = build_ddl(schema, layout, dialect, namespace="ns", profile=profile)
    schema_ddl = "CREATE SCHEMA IF NOT EXISTS `ns`" if dialect in ("mysql", "bigquery") else \
        'CREATE SCHEMA IF NOT EXISTS "ns"'
    assert_same_sql(ddl.sql(), f"{schema_ddl}; {WAREHOUSE_DDL[dialect]}", dialect)
    assert ddl.notes == WAREHOUSE_NOTES.get(dialect, [])


def test_huge_text_is_typed_per_dialect_with_notes():
    schema = TableSchema("s", "docs", [Column("id", "int64", False), Column("body", "string")], primary_key=["id"])
    profile = profile_arrow(pa.table({"id": [1, 2], "body": ["x" * 70_000, "y"]}), "s", "docs", primary_key=["id"])
    scripts = build_all(schema, recommend(profile), namespace="ns", profile=profile)
    assert_same_sql(scripts["mysql"].sql(), """
        CREATE SCHEMA IF NOT EXISTS `ns`;
        CREATE TABLE IF NOT EXISTS `ns`.`docs` (`id` SMALLINT NOT NULL, `body` MEDIUMTEXT NOT NULL, PRIMARY KEY (`id`))
        ENGINE=InnoDB DEFAULT CHARACTER SET=utf8mb4
    """, "mysql")
    assert_same_sql(scripts["redshift"].sql(), """
        CREATE SCHEMA IF NOT EXISTS "ns";
        CREATE TABLE IF NOT EXISTS "ns"."docs" ("id" SMALLINT NOT NULL, "body" VARCHAR(65535) NOT NULL, PRIMARY KEY ("id"))
        DISTSTYLE ALL COMPOUND SORTKEY("id")
    """, "redshift")  # sync full (no table given): both columns hold no NULL, id is 1..2
    assert scripts["redshift"].sql().startswith("-- note: body: values up to 70,000 characters may exceed Redshift's "
                                                "65,535-byte VARCHAR; load with TRUNCATECOLUMNS or keep them in SUPER\n")


def test_index_names_fit_the_dialect_and_stay_stable():
    long = index_name("postgres", "t" * 60, ("a_very_long_column_name",), "btree")
    assert len(long.encode()) <= 63 and long == index_name("postgres", "t" * 60, ("a_very_long_column_name",), "btree")
    assert index_name("postgres", "t", ("a",), "brin") == "t_a_brin"


def test_a_foreign_key_names_the_referenced_table_in_its_own_namespace():
    """A reference within the source stays in the table's namespace; one to another source's table names that
    source's namespace (each source's tables land in a namespace of their own)."""
    schema, profile, ruled = orders_case()
    keyed = replace(ruled, foreign_keys=[ForeignKey(("store_id",), "shop_db", "stores", ("store_id",)),
                                         ForeignKey(("customer_id",), "crm", "customers", ("id",), 0.999, 3)])
    notes = build_ddl(schema, keyed, "postgres", namespace="optimized_shop_db", profile=profile,
                      source_namespaces={"crm": "optimized_crm"}).notes
    statements = [note[note.index("ALTER TABLE"):] for note in notes if note.startswith("foreign key")]
    assert statements == [
        'ALTER TABLE "optimized_shop_db"."orders" ADD CONSTRAINT "orders_store_id_fk" FOREIGN KEY ("store_id") '
        'REFERENCES "optimized_shop_db"."stores" ("store_id")',
        'ALTER TABLE "optimized_shop_db"."orders" ADD CONSTRAINT "orders_customer_id_fk" FOREIGN KEY ("customer_id") '
        'REFERENCES "optimized_crm"."customers" ("id")']
    assert "(3 orphan values: clean them first)" in next(note for note in notes if "crm" in note)


def test_bad_input_is_a_clear_error():
    schema, _, ruled = orders_case()
    with pytest.raises(ValueError, match=r"shop_db\.orders: the recommendation names columns the table lacks: \['nope'\]"):
        build_ddl(schema, replace(ruled, order_by=["nope"]), "postgres", namespace="ns")
    with pytest.raises(ValueError, match="unknown dialect 'oracle'"):
        build_ddl(schema, ruled, "oracle", namespace="ns")
    with pytest.raises(ValueError, match="no columns"):
        build_ddl(TableSchema("s", "t", []), ruled, "postgres", namespace="ns")
    with pytest.raises(ValueError, match="unsupported partitioning 'week"):
        build_ddl(schema, replace(ruled, partition_by="week(created_at)"), "clickhouse", namespace="ns")
    money = TableSchema("s", "t", [Column("m", "money")])
    with pytest.raises(ValueError, match="column 'm': unknown logical type 'money'"):
        build_ddl(money, Recommendation("s", "t", "postgres"), "postgres", namespace="ns")


def test_every_dialect_is_built():
    schema, profile, ruled = orders_case()
    assert list(build_all(schema, ruled, namespace="ns", profile=profile)) == list(DIALECTS)
    assert list(DIALECTS) == ["postgres", "clickhouse", "mysql", "redshift", "snowflake", "bigquery"]


def test_clickhouse_time_codec_follows_its_place_in_the_sort_key():
    """Delta only where the time column ascends over runs of rows: leading the sort key, or after columns with few
    value combinations (the profile's distinct counts); after a many-valued column it is cold and gets ZSTD."""
    schema, profile, _ = orders_case()
    few = Recommendation("shop_db", "orders", "clickhouse", order_by=["status", "created_at"],
                         primary_key=["order_id"], low_cardinality=["status"])
    many = Recommendation("shop_db", "orders", "clickhouse", order_by=["order_id", "created_at"],
                          primary_key=["order_id"])
    status = next(c for c in profile.columns if c.name == "status")
    assert status.distinct_count * 8 <= profile.row_count

    def created_at(layout: Recommendation) -> str:
        ddl = build_ddl(schema, layout, "clickhouse", namespace="ns", profile=profile)
        create = next(s for s in ddl.statements if isinstance(s, sqlglot.exp.Create) and s.kind == "TABLE")
        (column,) = [d for d in create.find_all(sqlglot.exp.ColumnDef) if d.name == "created_at"]
        return column.sql("clickhouse")

    assert created_at(few).endswith("CODEC(Delta, LZ4)")
    assert not created_at(many).endswith("CODEC(Delta, LZ4)") and "CODEC" not in created_at(many)
    assert "CODEC(ZSTD(1))" in created_at(Recommendation("shop_db", "orders", "clickhouse", order_by=["order_id"]))


def test_clickhouse_indexes_the_key_for_lookups_when_the_sort_key_does_not_lead_with_it():
    schema, profile, _ = orders_case()
    many = replace(profile, row_count=100_000)
    by_time = Recommendation("shop_db", "orders", "clickhouse", order_by=["created_at", "order_id"],
                             primary_key=["order_id"])
    ddl = build_ddl(schema, by_time, "clickhouse", namespace="ns", profile=many)
    assert 'INDEX "idx_order_id_bloom_filter" "order_id" TYPE bloom_filter GRANULARITY 1' in ddl.sql()
    assert any(note.startswith("bloom_filter skip index on the key column order_id, GRANULARITY 1: the sort key "
                               "leads with created_at") for note in ddl.notes)

    by_key = replace(by_time, order_by=["order_id"])
    small = build_ddl(schema, by_time, "clickhouse", namespace="ns", profile=replace(profile, row_count=8_000))
    for unindexed in (build_ddl(schema, by_key, "clickhouse", namespace="ns", profile=many), small):
        assert "bloom_filter" not in unindexed.sql()


def test_clickhouse_dimension_keeps_lz4_on_columns_a_fact_would_store_with_zstd():
    """A dimension's rows are read whole (lookups on its key, joins, dictionary loads): no ZSTD on them."""
    schema, profile, _ = orders_case()
    fact = Recommendation("shop_db", "orders", "clickhouse", role="fact", order_by=["created_at", "order_id"],
                          primary_key=["order_id"])
    dimension = replace(fact, role="dimension", order_by=["order_id"])

    assert "CODEC(ZSTD(1))" in build_ddl(schema, fact, "clickhouse", namespace="ns", profile=profile).sql()
    ddl = build_ddl(schema, dimension, "clickhouse", namespace="ns", profile=profile)
    assert "CODEC(ZSTD" not in ddl.sql()
    assert any(note.startswith("default LZ4 (no CODEC) on the other columns ") and "a dimension's rows are read whole"
               in note for note in ddl.notes)


def test_clickhouse_names_its_enum8_columns_in_one_note():
    from tests.support.ddl import CASES

    (case,) = [c for c in CASES if c[0] == "every type closed sets"]
    _, schema, profile, layout = case
    ddl = build_ddl(schema, layout, "clickhouse", namespace="ns", profile=profile)
    (note,) = [n for n in ddl.notes if n.startswith("Enum8 on ")]
    assert note.startswith("Enum8 on c_string, select, Order, ") and "ALTER TABLE ... MODIFY COLUMN" in note
    assert "x != 'v'" in note
    create = next(s for s in ddl.statements if isinstance(s, sqlglot.exp.Create) and s.kind == "TABLE")
    enums = [d.name for d in create.find_all(sqlglot.exp.ColumnDef) if "Enum8(" in d.sql("clickhouse")]
    assert enums and note.startswith(f"Enum8 on {', '.join(enums)}: ")


def test_clickhouse_notes_aggregation_in_order_for_a_sort_key_leading_with_low_cardinality_columns():
    schema, profile, _ = orders_case()
    by_status = Recommendation("shop_db", "orders", "clickhouse", order_by=["status", "created_at"],
                               primary_key=["order_id"], low_cardinality=["status"])
    notes = build_ddl(schema, by_status, "clickhouse", namespace="ns", profile=profile).notes
    assert ("queries grouping by status (the sort key's leading columns) aggregate group by group instead of hashing "
            "every row with SETTINGS optimize_aggregation_in_order = 1") in notes
    by_time = replace(by_status, order_by=["created_at", "status"])
    notes = build_ddl(schema, by_time, "clickhouse", namespace="ns", profile=profile).notes
    assert not any("optimize_aggregation_in_order" in note for note in notes)
