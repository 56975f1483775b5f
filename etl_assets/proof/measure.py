"""Proof by measurement: build the recommended and the naive layout of a table on the engine, load the same sample
into both, and compare bytes on disk and the median time of representative queries.

The sample is copied once from the raw table into the naive table (``LIMIT n``), then from there into the
recommended one, so both hold exactly the same rows. Each table gets two schemas (ClickHouse: databases) of its
own, ``aietl_proof_naive_<id>`` and ``aietl_proof_rec_<id>``, dropped before (a killed run leaves nothing that
blocks the next) and after, even on failure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlglot import exp

from etl_assets.ddl.build import build_ddl
from etl_assets.profile.model import TableProfile
from etl_assets.proof.dimensions import Join, lay_out
from etl_assets.proof.engines import Engine, copy_statement, table_ref
from etl_assets.proof.model import Proof, QueryTiming
from etl_assets.proof.naive import naive_ddl
from etl_assets.proof.queries import (
    MAX_JOINS,
    ProofQuery,
    SampleFacts,
    derived_queries,
    key_columns,
    render,
    time_column,
)
from etl_assets.recommend.model import Recommendation
from etl_assets.recommend.querylog import split_statements
from resources.schema import TableSchema

DEFAULT_SAMPLE_ROWS = 100_000
DEFAULT_RUNS = 11
"""Timed runs of each query per layout: queries of a few milliseconds on a shared machine gave medians of 5 runs
that moved by 10-20% from one proof to the next (a query 0.9x in one, 1.2x in the next); 11 runs cost about a
second more per proof."""
MIN_MEASURED_ROWS = 8_192
"""Below one ClickHouse index granule (8,192 rows; in PostgreSQL a few dozen pages) bytes are minimum page/part
sizes and query times the engine's fixed cost per query: such a sample is loaded (the layout must hold it) but not
measured."""
NAMESPACE_PREFIX = "aietl_proof_"


@dataclass(frozen=True)
class ProofPlan:
    """What to measure: the table, where its raw rows are, how many, and how often each query runs."""

    schema: TableSchema
    recommendation: Recommendation
    profile: TableProfile
    raw_namespace: str
    sample_rows: int = DEFAULT_SAMPLE_ROWS
    runs: int = DEFAULT_RUNS
    joins: Sequence[Join] = ()
    logged: Sequence[ProofQuery] = ()
    query_origin: str = "profile"
    keep_tables: bool = False
    min_rows: int = MIN_MEASURED_ROWS


def proof_namespaces(source: str, table: str) -> tuple[str, str]:
    """The naive and recommended namespaces of ``source.table`` (stable, short, and the same on every run)."""
    digest = hashlib.sha1(f"{source}\x00{table}".encode()).hexdigest()[:12]
    return f"{NAMESPACE_PREFIX}naive_{digest}", f"{NAMESPACE_PREFIX}rec_{digest}"


def prove(engine: Engine, plan: ProofPlan) -> Proof:
    schema = plan.schema
    proof = Proof(schema.source, schema.name, engine.dialect, "measured", plan.sample_rows,
                  query_origin=plan.query_origin, measured_at=datetime.now(UTC).isoformat(timespec="seconds"))
    if plan.recommendation.target_store != engine.dialect:
        proof.notes.append(f"measured on {engine.dialect} (the warehouse); the recommended store is "
                           f"{plan.recommendation.target_store}")
    naive_ns, rec_ns = proof_namespaces(schema.source, schema.name)
    for namespace in (naive_ns, rec_ns):
        engine.drop_namespace(namespace)
    try:
        _measure(engine, plan, proof, naive_ns, rec_ns)
    finally:
        if not plan.keep_tables:
            for namespace in (naive_ns, rec_ns):
                engine.drop_namespace(namespace)
    return proof


def _measure(engine: Engine, plan: ProofPlan, proof: Proof, naive_ns: str, rec_ns: str) -> None:
    schema, columns = plan.schema, [c.name for c in plan.schema.columns]
    raw = table_ref(plan.raw_namespace, schema.name)
    for statement in naive_ddl(schema, engine.dialect, naive_ns):
        engine.run(statement)
    engine.store_as_full_table(naive_ns, schema.name)
    engine.load(copy_statement(raw, table_ref(naive_ns, schema.name), columns, engine.dialect,
                              limit=plan.sample_rows))
    proof.rows_loaded = _count(engine, naive_ns, schema.name)
    if proof.rows_loaded == 0:
        proof.status, proof.reason = "skipped", f"{plan.raw_namespace}.{schema.name} has no rows to measure with"
        return
    try:
        _build_recommended(engine, plan, proof, naive_ns, rec_ns)
    except Exception as error:  # noqa: BLE001 - whatever the engine rejects is the finding: the layout fails
        proof.status = "failed"
        proof.reason = f"the recommended layout could not be built or hold the sample: {_first_line(error)}"
        return
    if proof.rows_loaded < plan.min_rows:
        proof.status = "skipped"
        proof.reason = (f"the recommended layout holds all {proof.rows_loaded:,} rows, too few to measure: below "
                        f"{plan.min_rows:,} rows bytes are minimum page/part sizes and query times the engine's fixed "
                        "cost per query")
        return
    for namespace in (naive_ns, rec_ns):
        engine.maintain(namespace, schema.name)
    proof.naive_bytes = engine.size_bytes(naive_ns, schema.name)
    proof.recommended_bytes = engine.size_bytes(rec_ns, schema.name)
    joins = [] if plan.logged else lay_out(engine, plan.joins[:MAX_JOINS], schema, naive_ns, rec_ns, plan.sample_rows,
                                           proof.notes)
    queries = list(plan.logged) or derived_queries(plan.profile, plan.recommendation,
                                                   sample_facts(engine, plan, naive_ns, proof.rows_loaded), joins)
    if not plan.logged:
        proof.query_origin = "profile"
    proof.queries = [_timed(engine, query, naive_ns, rec_ns, schema.name, plan.runs) for query in queries]
    for timing in proof.queries:
        if timing.error:
            proof.notes.append(f"{timing.name}: could not be timed: {timing.error}")
        elif timing.naive_rows != timing.recommended_rows:
            proof.notes.append(f"{timing.name}: {timing.recommended_rows:,} result rows on the recommended layout, "
                               f"{timing.naive_rows:,} on the naive one")
    if not proof.queries:
        proof.notes.append("no representative query: the profile has no time column, low-cardinality column or key")


def _build_recommended(engine: Engine, plan: ProofPlan, proof: Proof, naive_ns: str, rec_ns: str) -> None:
    ddl = build_ddl(plan.schema, plan.recommendation, engine.dialect, namespace=rec_ns, profile=plan.profile)
    proof.notes.extend(ddl.notes)
    for _, statement in split_statements(ddl.sql(), engine.dialect):
        engine.run(statement)
    name = plan.schema.name
    engine.store_as_full_table(rec_ns, name)
    casts = engine.column_types(rec_ns, name) if engine.dialect == "postgres" else None
    columns = [c.name for c in plan.schema.columns]
    engine.load(copy_statement(table_ref(naive_ns, name), table_ref(rec_ns, name), columns, engine.dialect,
                              casts=casts))
    loaded = _count(engine, rec_ns, name)
    if loaded != proof.rows_loaded:
        raise RuntimeError(f"it holds {loaded:,} of the {proof.rows_loaded:,} sample rows (its engine or keys "
                           "collapse rows)")


def sample_facts(engine: Engine, plan: ProofPlan, namespace: str, rows: int) -> SampleFacts:
    """The sample's time range and one existing key value, read from the naive table."""
    facts = SampleFacts(rows)
    source = table_ref(namespace, plan.schema.name)
    column = time_column(plan.profile, plan.recommendation)
    if column:
        ref = exp.Column(this=exp.to_identifier(column, quoted=True))
        select = exp.select(exp.Min(this=ref).as_("low"), exp.Max(this=ref).as_("high")).from_(source)
        (row,) = engine.rows(select.sql(dialect=engine.dialect))
        facts.time_range = (row["low"], row["high"])
    key = key_columns(plan.profile, plan.recommendation)
    if key:
        select = (exp.select(*(exp.Column(this=exp.to_identifier(c, quoted=True)) for c in key)).from_(source)
                  .limit(1).offset(rows // 2))
        found = engine.rows(select.sql(dialect=engine.dialect))
        facts.key_row = found[0] if found else {}
    return facts


def _timed(engine: Engine, query: ProofQuery, naive_ns: str, rec_ns: str, table: str, runs: int) -> QueryTiming:
    naive_sql, recommended_sql = render(query, naive_ns, table, engine.dialect), render(query, rec_ns, table,
                                                                                       engine.dialect)
    timing = QueryTiming(query.name, query.kind, recommended_sql)
    try:
        naive, recommended = engine.time([naive_sql, recommended_sql], runs)
        timing.naive_ms, timing.naive_engine_ms, timing.naive_rows = naive.wall_ms, naive.engine_ms, naive.rows
        timing.recommended_ms, timing.recommended_engine_ms, timing.recommended_rows = (
            recommended.wall_ms, recommended.engine_ms, recommended.rows)
        timing.naive_read_rows, timing.recommended_read_rows = engine.rows_read(naive_sql), engine.rows_read(
            recommended_sql)
    except Exception as error:  # noqa: BLE001 - one failing query is reported with the others still measured
        timing.error = _first_line(error)
    return timing


def _count(engine: Engine, namespace: str, table: str) -> int:
    select = exp.select(exp.Count(this=exp.Star()).as_("n")).from_(table_ref(namespace, table))
    (row,) = engine.rows(select.sql(dialect=engine.dialect))
    return int(row["n"])


def _first_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text or type(error).__name__)[:500]
