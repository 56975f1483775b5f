"""``recommendation/<source>/<table>`` assets: the rules engine over each table's profile (+ optional query log).

Each asset also reads the ``relationships/catalog`` asset (candidate keys and foreign-key candidates over every
landed table) for the table's role, foreign keys, suggested joins and ClickHouse dictionary. The query log is a
``.sql`` file (factory argument, env ``AIETL_QUERY_LOG`` or run config) and/or, on request, the
source's own log (pg_stat_statements / system.query_log). A log that cannot be read is reported and ignored; the
LLM narrative is optional and never changes a decision.
"""

import os
from pathlib import Path
from typing import Any

import dagster as dg

from etl_assets.catalog import SourceTable
from etl_assets.conventions import code_reference
from etl_assets.keys import PROFILE, RECOMMENDATION, asset_key, group_name, relationships_key, source_resource_key
from etl_assets.paths import resolve
from etl_assets.recommend.decisions import recommend
from etl_assets.recommend.model import Recommendation
from etl_assets.recommend.narrative import with_narrative
from etl_assets.recommend.querylog import (
    LoggedQuery,
    QueryLogUnavailable,
    QueryUsage,
    TableUsage,
    analyze,
    read_clickhouse_query_log,
    read_pg_stat_statements,
    read_sql_file,
)
from etl_assets.relationships.model import Relationships

SOURCE_LOG_READERS = {"postgres": read_pg_stat_statements, "clickhouse": read_clickhouse_query_log}


class RecommendationConfig(dg.Config):
    query_log_file: str = ""
    """A .sql file of representative queries; empty: the factory's file or env AIETL_QUERY_LOG."""
    query_log_dialect: str = "postgres"
    read_source_query_log: bool = False
    """Also read the source's pg_stat_statements / system.query_log (PostgreSQL and ClickHouse sources)."""


RECOMMENDATION_CONFIG_SCHEMA = RecommendationConfig.to_config_schema()
"""Built once and shared: inferred from a ``config`` parameter it would be built again for each table's asset."""


def build_recommendation_assets(
    tables: list[SourceTable], query_log_file: str | Path | None = None
) -> list[dg.AssetsDefinition]:
    known_columns = {t.name: {c.name for c in t.schema.columns} for t in tables}
    default_log = str(query_log_file or os.environ.get("AIETL_QUERY_LOG", ""))
    return [_recommendation_asset(table, known_columns, default_log) for table in tables]


def _recommendation_asset(
    table: SourceTable, known_columns: dict[str, set[str]], default_log: str
) -> dg.AssetsDefinition:
    source_key = source_resource_key(table.source)
    reads_source_log = table.kind in SOURCE_LOG_READERS

    @dg.asset(
        key=asset_key(RECOMMENDATION, table.source, table.name),
        ins={"profile": dg.AssetIn(key=asset_key(PROFILE, table.source, table.name)),
             "relationships": dg.AssetIn(key=relationships_key())},
        group_name=group_name(table.source), config_schema=RECOMMENDATION_CONFIG_SCHEMA,
        kinds={"python"}, owners=list(table.owners), metadata=code_reference(build_recommendation_assets),
        tags={"aietl/layer": "recommendation"},
        required_resource_keys={"llm", *([source_key] if reads_source_log else [])},
        description=f"Storage recommendation for {table.source}.{table.name}: target store, partitioning, keys, "
                    "indexes and refresh cadence, each with the profile fact it rests on.",
    )
    def recommendation_asset(context: dg.AssetExecutionContext, profile, relationships):
        """``profile``: the table's TableProfile; ``relationships``: the catalog's
        (unannotated: Dagster would resolve their types again for every table's asset at load)."""
        config = RecommendationConfig(**context.op_config)
        queries, origins = _logged_queries(context, config, table, default_log, source_key)
        usage = analyze(queries, config.query_log_dialect, ", ".join(origins), known_columns) if origins else None
        for problem in usage.problems if usage else []:
            context.log.warning(f"query log: {problem}")
        table_usage = usage.for_table(table.name) if usage else None
        found = as_relationships(relationships)
        decided = recommend(profile, table, table_usage, found, getattr(table, "column_types", None))
        result = with_narrative(decided, context.resources.llm, context.log)
        return dg.Output(result, metadata=recommendation_metadata(result, usage, table_usage))

    return recommendation_asset


def as_relationships(value: Any) -> Relationships:
    """The relationships asset's value: a :class:`Relationships` or its dict (as the IO manager stores it)."""
    return value if isinstance(value, Relationships) else Relationships.from_dict(value or {"keys": [],
                                                                                          "relationships": []})


def _logged_queries(
    context: dg.AssetExecutionContext, config: RecommendationConfig, table: SourceTable, default_log: str,
    source_key: str,
) -> tuple[list[LoggedQuery], list[str]]:
    queries: list[LoggedQuery] = []
    origins: list[str] = []
    log_file = config.query_log_file or default_log
    try:
        if log_file:
            queries += read_sql_file(resolve(log_file), config.query_log_dialect)
            origins.append(Path(log_file).name)
        if config.read_source_query_log and table.kind in SOURCE_LOG_READERS:
            queries += SOURCE_LOG_READERS[table.kind](getattr(context.resources, source_key))
            origins.append(f"{table.source} query log")
    except QueryLogUnavailable as error:
        context.log.warning(f"{table.source}.{table.name}: recommending without that query log: {error}")
    return queries, origins


def recommendation_metadata(
    recommendation: Recommendation, usage: QueryUsage | None, table_usage: TableUsage | None
) -> dict[str, dg.MetadataValue]:
    indexes = [f"{index.method} ({', '.join(index.columns)})" for index in recommendation.indexes]
    metadata: dict[str, dg.MetadataValue] = {
        "target_store": dg.MetadataValue.text(recommendation.target_store),
        "engine": dg.MetadataValue.text(recommendation.engine or "-"),
        "partitioning": dg.MetadataValue.text(recommendation.partition_by or "none"),
        "order_by": dg.MetadataValue.text(", ".join(recommendation.order_by) or "-"),
        "primary_key": dg.MetadataValue.text(", ".join(recommendation.primary_key) or "-"),
        "indexes": dg.MetadataValue.text("; ".join(indexes) or "none"),
        "low_cardinality": dg.MetadataValue.text(", ".join(recommendation.low_cardinality) or "-"),
        "role": dg.MetadataValue.text(recommendation.role),
        "foreign_keys": dg.MetadataValue.text("; ".join(
            f"({', '.join(fk.columns)}) -> {fk.ref_table} ({', '.join(fk.ref_columns)})"
            for fk in recommendation.foreign_keys) or "-"),
        "column_types": dg.MetadataValue.md(column_types_markdown(recommendation)),
        "refresh_cadence": dg.MetadataValue.text(recommendation.refresh_cadence),
        "summary": dg.MetadataValue.text(recommendation.summary),
        "rationale": dg.MetadataValue.md(rationale_markdown(recommendation)),
        "recommendation": dg.MetadataValue.json(recommendation.to_dict()),
    }
    if usage is not None:
        queries = table_usage.queries if table_usage else 0
        metadata["query_log"] = dg.MetadataValue.text(
            f"{usage.origin}: {usage.statements:,} statements, {queries:,} executions read this table, "
            f"{len(usage.problems)} unparsable")
    if recommendation.narrative:
        metadata["narrative"] = dg.MetadataValue.md(recommendation.narrative)
    return metadata


def rationale_markdown(recommendation: Recommendation) -> str:
    rows = [f"| {_cell(reason.claim)} | {_cell(reason.fact)} |" for reason in recommendation.reasons]
    return "\n".join([f"**{_cell(recommendation.summary)}**", "", "| decision | profile fact |", "|---|---|", *rows])


def column_types_markdown(recommendation: Recommendation) -> str:
    rows = [f"| {_cell(c.name)} | {c.logical}{'' if c.nullable else ' NOT NULL'} | {_cell(c.reason)} |"
            for c in recommendation.column_types]
    return "\n".join(["| column | type | profile fact |", "|---|---|---|", *rows])


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
