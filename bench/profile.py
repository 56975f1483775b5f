"""Benchmark: profile a generated 1,000,000-row x 10-column table with this project, ydata-profiling (minimal mode)
and DuckDB SUMMARIZE (the near-limit), in one run.

Run: ``make bench-profile`` or ``.venv/bin/python bench/profile.py [--rows N] [--skip-ydata]``.

Each engine runs in a subprocess of its own on the same Parquet file; its seconds cover reading the file and
computing the profile (interpreter start and imports excluded), its peak memory is the child's maximum RSS.
ydata-profiling cannot share the project's environment (it needs pandas 2.3), so it gets a virtual environment of
its own under bench/.work/, made with uv on first use. The last line printed is one JSON object with the ratios
(their seconds / our seconds: above 1 means this project is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from peer_env import peer_python

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
WORK = HERE / ".work"
YDATA_VENV = WORK / "ydata-venv"
YDATA_REQUIREMENTS = ["ydata-profiling==4.18.4", "pyarrow>=17", "setuptools<81"]
RUN_TIMEOUT_S = 1800

OURS = """
import sys, time, json
import pyarrow.parquet as pq
from etl_assets.profile.profiler import profile_arrow
results = {}
for file in sys.argv[1:]:
    start = time.perf_counter()
    try:
        profile = profile_arrow(pq.read_table(file), "bench", "t")
        facts = {"semantic_types": {c.name: c.semantic_type for c in profile.columns},
                 "patterns": sum(1 for c in profile.columns if c.patterns),
                 "top_values": sum(1 for c in profile.columns if c.top_values),
                 "candidate_keys": profile.candidate_keys}
    except Exception as error:
        facts = {"error": f"{type(error).__name__}: {error}"[:300]}
    results[file] = {"seconds": time.perf_counter() - start, **facts}
"""

DUCKDB = """
import sys, time, json
import duckdb
results = {}
for file in sys.argv[1:]:
    start = time.perf_counter()
    try:
        rows = duckdb.sql(f"SUMMARIZE SELECT * FROM read_parquet('{file}')").fetchall()
        facts = {"columns": len(rows)}
    except Exception as error:
        facts = {"error": f"{type(error).__name__}: {error}"[:300]}
    results[file] = {"seconds": time.perf_counter() - start, **facts}
"""

YDATA = """
import sys, time, json, warnings, logging
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import pandas as pd
from ydata_profiling import ProfileReport
results = {}
for file in sys.argv[1:]:
    start = time.perf_counter()
    try:
        frame = pd.read_parquet(file)
        report = ProfileReport(frame, minimal=True, progress_bar=False, title="bench")
        description = report.get_description()
        facts = {"columns": len(description.variables)}
    except Exception as error:
        facts = {"error": f"{type(error).__name__}: {error}"[:300]}
    results[file] = {"seconds": time.perf_counter() - start, **facts}
"""


PEAK_MEMORY = """
import resource
peak_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"results": results, "peak_mb": round(peak_kb / 1024, 1)}))
"""


def generate(rows: int, file: Path, seed: int = 7) -> None:
    """Ten columns of the kinds a profiler meets: key, codes, money, counts, category, email, country, time, flag,
    free text (with NULLs in some)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    words = np.array("the quick brown fox jumps over lazy dog order late parcel damaged refund great service "
                     "thanks again box open wrong size colour fits well".split())
    comment_words = [pa.array(words[rng.integers(0, len(words), rows)], mask=rng.random(rows) < min(0.15 * i, 0.9))
                     for i in range(8)]
    comment = pc.binary_join_element_wise(*comment_words, " ", null_handling="skip")
    ids = rng.permutation(rows).astype(np.int64) + 1
    table = pa.table({
        "order_id": ids,
        "customer_id": rng.integers(1, 50_000, rows, dtype=np.int32),
        "amount": pa.array(np.round(rng.lognormal(3.5, 1.0, rows), 2), mask=rng.random(rows) < 0.02),
        "quantity": rng.integers(1, 11, rows, dtype=np.int16),
        "status": pa.array(np.array(["placed", "paid", "shipped", "delivered", "returned"])[
            rng.choice(5, rows, p=[0.1, 0.2, 0.2, 0.45, 0.05])]),
        "email": pc.binary_join_element_wise("user", pc.cast(pa.array(rng.integers(1, 200_000, rows)), pa.string()),
                                             "@example.", pa.array(np.array(["com", "org", "net", "de"])[
                                                 rng.integers(0, 4, rows)]), ""),
        "country": pa.array(np.array(["DE", "FR", "ES", "PT", "IT", "PL", "AT", "CZ", "NL", "BE"])[
            rng.integers(0, 10, rows)], mask=rng.random(rows) < 0.05),
        "created_at": pa.array((np.datetime64("2024-01-01T00:00:00", "us")
                                + rng.integers(0, 730 * 86_400, rows) * np.timedelta64(1, "s"))),
        "is_paid": rng.random(rows) < 0.8,
        "comment": pc.if_else(pc.equal(comment, ""), pa.scalar(None, pa.string()), comment),
    })
    pq.write_table(table, file)


def write_bad_inputs(folder: Path) -> list[Path]:
    """The awkward tables every profiler must survive."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "empty": pa.table({"id": pa.array([], pa.int64()), "name": pa.array([], pa.string())}),
        "only_nulls": pa.table({"a": pa.array([None] * 1000, pa.int64()), "b": pa.array([None] * 1000, pa.string())}),
        "mixed_types": pa.table({"value": ["1", "2.5", "abc", "2024-01-01", "true", '{"a": 1}', None, "x@y.z"] * 125}),
        "one_distinct": pa.table({"constant": ["same"] * 1000, "one": [1] * 1000}),
        "huge_text": pa.table({"id": list(range(20)), "body": [("lorem ipsum " * 100_000)[: 1_000_000 + i]
                                                               for i in range(20)]}),
        "reserved_words": pa.table({"select": [1, 2, 3], "from": ["a", "b", "c"], "order": [True, False, None],
                                    "group by": [1.5, None, 2.5]}),
    }
    files = []
    for name, table in tables.items():
        files.append(folder / f"{name}.parquet")
        pq.write_table(table, files[-1])
    return files


def ensure_ydata_venv() -> Path | None:
    if not YDATA_VENV.exists():
        print(f"ydata-profiling: creating {YDATA_VENV} (first run only)", flush=True)
    try:
        return peer_python(YDATA_VENV, YDATA_REQUIREMENTS, f"{sys.version_info.major}.{sys.version_info.minor}")
    except RuntimeError as error:
        print(f"ydata-profiling: skipped ({error})")
        return None


def run_engine(name: str, python: Path | str, script: str, files: list[Path]) -> dict:
    """Run one engine over ``files`` in a process of its own: per-file results and the process's peak RSS in MB."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    command = [str(python), "-c", textwrap.dedent(script) + PEAK_MEMORY, *map(str, files)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{name}: no result within {RUN_TIMEOUT_S} s") from None
    if done.returncode:
        raise RuntimeError(f"{name} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-ydata", action="store_true", help="leave ydata-profiling out (it takes ~30 s)")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    data_file = WORK / f"profile_{args.rows}x10.parquet"
    if not data_file.exists():
        print(f"generating {args.rows:,} x 10 rows -> {data_file}", flush=True)
        generate(args.rows, data_file)
    bad_files = write_bad_inputs(WORK / "bad_inputs")
    engines = {"aietl": (sys.executable, OURS), "duckdb_summarize": (sys.executable, DUCKDB)}
    ydata_python = None if args.skip_ydata else ensure_ydata_venv()
    if ydata_python:
        engines["ydata_minimal"] = (ydata_python, YDATA)
    measured = {name: run_engine(name, python, script, [data_file]) for name, (python, script) in engines.items()}
    bad = {name: run_engine(name, python, script, bad_files)["results"] for name, (python, script) in engines.items()}
    report(args.rows, data_file, measured, bad)


def report(rows: int, data_file: Path, measured: dict, bad: dict) -> None:
    seconds = {name: m["results"][str(data_file)]["seconds"] for name, m in measured.items()}
    print(f"\n{'engine':<18}{'seconds':>9}{'peak MB':>9}  computes")
    for name, m in measured.items():
        facts = {k: v for k, v in m["results"][str(data_file)].items() if k != "seconds"}
        print(f"{name:<18}{seconds[name]:>9.2f}{m['peak_mb'] or 0:>9.0f}  {json.dumps(facts)[:150]}")
    print("\nbad inputs (seconds or error):")
    for name, results in bad.items():
        cells = [f"{Path(f).stem}={r.get('error', round(r['seconds'], 3))}" for f, r in results.items()]
        print(f"  {name}: " + ", ".join(cells))
    ours = seconds["aietl"]
    summary = {
        "bench": "profile", "rows": rows, "columns": 10, "seconds": round(ours, 3),
        "ratio_vs_ydata": round(seconds["ydata_minimal"] / ours, 2) if "ydata_minimal" in seconds else None,
        "ratio_vs_duckdb": round(seconds["duckdb_summarize"] / ours, 3),
        "peak_mb": measured["aietl"]["peak_mb"],
        "ydata_seconds": round(seconds["ydata_minimal"], 2) if "ydata_minimal" in seconds else None,
        "ydata_peak_mb": measured["ydata_minimal"]["peak_mb"] if "ydata_minimal" in measured else None,
        "duckdb_seconds": round(seconds["duckdb_summarize"], 3),
        "duckdb_peak_mb": measured["duckdb_summarize"]["peak_mb"],
        "bad_inputs_ok": sum("error" not in r for r in bad["aietl"].values()), "bad_inputs": len(bad["aietl"]),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
