"""``profile/<source>/<table>`` assets (one per source table) with their data-quality checks.

A profile is computed where the raw table lives: aggregate SQL pushed down to the warehouse (PostgreSQL or
ClickHouse) for the exact facts, a bounded random sample for semantic types and patterns. The asset's value is the
:class:`TableProfile` (downstream recommendation assets take it as input); its metadata shows the column schema with
descriptions, a Markdown summary and the path of the JSON artifact. The checks of ``checks.py`` run in the same step
and are blocking when the table's ``checks.blocking`` says so: a failure stops the assets downstream of the profile.
Every profile and check result is also kept in the metadata store (``aietl_meta.profile_history`` /
``check_results``), which is the history the row-count anomaly check compares against.

(No ``from __future__ import annotations``: Dagster reads the context annotation at definition time.)
"""

import datetime as dt
import json
from pathlib import Path
from typing import Any

import dagster as dg

from etl_assets.catalog import SourceTable
from etl_assets.conventions import code_reference
from etl_assets.keys import PROFILE, RAW, asset_key, group_name
from etl_assets.paths import state_dir
from etl_assets.profile import checks, history
from etl_assets.profile.growth import growth_facts
from etl_assets.profile.model import TableProfile
from etl_assets.profile.pushdown import PushdownProfiler, TableNotFoundError
from etl_assets.profile.render import profile_markdown
from etl_assets.raw.partitions import eager_condition

DEFAULT_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL,
                                      jitter=dg.Jitter.PLUS_MINUS)
WAREHOUSE_KEY = "warehouse"
METADATA_KEY = "metadata"
EAGER = dg.AutomationCondition.eager()
"""One condition shared by every profile asset: building it costs about a millisecond, a second over 1,000 tables."""


def profile_json_path(source: str, table: str) -> Path:
    return state_dir() / "profiles" / source / f"{table}.json"


def build_profile_assets(
    tables: list[SourceTable],
    warehouse_kind: str = "postgres",
    retry_policy: dg.RetryPolicy | None = DEFAULT_RETRY_POLICY,
) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    """A profile asset, carrying its data-quality checks, for every table."""
    return [_profile_asset(table, warehouse_kind, retry_policy) for table in tables]


def _profile_asset(table: SourceTable, warehouse_kind: str, retry_policy: dg.RetryPolicy | None
                   ) -> dg.AssetsDefinition:
    key = asset_key(PROFILE, table.source, table.name)

    @dg.asset(
        key=key,
        deps=[asset_key(RAW, table.source, table.name)],
        group_name=group_name(table.source),
        kinds={warehouse_kind},
        owners=list(table.owners),
        metadata=code_reference(_profile_asset),
        required_resource_keys={WAREHOUSE_KEY, METADATA_KEY},
        check_specs=checks.check_specs(table, key),
        retry_policy=retry_policy,
        automation_condition=eager_condition([table], EAGER),
        tags={"aietl/layer": "profile"},
        description=f"Profile of {table.raw_namespace}.{table.name}: per column type, semantic type, NULLs, "
                    "distincts, range, quantiles, top values, lengths, patterns; keys, time columns, duplicates "
                    "and growth. Quality checks: " + ", ".join(checks.check_names(table)) + ".",
    )
    def profile_table(context: dg.AssetExecutionContext):
        warehouse = getattr(context.resources, WAREHOUSE_KEY)
        metadata = getattr(context.resources, METADATA_KEY)
        profiler = PushdownProfiler(warehouse, table.raw_namespace, table.name)
        profile = _profile(profiler, table, metadata)
        outcomes = evaluate_checks(table, profile, profiler, metadata.previous_row_counts(table.source, table.name))
        json_path = write_profile_json(profile)
        metadata.record_profile(**history.profile_record(profile), run_id=context.run.run_id)
        metadata.record_check_results(table.source, table.name, history.check_records(outcomes),
                                      table.checks.blocking, run_id=context.run.run_id)
        for outcome in outcomes:
            log = context.log.info if outcome.passed else context.log.warning
            log(f"check {outcome.name}: {'passed' if outcome.passed else 'FAILED'}: {outcome.description}")
        yield dg.Output(profile, metadata=output_metadata(profile, json_path))
        for outcome in outcomes:
            yield checks.to_check_result(outcome, key)

    return profile_table


def _profile(profiler: PushdownProfiler, table: SourceTable, metadata: Any) -> TableProfile:
    growth = growth_facts(metadata.ingestion_history(table.source, table.name))
    known_types = {c.name: c.logical_type for c in table.schema.columns}
    try:
        return profiler.profile(table.source, primary_key=table.schema.primary_key, known_types=known_types,
                                growth=growth)
    except TableNotFoundError as error:
        raise dg.Failure(description=f"profile of {table.source}.{table.name}: {error}; materialize "
                                     f"{asset_key(RAW, table.source, table.name).to_user_string()} first") from None


def evaluate_checks(
    table: SourceTable, profile: TableProfile, profiler: PushdownProfiler, previous_counts: list[int],
    now: dt.datetime | None = None,
) -> list[checks.CheckOutcome]:
    """Every check of :func:`checks.check_names` for this table, in that order."""
    settings = table.checks
    outcomes = []
    for name in checks.check_names(table):
        if name == checks.NULL_SHARE:
            outcomes.append(checks.null_share_check(profile, dict(settings.max_null_share)))
        elif name == checks.PRIMARY_KEY:
            outcomes.append(checks.primary_key_check(profile, profiler.key_facts(table.schema.primary_key)))
        elif name == checks.FRESHNESS:
            column = checks.freshness_column(table, profile)
            outcomes.append(checks.freshness_check(profile, column, settings.freshness_hours, now))
        elif name == checks.SCHEMA_DRIFT:
            landed = [(c.name, profiler.dialect.logical_type(c.physical_type)) for c in profile.columns]
            outcomes.append(checks.schema_drift_check(profile, table.schema, landed))
        elif name == checks.ROW_COUNT:
            outcomes.append(checks.row_count_check(profile, previous_counts, settings.row_count_tolerance))
    return [checks.with_severity(outcome, dict(settings.severity)) for outcome in outcomes]


def read_profile(source: str, table: str) -> TableProfile | None:
    """The table's last profile as written by its asset, or None (not profiled here yet, or unreadable)."""
    try:
        return TableProfile.from_dict(json.loads(profile_json_path(source, table).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_profile_json(profile: TableProfile) -> Path:
    path = profile_json_path(profile.source, profile.table)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(profile.to_dict(), indent=1, default=str, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    temporary.replace(path)
    return path


def output_metadata(profile: TableProfile, json_path: Path) -> dict[str, Any]:
    columns = [dg.TableColumn(name=c.name, type=c.logical_type, description=c.description)
               for c in profile.columns]
    return {
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "dagster/row_count": profile.row_count,
        "summary": dg.MetadataValue.md(profile_markdown(profile)),
        "profile_json": dg.MetadataValue.path(str(json_path)),
        "size_bytes": profile.size_bytes if profile.size_bytes is not None else dg.MetadataValue.null(),
        "duplicate_rows": profile.duplicate_rows,
        "candidate_keys": dg.MetadataValue.json(profile.candidate_keys),
        "time_columns": dg.MetadataValue.json(profile.time_columns),
        "equivalent_columns": dg.MetadataValue.json(profile.equivalent_columns),
        "semantic_types": dg.MetadataValue.json({c.name: c.semantic_type for c in profile.columns}),
        "sampled": profile.sampled,
        "sample_rows": profile.sample_rows if profile.sample_rows is not None else dg.MetadataValue.null(),
        "rows_per_day": (profile.growth.rows_per_day if profile.growth.rows_per_day is not None
                         else dg.MetadataValue.null()),
    }
