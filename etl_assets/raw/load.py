"""One load of one table: source -> warehouse, with watermark, schema evolution, quarantine and the ingestion log.

The order of effects is what makes reruns safe: rows land (atomically, deduplicated by the destination), then the
watermark moves, then the log entry closes. A failure anywhere before the watermark moves leaves the warehouse as it
was or with rows that the next run deduplicates; the watermark never moves backwards.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from etl_assets.catalog import SourceTable
from etl_assets.raw import watermark as wm
from etl_assets.raw.evolution import SchemaPlan, plan_schema
from resources.protocol import (
    Destination,
    Period,
    SourceConnector,
    SourceUnavailableError,
    WriteMode,
)
from resources.schema import Column, QuarantinedRecord, TableSchema

QUARANTINE_TABLE = "_quarantine"
QUARANTINE_FLUSH_ROWS = 10_000
MAX_RAW_CHARS = 65_536
QUARANTINE_SCHEMA_COLUMNS = [
    Column("source", "string", False), Column("table", "string", False), Column("location", "string", False),
    Column("reason", "string"), Column("raw", "string"), Column("loaded_at", "timestamptz"), Column("run_id", "string"),
]


class LoadError(ValueError):
    """A load that cannot succeed by retrying (bad configuration, a cursor gone backwards, a missing table)."""


class MetadataStore(Protocol):
    def start_ingestion(self, source: str, table: str, mode: str, watermark_from: str | None = None,
                        run_id: str | None = None) -> int: ...
    def finish_ingestion(self, entry_id: int, status: str, **counts: Any) -> None: ...
    def watermark(self, source: str, table: str) -> dict[str, Any] | None: ...
    def save_watermark(self, source: str, table: str, cursor_column: str | None, logical_type: str | None,
                       value: str | None) -> None: ...
    def latest_schema(self, source: str, table: str) -> dict[str, Any] | None: ...
    def record_schema(self, source: str, table: str, source_schema: dict[str, Any],
                      landed_schema: dict[str, Any], diff: dict[str, Any]) -> int: ...
    def record_conflicts(self, source: str, table: str, conflicts: list[dict[str, str]]) -> int: ...
    def open_conflicts(self, source: str, table: str) -> list[dict[str, Any]]: ...


@dataclass
class LoadOutcome:
    status: str
    sync_mode: str
    write_mode: str
    target: str
    landed: TableSchema
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    rows_null_cursor: int = 0
    watermark_from: str | None = None
    watermark_to: str | None = None
    read_from: str | None = None
    duration_s: float = 0.0
    schema_version: int = 0
    added_columns: list[str] = field(default_factory=list)
    widened_columns: list[str] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    partition_key: str | None = None
    period: Period | None = None


def quarantine_schema(source: str) -> TableSchema:
    return TableSchema(source=source, name=QUARANTINE_TABLE, columns=list(QUARANTINE_SCHEMA_COLUMNS),
                       primary_key=["source", "table", "location"])


def live_schema(source: SourceConnector, table: SourceTable) -> TableSchema:
    """The table as the source has it now, with the configured primary key and cursor column."""
    return _configured(_discovered(source, table), table)


def _discovered(source: SourceConnector, table: SourceTable) -> TableSchema:
    finder = getattr(source, "discover_table", None)
    found = finder(table.name) if finder else next((t for t in source.discover() if t.name == table.name), None)
    if found is None:
        raise LoadError(f"{table.source}.{table.name}: the table is no longer in the source (dropped or renamed "
                        "since discovery); run `aietl discover`")
    return found


def _configured(found: TableSchema, table: SourceTable) -> TableSchema:
    names = {c.name for c in found.columns}
    wanted = [*table.schema.primary_key, *([table.sync.cursor] if table.sync.cursor else [])]
    missing = [name for name in wanted if name not in names]
    if missing:
        raise LoadError(f"{table.source}.{table.name}: configured key/cursor column(s) {missing} are not in the "
                        f"source table (columns: {sorted(names)})")
    return replace(found, source=table.source, primary_key=list(table.schema.primary_key),
                   cursor_column=table.sync.cursor, namespace=found.namespace or table.schema.namespace)


class _Tracker:
    """Counts rows, NULL cursors and the highest cursor value of the batches passing through."""

    def __init__(self, cursor_column: str | None):
        self.cursor_column = cursor_column
        self.rows = 0
        self.null_cursors = 0
        self.max_cursor: Any = None

    def track(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            self.rows += batch.num_rows
            if self.cursor_column and batch.num_rows:
                values = batch.column(batch.schema.get_field_index(self.cursor_column))
                self.null_cursors += values.null_count
                self.max_cursor = wm.later(self.max_cursor, pc.max(values).as_py())
            yield batch


class _Quarantine:
    """Collects bad records and lands them in ``<namespace>._quarantine`` in chunks (merged on location)."""

    def __init__(self, destination: Destination, namespace: str, source: str, run_id: str | None):
        self.destination, self.namespace, self.run_id = destination, namespace, run_id
        self.schema = quarantine_schema(source)
        self.pending: list[QuarantinedRecord] = []
        self.count = 0

    def __call__(self, record: QuarantinedRecord) -> None:
        self.pending.append(record)
        self.count += 1
        if len(self.pending) >= QUARANTINE_FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        now = datetime.now(timezone.utc)
        rows = [{"source": r.source, "table": r.table, "location": r.location, "reason": r.reason,
                 "raw": r.raw[:MAX_RAW_CHARS], "loaded_at": now, "run_id": self.run_id} for r in self.pending]
        batch = pa.RecordBatch.from_pylist(rows, schema=self.schema.arrow_schema())
        self.destination.write(self.namespace, self.schema, [batch], WriteMode.MERGE)
        self.pending = []


def write_mode(table: SourceTable, full_reload: bool, period: Period | None = None) -> WriteMode:
    if period is not None:
        return WriteMode.REPLACE_PERIOD
    if full_reload or table.sync.mode == "full":
        return WriteMode.REPLACE
    if table.sync.mode == "merge" or table.schema.primary_key:
        return WriteMode.MERGE
    return WriteMode.APPEND


def load_table(table: SourceTable, source: SourceConnector, destination: Destination, metadata: MetadataStore,
               run_id: str | None = None, full_reload: bool = False, partition_key: str | None = None,
               period: Period | None = None) -> LoadOutcome:
    """Land one table; returns what happened. Raises LoadError (do not retry) or the source's own errors.

    ``full_reload`` replaces the landed table from a full read, as a stored full-reload request does.

    Every attempt is logged in the ingestion log, failures included (a source that is down, too). The calls of
    one load to the metadata store, the source and the destination share one connection each when they offer a
    ``session()`` (the metadata store; ClickHouse on chdb, whose client costs a fraction of a second to open).
    """
    with _session(metadata), _session(source), _session(destination):
        return _logged_load(table, source, destination, metadata, run_id, full_reload, partition_key, period)


def _session(resource: Any) -> AbstractContextManager[Any]:
    session = getattr(resource, "session", None)
    return session() if callable(session) else nullcontext()


def _logged_load(table: SourceTable, source: SourceConnector, destination: Destination, metadata: MetadataStore,
                 run_id: str | None, full_reload: bool = False, partition_key: str | None = None,
                 period: Period | None = None) -> LoadOutcome:
    started = time.monotonic()
    stored = metadata.watermark(table.source, table.name) or {}
    full_reload = (full_reload or bool(stored.get("full_reload_requested"))) and period is None
    mode = write_mode(table, full_reload, period)
    incremental = mode is not WriteMode.REPLACE and stored.get("cursor_column") == table.sync.cursor
    outcome = LoadOutcome(status="success", sync_mode=table.sync.mode, write_mode=mode.value,
                          target=f"{table.raw_namespace}.{table.name}", landed=table.schema,
                          watermark_from=stored.get("value") if incremental and table.sync.cursor else None,
                          partition_key=partition_key, period=period)
    entry = metadata.start_ingestion(table.source, table.name, mode.value, outcome.watermark_from, run_id,
                                     **({"partition_key": partition_key} if partition_key else {}))
    try:
        _load(table, source, destination, metadata, full_reload, mode, run_id, outcome)
    except BaseException as error:
        metadata.finish_ingestion(entry, "failed", rows_read=outcome.rows_read, rows_written=0,
                                  rows_quarantined=outcome.rows_quarantined, error=_describe(error))
        raise
    outcome.duration_s = time.monotonic() - started
    if outcome.status == "blocked":
        columns = ", ".join(sorted({c["column_name"] for c in outcome.conflicts}))
        metadata.finish_ingestion(entry, "blocked", watermark_to=outcome.watermark_to,
                                  error=f"open sync conflict(s) on column(s) {columns}; not loaded")
    else:
        metadata.finish_ingestion(entry, "success", rows_read=outcome.rows_read, rows_written=outcome.rows_written,
                                  rows_quarantined=outcome.rows_quarantined, watermark_to=outcome.watermark_to)
    return outcome


def _load(table: SourceTable, source: SourceConnector, destination: Destination, metadata: MetadataStore,
          full_reload: bool, mode: WriteMode, run_id: str | None, outcome: LoadOutcome) -> None:
    found = _discovered(source, table)
    live = _configured(found, table)
    plan = _plan(metadata, table, live, full_reload)
    outcome.landed, outcome.added_columns, outcome.widened_columns = plan.landed, plan.added, sorted(plan.widened)
    if plan.conflicts or metadata.open_conflicts(table.source, table.name):
        metadata.record_conflicts(table.source, table.name, plan.conflicts)
        outcome.conflicts = metadata.open_conflicts(table.source, table.name)
        outcome.status, outcome.watermark_to = "blocked", outcome.watermark_from
        outcome.schema_version = _record_schema(metadata, table, live, plan)
        return
    cursor_type = live.column(table.sync.cursor).logical_type if table.sync.cursor else ""
    previous = _decode_watermark(outcome.watermark_from, cursor_type, table)
    if outcome.period is not None:
        highest_cursor = _land_period(table, source, destination, live, plan.landed, run_id, outcome)
    else:
        highest_cursor = _land_since(table, source, destination, found, live, plan, previous, cursor_type, mode,
                                     run_id, outcome)
    outcome.watermark_to = wm.encode(wm.later(previous, highest_cursor))
    outcome.schema_version = _record_schema(metadata, table, live, plan)
    if table.sync.cursor:
        metadata.save_watermark(table.source, table.name, table.sync.cursor, cursor_type, outcome.watermark_to)


def _land_since(table: SourceTable, source: SourceConnector, destination: Destination, found: TableSchema,
                live: TableSchema, plan: SchemaPlan, previous: Any, cursor_type: str, mode: WriteMode,
                run_id: str | None, outcome: LoadOutcome) -> Any:
    """The whole table, or the rows past the watermark: returns the highest cursor value read."""
    _check_cursor_not_backwards(source, live, previous, table)
    since = wm.read_from(previous, wm.parse_lookback(table.sync.lookback, cursor_type), cursor_type)
    outcome.read_from = wm.encode(since)
    if _passes_through(source, destination, found.primary_key, live.primary_key):
        return _land_binary(table, source, destination, live, plan.landed, since, mode, outcome)
    return _land(table, source, destination, live, plan.landed, since, mode, run_id, outcome)


def _land_period(table: SourceTable, source: Any, destination: Any, live: TableSchema, landed: TableSchema,
                 run_id: str | None, outcome: LoadOutcome) -> Any:
    """One time partition: the source reads only its period, the destination replaces only its period."""
    period = outcome.period
    outcome.read_from = f"[{wm.encode(period.start)}, {wm.encode(period.end)})"
    quarantine = _Quarantine(destination, table.raw_namespace, table.source, run_id)
    tracker = _Tracker(table.sync.cursor)
    batches = source.read(live, on_bad_record=quarantine, period=period)
    try:
        result = destination.write(table.raw_namespace, landed, tracker.track(batches), WriteMode.REPLACE_PERIOD,
                                   period=period)
    finally:
        outcome.rows_read, outcome.rows_quarantined = tracker.rows, quarantine.count
    quarantine.flush()
    outcome.rows_written, outcome.rows_null_cursor = result.rows_written, tracker.null_cursors
    outcome.added_columns = sorted(set(outcome.added_columns) | set(result.added_columns))
    return tracker.max_cursor


def _record_schema(metadata: MetadataStore, table: SourceTable, live: TableSchema, plan: SchemaPlan) -> int:
    return metadata.record_schema(table.source, table.name, live.to_dict(), plan.landed.to_dict(), plan.diff())


def _plan(metadata: MetadataStore, table: SourceTable, live: TableSchema, full_reload: bool) -> SchemaPlan:
    latest = metadata.latest_schema(table.source, table.name)
    previous_landed = TableSchema.from_dict(latest["landed_schema"]) if latest and not full_reload else None
    return plan_schema(previous_landed, live)


def _decode_watermark(text: str | None, cursor_type: str, table: SourceTable) -> Any:
    try:
        return wm.decode(text, cursor_type or "string")
    except wm.WatermarkError as error:
        raise LoadError(f"{table.source}.{table.name}: {error}") from None


def _check_cursor_not_backwards(source: SourceConnector, live: TableSchema, previous: Any,
                                table: SourceTable) -> None:
    if previous is None:
        return
    current = source.max_cursor(live, at_least=previous)
    if current is not None and current < previous:
        raise LoadError(
            f"{table.source}.{table.name}: cursor column {table.sync.cursor!r} went backwards: the source's maximum "
            f"is {wm.encode(current)} but rows up to {wm.encode(previous)} were already loaded. Rows written below "
            "the watermark would be missed. Nothing was loaded and nothing already loaded was touched; fix the "
            "source, or request a full reload (MetadataResource.request_full_reload) to reload the table.")


def _land(table: SourceTable, source: SourceConnector, destination: Destination, live: TableSchema,
          landed: TableSchema, since: Any, mode: WriteMode, run_id: str | None, outcome: LoadOutcome) -> Any:
    """Read, write and quarantine; fills the outcome's counts and returns the highest cursor value read."""
    quarantine = _Quarantine(destination, table.raw_namespace, table.source, run_id)
    tracker = _Tracker(table.sync.cursor)
    batches = source.read(live, since=since, on_bad_record=quarantine)
    if landed.primary_key and mode is not WriteMode.REPLACE:
        batches = _without_null_keys(batches, table, landed.primary_key, quarantine)
    try:
        result = destination.write(table.raw_namespace, landed, tracker.track(batches), mode)
    finally:
        outcome.rows_read, outcome.rows_quarantined = tracker.rows, quarantine.count
    quarantine.flush()
    outcome.rows_written = result.rows_written
    outcome.rows_null_cursor = tracker.null_cursors
    outcome.added_columns = sorted(set(outcome.added_columns) | set(result.added_columns))
    return tracker.max_cursor


def _without_null_keys(batches: Iterable[pa.RecordBatch], table: SourceTable, key: list[str],
                       quarantine: _Quarantine) -> Iterator[pa.RecordBatch]:
    """Rows with a NULL in the merge key cannot be matched: they are quarantined with the reason, the rest go on."""
    for batch in batches:
        missing = None
        for column in key:
            nulls = pc.is_null(batch.column(batch.schema.get_field_index(column)))
            missing = nulls if missing is None else pc.or_(missing, nulls)
        if missing is None or not pc.any(missing).as_py():
            yield batch
            continue
        for row in batch.filter(missing).to_pylist():
            empty = [column for column in key if row[column] is None]
            quarantine(QuarantinedRecord(
                source=table.source, table=table.name, location=f"key {_key_text(row, key)}",
                reason=f"merge key column(s) {empty} are NULL, so the row cannot be matched", raw=_raw_text(row)))
        yield batch.filter(pc.invert(missing))


def _key_text(row: dict[str, Any], key: list[str]) -> str:
    digest = hashlib.md5(_raw_text(row).encode()).hexdigest()[:12]
    return ", ".join(f"{column}={row[column]!r}" for column in key) + f"; row {digest}"


def _raw_text(row: dict[str, Any]) -> str:
    return json.dumps(row, default=str, sort_keys=True)


def _passes_through(source: Any, destination: Any, source_key: list[str], key: list[str]) -> bool:
    """PostgreSQL to PostgreSQL streams binary COPY through when the keys need no checking row by row: no key, or
    one that contains the source's own primary key (so the rows of one read repeat no key and have no NULL in it)."""
    if not (callable(getattr(source, "read_binary", None)) and callable(getattr(destination, "write_copy", None))):
        return False
    return not key or (bool(source_key) and set(source_key) <= set(key))


def _land_binary(table: SourceTable, source: Any, destination: Any, live: TableSchema, landed: TableSchema,
                 since: Any, mode: WriteMode, outcome: LoadOutcome) -> Any:
    result, stats = destination.write_copy(
        table.raw_namespace, landed, lambda types: source.read_binary(live, since, types), mode,
        unique_keys=bool(landed.primary_key))
    outcome.rows_read, outcome.rows_written = stats.rows, result.rows_written
    outcome.rows_null_cursor = stats.null_cursors
    outcome.added_columns = sorted(set(outcome.added_columns) | set(result.added_columns))
    return stats.max_cursor


def _describe(error: BaseException) -> str:
    kind = "" if isinstance(error, (LoadError, SourceUnavailableError)) else f"{type(error).__name__}: "
    return f"{kind}{error}"[:4000]
