"""File-arrival sensors: one per files source, asking for a load when a table's files are new or changed.

A tick lists the files of each table (its name or glob in datasources.yaml, through the files resource) and stats
them; it never reads them. A file version is ``size:mtime_ns``. A table is requested when some file has a version
not loaded yet and every such file has settled: the same version on the previous tick (kept in the cursor) and a
modification time at least ``settle_s`` old, so a file still being written (or copied) is never loaded half-way.
The run key is a digest of the versions of all the table's files, so each state of the files loads once, even when
the cursor is lost. Files that disappear do not start a load (landing directories are often cleaned up).

When the run requested for a table fails or is canceled (after the raw asset's own retries), the next tick
requests the same files again under the run key with ``#<attempt>``, up to ``MAX_ATTEMPTS`` runs; then the skip
reason says so and names the run.

The cursor is JSON: per table, the versions requested last (at most ``MAX_TRACKED_FILES``, the newest; older files
fall under a ``floor`` mtime and count as loaded until they change), the pending versions seen on the last tick, and
the run key requested until its run succeeds.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import (
    AssetSelection,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from dagster._core.storage.tags import RUN_KEY_TAG

from etl_assets.catalog import SourceTable
from etl_assets.keys import RAW, asset_key, definition_name, source_resource_key
from resources.files.common import display_name

TICK_INTERVAL_S = 30
SETTLE_S = 30
"""A file modified less than this long ago may still be written to."""
MAX_TRACKED_FILES = 2_000
"""Files per table whose versions the cursor keeps; older ones are covered by the table's ``floor`` mtime."""
LISTED_FILES = 10
"""Files named in a tag or skip reason."""
MAX_ATTEMPTS = 3
"""Runs requested for the same files when the previous one failed or was canceled."""
FAILED_STATUSES = {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}

Versions = dict[str, str]


@dataclass
class TableState:
    """The cursor entry of one table."""

    loaded: Versions = field(default_factory=dict)
    floor: int = 0
    seen: Versions = field(default_factory=dict)
    """Pending versions seen on the last tick (the newest ``MAX_TRACKED_FILES``; ``seen_digest`` covers all)."""
    seen_digest: str = ""
    key: str = ""
    """The run key last requested, until that run succeeds."""
    attempt: int = 1

    def is_loaded(self, name: str, version: str) -> bool:
        if name in self.loaded:
            return self.loaded[name] == version
        return mtime_ns(version) <= self.floor

    def to_dict(self) -> dict[str, Any]:
        return {"loaded": self.loaded, "floor": self.floor, "seen": self.seen, "seen_digest": self.seen_digest,
                "key": self.key, "attempt": self.attempt}

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> TableState:
        return cls(dict(entry.get("loaded", {})), int(entry.get("floor", 0)), dict(entry.get("seen", {})),
                   str(entry.get("seen_digest", "")), str(entry.get("key", "")), int(entry.get("attempt", 1)))


@dataclass(frozen=True)
class TableTick:
    """What one tick decided for a table: its next cursor entry and either a request or why not."""

    state: TableState
    changed: Versions
    request: bool
    reason: str = ""


def build_file_sensors(tables: list[SourceTable], settle_s: int = SETTLE_S) -> list[SensorDefinition]:
    """One sensor per files source; time-partitioned tables are left to backfills (a changed file does not say which
    periods it holds)."""
    by_source: dict[str, list[SourceTable]] = defaultdict(list)
    for table in tables:
        if table.kind == "files" and table.partition is None:
            by_source[table.source].append(table)
    return [_source_sensor(source, source_tables, settle_s) for source, source_tables in by_source.items()]


def mtime_ns(version: str) -> int:
    return int(version.split(":")[1])


def file_versions(connector: Any, table: str) -> Versions:
    """Path relative to the source directory -> ``size:mtime_ns`` of every file of the table."""
    directory = connector.directory()
    versions = {}
    for path in connector.files_for(table):
        try:
            stat = Path(path).stat()
        except FileNotFoundError:  # moved away between the listing and the stat
            continue
        versions[display_name(Path(path), directory)] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return versions


def decide(state: TableState, current: Versions, now_ns: int, settle_s: int) -> TableTick:
    """Compare the table's files with its cursor entry (pure: the clock is passed in)."""
    changed = {name: version for name, version in current.items() if not state.is_loaded(name, version)}
    if not changed:
        kept = {name: version for name, version in state.loaded.items() if name in current}
        return TableTick(TableState(kept, state.floor, key=state.key, attempt=state.attempt), {}, False,
                         "no new or changed file")
    moving = _moving(state, changed, now_ns, settle_s)
    if moving:
        listed = "; ".join(f"{name} {why}" for name, why in sorted(moving.items())[:LISTED_FILES])
        more = f" and {len(moving) - LISTED_FILES} more" if len(moving) > LISTED_FILES else ""
        seen, _ = _bounded(changed, 0)
        return TableTick(TableState(state.loaded, state.floor, seen, digest(changed), state.key, state.attempt),
                         changed, False, f"waiting for {len(moving)} file(s) to settle: {listed}{more}")
    loaded, floor = _bounded(current, state.floor)
    return TableTick(TableState(loaded, floor), changed, True)


def _moving(state: TableState, changed: Versions, now_ns: int, settle_s: int) -> dict[str, str]:
    """File -> why it may still be written to: not the same on the last tick, or modified within ``settle_s``."""
    moving = {}
    if digest(changed) != state.seen_digest:
        for name, version in changed.items():
            previous = state.seen.get(name)
            if previous != version:
                moving[name] = ("is new (checked again next tick)" if previous is None
                                else "changed size or mtime since the last tick")
    for name, version in changed.items():
        age_s = (now_ns - mtime_ns(version)) / 1e9
        if name not in moving and age_s < settle_s:
            moving[name] = f"was modified {max(age_s, 0):.0f}s ago (settle time {settle_s}s)"
    return moving


def _bounded(versions: Versions, floor: int) -> tuple[Versions, int]:
    """At most MAX_TRACKED_FILES versions, the newest; the floor rises to the newest mtime of those dropped."""
    if len(versions) <= MAX_TRACKED_FILES:
        return dict(versions), floor
    newest = sorted(versions.items(), key=lambda item: (mtime_ns(item[1]), item[0]), reverse=True)
    dropped = newest[MAX_TRACKED_FILES:]
    return dict(newest[:MAX_TRACKED_FILES]), max(floor, max(mtime_ns(version) for _, version in dropped))


def digest(versions: Versions) -> str:
    return hashlib.sha256(json.dumps(sorted(versions.items())).encode()).hexdigest()[:20]


def decode_cursor(cursor: str | None) -> dict[str, TableState]:
    document = json.loads(cursor) if cursor else {}
    return {table: TableState.from_dict(entry) for table, entry in document.items()}


def encode_cursor(states: dict[str, TableState]) -> str:
    return json.dumps({table: state.to_dict() for table, state in sorted(states.items())}, sort_keys=True)


def run_key(source: str, table: str, current: Versions) -> str:
    """The same for the same files at the same sizes and mtimes: a version of the table loads once."""
    return f"files:{source}.{table}@{digest(current)}"


def _source_sensor(source: str, tables: list[SourceTable], settle_s: int) -> SensorDefinition:
    raw_keys = {table.name: asset_key(RAW, source, table.name) for table in tables}
    resource_key = source_resource_key(source)

    @sensor(
        name=definition_name("files", source),
        description=f"Loads the files of {source} when a table's files are new or changed and no longer being "
                    f"written (stable for a tick and older than {settle_s}s).",
        minimum_interval_seconds=TICK_INTERVAL_S,
        required_resource_keys={resource_key},
        asset_selection=AssetSelection.assets(*raw_keys.values()).downstream(),
        default_status=DefaultSensorStatus.RUNNING,
    )
    def files_sensor(context: SensorEvaluationContext) -> SensorResult:
        connector = getattr(context.resources, resource_key)
        states = decode_cursor(context.cursor)
        now_ns = time.time_ns()
        requests, reasons, problems = [], [], []
        for table in tables:
            try:
                current = file_versions(connector, table.name)
            except (OSError, KeyError, ValueError) as error:  # a missing directory or file; the others go on
                problems.append(f"{table.name}: cannot list its files: {error}")
                continue
            states[table.name], files, reason = next_state(context.instance, source, table.name,
                                                           states.get(table.name, TableState()), current, now_ns,
                                                           settle_s)
            if files is None:
                reasons.append(f"{table.name}: {reason}")
            else:
                requests.append(_run_request(context, source, table.name, raw_keys[table.name],
                                             states[table.name], files))
        unknown = _tables_not_in_catalog(connector, raw_keys)
        if unknown:
            problems.append(f"files of table(s) {unknown} are not in the catalog yet; run `aietl discover {source}`")
        for problem in problems:
            context.log.warning(f"files source {source}: {problem}")
        skip = None if requests else f"files source {source}: " + "; ".join([*problems, *reasons])
        return SensorResult(run_requests=requests, skip_reason=skip, cursor=encode_cursor(states))

    return files_sensor


def next_state(instance: DagsterInstance, source: str, table: str, state: TableState, current: Versions,
               now_ns: int, settle_s: int) -> tuple[TableState, Versions | None, str]:
    """The table's next cursor entry, and the files to request a run for (None: no run) or why not."""
    outcome = decide(state, current, now_ns, settle_s)
    state = outcome.state
    if outcome.request:
        state.key, state.attempt = run_key(source, table, current), 1
        return state, outcome.changed, ""
    if outcome.changed or not state.key:
        return state, None, outcome.reason
    retry, why = _after_last_run(instance, state)
    if not retry:
        return state, None, outcome.reason + why
    state.key, state.attempt = f"{state.key.split('#')[0]}#{state.attempt + 1}", state.attempt + 1
    return state, current, ""


def _after_last_run(instance: DagsterInstance, state: TableState) -> tuple[bool, str]:
    """Whether to request the unchanged files again because their last run failed; else what to add to the reason.
    A run that succeeded is forgotten (``state.key`` cleared), so later ticks look nothing up."""
    runs = instance.get_runs(filters=RunsFilter(tags={RUN_KEY_TAG: state.key}), limit=1)
    if not runs or runs[0].status not in FAILED_STATUSES:
        if runs and runs[0].status == DagsterRunStatus.SUCCESS:
            state.key = ""
        return False, ""
    if state.attempt >= MAX_ATTEMPTS:
        return False, (f"; the last {MAX_ATTEMPTS} load(s) of these files failed (run {runs[0].run_id[:8]}, "
                       f"{runs[0].status.value}): fix the cause, then materialize the raw asset or replace the file")
    return True, ""


def _run_request(context: SensorEvaluationContext, source: str, table: str, raw_key: Any, state: TableState,
                 changed: Versions) -> RunRequest:
    graph = context.repository_def.asset_graph
    names = sorted(changed)
    listed = ", ".join(names[:LISTED_FILES]) + (f" and {len(names) - LISTED_FILES} more"
                                                 if len(names) > LISTED_FILES else "")
    return RunRequest(
        run_key=state.key,
        asset_selection=sorted(AssetSelection.assets(raw_key).downstream().resolve(graph)),
        tags={"aietl/trigger": "files", "aietl/table": f"{source}.{table}", "aietl/files": listed,
              "aietl/changed_files": str(len(names)), "aietl/attempt": str(state.attempt)},
    )


def _tables_not_in_catalog(connector: Any, known: dict[str, Any]) -> list[str]:
    """Tables the directory now holds (one per file stem when no tables are configured) that have no asset."""
    if connector.tables:
        return []
    try:
        return sorted(set(connector.table_settings()) - set(known))
    except (OSError, ValueError):
        return []
