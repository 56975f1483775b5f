"""System health: what :mod:`etl_assets.reports.health_probes` gathers, and the judgement of each table's syncs
(last success, age against its schedule, failures) that both ``reports/health`` (:mod:`.health_report`) and
``aietl status`` (:func:`status_text`) show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import islice, takewhile
from typing import Any

from dagster._utils.schedules import reverse_cron_string_iterator

from etl_assets.keys import key_component
from etl_assets.reports.common import IngestionRow, as_datetime, newest_first, short, when
from etl_assets.reports.model import Health, Issue, worst
from etl_assets.reports.quality import CheckOutcome
from etl_assets.reports.render import format_value

SUCCESS = "success"
FAILED = {"failed", "failure", "error", "errored"}
MISSED_RUNS_STALE = 2
"""A table is stale once this many scheduled runs came and went after its last successful sync (one may still be
running)."""
TICKS_COUNTED = 100


@dataclass(frozen=True)
class SourceProbe:
    source: str
    kind: str
    reachable: bool
    detail: str = ""
    """What answered (reachable) or why not; never holds a secret."""
    seconds: float | None = None


@dataclass(frozen=True)
class TableState:
    """One landed table (or Kafka topic) with what is known of its syncs."""

    source: str
    table: str
    kind: str
    schedule: str | None = None
    freshness_hours: float | None = None
    loads: Sequence[IngestionRow] | None = None
    """Its ingestion log, any order; None when the log could not be read."""
    rows: int | None = None
    """Rows at its last profile."""


@dataclass(frozen=True)
class TopicLag:
    source: str
    topic: str
    end_offsets: dict[int, int] = field(default_factory=dict)
    landed_offsets: dict[int, int] = field(default_factory=dict)
    read: int | None = None
    """Messages found past the landed offsets by reading them (bounded in count and time)."""
    drained: bool = False
    """The read reached the end of every partition, so ``read`` is the exact lag."""
    error: str = ""

    @property
    def lag(self) -> int | None:
        """Messages waiting past the landed offsets: counted by reading, or by the broker's end offsets when those
        say more (some brokers, e.g. Tansu, under-report end offsets, so they alone are not trusted)."""
        if self.error:
            return None
        by_ends = sum(max(end - self.landed_offsets.get(p, 0), 0) for p, end in self.end_offsets.items())
        return by_ends if self.read is None else max(by_ends, self.read)


@dataclass(frozen=True)
class StoreSize:
    store: str
    """``warehouse`` (a schema or ClickHouse database) or ``qdrant`` (a collection)."""
    name: str
    size_bytes: int | None
    items: int | None
    """Tables of a schema, points of a collection."""


@dataclass
class HealthInputs:
    probes: list[SourceProbe]
    tables: list[TableState]
    lags: list[TopicLag] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    """The latest outcome of every asset check (passed ones included)."""
    sizes: list[StoreSize] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)


@dataclass(frozen=True)
class TableStatus:
    """One line of ``aietl status`` and of the report's per-source tables."""

    source: str
    table: str
    last_sync: str | None
    age_s: float | None
    expected: str
    rows: int | None
    watermark: str | None
    lag: int | None
    failures: int
    health: Health
    issue: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------------------- statuses

def table_statuses(inputs: HealthInputs, now: datetime | None = None) -> list[TableStatus]:
    now = now or datetime.now(UTC)
    lags = {(lag.source, lag.topic): lag.lag for lag in inputs.lags}
    checks = failing_checks(inputs.checks)
    return [_status(table, now, lags.get((table.source, table.table)),
                    [c for c in checks if (c.source, c.table) == (key_component(table.source),
                                                                  key_component(table.table))])
            for table in inputs.tables]


def failing_checks(checks: Sequence[CheckOutcome]) -> list[CheckOutcome]:
    return [check for check in checks if not check.passed]


def _status(table: TableState, now: datetime, lag: int | None, checks: list[CheckOutcome]) -> TableStatus:
    loads = newest_first(table.loads or [])
    success = next((row for row in loads if is_success(row)), None)
    synced = as_datetime((success or {}).get("finished_at") or (success or {}).get("started_at"))
    failed_since = [row for row in loads if _is_failure(row) and (synced is None or _started(row) > synced)]
    issues = _sync_issues(table, loads, synced, now) + [
        Issue("fail" if c.severity == "ERROR" else "warn", f"check {c.name} on {c.asset} fails: "
                                                           f"{short(c.description, 160) or 'no description'}")
        for c in checks]
    if failed_since:
        issues.append(Issue("fail" if loads[0] in failed_since else "warn",
                            f"{len(failed_since)} failed load(s) since the last success: "
                            f"{short(failed_since[0].get('error') or 'no error text', 200)}"))
    ranked = sorted(issues, key=lambda i: {"fail": 0, "warn": 1, "info": 2}[i.level])
    return TableStatus(
        source=table.source, table=table.table, last_sync=when(synced) if synced else None,
        age_s=(now - synced).total_seconds() if synced else None, expected=_expected(table),
        rows=table.rows, watermark=short((success or {}).get("watermark_to")), lag=lag,
        failures=len(failed_since) + len(checks),
        health="unknown" if table.loads is None else worst([i.level for i in issues if i.level != "info"]),
        issue=ranked[0].text if ranked else "",
    )


def _sync_issues(table: TableState, loads: list[IngestionRow], synced: datetime | None,
                 now: datetime) -> list[Issue]:
    if table.loads is None:
        return [Issue("info", "the ingestion log is not available")]
    if synced is None:
        return [Issue("warn", "never synced successfully" if loads else "never synced")]
    if table.schedule:
        missed = missed_runs(table.schedule, synced, now)
        if missed >= MISSED_RUNS_STALE:
            return [Issue("warn", f"stale: last synced {format_value((now - synced).total_seconds(), 'seconds')} "
                                  f"ago, {missed} scheduled runs ({table.schedule}) since")]
    elif table.freshness_hours is not None and (now - synced).total_seconds() > table.freshness_hours * 3600:
        return [Issue("warn", f"stale: last synced {format_value((now - synced).total_seconds(), 'seconds')} ago, "
                              f"more than the {table.freshness_hours:g} h its freshness check allows")]
    return []


def missed_runs(cron: str, since: datetime, now: datetime) -> int:
    """Ticks of ``cron`` (UTC) after ``since`` up to ``now`` (counted up to TICKS_COUNTED)."""
    ticks = reverse_cron_string_iterator(now.timestamp(), cron, "UTC")
    return sum(1 for _ in islice(takewhile(lambda tick: tick > since, ticks), TICKS_COUNTED)) if since < now else 0


def _expected(table: TableState) -> str:
    if table.schedule:
        return f"cron {table.schedule}"
    if table.freshness_hours is not None:
        return f"within {table.freshness_hours:g} h"
    return "on demand / sensors"


def _started(row: IngestionRow) -> datetime:
    return as_datetime(row.get("started_at")) or datetime.min.replace(tzinfo=UTC)


def is_success(row: IngestionRow) -> bool:
    return str(row.get("status") or "").lower() == SUCCESS and row.get("finished_at") is not None


def _is_failure(row: IngestionRow) -> bool:
    return str(row.get("status") or "").lower() in FAILED


# ------------------------------------------------------------------------------------------------------ terminal

STATUS_COLUMNS = ("source", "table", "last sync", "age", "rows", "watermark", "lag", "failures", "health")


def status_text(inputs: HealthInputs, statuses: Sequence[TableStatus]) -> str:
    """The plain tables ``aietl status`` prints: sources with their probe, then one line per table."""
    sources = [[p.source, p.kind, "yes" if p.reachable else "NO", short(p.detail, 100) or ""]
               for p in inputs.probes]
    tables = [[s.source, s.table, s.last_sync or ("–" if s.health == "unknown" else "never"),
               format_value(s.age_s, "seconds"),
               format_value(s.rows, "int"), short(s.watermark, 32) or "–", format_value(s.lag, "int"),
               str(s.failures), s.health.upper() + (f"  {short(s.issue, 80)}" if s.issue else "")]
              for s in statuses]
    parts = [_plain_table(("source", "kind", "reachable", "detail"), sources),
             _plain_table(STATUS_COLUMNS, tables) if tables else "no tables in the catalog"]
    failing = failing_checks(inputs.checks)
    if failing:
        parts.append(_plain_table(("asset", "check", "severity"), [[c.asset, c.name, c.severity] for c in failing]))
    parts += [f"{note.level}: {note.text}" for note in inputs.notes]
    return "\n\n".join(parts)


def _plain_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    lines = [[h.upper() for h in header], *rows]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                     for line in lines)
