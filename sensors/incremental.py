"""Incremental-load sensors: one per database source, asking for a load when a table's cursor moves.

Each tick reads ``max(cursor)`` of every table (one round trip per source where the connector offers
``max_cursors``; cheap, bounded by the connector's timeouts) and compares it with the value
seen last, kept in the sensor's cursor so it survives restarts. The tables that moved in one tick load in one run
(their raw assets and everything downstream, each asset once): the layers over the whole catalog (relationships,
recommendations, reports) are computed once per tick, not once per moved table, and the source's pool runs its loads
one at a time anyway. Sources on the embedded chdb engine are not watched:
the engine admits one process per data path, and the daemon must not hold it while a run needs it.

A time-partitioned table whose cursor moved gets one run per partition instead, from the period of the value seen
last to the period of the new maximum, at most ``PARTITION_RUNS_PER_TICK`` per tick (the rest on the next ticks).
Those runs land the raw partitions only; the newest one also refreshes the whole-table layers built on the table.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from etl_assets.catalog import SourceTable
from etl_assets.config.models import DataSources
from etl_assets.keys import RAW, asset_key, definition_name, source_resource_key
from etl_assets.raw import partitions

WATCHED_KINDS = {"postgres", "clickhouse", "ydb"}
TICK_INTERVAL_S = 60
TAGGED_TABLES = 5
"""Moved tables named in a run's ``aietl/tables`` tag; the rest are counted."""
PARTITION_RUNS_PER_TICK = 100
"""Partition runs one tick may request for a source; a longer range goes on at the next ticks."""


def watched_tables(datasources: DataSources, tables: list[SourceTable]) -> dict[str, list[SourceTable]]:
    """Source name -> its incrementally synced tables that a sensor can watch."""
    by_source: dict[str, list[SourceTable]] = defaultdict(list)
    sources = datasources.all_sources()
    for table in tables:
        settings = sources[table.source][1]
        on_chdb = getattr(settings, "chdb_path", None)
        if table.kind in WATCHED_KINDS and table.sync.mode != "full" and not on_chdb:
            by_source[table.source].append(table)
    return dict(by_source)


def build_incremental_sensors(datasources: DataSources, tables: list[SourceTable]) -> list[SensorDefinition]:
    return [_source_sensor(source, source_tables) for source, source_tables in
            watched_tables(datasources, tables).items()]


def new_cursor_values(seen: dict[str, str], current: dict[str, Any]) -> dict[str, str]:
    """Tables whose cursor maximum differs from the one seen last (a table with no rows yet is left alone)."""
    return {name: str(value) for name, value in current.items() if value is not None and seen.get(name) != str(value)}


def current_cursors(connector: Any, tables: list[SourceTable]) -> tuple[dict[str, Any], dict[str, str]]:
    """The cursor maxima of ``tables`` and, apart, the tables that could not be read with the reason."""
    many = getattr(connector, "max_cursors", None)
    if callable(many):
        values = many([table.schema for table in tables])
    else:
        values = {}
        for table in tables:
            try:
                values[table.name] = connector.max_cursor(table.schema)
            except ValueError as error:
                values[table.name] = error
    errors = {name: str(value) for name, value in values.items() if isinstance(value, Exception)}
    return {name: value for name, value in values.items() if name not in errors}, errors


def _state_digest(moved: dict[str, str]) -> str:
    """The run key's part naming the moved tables and their new cursor maxima: one state is requested once."""
    return hashlib.sha256(json.dumps(moved, sort_keys=True).encode()).hexdigest()[:20]


def _tables_tag(source: str, names: list[str]) -> str:
    shown = ", ".join(f"{source}.{name}" for name in names[:TAGGED_TABLES])
    return shown + (f" and {len(names) - TAGGED_TABLES} more" if len(names) > TAGGED_TABLES else "")


def partition_requests(tables: dict[str, SourceTable], seen: dict[str, str], moved: dict[str, str],
                       limit: int = PARTITION_RUNS_PER_TICK) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(table, partition key) to load for the partitioned tables that moved, oldest first and at most ``limit``,
    and each table's value to keep as seen: its new maximum, or, when its range did not fit, the start of the first
    partition not yet requested (the next tick goes on from there)."""
    requests: list[tuple[str, str]] = []
    kept: dict[str, str] = {}
    for name in sorted(moved):
        table = tables[name]
        budget = limit - len(requests)
        if budget <= 0:
            continue  # nothing requested this tick: the table stays at the value seen last
        keys = partitions.keys_between(table, seen.get(name), moved[name], limit=budget + 1)
        if len(keys) > budget:
            kept[name] = partitions.key_start(table, keys[budget])
            keys = keys[:budget]
        else:
            kept[name] = moved[name]
        requests += [(name, key) for key in keys]
    return requests, kept


def _source_sensor(source: str, tables: list[SourceTable]) -> SensorDefinition:
    raw_keys = {table.name: asset_key(RAW, source, table.name) for table in tables}
    partitioned = {table.name: table for table in tables if table.partition is not None}
    partitioned_keys = {raw_keys[name] for name in partitioned}

    @sensor(
        name=definition_name("incremental", source),
        description=f"Loads new rows of {source} when a table's cursor column moves.",
        minimum_interval_seconds=TICK_INTERVAL_S,
        required_resource_keys={source_resource_key(source)},
        asset_selection=AssetSelection.assets(*raw_keys.values()).downstream(),
        default_status=DefaultSensorStatus.RUNNING,
    )
    def incremental(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        connector = getattr(context.resources, source_resource_key(source))
        try:
            current, unreadable = current_cursors(connector, tables)
        except Exception as error:  # a source that is down must not stop the daemon
            return SkipReason(f"source {source} is unreachable: {error}")
        for reason in unreadable.values():
            context.log.warning(reason)
        seen = json.loads(context.cursor) if context.cursor else {}
        moved = new_cursor_values(seen, current)
        if not moved:
            suffix = f" ({len(unreadable)} unreadable: {sorted(unreadable)})" if unreadable else ""
            return SkipReason(f"no table of {source} has new rows{suffix}")
        graph = context.repository_def.asset_graph
        whole = {name: value for name, value in moved.items() if name not in partitioned}
        requests = []
        if whole:
            selection = AssetSelection.assets(*(raw_keys[name] for name in sorted(whole))).downstream()
            requests.append(RunRequest(
                run_key=f"{source}@{_state_digest(whole)}",
                asset_selection=sorted(set(selection.resolve(graph)) - partitioned_keys),
                tags={"aietl/trigger": "incremental", "aietl/tables": _tables_tag(source, sorted(whole))},
            ))
        wanted, kept = partition_requests(partitioned, seen, {n: v for n, v in moved.items() if n in partitioned})
        requests += _partition_runs(source, wanted, moved, raw_keys, partitioned_keys, graph)
        return SensorResult(run_requests=requests, cursor=json.dumps({**seen, **whole, **kept}, sort_keys=True))

    return incremental


def _partition_runs(source: str, wanted: list[tuple[str, str]], moved: dict[str, str], raw_keys: dict[str, Any],
                    partitioned_keys: set, graph: Any) -> list[RunRequest]:
    """One run per partition; a table's last one in this tick also runs the whole-table layers built on it."""
    last = {name: key for name, key in wanted}
    runs = []
    for name, key in wanted:
        selection = [raw_keys[name]]
        if last[name] == key:
            downstream = AssetSelection.assets(raw_keys[name]).downstream().resolve(graph)
            selection += sorted(set(downstream) - partitioned_keys)
        runs.append(RunRequest(
            run_key=f"{source}.{name}:{key}@{_state_digest({name: moved[name]})}",
            asset_selection=selection, partition_key=key,
            tags={"aietl/trigger": "incremental", "aietl/tables": f"{source}.{name}"},
        ))
    return runs
