"""Key and relationship discovery on real engines: TPC-H (its specification's keys are the answer), the awkward inputs
(a near-key with one duplicate, 0.1% orphans, a one-row table, a key of all columns, names that need quoting, 1,000
columns) on PostgreSQL and on the chdb engine, and the ``relationships/catalog`` asset materialized by Dagster."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from etl_assets.catalog import SourceTable, raw_namespace
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.keys import relationships_key
from etl_assets.relationships.assets import build_relationship_assets
from etl_assets.relationships.discover import TableSpec, discover
from etl_assets.relationships.model import Relationships
from resources.clickhouse import ClickHouseResource
from resources.postgres import PostgresResource
from resources.protocol import WriteMode
from resources.schema import Column, TableSchema
from tests.support import tpch
from tests.support.tpch import tpch_files, tpch_postgres  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


def spec_of(schema: TableSchema) -> TableSpec:
    return TableSpec(schema.source, schema.name, raw_namespace(schema.source), tuple(schema.primary_key),
                     {c.name: c.logical_type for c in schema.columns})


def clean_set(found: Relationships) -> set[tuple]:
    return {(r.table.table, r.columns, r.ref_table.table, r.ref_columns) for r in found.relationships if r.clean}


def assert_tpch(found: Relationships) -> None:
    keys = {(k.table.table, k.columns) for k in found.keys}
    for table, key in tpch.PRIMARY_KEYS.items():
        assert (table, key) in keys, (table, key)
    for table, key in tpch.PRIMARY_KEYS.items():
        assert found.keys_of(tpch.SOURCE, table)[0].columns == key, table
    assert clean_set(found) == set(tpch.FOREIGN_KEYS)
    assert all(r.clean and r.match_share == 1.0 for r in found.relationships)


def test_tpch_keys_and_foreign_keys_on_postgres(tpch_postgres) -> None:  # noqa: F811
    dsn, schemas = tpch_postgres
    found = discover(PostgresResource.from_dsn(dsn), [spec_of(s) for s in schemas])

    assert_tpch(found)
    lineitem_to_orders = next(r for r in found.relationships if r.columns == ("l_orderkey",))
    assert lineitem_to_orders.distinct_values == 15_000 and lineitem_to_orders.orphans == 0


def test_tpch_on_the_clickhouse_engine(tpch_files: Path, tmp_path: Path) -> None:  # noqa: F811
    warehouse = ClickHouseResource(chdb_path=str(tmp_path / "chdb"))
    schemas = tpch.load(warehouse, tpch_files)

    assert_tpch(discover(warehouse, [spec_of(s) for s in schemas]))


def test_relationships_asset_materializes_with_metadata_and_file(tpch_postgres, tmp_path: Path,  # noqa: F811
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIETL_HOME", str(tmp_path / "home"))
    dsn, schemas = tpch_postgres
    tables = [SourceTable(kind="files", schema=s, sync=SyncSettings(), batch_size=1000, semantic_search=False,
                          text_columns=(), checks=CheckSettings(), target="warehouse") for s in schemas]

    result = dg.materialize(build_relationship_assets(tables), resources={"warehouse": PostgresResource.from_dsn(dsn)})

    assert result.success
    found = result.output_for_node(relationships_key().to_python_identifier())
    assert clean_set(found) == set(tpch.FOREIGN_KEYS)
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert len(metadata["relationships"].value.records) == len(tpch.FOREIGN_KEYS)
    assert metadata["clean_relationships"].value == 10 and metadata["partial_relationships"].value == 0
    assert "f.l_orderkey = d.o_orderkey" in metadata["suggested_joins"].value
    stored = json.loads(Path(metadata["relationships_json"].value).read_text(encoding="utf-8"))
    assert Relationships.from_dict(stored) == found


# ---- awkward inputs, on PostgreSQL and on the chdb engine ------------------------------------------------------


@pytest.fixture(params=["postgres", "chdb"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "postgres":
        return PostgresResource.from_dsn(request.getfixturevalue("pg_dsn"))
    return ClickHouseResource(chdb_path=str(tmp_path / "chdb"))


def land(warehouse, schema: TableSchema, data: dict) -> TableSpec:
    namespace = raw_namespace(schema.source)
    if warehouse.dialect == "clickhouse":
        from sqlglot import exp
        warehouse.execute(exp.Create(kind="DATABASE", this=exp.to_identifier(namespace, quoted=True),
                                     exists=True).sql("clickhouse"))
    warehouse.ensure_table(namespace, schema)
    table = pa.table(data).cast(schema.arrow_schema())
    warehouse.write(namespace, schema, table.to_batches(), WriteMode.REPLACE)
    return spec_of(schema)


def schema(name: str, *columns: tuple[str, str]) -> TableSchema:
    return TableSchema(source="odd", name=name, columns=[Column(n, t) for n, t in columns])


def test_awkward_inputs(warehouse) -> None:
    ids = [3 * n + 1 for n in range(1000)]
    specs = [
        land(warehouse, schema("dim", ("dim_id", "int64"), ("label", "string")),
             {"dim_id": ids, "label": [f"L{n:04d}" for n in range(1000)]}),
        land(warehouse, schema("near_key", ("almost_id", "int64"), ("v", "float64")),
             {"almost_id": [2 * n for n in range(1, 25_000)] + [14], "v": [0.5] * 25_000}),
        land(warehouse, schema("fact", ("fact_no", "int64"), ("dim_id", "int64")),
             {"fact_no": list(range(10_000)), "dim_id": [ids[n % 1000] if n != 9999 else 2 for n in range(10_000)]}),
        land(warehouse, schema("Order Items", ("select", "int64"), ("group by", "int64"), ("it's", "string")),
             {"select": list(range(300)), "group by": [ids[n * 3] for n in range(300)],
              "it's": [f"x{n % 7}" for n in range(300)]}),
        land(warehouse, schema("one_row", ("a", "int64"), ("b", "string")), {"a": [7], "b": ["L0001"]}),
        land(warehouse, schema("triples", ("p", "int32"), ("q", "int32"), ("r", "int32")),
             {"p": [n // 4 % 2 for n in range(8)], "q": [n // 2 % 2 for n in range(8)], "r": [n % 2 for n in range(8)]}),
    ]
    wide_columns = [(f"c{n:04d}", "int64") for n in range(1000)]
    specs.append(land(warehouse, schema("wide", *wide_columns), {n: [i * 1000 + j for j in range(20)]
                                                                 for i, (n, _) in enumerate(wide_columns)}))

    found = discover(warehouse, specs)

    keys = {k.table.table: [k.columns for k in found.keys_of("odd", k.table.table)] for k in found.keys}
    assert keys["dim"][0] == ("dim_id",) and ("label",) in keys["dim"]
    assert "near_key" not in keys
    assert "one_row" not in keys
    assert keys["triples"] == [("p", "q", "r")]
    assert keys["Order Items"][0] == ("select",)
    assert len(keys["wide"]) == 64
    assert any("wide" in note and "not considered" in note and "cap 64" in note for note in found.notes)
    assert any("one row" in note for note in found.notes)
    by_dependent = {(r.table.table, r.columns): r for r in found.relationships}
    partial = by_dependent[("fact", ("dim_id",))]
    assert (partial.ref_table.table, partial.ref_columns, partial.orphans, partial.distinct_values) == (
        "dim", ("dim_id",), 1, 1001)
    assert not partial.clean and partial.match_share == pytest.approx(1000 / 1001, abs=1e-6)
    quoted = by_dependent[("Order Items", ("group by",))]
    assert quoted.clean and quoted.ref_table.table == "dim"
    assert not [r for r in found.relationships if "one_row" in (r.table.table, r.ref_table.table)]
    assert not [r for r in found.relationships if r.table.table == "wide" or r.ref_table.table == "wide"]


def test_missing_table_is_noted_not_fatal(warehouse) -> None:
    spec = land(warehouse, schema("here", ("k", "int64")), {"k": [1, 2, 3]})

    found = discover(warehouse, [spec, TableSpec("odd", f"gone_{uuid.uuid4().hex[:6]}", "raw_odd")])

    assert [k.columns for k in found.keys] == [("k",)]
    assert any("not in the warehouse" in note for note in found.notes)


def test_composite_time_join_gap_free_partial_and_uuid_keys(warehouse) -> None:
    """(origin, hour) of flights in the weather's composite key; a gap-free key referenced with values beyond its
    range (orphans counted by range); uuids compared across the batched probe and anti-join."""
    import datetime as dt

    origins, start = ["EWR", "JFK", "LGA"], dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    devices = [str(uuid.UUID(int=n * 7919 + 1)) for n in range(40)]
    specs = [
        land(warehouse, schema("weather", ("origin", "string"), ("time_hour", "timestamptz"), ("temp", "float64")),
             {"origin": [origins[n % 3] for n in range(600)],
              "time_hour": [start + dt.timedelta(hours=n // 3) for n in range(600)],
              "temp": [n / 10 for n in range(600)]}),
        land(warehouse, schema("planes", ("plane_no", "int64"), ("seats", "int32")),
             {"plane_no": list(range(1, 51)), "seats": [100 + n % 3 for n in range(50)]}),
        land(warehouse, schema("devices", ("device_id", "uuid"), ("model", "string")),
             {"device_id": devices, "model": [f"m{n % 4}" for n in range(40)]}),
        land(warehouse, schema("flights", ("flight_id", "int64"), ("origin", "string"), ("time_hour", "timestamptz"),
                               ("plane_no", "int64"), ("device_id", "uuid")),
             {"flight_id": [10 * n for n in range(3000)], "origin": [origins[n % 3] for n in range(3000)],
              "time_hour": [start + dt.timedelta(hours=n * 7 % 200) for n in range(3000)],
              "plane_no": [51 + n % 2 if n in (5, 6) else 1 + n % 50 for n in range(3000)],
              "device_id": [devices[n % 40] for n in range(3000)]}),
    ]

    found = discover(warehouse, specs)

    assert [k.columns for k in found.keys_of("odd", "weather")] == [("origin", "time_hour")]
    by_dependent = {(r.table.table, r.columns): r for r in found.relationships}
    timed = by_dependent[("flights", ("origin", "time_hour"))]
    assert (timed.ref_table.table, timed.ref_columns, timed.orphans, timed.distinct_values) == (
        "weather", ("origin", "time_hour"), 0, 600)
    planes = by_dependent[("flights", ("plane_no",))]
    assert (planes.ref_table.table, planes.orphans, planes.distinct_values) == ("planes", 2, 52)
    assert planes.match_share == pytest.approx(50 / 52, abs=1e-6) and "gap-free" in planes.evidence
    device = by_dependent[("flights", ("device_id",))]
    assert device.clean and device.ref_table.table == "devices" and device.distinct_values == 40


def test_foreign_key_columns_take_the_referenced_key_type_in_the_applied_ddl(warehouse) -> None:
    """The fact's own range (1..200) fits int16 (ClickHouse UInt8), the key it references (1..40,000) needs int32
    (UInt16): the fact's column is recommended int32 with the reason, and the DDL applied on the engine has the same
    type on both sides (on PostgreSQL the FOREIGN KEY statement the DDL suggests then runs)."""
    from psycopg import sql

    from etl_assets.ddl.build import apply_ddl, build_ddl
    from etl_assets.profile.pushdown import PushdownProfiler
    from etl_assets.recommend.decisions import recommend

    tables = {
        "customers": (schema("customers", ("c_custkey", "int64"), ("c_name", "string")),
                      {"c_custkey": list(range(1, 40_001)), "c_name": [f"Customer#{n:09d}" for n in range(40_000)]}),
        "orders": (schema("orders", ("o_orderkey", "int64"), ("o_custkey", "int64"), ("o_clerk", "string")),
                   {"o_orderkey": [4 * n + 1 for n in range(5_000)], "o_custkey": [1 + n % 200 for n in range(5_000)],
                    "o_clerk": [f"Customer#{n % 1000 + 1:09d}"[:12] for n in range(5_000)]}),
    }
    specs = [land(warehouse, s, data) for s, data in tables.values()]
    found = discover(warehouse, specs)
    fk = next(r for r in found.relationships if r.columns == ("o_custkey",))
    assert (fk.ref_table.table, fk.ref_columns, fk.clean) == ("customers", ("c_custkey",), True)
    assert [(t.logical, t.min, t.max) for t in fk.ref_types] == [("int64", 1, 40_000)]

    recommendations = {}
    for spec in specs:
        profile = PushdownProfiler(warehouse, spec.namespace, spec.table).profile(
            spec.source, known_types=spec.known_types)
        recommendations[spec.table] = recommend(profile, None, None, found)
    orders, customers = recommendations["orders"], recommendations["customers"]
    assert [(f.columns, f.ref_table) for f in orders.foreign_keys] == [(("o_custkey",), "customers")]
    key_type, fk_type = customers.column_type("c_custkey"), orders.column_type("o_custkey")
    assert key_type.logical == fk_type.logical == "int32"
    assert "matches customers.c_custkey, which it references (own values 1..200)" in fk_type.reason
    assert not fk_type.nullable and orders.column_type("o_orderkey").logical == "int16"

    namespace = f"fk types {uuid.uuid4().hex[:6]}"
    ddls = {name: build_ddl(tables[name][0], recommendations[name], warehouse.dialect, namespace=namespace)
            for name in ("customers", "orders")}
    if warehouse.dialect == "clickhouse":
        from sqlglot import exp
        warehouse.execute(exp.Create(kind="DATABASE", this=exp.to_identifier(namespace, quoted=True),
                                     exists=True).sql("clickhouse"))
    for ddl in ddls.values():
        apply_ddl(warehouse, ddl.sql())
    if warehouse.dialect == "clickhouse":
        rows = warehouse.query_arrow(exp.select("table", "name", "type").from_("system.columns").where(
            exp.column("database").eq(exp.Literal.string(namespace))).sql("clickhouse")).to_pylist()
        types = {(r["table"], r["name"]): r["type"] for r in rows}
        assert types[("customers", "c_custkey")] == types[("orders", "o_custkey")] == "UInt16"
        return
    statement = next(n for n in ddls["orders"].notes if n.startswith("foreign key (o_custkey)")).split(": ", 1)[1]
    with warehouse.connect(autocommit=True) as connection:
        types = dict(connection.execute(
            "SELECT c.relname || '.' || a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND a.attnum > 0", (namespace,)).fetchall())
        assert types["customers.c_custkey"] == types["orders.o_custkey"] == "integer"
        connection.execute(statement)
        assert connection.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = "
                                  "%s::regnamespace", (sql.Identifier(namespace).as_string(connection),)
                                  ).fetchone()[0] == 1


def test_profiled_distinct_counts_are_reused_and_recounted_when_stale(warehouse) -> None:
    """Counts passed in (the profile's) replace the recount while the row count matches; a table that changed
    since it was profiled is recounted, so the answer stays exact."""
    spec = land(warehouse, schema("reused", ("r_id", "int64"), ("r_code", "string")),
                {"r_id": [5 * n for n in range(3000)], "r_code": [f"c{n}" for n in range(3000)]})
    # a count passed in for the current row count is taken as it is (here one that says r_code repeats a value)
    fresh = dataclasses.replace(spec, known_distinct={"r_id": 3000, "r_code": 2999}, known_rows=3000)
    stale = dataclasses.replace(spec, known_distinct={"r_id": 2999, "r_code": 2999}, known_rows=2999)

    assert [k.columns for k in discover(warehouse, [fresh]).keys] == [("r_id",)]
    found = discover(warehouse, [stale])
    assert [k.columns for k in found.keys] == [("r_id",), ("r_code",)]
    assert any("not the 2,999 profiled: distinct counts recounted" in note for note in found.notes)


def test_tpch_foreign_key_columns_get_their_keys_types(tpch_postgres) -> None:  # noqa: F811
    """Each of TPC-H's foreign-key columns is recommended the type of the key it references (``l_suppkey`` holds
    1..100 like ``s_suppkey``, ``ps_partkey`` like ``p_partkey`` ...), with the reason."""
    from etl_assets.profile.pushdown import PushdownProfiler
    from etl_assets.recommend.decisions import recommend

    dsn, schemas = tpch_postgres
    warehouse = PostgresResource.from_dsn(dsn)
    specs = [spec_of(s) for s in schemas]
    found = discover(warehouse, specs)
    recommendations = {s.table: recommend(PushdownProfiler(warehouse, s.namespace, s.table).profile(
        s.source, primary_key=s.declared, known_types=s.known_types), None, None, found) for s in specs}

    checked = 0
    for table, columns, ref_table, ref_columns in tpch.FOREIGN_KEYS:
        for column, ref_column in zip(columns, ref_columns):
            mine = recommendations[table].column_type(column)
            theirs = recommendations[ref_table].column_type(ref_column)
            assert (mine.logical, mine.max_length) == (theirs.logical, theirs.max_length), (table, column)
            assert f"matches {ref_table}.{ref_column}, which it references" in mine.reason, (table, column)
            checked += 1
    assert checked >= 10
