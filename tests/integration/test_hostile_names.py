"""Hostile names end to end (issue 11, point 5): a files source, its tables and columns named with quotes,
semicolons, spaces, slashes, dashes, dots, reserved words, mixed case and non-Latin scripts go through the real
graph (load, profile, recommendation, DDL in six dialects, embeddings, reports) in one Dagster run; the PostgreSQL
and ClickHouse DDL is then executed on PostgreSQL and the chdb engine, and the dbt staging models are generated and
parsed by dbt. tests/unit/test_keys_graph.py covers the asset keys of such names without running anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from etl_assets.catalog import source_tables
from etl_assets.config.loader import load_datasources
from etl_assets.ddl.build import apply_ddl
from etl_assets.definitions import build_assets
from etl_assets.discovery import discover_sources
from etl_assets.keys import DBT, DDL, EMBEDDINGS, STREAM, asset_key
from etl_assets.transform.generate import generate, staging_name
from etl_assets.transform.spec.resolved import Pipelines
from etl_assets.wiring import build_resources
from resources.clickhouse import ClickHouseResource
from resources.postgres import PostgresResource

pytestmark = pytest.mark.integration
SOURCE = '"odd"; name'
TABLES = {"a/b": "t0.csv", "select": "t1.csv", "Ünïcødé": "t2.csv", "данные": "t3.csv", "表": "t4.csv",
          "dash-dot.name; x": "t5.csv"}
COLUMNS = ["id", "Mixed Case", "select", "a.b-c/d", '"q"; --', "名前"]
ROWS = 30
PASSWORD_ENV = "W_HOSTILE_PG_PASSWORD"


def write_csv(path: Path) -> None:
    header = ",".join('"' + c.replace('"', '""') + '"' for c in COLUMNS)
    lines = [f"{i},Value {i},word{i % 3},{i * 2},note {i} about {i % 5},名{i}" for i in range(1, ROWS + 1)]
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, pg_server) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("hostile")
    files = root / "files"
    files.mkdir()
    for name in TABLES.values():
        write_csv(files / name)
    dsn = pg_server.create_database("t_hostile_names")
    info = conninfo_to_dict(dsn)
    document = {
        "warehouse": "wh", "metadata": "wh",
        "targets": {"postgres": {"wh": {"host": info["host"], "port": int(info["port"]), "database": info["dbname"],
                                        "user": info["user"], "password_env": PASSWORD_ENV, "sslmode": "disable"}}},
        "sources": {"files": {SOURCE: {"path": str(files), "semantic_search": True, "tables": {
            name: {"file": file, "format": "csv", "primary_key": ["id"]} for name, file in TABLES.items()}}}},
        "qdrant": {"path": str(root / "qdrant")},
        "embedder": {"model": "hashing"},
    }
    (root / "ds.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    patch = pytest.MonkeyPatch()
    patch.setenv(PASSWORD_ENV, info.get("password", ""))
    patch.setenv("AIETL_HOME", str(root / "state"))
    catalog, problems = discover_sources(datasources_file=root / "ds.yaml", catalog_file=root / "catalog.json")
    assert problems == [], problems
    datasources = load_datasources(root / "ds.yaml")
    tables = source_tables(datasources, catalog)
    assets = [a for a in build_assets(datasources, tables)
              if not isinstance(a, dg.AssetsDefinition) or not any(k.path[0] in (DBT, STREAM) for k in a.keys)]
    result = dg.materialize(assets, resources=build_resources(datasources), raise_on_error=False,
                            instance=dg.DagsterInstance.ephemeral())
    try:
        yield {"dsn": dsn, "result": result, "tables": tables, "root": root}
    finally:
        patch.undo()
        pg_server.drop_database("t_hostile_names")


def failures(result: dg.ExecuteInProcessResult) -> list[str]:
    return [f"{e.step_key}: {e.step_failure_data.error.message[:300]}" for e in result.all_events
            if e.event_type_value == "STEP_FAILURE"]


def test_the_whole_graph_runs_for_hostile_names(project: dict) -> None:
    assert failures(project["result"]) == []
    assert project["result"].success


def test_every_table_lands_every_row_under_its_own_names(project: dict) -> None:
    with psycopg.connect(project["dsn"], connect_timeout=10) as connection:
        for table in TABLES:
            relation = sql.Identifier(f"raw_{SOURCE}", table)
            assert connection.execute(sql.SQL("SELECT count(*), count(DISTINCT id) FROM {}").format(relation)
                                      ).fetchone() == (ROWS, ROWS), table
            names = [c.name for c in connection.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(relation)
                                                        ).description]
            assert names[:len(COLUMNS)] == COLUMNS, (table, names)


def test_embeddings_hold_one_point_per_row(project: dict) -> None:
    result = project["result"]
    for table in TABLES:
        [materialization] = [e.materialization for e in result.get_asset_materialization_events()
                             if e.asset_key == asset_key(EMBEDDINGS, SOURCE, table)]
        assert materialization.metadata["points"].value >= ROWS, table


def test_the_ddl_of_every_dialect_is_built_and_runs_on_postgres_and_chdb(project: dict, tmp_path: Path) -> None:
    result = project["result"]
    warehouse = PostgresResource.from_dsn(project["dsn"])
    clickhouse = ClickHouseResource(chdb_path=str(tmp_path / "chdb"))
    for table in TABLES:
        scripts = result.output_for_node(asset_key(DDL, SOURCE, table).to_python_identifier())
        assert set(scripts) == {"postgres", "clickhouse", "mysql", "redshift", "snowflake", "bigquery"}
        assert apply_ddl(warehouse, scripts["postgres"]) >= 1
        assert apply_ddl(clickhouse, scripts["clickhouse"]) >= 1
    with psycopg.connect(project["dsn"], connect_timeout=10) as connection:
        created = {row[0] for row in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (f"optimized_{SOURCE}",))}
    assert created >= set(TABLES)
    names = set(clickhouse.query_arrow("SELECT name FROM system.tables WHERE database = {d:String}",
                                       {"d": f"optimized_{SOURCE}"}).column("name").to_pylist())
    assert names >= set(TABLES)


def test_reports_name_every_table(project: dict) -> None:
    result = project["result"]
    reports = [e.asset_key for e in result.get_asset_materialization_events() if e.asset_key.path[0] == "reports"]
    assert reports
    state = project["root"] / "state"
    texts = "".join(p.read_text(encoding="utf-8", errors="replace") for p in state.rglob("*.md"))
    for table in TABLES:
        assert table in texts, table


def test_dbt_staging_models_are_generated_and_parse(project: dict, tmp_path: Path) -> None:
    from etl_assets.transform.project import dbt_resource

    dbt_dir = Path(__file__).resolve().parents[2] / "dbt_project"
    copy = tmp_path / "dbt"
    import shutil

    shutil.copytree(dbt_dir, copy, ignore=shutil.ignore_patterns("target", "logs", "models"))
    generated = generate(copy, project["tables"], Pipelines(models={}, file="none"))
    names = set(generated.models)
    assert names >= {staging_name(SOURCE, table) for table in TABLES}
    dbt_resource(copy).cli(["parse", "--quiet"], target_path=Path("target")).wait()
    manifest = (copy / "target" / "manifest.json").read_text(encoding="utf-8")
    for table in TABLES:
        assert staging_name(SOURCE, table) in manifest
