"""The advice against published expert schemas, and the proof by measurement, in one run (``make bench-advice``).

Over TPC-H (``tpchgen-cli``, scale 0.01) and generated tables of the shape of ClickHouse's published example datasets
(OnTime, UK price paid, NYC taxi trips: ``tests/support/published_schemas.py``), every table goes through the real
assets (raw landing from files, profile, relationships, recommendation, DDL, proof) once with the ClickHouse engine
(chdb) as the warehouse and once with PostgreSQL. It prints the published decisions matched (TPC-H primary and
foreign keys; partition column, leading ORDER BY column and LowCardinality columns of the ClickHouse datasets), the
measured size and query-time ratios of the recommended layouts against naive ones on both engines, and, merged in,
``bench/relationship_scale.py``'s figures. The last line is one JSON object:

    {"bench": "advice", "decisions": N, "matched": M, "match_share": ..., "size_ratio_vs_naive": ...,
     "query_speedup_vs_naive": ..., "pg_size_ratio_vs_naive": ..., "pg_query_speedup_vs_naive": ..., ...}

``size_ratio_vs_naive`` is total naive bytes / total recommended bytes and ``query_speedup_vs_naive`` the geometric
mean of the per-query median speedups, both on the ClickHouse engine, whose speedups are of the elapsed time the
engine reports per query (``wall_query_speedup_vs_naive``: of the wall clock around the client's call, its
transfer and conversion included); the ``pg_`` figures are PostgreSQL's (wall clock). Targets:
match_share >= 0.9; >= 2x smaller and >= 2x faster on ClickHouse; never slower on PostgreSQL. PostgreSQL is the one
named by ``AIETL_BENCH_PG_DSN`` / ``AIETL_TEST_PG_DSN``, else an embedded one started here.

``engine_floor_ms`` is the least a query reading a table costs on the ClickHouse engine, measured in the same run (a
one-key lookup in a sorted table of ``sample_rows`` rows), and ``query_speedup_ceiling`` the speedup if every
recommended query cost only that: no layout can beat it. ``--query-log bench/published_queries.sql`` times the
datasets' published workloads instead of the queries derived from the profile (the recommendations read the log too,
so their sort keys follow its filters).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))


def engines_run(work: Path, admin_dsn: str, rows: int, sample_rows: int, runs: int, tpch_scale: float,
                engines: tuple[str, ...] = ("clickhouse", "postgres")) -> dict:
    from resources.clickhouse import ClickHouseResource
    from resources.metadata import MetadataResource
    from resources.postgres import PostgresResource
    from tests.support import published_schemas, tpch

    published_schemas.write_datasets(work / "published", rows)
    tpch.generate(work / "tpch", scale=tpch_scale)
    metadata = MetadataResource(postgres=PostgresResource.from_dsn(_database(admin_dsn, "meta")))
    outcome: dict = {}
    for engine in engines:
        warehouse = (ClickHouseResource(chdb_path=str(work / "chdb")) if engine == "clickhouse"
                     else PostgresResource.from_dsn(_database(admin_dsn, "warehouse")))
        started = time.perf_counter()
        published = published_schemas.run_platform(work / "published", "published", warehouse, metadata,
                                                    sample_rows=sample_rows, runs=runs)
        tpch_run = published_schemas.run_platform(work / "tpch", "tpch", warehouse, metadata,
                                                  sample_rows=sample_rows, runs=runs)
        seconds = time.perf_counter() - started
        floor_ms = engine_floor_ms(warehouse, sample_rows, runs) if engine == "clickhouse" else None
        outcome[engine] = (published, tpch_run, seconds, floor_ms)
        for name, proof in {**published.proofs, **tpch_run.proofs}.items():
            print(f"{engine:>10} {name:<14} {proof.summary()}", flush=True)
            for query in proof.timed:
                read = (f"  read {query.naive_read_rows:,} / {query.recommended_read_rows:,} rows"
                        if query.recommended_read_rows is not None else "")
                engine_ms = (f"engine {query.naive_median_engine_ms:7.2f} / "
                             f"{query.recommended_median_engine_ms:7.2f} ms" if query.clock == "engine" else "")
                print(f"{'':>26} wall {query.naive_median_ms:7.2f} / {query.recommended_median_ms:7.2f} ms  "
                      f"{engine_ms}  {query.speedup:5.2f}x ({query.clock})  {query.name}{read}", flush=True)
    return outcome


FLOOR_NAMESPACE = "bench_advice_floor"
FLOOR_MIN_RUNS = 21
"""A sub-millisecond median steadies only over more runs than the proofs' queries need."""


def engine_floor_ms(warehouse: object, rows: int, runs: int) -> float | None:
    """The least a query reading a table costs on this ClickHouse engine: the median elapsed time it reports for a
    lookup of one key in a ``rows``-row table sorted by it (one granule read), timed as the proofs time theirs. No
    layout of any table makes a query that reads it faster than this."""
    from sqlglot import exp

    from etl_assets.proof.engines import ClickHouseEngine, table_ref
    from resources.clickhouse import ddl

    engine, key = ClickHouseEngine(warehouse), exp.to_identifier("k", quoted=True)
    engine.drop_namespace(FLOOR_NAMESPACE)
    try:
        engine.run(ddl.create_database(FLOOR_NAMESPACE).sql("clickhouse"))
        column = ddl.column_def("k", exp.DataType.build("UInt32", dialect="clickhouse"))
        engine.run(ddl.create_table(FLOOR_NAMESPACE, "t", [column], [ddl.engine("MergeTree"), ddl.order_by(["k"])])
                   .sql("clickhouse"))
        numbers = exp.select(exp.column("number")).from_(exp.func("numbers", exp.Literal.number(rows)))
        engine.load(exp.insert(numbers, table_ref(FLOOR_NAMESPACE, "t")).sql("clickhouse"))
        engine.maintain(FLOOR_NAMESPACE, "t")
        lookup = (exp.select(exp.Count(this=exp.Star())).from_(table_ref(FLOOR_NAMESPACE, "t"))
                  .where(exp.EQ(this=exp.Column(this=key), expression=exp.Literal.number(rows // 2))))
        (timed,) = engine.time([lookup.sql("clickhouse")], max(runs, FLOOR_MIN_RUNS))
    finally:
        engine.drop_namespace(FLOOR_NAMESPACE)
    return round(statistics.median(timed.engine_ms), 3) if timed.engine_ms else None


CREATED_DATABASES: list[str] = []
"""The databases this run created: the only ones it drops (others may run the bench on the same server)."""


def _database(admin_dsn: str, purpose: str) -> str:
    name = f"bench_advice_{purpose}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    CREATED_DATABASES.append(name)
    return psycopg.conninfo.make_conninfo(admin_dsn, dbname=name)


def _drop_databases(admin_dsn: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as connection:
        for name in CREATED_DATABASES:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def proof_figures(proofs: list, floor_ms: float | None = None) -> dict:
    """Sizes and speedups over the measured proofs; with the engine's ``floor_ms``, the speedup ceiling too: the
    geometric mean of each query's naive engine time over the floor, what the speedup would be if every
    recommended query cost no more than reading one granule."""
    measured = [p for p in proofs if p.status == "measured"]
    naive = sum(p.naive_bytes or 0 for p in measured)
    recommended = sum(p.recommended_bytes or 0 for p in measured)
    speedups = [q.speedup for p in measured for q in p.queries if q.speedup]
    wall = [q.naive_median_ms / q.recommended_median_ms for p in measured for q in p.timed]
    slower = [name for p in measured for name in p.slower_queries]
    ceiling = [max(1.0, q.naive_median_engine_ms / floor_ms) for p in measured for q in p.timed
               if q.clock == "engine"] if floor_ms else []
    return {
        "size_ratio_vs_naive": round(naive / recommended, 3) if recommended else None,
        "query_speedup_vs_naive": _geometric_mean(speedups),
        **({"engine_floor_ms": floor_ms, "query_speedup_ceiling": _geometric_mean(ceiling)} if ceiling else {}),
        "wall_query_speedup_vs_naive": _geometric_mean(wall),
        "queries": len(speedups), "slower_queries": len(slower),
        "flagged": sorted(f"{p.source}.{p.table}" for p in proofs if p.flagged),
    }


def _geometric_mean(ratios: list[float]) -> float | None:
    return round(math.exp(statistics.fmean(math.log(r) for r in ratios)), 3) if ratios else None


def decisions_of(outcome: dict) -> list:
    from tests.support import published_schemas

    published, tpch_run, *_ = outcome.get("clickhouse") or outcome["postgres"]
    return [*published_schemas.clickhouse_decisions(published.recommendations),
            *published_schemas.tpch_decisions(tpch_run.recommendations, tpch_run.relationships)]


def summary(outcome: dict, relationship_figures: dict, peak_mb: float, sizes: dict | None = None) -> dict:
    decisions = decisions_of(outcome)
    matched = [d for d in decisions if d.matched]
    for decision in decisions:
        mark = "ok  " if decision.matched else "MISS"
        print(f"{mark} {decision.dataset:<14} {decision.kind:<17} {decision.subject:<40} "
              f"published={decision.expected!r} proposed={decision.proposed!r}")
    figures = {}
    for engine, prefix in (("clickhouse", ""), ("postgres", "pg_")):
        if engine not in outcome:
            continue
        published, tpch_run, seconds, floor_ms = outcome[engine]
        measured = proof_figures([*published.proofs.values(), *tpch_run.proofs.values()], floor_ms)
        figures.update({f"{prefix}{key}": value for key, value in measured.items()})
        figures[f"{prefix}platform_s"] = round(seconds, 1)
    by_kind: dict[str, list[int]] = {}
    for decision in decisions:
        by_kind.setdefault(decision.kind, [0, 0])[0] += 1
        by_kind[decision.kind][1] += decision.matched
    return {
        "bench": "advice", **(sizes or {}), "decisions": len(decisions), "matched": len(matched),
        "match_share": round(len(matched) / len(decisions), 3) if decisions else None,
        **figures,
        "matched_by_kind": {kind: f"{hit}/{total}" for kind, (total, hit) in sorted(by_kind.items())},
        "targets_met": {
            "match_share": bool(decisions) and len(matched) / len(decisions) >= 0.9,
            "clickhouse_2x_smaller": (figures.get("size_ratio_vs_naive") or 0) >= 2,
            "clickhouse_2x_faster": (figures.get("query_speedup_vs_naive") or 0) >= 2,
            "postgres_never_slower": figures.get("pg_slower_queries") == 0,
        },
        **relationship_figures,
        "peak_mb": peak_mb,
    }


def relationship_scale(admin_dsn: str, tables: int, rows: int) -> dict:
    if not (PROJECT / "bench" / "relationship_scale.py").exists():
        return {"relationship_scale": "bench/relationship_scale.py is not there"}
    sys.path.insert(0, str(PROJECT / "bench"))
    from relationship_scale import run

    # As the relationships asset does: the profiles' exact distinct counts passed in (their counting, which the
    # profile assets do anyway, is reported beside as profile_distinct_s).
    return run(_database(admin_dsn, "relationships"), tables=tables, rows=rows, profiled=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300_000, help="rows of each published-shape table")
    parser.add_argument("--sample-rows", type=int, default=100_000,
                        help="rows each proof loads into both layouts (the issue's default; at 100k chdb's fixed "
                             "per-query cost of a few ms dominates every query: larger samples show the layouts)")
    parser.add_argument("--tpch-scale", type=float, default=0.01, help="TPC-H scale factor (0.01: lineitem 60k rows)")
    parser.add_argument("--runs", type=int, default=None, help="timed runs of each proof query (default: the "
                        "proof's DEFAULT_RUNS)")
    parser.add_argument("--relationship-tables", type=int, default=50)
    parser.add_argument("--relationship-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-relationship-scale", action="store_true")
    parser.add_argument("--engine", choices=("clickhouse", "postgres"), action="append",
                        help="measure on this engine only (repeatable; default both)")
    parser.add_argument("--query-log", type=Path, default=None,
                        help="a .sql query log the recommendations and proofs read (AIETL_QUERY_LOG), e.g. "
                             "bench/published_queries.sql, the datasets' published workloads; default: none, the "
                             "proofs time queries derived from the profile")
    args = parser.parse_args()
    if args.runs is None:
        from etl_assets.proof.measure import DEFAULT_RUNS

        args.runs = DEFAULT_RUNS

    work = Path(tempfile.mkdtemp(prefix="bench_advice_"))
    os.environ["AIETL_HOME"] = str(work / "home")
    if args.query_log:
        os.environ["AIETL_QUERY_LOG"] = str(args.query_log.resolve())
    admin_dsn = os.environ.get("AIETL_BENCH_PG_DSN") or os.environ.get("AIETL_TEST_PG_DSN")
    server = None
    if not admin_dsn:
        from resources.embedded import EmbeddedPostgres
        from resources.embedded.kafka import free_port

        server = EmbeddedPostgres(work / "pg", port=free_port()).start()
        admin_dsn = server.dsn()
    try:
        outcome = engines_run(work, admin_dsn, args.rows, args.sample_rows, args.runs, args.tpch_scale,
                              tuple(args.engine or ("clickhouse", "postgres")))
        relationships = ({} if args.skip_relationship_scale
                         else relationship_scale(admin_dsn, args.relationship_tables, args.relationship_rows))
    finally:
        _drop_databases(admin_dsn)
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)  # generated files, chdb's data and the embedded server's: ~170 MB
    peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    sizes = {"rows": args.rows, "sample_rows": args.sample_rows, "tpch_scale": args.tpch_scale,
             "queries_from": args.query_log.name if args.query_log else "profile"}
    print(json.dumps(summary(outcome, relationships, peak_mb, sizes)))


if __name__ == "__main__":
    main()
