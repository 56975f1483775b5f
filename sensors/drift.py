"""Schema-drift sensors: one per database or files source, noticing when a table's columns change at the source.

A tick discovers the source once (the same discovery as ``aietl discover``; pg_catalog, system.columns, file
headers), in a worker thread given ``probe_timeout_s``, and compares each table's columns (names and logical types)
with the catalog (config/catalog.json, else the schema the definitions were built from). For a table that changed:

- the change (added, removed, widened, narrowed and conflicting columns, as the raw load names them) is recorded
  as a new version of the table's schema history, when the table has landed (the landed schema stays as it is:
  the next load evolves it);
- the catalog entry is replaced by the live schema, so ``aietl discover`` need not be run by hand (the code
  location shows the new columns after a reload);
- the profile, recommendation and DDL of the table are requested under a run key naming the new schema, tagged
  with the change, and an observation of ``raw/S/T`` carries the change as metadata for the asset's page. The raw
  asset is requested with them unless a column changed incompatibly: the profile reads the landed table, so the
  load that evolves it (adds, widens columns) comes first; a conflicting change would block that load and, with
  its blocking check, the rest of the run, so then only the three layers run and show the mismatch.

The cursor keeps a digest of each table's columns as last handled, so a change is acted on once even when the
catalog file cannot be written. Tables that disappeared, and new tables that the source's ``include``/``exclude``
select, are reported (the catalog changes for them when ``aietl discover`` runs).
Sources on the embedded chdb engine are not watched (one process per data path, see ``sensors.incremental``).
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as ProbeTimeout
from dataclasses import replace
from pathlib import Path
from typing import Any

from dagster import (
    AssetKey,
    AssetObservation,
    AssetSelection,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from etl_assets.catalog import SourceTable, load_catalog, save_catalog, selected
from etl_assets.config.models import DataSources, SourceDefaults
from etl_assets.keys import DDL, PROFILE, RAW, RECOMMENDATION, asset_key, definition_name, source_resource_key
from etl_assets.paths import CATALOG_FILE
from etl_assets.raw.evolution import plan_schema
from resources.protocol import error_text
from resources.schema import TableSchema

WATCHED_KINDS = {"postgres", "clickhouse", "ydb", "files"}
TICK_INTERVAL_S = 300
PROBE_TIMEOUT_S = 30
TAG_LIMIT = 250
"""Characters of the change summary kept in a run tag (the observation's metadata has all of it)."""
REFRESHED_LAYERS = (PROFILE, RECOMMENDATION, DDL)


def watched_tables(datasources: DataSources, tables: list[SourceTable]) -> dict[str, list[SourceTable]]:
    """Source name -> its tables whose schema a sensor can probe."""
    sources = datasources.all_sources()
    watched: dict[str, list[SourceTable]] = {}
    for table in tables:
        settings = sources[table.source][1]
        if table.kind in WATCHED_KINDS and not getattr(settings, "chdb_path", None):
            watched.setdefault(table.source, []).append(table)
    return watched


def build_drift_sensors(datasources: DataSources, tables: list[SourceTable], catalog_file: Path = CATALOG_FILE,
                        probe_timeout_s: float = PROBE_TIMEOUT_S) -> list[SensorDefinition]:
    sources = datasources.all_sources()
    return [_source_sensor(source, source_tables, sources[source][1], catalog_file, probe_timeout_s)
            for source, source_tables in watched_tables(datasources, tables).items()]


def requested_keys(table: SourceTable, conflicting: bool = False) -> list[AssetKey]:
    """What a change of the table's schema refreshes: its load (unless the change conflicts, or the table loads by
    time partition: its next partition run lands the new columns) and the layers above."""
    layers = REFRESHED_LAYERS if conflicting or table.partition is not None else (RAW, *REFRESHED_LAYERS)
    return [asset_key(layer, table.source, table.name) for layer in layers]


def column_digest(schema: TableSchema) -> str:
    columns = sorted((column.name, column.logical_type) for column in schema.columns)
    return hashlib.sha256(json.dumps(columns).encode()).hexdigest()[:16]


def schema_change(before: TableSchema, after: TableSchema) -> dict[str, Any]:
    """What changed from ``before`` to ``after``, in the vocabulary of the schema history (see raw/evolution)."""
    return plan_schema(before, after).diff()


def change_summary(change: dict[str, Any], types: dict[str, str]) -> str:
    """One line a person reads: ``added phone (string); removed note; status int32 -> string (conflict)``."""
    parts = [f"added {name} ({types[name]})" for name in change["added"]]
    parts += [f"removed {name}" for name in change["removed"]]
    parts += [f"{name} {old} -> {new} (widened)" for name, (old, new) in change["widened"].items()]
    parts += [f"{name} {old} -> {new} (narrowed)" for name, (old, new) in change["narrowed"].items()]
    parts += [f"{c['column']} {c['landed_type']} -> {c['source_type']} (conflict: the next load is blocked until "
              f"resolved)" for c in change["conflicts"]]
    return "; ".join(parts)


def discover(connector: Any, timeout_s: float) -> tuple[dict[str, TableSchema], dict[str, str]]:
    """The source's tables by name, and the tables that could not be read with the reason, within ``timeout_s``."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drift-probe")
    try:
        found, failed = pool.submit(_discover, connector).result(timeout=timeout_s)
    except ProbeTimeout:
        raise TimeoutError(f"discovery did not answer within {timeout_s:g}s") from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return {schema.name: schema for schema in found}, failed


def _discover(connector: Any) -> tuple[list[TableSchema], dict[str, str]]:
    per_table = getattr(connector, "discover_tables", None)
    return per_table() if callable(per_table) else (connector.discover(), {})


def _source_sensor(source: str, tables: list[SourceTable], settings: SourceDefaults, catalog_file: Path,
                   probe_timeout_s: float) -> SensorDefinition:
    resource_key = source_resource_key(source)
    watched = AssetSelection.assets(*[key for table in tables for key in requested_keys(table)])

    @sensor(
        name=definition_name("drift", source),
        description=f"Notices column changes in the tables of {source}: records them in the schema history, "
                    f"updates the catalog and refreshes the profile, recommendation and DDL of the changed tables.",
        minimum_interval_seconds=TICK_INTERVAL_S,
        required_resource_keys={resource_key, "metadata"},
        asset_selection=watched,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def drift_sensor(context: SensorEvaluationContext) -> SensorResult:
        try:
            live, failed = discover(getattr(context.resources, resource_key), probe_timeout_s)
        except Exception as error:  # a source that is down or hangs must not stop the daemon
            return SensorResult(skip_reason=f"source {source}: cannot discover its schema: {error_text(error)}",
                                cursor=context.cursor)
        handled = json.loads(context.cursor) if context.cursor else {}
        changed, notes, probed = compare(tables, live, failed, _stored(context, catalog_file, source), handled)
        new = sorted(name for name in live if name not in {t.name for t in tables} and selected(name, settings))
        if new:
            notes.append(f"new table(s) {new} are not in the catalog yet; run `aietl discover {source}`")
        for note in notes:
            context.log.warning(f"source {source}: {note}")
        if not changed:
            skip = f"no column changed in the {probed} table(s) of {source} probed"
            return SensorResult(skip_reason="; ".join([skip, *notes]), cursor=json.dumps(handled, sort_keys=True))
        try:
            handled_now = [_handle(context, table, before, found) for table, before, found in changed]
        except Exception as error:  # the store is down: nothing is recorded, so the next tick tries again
            return SensorResult(skip_reason=f"source {source}: {len(changed)} table(s) changed but the schema history "
                                            f"cannot be written: {error_text(error)}", cursor=context.cursor)
        requests, events = [request for request, _ in handled_now], [event for _, event in handled_now]
        _update_catalog(context, catalog_file, source, [found for _, _, found in changed])
        return SensorResult(run_requests=requests, asset_events=events, cursor=json.dumps(handled, sort_keys=True))

    return drift_sensor


def compare(tables: list[SourceTable], live: dict[str, TableSchema], failed: dict[str, str],
            stored: dict[str, TableSchema], handled: dict[str, str],
            ) -> tuple[list[tuple[SourceTable, TableSchema, TableSchema]], list[str], int]:
    """The tables whose columns changed (table, catalog schema, live schema), notes on those not probed, and how
    many were; ``handled`` (the cursor) is updated to the live digests."""
    changed, notes = [], []
    for table in tables:
        found = live.get(table.name)
        if found is None:
            notes.append(f"{table.name}: " + failed.get(table.name, "no longer in the source (dropped or renamed); "
                                                                    "run `aietl discover`"))
            continue
        digest = column_digest(found)
        before = stored.get(table.name, table.schema)
        if handled.get(table.name) != digest and column_digest(before) != digest:
            changed.append((table, before, found))
        handled[table.name] = digest
    return changed, notes, len(tables) - len(notes)


def _stored(context: SensorEvaluationContext, catalog_file: Path, source: str) -> dict[str, TableSchema]:
    """The source's tables in the catalog file as it is now (the definitions' copy when it cannot be read)."""
    try:
        return {schema.name: schema for schema in load_catalog(catalog_file).get(source, [])}
    except (OSError, ValueError, KeyError, TypeError) as error:
        context.log.warning(f"catalog {catalog_file} cannot be read ({error_text(error)}); comparing with the "
                            f"schemas the code location was built from")
        return {}


def _handle(context: SensorEvaluationContext, table: SourceTable, before: TableSchema,
            found: TableSchema) -> tuple[RunRequest, AssetObservation]:
    change = schema_change(before, found)
    summary = change_summary(change, {column.name: column.logical_type for column in found.columns})
    version = _record_history(context.resources.metadata, table, found, change)
    context.log.info(f"schema of {table.source}.{table.name} changed: {summary}")
    history = str(version) if version else "not landed yet"
    request = RunRequest(
        run_key=f"drift:{table.source}.{table.name}@{column_digest(before)}->{column_digest(found)}",
        asset_selection=requested_keys(table, conflicting=bool(change["conflicts"])),
        tags={"aietl/trigger": "schema_drift", "aietl/table": f"{table.source}.{table.name}",
              "aietl/schema_change": _clip(summary), "aietl/schema_version": history},
    )
    event = AssetObservation(
        asset_key=asset_key(RAW, table.source, table.name),
        description=f"Schema drift at the source: {summary}",
        metadata={"schema_change": MetadataValue.md(_markdown(change, before, found)),
                  "schema_diff": MetadataValue.json(change), "schema_version": history,
                  "columns_before": len(before.columns), "columns_now": len(found.columns)},
    )
    return request, event


def _record_history(metadata: Any, table: SourceTable, found: TableSchema, change: dict[str, Any]) -> int | None:
    """A new schema-history version with the live source schema and the landed one unchanged; None if not landed."""
    latest = metadata.latest_schema(table.source, table.name)
    if latest is None:
        return None
    live = replace(found, primary_key=list(table.schema.primary_key), cursor_column=table.sync.cursor,
                   namespace=found.namespace or table.schema.namespace)
    return metadata.record_schema(table.source, table.name, live.to_dict(), latest["landed_schema"],
                                  {**change, "detected_by": definition_name("drift", table.source)})


def _update_catalog(context: SensorEvaluationContext, catalog_file: Path, source: str,
                    live: list[TableSchema]) -> None:
    """Replace the changed tables' entries in the catalog file; a catalog that cannot be written is only logged."""
    try:
        catalog = load_catalog(catalog_file)
        by_name = {schema.name: schema for schema in live}
        kept = [by_name.pop(schema.name, schema) for schema in catalog.get(source, [])]
        catalog[source] = [*kept, *by_name.values()]
        save_catalog(catalog_file, catalog)
    except (OSError, ValueError) as error:
        context.log.warning(f"source {source}: the schema change is not written to the catalog {catalog_file}: "
                            f"{error_text(error)}; run `aietl discover {source}` where it is writable")


def _markdown(change: dict[str, Any], before: TableSchema, found: TableSchema) -> str:
    old = {column.name: column.logical_type for column in before.columns}
    new = {column.name: column.logical_type for column in found.columns}
    conflicts = {c["column"] for c in change["conflicts"]}
    rows = ["| column | before | now | change |", "|---|---|---|---|"]
    for name in change["added"]:
        rows.append(f"| {_cell(name)} | | {new[name]} | added |")
    for name in change["removed"]:
        rows.append(f"| {_cell(name)} | {old[name]} | | removed |")
    for name in sorted(set(old) & set(new)):
        if old[name] != new[name]:
            kind = "conflict" if name in conflicts else ("widened" if name in change["widened"] else "narrowed")
            rows.append(f"| {_cell(name)} | {old[name]} | {new[name]} | {kind} |")
    return "\n".join(rows)


def _cell(name: str) -> str:
    return name.replace("|", "\\|")


def _clip(text: str) -> str:
    return text if len(text) <= TAG_LIMIT else text[:TAG_LIMIT - 3] + "..."
