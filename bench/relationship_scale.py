"""Relationship discovery at warehouse scale: ``tables`` tables of ``rows`` rows each in PostgreSQL, keys and foreign
keys found by the platform's pushed-down discovery (``etl_assets.relationships.discover``), timed end to end.

The schema is a warehouse of dimensions and facts: a fifth of the tables are dimensions (half keyed by a gap-free
serial ``<dim>_id``, half by a sparse id), the rest are facts with a sparse unique ``fact_no``, two foreign keys to
dimensions, a low-cardinality category, a timestamp and a measure. ``run`` returns the figures
(bench/advice.py merges them); run as a script it starts an embedded PostgreSQL unless ``AIETL_BENCH_PG_DSN`` (or
``AIETL_TEST_PG_DSN``) names one, and prints them as one JSON line, last. ``BENCH_TABLES`` / ``BENCH_ROWS`` size it;
``--profiled`` (or ``BENCH_PROFILED=1``) passes in the exact distinct counts the profile assets already computed,
as the relationships asset does.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from sqlglot import exp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etl_assets.relationships import sql as relationship_sql  # noqa: E402
from etl_assets.relationships.discover import TableSpec, discover  # noqa: E402
from resources.postgres import PostgresResource  # noqa: E402

NAMESPACE = "raw_bench"


def _sparse(value: sql.Composable, dimension: str) -> sql.Composable:
    return sql.SQL("{} * 7 + {}").format(value, sql.Literal(int(dimension[3:]) % 7))


def _dimension_sql(name: str, rows: int, sparse: bool) -> sql.Composed:
    key = _sparse(sql.SQL("n"), name) if sparse else sql.SQL("n")
    return sql.SQL("CREATE TABLE {} AS SELECT ({})::bigint AS {}, {} || n AS code, (n % 97)::int AS tier "
                   "FROM generate_series(1, {}) AS n").format(
        sql.Identifier(NAMESPACE, name), key, sql.Identifier(f"{name}_id"), sql.Literal(f"{name}-"),
        sql.Literal(rows))


def _fact_sql(name: str, rows: int, first: tuple[str, bool], second: tuple[str, bool]) -> sql.Composed:
    def reference(dimension: str, sparse: bool, salt: int) -> sql.Composable:
        pick = sql.SQL("(1 + (n::bigint * {} + {}) % {})").format(sql.Literal(7919 + salt), sql.Literal(salt),
                                                                   sql.Literal(rows * 4 // 5))
        value = _sparse(pick, dimension) if sparse else pick
        return sql.SQL("({})::bigint AS {}").format(value, sql.Identifier(f"{dimension}_id"))

    offset = int(name[4:]) * rows * 3
    return sql.SQL("CREATE TABLE {} AS SELECT (n * 3 + {})::bigint AS fact_no, {}, {}, (n % 50)::int AS category, "
                   "timestamptz '2026-01-01' + (n + {}) * interval '1 second' AS at, random() AS amount "
                   "FROM generate_series(1, {}) AS n").format(
        sql.Identifier(NAMESPACE, name), sql.Literal(offset), reference(*first, 1), reference(*second, 2),
        sql.Literal(offset), sql.Literal(rows))


def build(dsn: str, tables: int, rows: int) -> list[tuple[str, tuple[str, ...], str, tuple[str, ...]]]:
    """Create the tables (server-side generate_series); returns the foreign keys they were built with."""
    dimensions = [(f"dim{n:02d}", n % 2 == 1) for n in range(max(2, tables // 5))]
    facts = [f"fact{n:02d}" for n in range(tables - len(dimensions))]
    expected = []
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(NAMESPACE)))
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(NAMESPACE)))
        for name, sparse in dimensions:
            connection.execute(_dimension_sql(name, rows, sparse))
        for i, name in enumerate(facts):
            first, second = dimensions[i % len(dimensions)], dimensions[(i + 3) % len(dimensions)]
            connection.execute(_fact_sql(name, rows, first, second))
            expected += [(name, (f"{d}_id",), d, (f"{d}_id",)) for d, _ in (first, second)]
        for name in [d for d, _ in dimensions] + facts:
            connection.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(NAMESPACE, name)))
    return expected


def profiled_counts(warehouse: PostgresResource, name: str) -> tuple[dict[str, int], int]:
    """What the table's profile asset computes anyway: the exact distinct count of every column, and the rows."""
    columns = [column for column, _ in warehouse.table_columns(NAMESPACE, name)]
    row = warehouse.query_arrow(relationship_sql.distinct_sql("postgres", NAMESPACE, name, [(c,) for c in columns])
                                ).to_pylist()[0]
    count = exp.select(exp.Count(this=exp.Star()).as_("n")).from_(relationship_sql.table_of(NAMESPACE, name))
    rows = warehouse.query_arrow(count.sql("postgres")).to_pylist()[0]["n"]
    return {c: int(row[f"d{i}"]) for i, c in enumerate(columns)}, int(rows)


def run(dsn: str, tables: int = 50, rows: int = 1_000_000, profiled: bool = False) -> dict:
    """``profiled``: pass each table's exact distinct counts in, as the relationships asset does from the profiles
    (counted before the clock starts, reported as ``profile_distinct_s``)."""
    expected = build(dsn, tables, rows)
    names = sorted({t for t, *_ in expected} | {d for *_, d, _ in expected})
    warehouse = PostgresResource.from_dsn(dsn)
    started = time.perf_counter()
    known = {name: profiled_counts(warehouse, name) for name in names} if profiled else {}
    profile_seconds = time.perf_counter() - started
    specs = [TableSpec("bench", name, NAMESPACE, known_distinct=known[name][0], known_rows=known[name][1])
             if profiled else TableSpec("bench", name, NAMESPACE) for name in names]
    started = time.perf_counter()
    found = discover(warehouse, specs)
    seconds = time.perf_counter() - started
    clean = {(r.table.table, r.columns, r.ref_table.table, r.ref_columns) for r in found.relationships if r.clean}
    return {
        "relationship_tables": len(names), "relationship_rows": rows * len(names),
        "relationship_s": round(seconds, 2), "profiled_counts_passed_in": profiled,
        **({"profile_distinct_s": round(profile_seconds, 2)} if profiled else {}), "relationship_keys": len(found.keys),
        "relationship_expected_fks": len(expected), "relationship_found_fks": len(clean & set(expected)),
        "relationship_extra_fks": len(clean - set(expected)), "relationship_under_minute": seconds < 60,
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "notes": found.notes[-1:],
    }


def main() -> None:
    tables = int(os.environ.get("BENCH_TABLES", 50))
    rows = int(os.environ.get("BENCH_ROWS", 1_000_000))
    profiled = "--profiled" in sys.argv[1:] or os.environ.get("BENCH_PROFILED") == "1"
    dsn = os.environ.get("AIETL_BENCH_PG_DSN") or os.environ.get("AIETL_TEST_PG_DSN")
    if dsn:
        name = f"bench_rel_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            figures = run(psycopg.conninfo.make_conninfo(dsn, dbname=name), tables, rows, profiled)
        finally:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as connection:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    else:
        from resources.embedded import EmbeddedPostgres
        from resources.embedded.kafka import free_port

        with tempfile.TemporaryDirectory(prefix="aietl_bench_rel_") as directory:
            server = EmbeddedPostgres(Path(directory), port=free_port()).start()
            try:
                figures = run(server.dsn(), tables, rows, profiled)
            finally:
                server.stop()
    print(json.dumps({"bench": "relationship_scale", **figures}))


if __name__ == "__main__":
    main()
