"""``raw/<source>/<table>`` assets (one per source table) and their ``schema_compatible`` checks.

Each load runs in the pool ``source_<name>`` (dagster.yaml limits it, so a large source cannot starve the others),
retries transient failures with exponential backoff and jitter, and fails on its own when its source is down.
"""


from typing import Any

import dagster as dg
from dagster import AssetCheckExecutionContext, AssetExecutionContext

from etl_assets.catalog import SourceTable
from etl_assets.conventions import code_reference, freshness_policy
from etl_assets.keys import RAW, asset_key, group_name, source_pool, source_resource_key, target_resource_key
from etl_assets.raw import partitions
from etl_assets.raw.load import LoadError, LoadOutcome, load_table
from etl_assets.retry import configured_retry_policy
from resources.protocol import is_transient
from resources.schema import TableSchema

CHECK_NAME = "schema_compatible"
FULL_RELOAD_TAG = "aietl/full_reload"
"""A run tag: ``true`` reloads every raw table of the run in full (replace), whatever its sync mode."""
FROM_CONFIG = "from_config"
"""The default ``retry_policy``: each table retries as its source's ``retry`` settings say."""


def build_raw_assets(tables: list[SourceTable], warehouse_kind: str = "postgres", warehouse_name: str | None = None,
                     retry_policy: dg.RetryPolicy | None | str = FROM_CONFIG,
                     ) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    """A raw asset and its blocking ``schema_compatible`` check for every table.

    Tables land in the resource ``warehouse`` unless their source names another target (``target_<name>``, when
    ``warehouse_name`` says which target the warehouse is).
    """
    definitions: list[dg.AssetsDefinition | dg.AssetChecksDefinition] = []
    for table in tables:
        destination_key = _destination_key(table, warehouse_name)
        policy = configured_retry_policy(table.retry) if retry_policy == FROM_CONFIG else retry_policy
        definitions.append(_raw_asset(table, destination_key, warehouse_kind, policy))
        definitions.append(_schema_check(table))
    return definitions


def _destination_key(table: SourceTable, warehouse_name: str | None) -> str:
    if warehouse_name is None or table.target == warehouse_name:
        return "warehouse"
    return target_resource_key(table.target)


def _raw_asset(table: SourceTable, destination_key: str, warehouse_kind: str,
               retry_policy: dg.RetryPolicy | None) -> dg.AssetsDefinition:
    source_key = source_resource_key(table.source)

    @dg.asset(
        key=asset_key(RAW, table.source, table.name),
        group_name=group_name(table.source),
        kinds={table.kind, warehouse_kind},
        partitions_def=partitions.partitions_def(table.partition),
        owners=list(table.owners),
        freshness_policy=freshness_policy(table.checks.freshness_hours),
        description=_description(table),
        required_resource_keys={source_key, destination_key, "metadata"},
        pool=source_pool(table.source),
        retry_policy=retry_policy,
        metadata={**code_reference(_raw_asset), "dagster/column_schema": column_schema(table.schema),
                  "dagster/table_name": f"{table.raw_namespace}.{table.name}", "sync_mode": table.sync.mode},
        tags={"aietl/layer": "raw"},
    )
    def raw_table(context: AssetExecutionContext) -> dg.MaterializeResult:
        source = getattr(context.resources, source_key)
        destination = getattr(context.resources, destination_key)
        try:
            outcome = load_table(table, source, destination, context.resources.metadata, run_id=context.run.run_id,
                                 full_reload=context.run.tags.get(FULL_RELOAD_TAG) == "true",
                                 **_partition_arguments(context, table))
        except LoadError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        except Exception as error:
            if is_transient(error):
                raise
            raise dg.Failure(description=f"{table.source}.{table.name}: {error} (not retried: retrying cannot fix "
                                         "it)", allow_retries=False) from error
        _log(context, table, outcome)
        rows = outcome.rows_written if outcome.write_mode == "replace" else None
        if rows is None and outcome.status == "success":
            rows = destination.row_count(table.raw_namespace, table.name)
        return dg.MaterializeResult(metadata=materialization_metadata(outcome, rows))

    return raw_table


def _partition_arguments(context: AssetExecutionContext, table: SourceTable) -> dict[str, Any]:
    """The partition key and its period for a time-partitioned table (nothing for a whole-table one)."""
    if table.partition is None:
        return {}
    if not context.has_partition_key:
        raise dg.Failure(description=f"{table.source}.{table.name} is time-partitioned ({table.partition.grain} on "
                                     f"{table.partition.column!r}): materialize one partition or backfill a range",
                         allow_retries=False)
    return {"partition_key": context.partition_key,
            "period": partitions.period(table, context.partition_time_window)}


def _schema_check(table: SourceTable) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key(RAW, table.source, table.name),
        name=CHECK_NAME,
        blocking=True,
        required_resource_keys={"metadata"},
        description="Fails while the table has an open sync conflict (an incompatible source type change); the "
                    "table is not loaded until the conflict is resolved, so no landed data is lost.",
    )
    def schema_compatible(context: AssetCheckExecutionContext) -> dg.AssetCheckResult:
        conflicts = context.resources.metadata.open_conflicts(table.source, table.name)
        return dg.AssetCheckResult(
            passed=not conflicts,
            metadata={
                "open_conflicts": len(conflicts),
                "conflicts": dg.MetadataValue.json([
                    {"column": c["column_name"], "landed_type": c["landed_type"], "source_type": c["source_type"],
                     "detected_at": c["detected_at"].isoformat(), "detail": c["detail"]} for c in conflicts]),
            },
            description=("; ".join(c["detail"] for c in conflicts) if conflicts else "no open sync conflicts"),
        )

    return schema_compatible


def column_schema(schema: TableSchema) -> dg.TableSchema:
    key = set(schema.primary_key)
    return dg.TableSchema(columns=[
        dg.TableColumn(name=c.name, type=c.logical_type, description=c.description or None,
                       constraints=dg.TableColumnConstraints(nullable=c.nullable, unique=[c.name] == schema.primary_key,
                                                             other=["primary key"] if c.name in key else []))
        for c in schema.columns
    ])


def materialization_metadata(outcome: LoadOutcome, table_rows: int | None = None) -> dict[str, Any]:
    """``table_rows``: how many rows the landed table holds after the load (``dagster/row_count``)."""
    metadata: dict[str, Any] = {
        "status": outcome.status,
        "sync_mode": outcome.sync_mode,
        "write_mode": outcome.write_mode,
        "rows_read": outcome.rows_read,
        "rows_written": outcome.rows_written,
        "rows_quarantined": outcome.rows_quarantined,
        "rows_null_cursor": outcome.rows_null_cursor,
        "watermark_from": outcome.watermark_from,
        "watermark_to": outcome.watermark_to,
        "read_from": outcome.read_from,
        "duration_s": round(outcome.duration_s, 3),
        "schema_version": outcome.schema_version,
        "added_columns": dg.MetadataValue.json(outcome.added_columns),
        "widened_columns": dg.MetadataValue.json(outcome.widened_columns),
        "open_conflicts": len(outcome.conflicts),
        "dagster/table_name": outcome.target,
        "dagster/column_schema": column_schema(outcome.landed),
    }
    if outcome.period is not None:
        metadata.update(partition_key=outcome.partition_key, period_column=outcome.period.column,
                        period_start=str(outcome.period.start), period_end=str(outcome.period.end),
                        partition_rows=outcome.rows_written)
    if table_rows is not None and outcome.status == "success":
        metadata["dagster/row_count"] = table_rows
    return metadata


def _description(table: SourceTable) -> str:
    how = {"full": "replaced on every load", "incremental": f"appended by cursor {table.sync.cursor!r}",
           "merge": f"merged on {table.schema.primary_key} by cursor {table.sync.cursor!r}"}[table.sync.mode]
    if table.partition is not None:
        how = (f"one {table.partition.grain} partition of {table.partition.column!r} at a time (a rerun replaces "
               f"exactly its period)")
    return f"Rows of {table.source}.{table.name} landed in {table.raw_namespace}.{table.name}, {how}."


def _log(context: AssetExecutionContext, table: SourceTable, outcome: LoadOutcome) -> None:
    if outcome.status == "blocked":
        context.log.warning(f"{table.source}.{table.name} not loaded: open sync conflict(s) "
                            f"{[c['column_name'] for c in outcome.conflicts]}; see the schema_compatible check")
        return
    context.log.info(f"{table.source}.{table.name}: read {outcome.rows_read}, wrote {outcome.rows_written}, "
                     f"quarantined {outcome.rows_quarantined} ({outcome.write_mode}) in {outcome.duration_s:.2f}s; "
                     f"watermark {outcome.watermark_from} -> {outcome.watermark_to}")
