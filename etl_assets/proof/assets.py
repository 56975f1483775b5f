"""``proof/<source>/<table>`` assets: the recommended layout measured against a naive one on the warehouse.

Each proof builds both layouts of the table on the warehouse's engine (PostgreSQL, or ClickHouse / chdb) in
schemas of its own, loads the same sample of the raw table into both, and records bytes on disk and the median
time of each representative query (from the query log when one is given, else derived from the profile). A
recommendation that measures worse than naive is flagged, in the metadata and by the ``not_worse_than_naive``
asset check (severity WARN).
"""

import os
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from etl_assets.catalog import SourceTable, raw_namespace
from etl_assets.conventions import code_reference
from etl_assets.keys import (
    DDL,
    PROFILE,
    PROOF,
    RECOMMENDATION,
    asset_key,
    group_name,
    proof_dimensions_key,
    relationships_key,
)
from etl_assets.paths import resolve
from etl_assets.profile.model import TableProfile
from etl_assets.proof.dimensions import Dimension, Join
from etl_assets.proof.engines import engine_for
from etl_assets.proof.measure import DEFAULT_RUNS, DEFAULT_SAMPLE_ROWS, MIN_MEASURED_ROWS, ProofPlan, prove
from etl_assets.proof.model import Proof
from etl_assets.proof.queries import ProofQuery, logged_queries
from etl_assets.conventions import catalog_owners
from etl_assets.recommend.assets import as_relationships
from etl_assets.recommend.model import Recommendation
from etl_assets.recommend.querylog import QueryLogUnavailable, read_sql_file
from etl_assets.relationships.model import Relationships

CHECK = "not_worse_than_naive"


class ProofConfig(dg.Config):
    sample_rows: int = Field(default=DEFAULT_SAMPLE_ROWS, gt=0, description="Rows of the raw table loaded into both "
                             "layouts.")
    runs: int = Field(default=DEFAULT_RUNS, gt=0, description="Timed runs of each query (after one warm-up).")
    query_log_file: str = Field(default="", description="A .sql file of representative queries; empty: the "
                                "factory's file or env AIETL_QUERY_LOG; without one the queries come from the profile.")
    query_log_dialect: str = "postgres"
    keep_tables: bool = Field(default=False, description="Leave both measured tables in place (for a look).")
    min_rows: int = Field(default=MIN_MEASURED_ROWS, ge=1, description="Samples smaller than this are loaded (the "
                          "layout must hold them) but not measured: sizes and times would be the engine's minimums.")


PROOF_CONFIG_SCHEMA = ProofConfig.to_config_schema()
"""Built once and shared: inferred from a ``config`` parameter it would be built again for each table's asset."""


def proof_key(source: str, table: str) -> dg.AssetKey:
    return asset_key(PROOF, source, table)


def build_proof_assets(tables: list[SourceTable], *, relationships: bool = False,
                       query_log_file: str | Path | None = None, warehouse_kind: str = "postgres"
                       ) -> list[dg.AssetsDefinition]:
    """One proof asset per table; with ``relationships`` each also reads ``relationships/catalog`` and the
    ``proof/dimensions`` asset (built here too) and times a join on the table's foreign-key candidates."""
    default_log = str(query_log_file or os.environ.get("AIETL_QUERY_LOG", ""))
    by_key = {(t.source, t.name): t for t in tables}
    proofs = [_proof_asset(table, relationships, default_log, warehouse_kind, by_key) for table in tables]
    return [_dimensions_asset(tables), *proofs] if relationships else proofs


def _dimensions_asset(tables: list[SourceTable]) -> dg.AssetsDefinition:
    """One fan-in over every table's recommendation and profile, so a proof depends on it alone: which tables a
    fact joins is known only once relationships are found, and an input per table on every proof would make the
    graph quadratic in the number of tables."""
    ins = {"relationships": dg.AssetIn(key=relationships_key())}
    for i, table in enumerate(tables):
        ins[f"recommendation_{i}"] = dg.AssetIn(key=asset_key(RECOMMENDATION, table.source, table.name))
        ins[f"profile_{i}"] = dg.AssetIn(key=asset_key(PROFILE, table.source, table.name))

    @dg.asset(
        key=proof_dimensions_key(), ins=ins, group_name=PROOF, kinds={"python"}, owners=catalog_owners(tables),
        metadata=code_reference(build_proof_assets), tags={"aietl/layer": "proof"},
        description="The recommendation and profile of every table a found relationship references: each proof "
                    "joins its own layout (naive or recommended) of these dimensions.",
    )
    def proof_dimensions(context: dg.AssetExecutionContext, relationships, **inputs: Any) -> dg.Output:
        referenced = {(r.ref_table.source, r.ref_table.table) for r in as_relationships(relationships).relationships}
        chosen = {(t.source, t.name): {"recommendation": _as(inputs[f"recommendation_{i}"], Recommendation),
                                       "profile": _as(inputs[f"profile_{i}"], TableProfile)}
                  for i, t in enumerate(tables) if (t.source, t.name) in referenced}
        return dg.Output(chosen, metadata={"dimensions": dg.MetadataValue.text(
            ", ".join(f"{source}.{table}" for source, table in sorted(chosen)) or "none")})

    return proof_dimensions


def _proof_asset(table: SourceTable, with_relationships: bool, default_log: str, warehouse_kind: str,
                 tables_by_key: dict[tuple[str, str], SourceTable]) -> dg.AssetsDefinition:
    key = proof_key(table.source, table.name)
    ins = {
        "ddl": dg.AssetIn(key=asset_key(DDL, table.source, table.name)),
        "recommendation": dg.AssetIn(key=asset_key(RECOMMENDATION, table.source, table.name)),
        "profile": dg.AssetIn(key=asset_key(PROFILE, table.source, table.name)),
    }
    if with_relationships:
        ins["relationships"] = dg.AssetIn(key=relationships_key())
        ins["dimensions"] = dg.AssetIn(key=proof_dimensions_key())

    @dg.asset(
        key=key, ins=ins, group_name=group_name(table.source), config_schema=PROOF_CONFIG_SCHEMA,
        kinds={warehouse_kind, "sql"}, owners=list(table.owners), metadata=code_reference(_proof_asset),
        tags={"aietl/layer": "proof"},
        required_resource_keys={"warehouse"},
        check_specs=[dg.AssetCheckSpec(CHECK, asset=key, description="The recommended layout is not larger or "
                                                                     "slower than the naive one.")],
        description=f"Proof by measurement for {table.source}.{table.name}: the recommended layout against a naive "
                    "one on the warehouse, same sample, bytes on disk and median query times.",
    )
    def proof_asset(context: dg.AssetExecutionContext, ddl, recommendation, profile, **extra: Any):
        """``ddl``: dialect -> script; ``recommendation``, ``profile``: the table's
        (unannotated: Dagster would resolve their types again for every table's asset at load)."""
        config = ProofConfig(**context.op_config)
        engine = engine_for(context.resources.warehouse)
        if engine.dialect not in (ddl or {}):
            context.log.warning(f"ddl/{table.source}/{table.name} has no {engine.dialect} script; building it here")
        logged, origin = _logged(context, config, table, default_log)
        plan = ProofPlan(
            schema=table.schema, recommendation=_as(recommendation, Recommendation), profile=_as(profile, TableProfile),
            raw_namespace=raw_namespace(table.source), sample_rows=config.sample_rows, runs=config.runs,
            joins=_joins(extra.get("relationships"), extra.get("dimensions"), table, tables_by_key), logged=logged,
            query_origin=origin or "profile",
            keep_tables=config.keep_tables, min_rows=config.min_rows,
        )
        result = prove(engine, plan)
        context.log.info(f"{table.source}.{table.name}: {result.summary()}")
        yield dg.Output(result, metadata=proof_metadata(result))
        yield dg.AssetCheckResult(check_name=CHECK, passed=not result.flagged, severity=dg.AssetCheckSeverity.WARN,
                                  description=result.summary())

    return proof_asset


def _as(value: Any, kind: type) -> Any:
    return kind.from_dict(value) if isinstance(value, dict) else value


def _logged(context: dg.AssetExecutionContext, config: ProofConfig, table: SourceTable,
            default_log: str) -> tuple[list[ProofQuery], str]:
    log_file = config.query_log_file or default_log
    if not log_file:
        return [], ""
    try:
        entries = read_sql_file(resolve(log_file), config.query_log_dialect)
    except QueryLogUnavailable as error:
        context.log.warning(f"{table.source}.{table.name}: proving with queries from the profile: {error}")
        return [], ""
    problems: list[str] = []
    queries = logged_queries(entries, table.name, config.query_log_dialect, raw_namespace(table.source), problems)
    for problem in problems:
        context.log.warning(f"query log: {problem}")
    return queries, Path(log_file).name if queries else ""


def _joins(relationships: Any, dimensions: dict | None, table: SourceTable,
           tables: dict[tuple[str, str], SourceTable]) -> list[Join]:
    """The table's foreign-key candidates, cleanest first, each with the dimension it references."""
    if relationships is None:
        return []
    found = _as(relationships, Relationships).outgoing(table.source, table.name)
    joins = []
    for r in sorted(found, key=lambda r: (-r.match_share, r.ref_table.table, r.columns)):
        ref = (r.ref_table.source, r.ref_table.table)
        laid_out, ref_table = (dimensions or {}).get(ref), tables.get(ref)
        dimension = (Dimension(ref_table.schema, raw_namespace(ref_table.source), laid_out["recommendation"],
                               laid_out["profile"]) if laid_out and ref_table else None)
        joins.append(Join(r.columns, r.ref_table.table, r.ref_columns, dimension,
                          self_reference=ref == (table.source, table.name)))
    return joins


def proof_metadata(proof: Proof) -> dict[str, dg.MetadataValue]:
    metadata: dict[str, dg.MetadataValue] = {
        "summary": dg.MetadataValue.text(proof.summary()),
        "flagged": dg.MetadataValue.bool(proof.flagged),
        "status": dg.MetadataValue.text(proof.status),
        "engine": dg.MetadataValue.text(proof.dialect),
        "sample_rows": dg.MetadataValue.int(proof.rows_loaded),
        "queries_from": dg.MetadataValue.text(proof.query_origin),
    }
    if proof.naive_bytes is not None:
        metadata["naive_bytes"] = dg.MetadataValue.int(proof.naive_bytes)
    if proof.recommended_bytes is not None:
        metadata["recommended_bytes"] = dg.MetadataValue.int(proof.recommended_bytes)
    if proof.size_ratio is not None:
        metadata["size_ratio_vs_naive"] = dg.MetadataValue.float(round(proof.size_ratio, 3))
    if proof.speedup is not None:
        metadata["query_speedup_vs_naive"] = dg.MetadataValue.float(round(proof.speedup, 3))
        metadata["speedup_measured_on"] = dg.MetadataValue.text(proof.clock)
    if proof.queries:
        metadata["queries"] = dg.MetadataValue.md(queries_markdown(proof))
    if proof.notes:
        metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {note}" for note in proof.notes))
    metadata["proof"] = dg.MetadataValue.json(proof.to_dict())
    return metadata


def queries_markdown(proof: Proof) -> str:
    """Per query the medians of both clocks (engine time, and wall time including client overhead) and the
    speedup, on the engine's time where it reported one."""
    rows = [f"| {_cell(q.name)} | {_ms(q.naive_median_engine_ms)} | {_ms(q.recommended_median_engine_ms)} | "
            f"{_ms(q.naive_median_ms)} | {_ms(q.recommended_median_ms)} | "
            f"{f'{q.speedup:.2f}x ({q.clock})' if q.speedup else _cell(q.error or '-')} |" for q in proof.queries]
    return "\n".join(["| query | naive engine ms | recommended engine ms | naive wall ms | recommended wall ms | "
                      "speedup |", "|---|---:|---:|---:|---:|---:|", *rows])


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
