"""The generated DDL runs on the real engines: PostgreSQL (``pg_dsn``) and ClickHouse (chdb, ``chdb_path``).

Cases: every sample table of config/catalog.json with the rules' own recommendation and with forced layouts
(partitioned PostgreSQL, ReplacingMergeTree with every skip index), plus a table with every logical type and
identifiers that need quoting. Each script is applied twice (idempotent) and then takes a row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql
from sqlglot import exp

from etl_assets.ddl.build import apply_ddl, build_ddl
from resources.clickhouse import ClickHouseResource
from resources.postgres import PostgresResource
from resources.schema import Column, TableSchema, parse_logical
from tests.support.ddl import CASES, NAMESPACE, sample_tables, value

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def warehouse(pg_server) -> Iterator[PostgresResource]:
    """One database for the module: each case gets its own schema, which keeps the cases apart and fast."""
    name = f"ddl_{uuid.uuid4().hex[:10]}"
    yield PostgresResource.from_dsn(pg_server.create_database(name))
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> ClickHouseResource:
    """One chdb data path for the module (starting the engine on a new path costs seconds); a database per case."""
    return ClickHouseResource(chdb_path=str(tmp_path_factory.mktemp("ddl_chdb") / "chdb"))


def namespace_of(case_id: str) -> str:
    return f"{NAMESPACE} {CASE_IDS.index(case_id)}"


CASE_IDS = [c[0] for c in CASES]


def test_there_is_a_case_for_every_sample_table():
    names = {case[0].split(" ")[0] for case in CASES}
    assert {f"{t.source}.{t.name}" for t in sample_tables()} <= names


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_postgres_ddl_runs_twice_and_takes_rows(warehouse: PostgresResource, case):
    case_id, schema, profile, layout = case
    namespace = namespace_of(case_id)
    ddl = build_ddl(schema, layout, "postgres", namespace=namespace, profile=profile)
    assert apply_ddl(warehouse, ddl.sql()) == len(ddl.statements)
    apply_ddl(warehouse, ddl.sql())
    target = sql.Identifier(namespace, schema.name)
    with warehouse.connect() as connection:
        columns = [row[0] for row in connection.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum",
            (target.as_string(connection),)).fetchall()]
        assert columns == [c.name for c in schema.columns]
        _insert_one_postgres(connection, target, schema)
        assert connection.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchone()[0] == 1


def test_postgres_enum_types_run_twice_keep_awkward_labels_and_name_a_value_outside_the_set(
        warehouse: PostgresResource):
    from etl_assets.ddl.common import Table
    from etl_assets.ddl.dialects import postgres
    from etl_assets.recommend.model import ColumnType, Recommendation

    labels = ("it's", "back\\slash", "plain")
    schema = TableSchema("s", "kinds", [Column("kind", "string", nullable=False)])
    layout = Recommendation("s", "kinds", "postgres", column_types=[
        ColumnType("kind", "string", False, enum_values=labels, reason="a closed set")])
    table = Table(schema, layout, "enum test", {}, None)
    script = postgres.build(table).sql()
    apply_ddl(warehouse, script)
    apply_ddl(warehouse, script)
    with warehouse.connect() as connection:
        stored = [row[0] for row in connection.execute(
            "SELECT enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = %s "
            "ORDER BY e.enumsortorder", (postgres.enum_ref(table, "kind").name,)).fetchall()]
        assert stored == sorted(labels)
        target = sql.Identifier("enum test", "kinds")
        connection.execute(sql.SQL("INSERT INTO {} VALUES (%s)").format(target), ("it's",))
        with pytest.raises(psycopg.errors.InvalidTextRepresentation, match="new kind"):
            connection.execute(sql.SQL("INSERT INTO {} VALUES (%s)").format(target), ("new kind",))


def _insert_one_postgres(connection: psycopg.Connection, target: sql.Identifier, schema: TableSchema) -> None:
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in schema.columns)
    values = [_pg_value(c.logical_type, 7) for c in schema.columns]
    placeholders = sql.SQL(", ").join(sql.Placeholder() * len(values))
    connection.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(target, names, placeholders), values)


def _pg_value(logical: str, row: int) -> object:
    raw = value(parse_logical(logical).name, row)
    return psycopg.types.json.Jsonb(json.loads(raw)) if logical == "json" else raw


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_clickhouse_ddl_runs_twice_on_chdb_and_takes_rows(clickhouse: ClickHouseResource, case):
    case_id, schema, profile, layout = case
    namespace = namespace_of(case_id)
    ddl = build_ddl(schema, layout, "clickhouse", namespace=namespace, profile=profile)
    engine = clickhouse
    assert apply_ddl(engine, ddl.sql()) == len(ddl.statements)
    apply_ddl(engine, ddl.sql())
    target = exp.table_(schema.name, db=namespace, quoted=True)
    described = engine.query_arrow(exp.Describe(this=target.copy()).sql("clickhouse")).column("name").to_pylist()
    assert described == [c.name for c in schema.columns]
    row = {c.name: value(c.type.name, 7) for c in schema.columns}
    with engine.client() as client:
        client.insert(target.sql("clickhouse"), [list(row.values())], column_names=list(row))
    count = exp.select(exp.Count(this=exp.Star()).as_("n")).from_(target.copy())
    assert engine.query_arrow(count.sql("clickhouse")).column("n").to_pylist() == [1]


def test_clickhouse_enum8_behaves_as_its_note_says(clickhouse: ClickHouseResource):
    """The Enum8 note's claims on chdb: members compare as labels; = and IN with a value outside the set answer no
    rows; != with one, and an insert of one as the warehouse writes (Arrow), fail naming it."""
    from etl_assets.ddl.common import Table
    from etl_assets.ddl.dialects import clickhouse as dialect
    from etl_assets.recommend.model import ColumnType, Recommendation

    schema = TableSchema("s", "kinds", [Column("kind", "string", nullable=False)])
    layout = Recommendation("s", "kinds", "clickhouse", column_types=[
        ColumnType("kind", "string", False, enum_values=("it's", "plain"), reason="a closed set")])
    ddl = dialect.build(Table(schema, layout, "enum8 test", {}, None))
    assert any(note.startswith("Enum8 on kind: ") for note in ddl.notes)
    apply_ddl(clickhouse, ddl.sql())
    target = exp.table_("kinds", db="enum8 test", quoted=True)
    with clickhouse.client() as client:
        client.insert_arrow("kinds", pa.table({"kind": ["it's", "plain"]}), database="enum8 test")

    def count(condition: str) -> int:
        select = exp.select(exp.Count(this=exp.Star()).as_("n")).from_(target.copy()).where(condition,
                                                                                          dialect="clickhouse")
        return clickhouse.query_arrow(select.sql("clickhouse")).column("n").to_pylist()[0]

    assert count("kind = 'it''s'") == 1
    assert count("kind = 'new kind'") == 0 and count("kind IN ('plain', 'new kind')") == 1
    with pytest.raises(Exception, match="new kind"):
        count("kind != 'new kind'")
    with pytest.raises(Exception, match="new kind"), clickhouse.client() as client:
        client.insert_arrow("kinds", pa.table({"kind": ["new kind"]}), database="enum8 test")
