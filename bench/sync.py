"""Benchmark: database sync (issue 14). One embedded PostgreSQL holds a source database and a warehouse database.

Run: ``make bench-sync`` or ``.venv/bin/python bench/sync.py [--rows N] [--repeat 3] [--tables 1000] [--skip-dlt]``.

- the bare pipe (the practical limit): psycopg's binary ``COPY orders TO STDOUT`` piped into ``COPY ... FROM STDIN``
  of a table with the same primary key, in 1 MiB writes;
- this project: ``etl_assets.raw.load.load_table`` of the generated 10-column table in each mode (full, incremental
  by cursor, merge on the key), a first load into an empty warehouse each time; then 10,000 changed rows landed by an
  incremental merge, against the bare statements that increment needs (COPY of the changed rows into a temporary
  table and one ``INSERT ... ON CONFLICT``), both in a fresh process that includes its connections;
- dlt 1.31 ``sql_table`` (pyarrow backend, parquet files loaded by ADBC, compression off: its fastest), merge on the
  same key, in a virtual environment of its own under bench/.work/;
- the code location over a generated catalog of ``--tables`` tables (import + ``resolve_asset_graph``) against a
  plain Dagster asset factory with the same numbers of assets and checks;
- one tick of the incremental sensor over those tables (a first tick: every table has moved).

Each load runs in a fresh process (seconds exclude interpreter start and imports; peak memory is the process's
maximum RSS); each figure is the median of ``--repeat`` runs. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from peer_env import peer_python

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
WORK = HERE / ".work"
DLT_VENV = WORK / "dlt-sql-venv"
DLT_REQUIREMENTS = ["dlt[postgres,parquet,sql_database]==1.31.0", "adbc-driver-postgresql", "pyarrow>=17,<27",
                    "sqlalchemy<2.1", "psycopg2-binary"]
RUN_TIMEOUT_S = 1800
INCREMENT_ROWS = 10_000
COLUMNS = ("order_id bigint PRIMARY KEY, customer_id integer, quantity integer, unit_price double precision, "
           "discount numeric(6,4), customer_name text, email text, country text, updated_at timestamptz, "
           "is_paid boolean")

GENERATE = ["DROP TABLE IF EXISTS orders", f"CREATE TABLE orders ({COLUMNS})", """
INSERT INTO orders SELECT g, (g * 7) % 50000, g % 20, (g % 500) + 0.25, ((g % 300) / 1000.0)::numeric(6,4),
  'Customer ' || g, 'user' || g || '@example.com', (ARRAY['DE','FR','US','GB','JP','BR','IN','RU'])[1 + g % 8],
  timestamptz '2026-01-01' + g * interval '1 second', g % 5 <> 0 FROM generate_series(1, {rows}) g""",
            "VACUUM ANALYZE orders"]

PIPE = """
import json, resource, sys, time, psycopg
source_dsn, target_dsn, columns = sys.argv[1:4]
with psycopg.connect(target_dsn, autocommit=True) as c:
    c.execute("DROP TABLE IF EXISTS bench_pipe"); c.execute(f"CREATE TABLE bench_pipe ({columns})")
start = time.perf_counter()
with psycopg.connect(source_dsn) as s, psycopg.connect(target_dsn) as d:
    with s.cursor().copy("COPY orders TO STDOUT (FORMAT binary)") as out, \\
            d.cursor().copy("COPY bench_pipe FROM STDIN (FORMAT binary)") as into:
        parts, size = [], 0
        for row in out:
            parts.append(row); size += len(row)
            if size >= 1 << 20:
                into.write(b"".join(parts)); parts, size = [], 0
        into.write(b"".join(parts))
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

OURS = """
import json, resource, sys, time
start = time.perf_counter()
from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.raw.load import load_table
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
imported = time.perf_counter()
source_dsn, target_dsn, mode = sys.argv[1:4]
source = PostgresResource.from_dsn(source_dsn, source_name="bench")
warehouse = PostgresResource.from_dsn(target_dsn)
metadata = MetadataResource(postgres=warehouse)
sync = SyncSettings(mode="full") if mode == "full" else SyncSettings(mode=mode, cursor="updated_at")
table = SourceTable(kind="postgres", schema=source.discover_table("orders"), sync=sync, batch_size=50_000,
                    semantic_search=False, text_columns=(), checks=CheckSettings(), target="warehouse")
outcome = load_table(table, source, warehouse, metadata)
print(json.dumps({"seconds": time.perf_counter() - imported, "rows": outcome.rows_written,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

BARE_INCREMENT = """
import json, sys, time, psycopg
source_dsn, target_dsn, since = sys.argv[1:4]
start = time.perf_counter()
with psycopg.connect(source_dsn) as s, psycopg.connect(target_dsn) as d:
    d.execute("CREATE TEMPORARY TABLE incoming (LIKE raw_bench.orders) ON COMMIT DROP")
    with s.cursor().copy("COPY (SELECT * FROM orders WHERE updated_at >= %s) TO STDOUT (FORMAT binary)",
                         (since,)) as out, d.cursor().copy("COPY incoming FROM STDIN (FORMAT binary)") as into:
        for row in out:
            into.write(row)
    columns = [r[0] for r in d.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'incoming'::regclass "
                                       "AND attnum > 0 ORDER BY attnum")]
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c != "order_id")
    rows = d.execute(f"INSERT INTO raw_bench.orders SELECT * FROM incoming ON CONFLICT (order_id) DO UPDATE SET "
                     f"{updates}").rowcount
print(json.dumps({"seconds": time.perf_counter() - start, "rows": rows, "peak_mb": None}))
"""

DLT = """
import json, os, resource, sys, time
os.environ.update({"NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION": "true", "RUNTIME__DLTHUB_TELEMETRY": "false",
                   "RUNTIME__LOG_LEVEL": "WARNING"})
import dlt
from dlt.sources.sql_database import sql_table
source_url, target_dsn, pipelines_dir = sys.argv[1:4]
orders = sql_table(credentials=source_url, table="orders", backend="pyarrow", chunk_size=100_000)
orders.apply_hints(write_disposition="merge", primary_key="order_id")
pipeline = dlt.pipeline(pipeline_name="bench_sync", destination=dlt.destinations.postgres(credentials=target_dsn),
                        dataset_name="dlt_sync", pipelines_dir=pipelines_dir)
with pipeline.sql_client() as client:
    client.execute_sql("DROP SCHEMA IF EXISTS dlt_sync CASCADE")
pipeline.drop()
start = time.perf_counter()
pipeline.run(orders, loader_file_format="parquet")
seconds = time.perf_counter() - start
with pipeline.sql_client() as client:
    count = client.execute_sql("SELECT count(*) FROM dlt_sync.orders")[0][0]
print(json.dumps({"seconds": seconds, "rows": count,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

LOCATION = """
import json, resource, time
start = time.perf_counter()
from etl_assets.definitions import defs
graph = defs.resolve_asset_graph()
checks = len(graph.asset_check_keys)
print(json.dumps({"seconds": time.perf_counter() - start, "assets": len(graph.get_all_asset_keys()),
                  "checks": checks, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PLAIN = """
import json, resource, sys, time
start = time.perf_counter()
import dagster as dg
assets_n, checks_n = int(sys.argv[1]), int(sys.argv[2])
def make_asset(i):
    @dg.asset(key=["plain", "src", f"t{i}"], group_name="src", deps=[["plain", "src", f"t{i - 1}"]] if i % 4 else [],
              metadata={"table": f"t{i}"})
    def one(context):
        return None
    return one
def make_check(i):
    @dg.asset_check(asset=dg.AssetKey(["plain", "src", f"t{i % assets_n}"]), name=f"check_{i // assets_n}")
    def check():
        return dg.AssetCheckResult(passed=True)
    return check
defs = dg.Definitions(assets=[make_asset(i) for i in range(assets_n)], asset_checks=[make_check(i)
                      for i in range(checks_n)])
graph = defs.resolve_asset_graph()
print(json.dumps({"seconds": time.perf_counter() - start, "assets": len(graph.get_all_asset_keys()),
                  "checks": len(graph.asset_check_keys),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

SENSOR = """
import json, sys, time
import dagster as dg
from etl_assets.definitions import defs
from etl_assets.keys import definition_name
sensor = defs.resolve_sensor_def(definition_name("incremental", "bench_many"))
resources = {"source_bench_many": defs.resources["source_bench_many"]}
with dg.DagsterInstance.ephemeral() as instance:
    context = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(),
                                      resources=resources)
    start = time.perf_counter()
    result = sensor.evaluate_tick(context)
    seconds = time.perf_counter() - start
requests = len(result.run_requests) if hasattr(result, "run_requests") else 0
print(json.dumps({"seconds": seconds, "run_requests": requests, "peak_mb": None}))
"""


def run_child(python: str | Path, script: str, *args: str, env: dict[str, str] | None = None) -> dict:
    started = time.perf_counter()
    completed = subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True,
                               timeout=RUN_TIMEOUT_S, cwd=PROJECT, env={**os.environ, **(env or {})})
    if completed.returncode != 0:
        raise RuntimeError(f"child failed (exit {completed.returncode}): {completed.stderr.strip()[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - started
    return result


def measure(name: str, repeat: int, run, key: str = "seconds") -> dict:
    runs = []
    for attempt in range(repeat):
        result = run()
        runs.append(result)
        print(f"  {name} run {attempt + 1}: {result[key]:.2f} s", flush=True)
    peaks = [r["peak_mb"] for r in runs if r.get("peak_mb") is not None]
    return {"seconds": statistics.median(r[key] for r in runs), "runs": [round(r[key], 3) for r in runs],
            "peak_mb": max(peaks) if peaks else None, "last": runs[-1]}


def execute(dsn: str, *statements: str, params: dict | None = None) -> None:
    import psycopg
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as connection:
        for statement in statements:
            connection.execute(statement, params)


def reset_warehouse(dsn: str) -> None:
    execute(dsn, "DROP SCHEMA IF EXISTS raw_bench CASCADE", "DROP SCHEMA IF EXISTS aietl_meta CASCADE")


def generate_many(dsn: str, tables: int) -> None:
    """``tables`` small tables of 10 columns (key, cursor, eight values) in schema ``many``, a few rows each."""
    execute(dsn, "DROP SCHEMA IF EXISTS many CASCADE", "CREATE SCHEMA many", f"""DO $$ BEGIN FOR i IN 1..{int(tables)} LOOP
  EXECUTE format('CREATE TABLE many.%I (id bigint PRIMARY KEY, updated_at timestamptz, a integer, b integer,
    c double precision, d numeric(12,2), e text, f text, g date, h boolean)', 't' || lpad(i::text, 4, '0'));
  EXECUTE format('INSERT INTO many.%I SELECT g, now(), g, g, g, g, ''x'', ''y'', current_date, true
    FROM generate_series(1, 3) g', 't' || lpad(i::text, 4, '0'));
END LOOP; END $$""")


def location_config(server, dsn: str) -> dict[str, str]:
    """A datasources.yaml with one source of many tables and its discovered catalog; the env that points at them."""
    sys.path.insert(0, str(PROJECT))
    from etl_assets.catalog import save_catalog
    from resources.postgres import PostgresResource

    config = WORK / "sync-location"
    config.mkdir(parents=True, exist_ok=True)
    (config / "datasources.yaml").write_text(f"""warehouse: warehouse
metadata: warehouse
qdrant: {{path: {config / "qdrant"}}}
targets:
  postgres:
    warehouse: {{host: 127.0.0.1, port: {server.port}, database: bench_target, user: {server.user},
                password_env: AIETL_BENCH_PG_PASSWORD}}
sources:
  postgres:
    bench_many:
      host: 127.0.0.1
      port: {server.port}
      database: bench_source
      user: {server.user}
      password_env: AIETL_BENCH_PG_PASSWORD
      schema: many
      sync: {{mode: merge, cursor: updated_at}}
""", encoding="utf-8")
    source = PostgresResource.from_dsn(dsn, source_name="bench_many", schema_name="many")
    save_catalog(config / "catalog.json", {"bench_many": source.discover()})
    return {"AIETL_DATASOURCES": str(config / "datasources.yaml"), "AIETL_CATALOG": str(config / "catalog.json"),
            "AIETL_BENCH_PG_PASSWORD": server.password}


def dlt_python() -> tuple[Path | None, str]:
    existed = DLT_VENV.exists()
    try:
        python = peer_python(DLT_VENV, DLT_REQUIREMENTS, sys.executable)
    except RuntimeError as error:
        return None, f"dlt's environment cannot be made: {error}"
    return python, "bench/.work/dlt-sql-venv" + ("" if existed else " (made now)")


def run_loads(args: argparse.Namespace, source_dsn: str, target_dsn: str) -> dict[str, dict]:
    measured: dict[str, dict] = {}
    measured["bare COPY pipe"] = measure("bare COPY pipe", args.repeat,
                                         lambda: run_child(sys.executable, PIPE, source_dsn, target_dsn, COLUMNS))
    for mode in ("full", "incremental", "merge"):
        def once(mode: str = mode) -> dict:
            reset_warehouse(target_dsn)
            return run_child(sys.executable, OURS, source_dsn, target_dsn, mode)
        measured[f"aietl {mode}"] = result = measure(f"aietl {mode}", args.repeat, once)
        if result["last"]["rows"] != args.rows:
            raise SystemExit(f"aietl {mode} landed {result['last']['rows']} rows, expected {args.rows}")
    measured.update(run_increment(args, source_dsn, target_dsn))
    if not args.skip_dlt:
        measured.update(run_dlt(args, source_dsn, target_dsn))
    return measured


def run_increment(args: argparse.Namespace, source_dsn: str, target_dsn: str) -> dict[str, dict]:
    """10,000 changed rows (a new cursor value each) after the merge load above, ours and the bare statements."""
    results: dict[str, dict] = {}
    for name, script in (("aietl increment", OURS), ("bare increment statements", BARE_INCREMENT)):
        runs = []
        for attempt in range(args.repeat):
            since = f"2030-01-01 00:00:{attempt + (10 if script is BARE_INCREMENT else 0):02d}+00"
            execute(source_dsn, "UPDATE orders SET updated_at = %(since)s::timestamptz + order_id * interval "
                                "'1 microsecond', quantity = quantity + 1 WHERE order_id %% 100 = %(slot)s",
                    params={"since": since, "slot": attempt + 1})
            arguments = ("merge",) if script is OURS else (since,)
            runs.append(run_child(sys.executable, script, source_dsn, target_dsn, *arguments))
            print(f"  {name} run {attempt + 1}: {runs[-1]['seconds']:.3f} s ({runs[-1]['rows']} rows)", flush=True)
        results[name] = {"seconds": statistics.median(r["seconds"] for r in runs),
                         "runs": [round(r["seconds"], 3) for r in runs], "peak_mb": None, "last": runs[-1]}
    return results


def run_dlt(args: argparse.Namespace, source_dsn: str, target_dsn: str) -> dict[str, dict]:
    python, origin = dlt_python()
    print(f"dlt runs in: {origin}")
    if not python:
        return {}
    source_url = source_dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
    try:
        return {"dlt sql_table merge": measure("dlt sql_table merge", args.repeat, lambda: run_child(
            python, DLT, source_url, target_dsn, str(WORK / "dlt-sync-pipelines")))}
    except RuntimeError as error:
        print(f"dlt: failed: {error}")
        return {}


def run_location(args: argparse.Namespace, env: dict[str, str]) -> dict[str, dict]:
    ours = measure("code location", args.repeat, lambda: run_child(sys.executable, LOCATION, env=env), key="wall_s")
    assets, checks = ours["last"]["assets"], ours["last"]["checks"]
    print(f"  the code location has {assets} assets and {checks} checks", flush=True)
    plain = measure("plain Dagster factory", args.repeat,
                    lambda: run_child(sys.executable, PLAIN, str(assets), str(checks)), key="wall_s")
    tick = measure("sensor tick", args.repeat, lambda: run_child(sys.executable, SENSOR, env=env))
    print(f"  the tick requested {tick['last']['run_requests']} runs", flush=True)
    return {"code location": ours, "plain Dagster factory": plain, "sensor tick": tick}


def report(rows: int, measured: dict[str, dict]) -> None:
    print()
    print(f"{'path':<30}{'median s':>10}{'rows/s':>12}{'peak MiB':>10}   runs")
    for name, result in measured.items():
        peak = f"{result['peak_mb']:.0f}" if result["peak_mb"] else "-"
        bulk = name in ("bare COPY pipe", "aietl full", "aietl incremental", "aietl merge", "dlt sql_table merge")
        rate = f"{rows / result['seconds']:,.0f}" if bulk else "-"
        print(f"{name:<30}{result['seconds']:>10.3f}{rate:>12}{peak:>10}   {result['runs']}")
    slowest = max((measured[f"aietl {m}"] for m in ("full", "incremental", "merge")), key=lambda r: r["seconds"])
    merge, pipe = measured["aietl merge"], measured["bare COPY pipe"]
    dlt = measured.get("dlt sql_table merge")
    location, plain = measured["code location"], measured["plain Dagster factory"]
    summary = {
        "bench": "sync", "rows": rows, "rows_per_s": round(rows / merge["seconds"]),
        "rows_per_s_slowest_mode": round(rows / slowest["seconds"]),
        "ratio_vs_copy_pipe": round(pipe["seconds"] / merge["seconds"], 2),
        "ratio_vs_copy_pipe_slowest_mode": round(pipe["seconds"] / slowest["seconds"], 2),
        "ratio_vs_dlt": round(dlt["seconds"] / merge["seconds"], 2) if dlt else None,
        "increment_s": round(measured["aietl increment"]["seconds"], 3),
        "increment_ratio_vs_bare": round(measured["aietl increment"]["seconds"]
                                         / measured["bare increment statements"]["seconds"], 2),
        "location_s": round(location["seconds"], 2), "location_mb": round(location["peak_mb"]),
        "location_ratio_vs_plain": round(location["seconds"] / plain["seconds"], 2),
        "sensor_tick_s": round(measured["sensor tick"]["seconds"], 3),
        "peak_mb": round(max(measured[f"aietl {m}"]["peak_mb"] for m in ("full", "incremental", "merge"))),
    }
    print()
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--skip-dlt", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(PROJECT))
    from resources.embedded import EmbeddedPostgres
    from resources.embedded.kafka import free_port

    server = EmbeddedPostgres(WORK / "pg", port=free_port()).start()
    try:
        for database in ("bench_source", "bench_target"):
            server.create_database(database)
        source_dsn, target_dsn = server.dsn("bench_source"), server.dsn("bench_target")
        print(f"generating {args.rows:,} rows and {args.tables:,} small tables ...", flush=True)
        execute(source_dsn, *(statement.format(rows=int(args.rows)) for statement in GENERATE))
        generate_many(source_dsn, args.tables)
        env = location_config(server, server.dsn("bench_source"))
        measured = run_loads(args, source_dsn, target_dsn)
        measured.update(run_location(args, env))
    finally:
        server.stop()
    report(args.rows, measured)


if __name__ == "__main__":
    main()
