"""``reports/health`` materialized by real Dagster over a real PostgreSQL (warehouse, metadata and a source), the
Kafka-protocol broker, a files source and Qdrant local mode, with one source behind a closed port; and ``aietl
status`` run as a user runs it, over the same config and Dagster instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from psycopg.conninfo import conninfo_to_dict
from qdrant_client import models as qm

from etl_assets.catalog import load_catalog, save_catalog, source_tables
from etl_assets.config.loader import load_datasources
from etl_assets.keys import report_key
from etl_assets.reports.assets import build_health_asset
from etl_assets.reports.health_probes import open_resources, probe_sources
from etl_assets.wiring import build_resources
from resources.embedded.kafka import free_port
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.postgres.stream_store import open_stream_store
from resources.qdrant import QdrantResource
from resources.schema import Column, TableSchema
from tests.conftest import PostgresServer
from tests.integration.test_stream_assets import click, produce

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]
MESSAGES, LANDED = 30, 10
GONE_SECRET = f"never-shown-{uuid.uuid4().hex}"
FAILING_CHECK = "orders_not_empty"


@dataclass
class Platform:
    directory: Path
    config: Path
    config_all_reachable: Path
    catalog: Path
    home: Path
    topic: str
    env: dict[str, str]


def _config(dsn: str, files: Path, qdrant: Path, bootstrap: str, topic: str, gone_port: int | None) -> str:
    part = conninfo_to_dict(dsn)
    server = {"host": part["host"], "port": int(part["port"]), "database": part["dbname"], "user": part["user"],
              "password_env": "H_HEALTH_PG_PASSWORD"}
    postgres: dict[str, Any] = {"shop": {**server, "schedule": "0 * * * *"}}
    if gone_port:
        postgres["gone"] = {"host": "127.0.0.1", "port": gone_port, "database": "nowhere", "user": "nobody",
                            "password_env": "H_HEALTH_GONE_PASSWORD", "connect_timeout_s": 3}
    document = {
        "warehouse": "wh", "metadata": "wh", "targets": {"postgres": {"wh": server}},
        "sources": {"postgres": postgres,
                    "files": {"shop_files": {"path": str(files), "schedule": "*/30 * * * *",
                                             "tables": {"customers": {"file": "customers.csv", "format": "csv"}}}},
                    "kafka": {"events": {"bootstrap_servers": bootstrap, "topics": [topic],
                                         "request_timeout_ms": 5000}}},
        "qdrant": {"path": str(qdrant)},
    }
    return json.dumps(document)  # JSON is YAML


@pytest.fixture(scope="module")
def platform(pg_server: PostgresServer, kafka_bootstrap: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A database with a source table, a landed table, logged loads and a profile; a topic with messages past its
    landed offsets; a files source; a Qdrant collection; a Dagster instance holding one failing check."""
    directory = tmp_path_factory.mktemp("health")
    database = f"t_health_{uuid.uuid4().hex[:12]}"
    dsn = pg_server.create_database(database)
    try:
        yield _prepare(directory, dsn, kafka_bootstrap)
    finally:
        pg_server.drop_database(database)


def _prepare(directory: Path, dsn: str, bootstrap: str) -> Platform:
    files, qdrant, home = directory / "files", directory / "qdrant", directory / "dagster_home"
    for path in (files, home):
        path.mkdir()
    (files / "customers.csv").write_text("customer_id,name\n1,Ada\n2,Grace\n")
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    produce(bootstrap, topic, [click(i, "view", "2026-12-01T10:00:00Z") for i in range(MESSAGES)], partitions=1)
    (directory / "health.yaml").write_text(_config(dsn, files, qdrant, bootstrap, topic, free_port()))
    (directory / "reachable.yaml").write_text(_config(dsn, files, qdrant, bootstrap, topic, None))
    save_catalog(directory / "catalog.json", {
        "shop": [TableSchema("shop", "orders", [Column("id", "int64"), Column("amount", "float64")],
                             primary_key=["id"])],
        "gone": [TableSchema("gone", "invoices", [Column("id", "int64")], primary_key=["id"])],
        "shop_files": [TableSchema("shop_files", "customers", [Column("customer_id", "int64")])],
    })
    warehouse = PostgresResource.from_dsn(dsn)
    warehouse.execute("CREATE TABLE public.orders AS SELECT g AS id, g * 1.5 AS amount FROM generate_series(1, 40) g")
    warehouse.execute("CREATE SCHEMA raw_shop; CREATE TABLE raw_shop.orders AS SELECT * FROM public.orders")
    _log_loads(MetadataResource(postgres=warehouse), topic)
    with open_stream_store(warehouse, "events") as store:
        store.ensure_offsets_table()
        store.store_offsets(topic, {0: LANDED})
    with QdrantResource(path=str(qdrant)).open() as client:
        client.create_collection("shop__orders", vectors_config=qm.VectorParams(size=4, distance=qm.Distance.COSINE))
        client.upsert("shop__orders", [qm.PointStruct(id=i, vector=[1.0, i, 0.5, 0.1]) for i in range(1, 4)])
    _record_failing_check(dg.DagsterInstance.local_temp(str(home)))
    env = {**os.environ, "H_HEALTH_PG_PASSWORD": conninfo_to_dict(dsn).get("password", ""),
           "H_HEALTH_GONE_PASSWORD": GONE_SECRET, "DAGSTER_HOME": str(home),
           "AIETL_DATASOURCES": str(directory / "health.yaml"), "AIETL_CATALOG": str(directory / "catalog.json"),
           "AIETL_HOME": str(directory / "state")}
    return Platform(directory, directory / "health.yaml", directory / "reachable.yaml", directory / "catalog.json",
                    home, topic, env)


def _log_loads(metadata: MetadataResource, topic: str) -> None:
    for source, table, status, rows, error in [
        ("shop", "orders", "success", 40, None),
        ("shop_files", "customers", "failed", 0, "customers.csv: row 3: bad quoting"),
        ("events", topic, "success", LANDED, None),
    ]:
        entry = metadata.start_ingestion(source, table, "full")
        metadata.finish_ingestion(entry, status, rows_read=rows, rows_written=rows, error=error,
                                  watermark_to="2026-12-01T10:00:00" if status == "success" else None)
    metadata.record_profile("shop", "orders", row_count=40, size_bytes=8192, duplicate_rows=0, sampled=False,
                            columns=[], profile={})


def _checked_asset() -> dg.AssetsDefinition:
    key = ["profile", "shop", "orders"]

    @dg.asset(key=key, check_specs=[dg.AssetCheckSpec(FAILING_CHECK, asset=key)])
    def orders_profile() -> Any:
        yield dg.Output(1)
        yield dg.AssetCheckResult(check_name=FAILING_CHECK, passed=False, description="0 rows landed")

    return orders_profile


def _record_failing_check(instance: dg.DagsterInstance) -> None:
    assert dg.materialize([_checked_asset()], instance=instance, raise_on_error=False).success


def _aietl(platform: Platform, *args: str, config: Path | None = None) -> subprocess.CompletedProcess:
    env = {**platform.env, "AIETL_DATASOURCES": str(config or platform.config)}
    return subprocess.run([str(Path(sys.executable).parent / "aietl"), "status", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_health_report_materializes_with_an_unreachable_source(platform: Platform,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("H_HEALTH_PG_PASSWORD", "H_HEALTH_GONE_PASSWORD"):
        monkeypatch.setenv(name, platform.env[name])
    datasources = load_datasources(platform.config)
    tables = source_tables(datasources, load_catalog(platform.catalog))
    out = platform.directory / "reports"
    instance = dg.DagsterInstance.local_temp(str(platform.home))
    health = build_health_asset(datasources, tables)
    resources = {key: value for key, value in build_resources(datasources).items()
                 if key in health.required_resource_keys}
    result = dg.materialize(
        [_checked_asset(), health], instance=instance, resources=resources, selection=[report_key("health")],
        run_config={"ops": {"reports__health": {"config": {"output_dir": str(out), "probe_timeout_s": 8.0}}}})
    assert result.success

    report = json.loads((out / "health.json").read_text())
    sections = {s["source"]: s for s in report["sections"]}
    assert report["health"] == "fail" and report["counts"]["sources_unreachable"] == 1
    gone = sections["gone"]
    assert gone["health"] == "fail" and "cannot connect" in gone["issues"][0]["text"]
    assert {row[1]: row[2] for row in report["summary"]["rows"]} == {
        "shop": "yes", "gone": "NO", "shop_files": "yes", "events": "yes"}

    tables_of = {s: {row[0]: row for row in sections[s]["grids"][0]["rows"]} for s in ("shop", "shop_files")}
    orders = tables_of["shop"]["orders"]
    assert orders[1] is not None and orders[3] == "cron 0 * * * *" and orders[4] == 40
    assert (orders[7], orders[8]) == (1, "fail") and FAILING_CHECK in orders[9]  # the failing check counts
    customers = tables_of["shop_files"]["customers"]
    assert customers[1] is None and customers[7] == 1 and "bad quoting" in customers[9]

    lag_grid = sections["events"]["grids"][1]
    assert lag_grid["title"] == "Kafka lag per topic"
    [[topic, partitions, _end, landed, lag, counted, error]] = lag_grid["rows"]
    assert (topic, partitions, landed, lag, counted, error) == (platform.topic, 1, LANDED, MESSAGES - LANDED,
                                                                "exact", None)

    assert [row[:2] for row in sections["Asset checks"]["grids"][0]["rows"]] == [["profile/shop/orders",
                                                                                 FAILING_CHECK]]
    schemas = {row[0]: row for row in sections["Storage"]["grids"][0]["rows"]}
    assert {"public", "raw_shop", "aietl_meta"} <= set(schemas)
    assert schemas["raw_shop"][1] == 1 and schemas["raw_shop"][2] > 0
    assert sections["Storage"]["grids"][1]["rows"][0][:2] == ["shop__orders", 3]
    chart = next(c for c in report["charts"] if c["name"] == "rows_landed")
    assert sum(chart["values"]) == 40 + LANDED

    for fmt in ("html", "md", "json", "pdf"):
        content = (out / f"health.{fmt}").read_bytes()
        assert content and GONE_SECRET.encode() not in content
    assert "## gone — ❌ FAIL" in (out / "health.md").read_text()
    materialization = instance.get_latest_materialization_event(report_key("health")).asset_materialization
    assert materialization.metadata["sources_unreachable"].value == 1
    assert materialization.metadata["pdf_pages"].value >= 1


def test_probes_of_closed_ports_give_the_reason_within_the_timeout(tmp_path: Path) -> None:
    document = {"warehouse": "wh", "metadata": "wh",
                "targets": {"postgres": {"wh": {"host": "127.0.0.1", "port": free_port(), "database": "x"}}},
                "sources": {"postgres": {"pg": {"host": "127.0.0.1", "port": free_port(), "database": "x"}},
                            "kafka": {"k": {"bootstrap_servers": f"127.0.0.1:{free_port()}", "topics": ["t"]}},
                            "files": {"f": {"path": str(tmp_path / "missing")}}}}
    (tmp_path / "closed.yaml").write_text(json.dumps(document))
    datasources = load_datasources(tmp_path / "closed.yaml")
    with open_resources(datasources) as (resources, unavailable):
        assert unavailable == {}
        probes = {p.source: p for p in probe_sources(datasources, [], resources, timeout_s=4)}
    assert not any(p.reachable for p in probes.values())
    assert "cannot connect" in probes["pg"].detail and "Connection refused" in probes["pg"].detail
    assert "cannot connect" in probes["k"].detail and "bootstrap" in probes["k"].detail
    assert "directory not found" in probes["f"].detail


def test_status_prints_the_tables_and_exits_nonzero_for_an_unreachable_source(platform: Platform) -> None:
    completed = _aietl(platform, "--timeout", "8")
    assert completed.returncode == 1, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].split() == ["SOURCE", "KIND", "REACHABLE", "DETAIL"]
    assert next(line for line in lines if line.startswith("gone ")).split()[:3] == ["gone", "postgres", "NO"]
    assert next(line for line in lines if line.startswith("shop ")).split()[:3] == ["shop", "postgres", "yes"]
    orders = next(line for line in lines if line.split()[:2] == ["shop", "orders"])
    assert " 40 " in orders and "FAIL" in orders and FAILING_CHECK in orders
    assert any(FAILING_CHECK in line and "ERROR" in line for line in lines)
    assert completed.stderr.strip().splitlines()[-1] == "error: 1 source(s) unreachable: gone"
    assert GONE_SECRET not in completed.stdout + completed.stderr


def test_status_json_exits_zero_when_every_source_answers(platform: Platform) -> None:
    completed = _aietl(platform, "--json", config=platform.config_all_reachable)
    assert completed.returncode == 0, completed.stderr
    status = json.loads(completed.stdout)
    assert {p["source"]: p["reachable"] for p in status["sources"]} == {"shop": True, "shop_files": True,
                                                                        "events": True}
    tables = {(t["source"], t["table"]): t for t in status["tables"]}
    assert tables[("shop", "orders")]["rows"] == 40 and tables[("shop", "orders")]["failures"] == 1
    assert tables[("shop_files", "customers")]["health"] == "fail"
    assert tables[("events", platform.topic)]["lag"] == MESSAGES - LANDED
    assert [c["name"] for c in status["checks_failing"]] == [FAILING_CHECK]
