"""The system-health report: is every source reachable, is every table synced as often as its schedule says, what
waits in Kafka, which checks fail, and how much room the warehouse and Qdrant take.

Pure functions over what :mod:`etl_assets.reports.health_probes` gathered; the same :class:`TableStatus` rows feed
the report and ``aietl status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import islice, takewhile
from typing import Any

from dagster._utils.schedules import reverse_cron_string_iterator

from etl_assets.reports.common import IngestionRow, as_datetime, headline, newest_first, now_iso, short, when
from etl_assets.reports.model import Chart, Fact, Field, Grid, Health, Issue, Report, Section, worst
from etl_assets.reports.quality import CheckOutcome
from etl_assets.reports.render import format_value

SUCCESS = "success"
FAILED = {"failed", "failure", "error", "errored"}
MISSED_RUNS_STALE = 2
"""A table is stale once this many scheduled runs came and went after its last successful sync (one may still be
running)."""
TICKS_COUNTED = 100
HOURLY_BUCKETS_UP_TO_S = 2 * 86_400
"""Rows landed are charted per hour when the logged loads span at most this long, else per day."""


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
                    [c for c in checks if (c.source, c.table) == (table.source, table.table)])
            for table in inputs.tables]


def failing_checks(checks: Sequence[CheckOutcome]) -> list[CheckOutcome]:
    return [check for check in checks if not check.passed]


def _status(table: TableState, now: datetime, lag: int | None, checks: list[CheckOutcome]) -> TableStatus:
    loads = newest_first(table.loads or [])
    success = next((row for row in loads if _is_success(row)), None)
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


def _is_success(row: IngestionRow) -> bool:
    return str(row.get("status") or "").lower() == SUCCESS and row.get("finished_at") is not None


def _is_failure(row: IngestionRow) -> bool:
    return str(row.get("status") or "").lower() in FAILED


# ----------------------------------------------------------------------------------------------------------- report

def build_health_report(inputs: HealthInputs, *, now: datetime | None = None,
                        generated_at: str | None = None) -> Report:
    now = now or datetime.now(UTC)
    statuses = table_statuses(inputs, now)
    sources = [_source_section(probe, [s for s in statuses if s.source == probe.source],
                               [lag for lag in inputs.lags if lag.source == probe.source])
               for probe in inputs.probes]
    extra = [_checks_section(failing_checks(inputs.checks)), _storage_section(inputs.sizes)]
    summary_rows = [[probe.kind, probe.source, "yes" if probe.reachable else "NO", probe.seconds,
                     sum(s.source == probe.source for s in statuses),
                     sum(s.source == probe.source and s.issue.startswith("stale") for s in statuses),
                     sum(s.failures for s in statuses if s.source == probe.source),
                     _lag_total([lag for lag in inputs.lags if lag.source == probe.source]),
                     section.health, headline(section)]
                    for probe, section in zip(inputs.probes, sources, strict=True)]
    summary = Grid("Sources", [Field("Kind"), Field("Source"), Field("Reachable"), Field("Probe", "seconds"),
                               Field("Tables", "int"), Field("Stale", "int"), Field("Failures", "int"),
                               Field("Kafka lag", "int"), Field("Health", "health"), Field("Top issue")],
                   summary_rows, note="" if summary_rows else "no sources configured")
    warehouse = [s for s in inputs.sizes if s.store == "warehouse"]
    qdrant = [s for s in inputs.sizes if s.store == "qdrant"]
    return Report(
        name="health", title="System health", generated_at=generated_at or now_iso(),
        health=worst([s.health for s in [*sources, *extra]]),
        counts={"sources": len(inputs.probes), "sources_unreachable": sum(not p.reachable for p in inputs.probes),
                "tables": len(statuses), "tables_stale": sum(s.issue.startswith("stale") for s in statuses),
                "tables_fail": sum(s.health == "fail" for s in statuses),
                "checks_failing": len(failing_checks(inputs.checks)),
                "kafka_lag": _lag_total(inputs.lags) or 0,
                "warehouse_bytes": sum(s.size_bytes or 0 for s in warehouse),
                "qdrant_points": sum(s.items or 0 for s in qdrant)},
        summary=summary, sections=[*sources, *extra], charts=[rows_landed_chart(inputs.tables)],
        notes=list(inputs.notes),
    )


def _source_section(probe: SourceProbe, statuses: list[TableStatus], lags: list[TopicLag]) -> Section:
    issues = [] if probe.reachable else [Issue("fail", f"unreachable: {probe.detail}")]
    issues += [Issue("warn", f"{lag.topic}: Kafka lag unknown: {lag.error}") for lag in lags if lag.error]
    issues += [Issue("info", f"{lag.topic}: {lag.lag:,} message(s) wait past the landed offsets")
               for lag in lags if lag.lag]
    issues += [Issue(_level(s.health), f"{s.table}: {s.issue}") for s in statuses if s.issue]
    facts = [Fact("Kind", probe.kind), Fact("Reachable", "yes" if probe.reachable else "no"),
             Fact("Probe took", probe.seconds, "seconds"), Fact("Answer" if probe.reachable else "Error", probe.detail)]
    grids = [_tables_grid(statuses)]
    if lags:
        grids.append(_lag_grid(lags))
    return Section(probe.source, "", worst([i.level for i in issues if i.level != "info"]), facts=facts,
                   grids=grids, issues=issues)


def _level(health: str) -> str:
    return health if health in ("warn", "fail") else "info"


def _tables_grid(statuses: list[TableStatus]) -> Grid:
    fields = [Field("Table"), Field("Last sync"), Field("Age", "seconds"), Field("Expected"), Field("Rows", "int"),
              Field("Watermark"), Field("Lag", "int"), Field("Failures", "int"), Field("Health", "health"),
              Field("Issue")]
    rows = [[s.table, s.last_sync, s.age_s, s.expected, s.rows, s.watermark, s.lag, s.failures, s.health, s.issue]
            for s in statuses]
    return Grid("Tables", fields, rows, note="" if rows else "no tables in the catalog")


def _lag_grid(lags: list[TopicLag]) -> Grid:
    fields = [Field("Topic"), Field("Partitions", "int"), Field("End offsets", "int"), Field("Landed", "int"),
              Field("Lag", "int"), Field("Counted"), Field("Error")]
    rows = [[lag.topic, None if lag.error else len(lag.end_offsets),
             None if lag.error else sum(lag.end_offsets.values()),
             None if lag.error else sum(lag.landed_offsets.values()), lag.lag,
             None if lag.error or lag.read is None else ("exact" if lag.drained else "at least"), lag.error or None]
            for lag in lags]
    return Grid("Kafka lag per topic", fields, rows,
                note="lag counted by reading past the landed offsets (bounded), or by the broker's end offsets "
                     "when they say more")


def _checks_section(checks: list[CheckOutcome]) -> Section:
    issues = [Issue("fail" if c.severity == "ERROR" else "warn", f"{c.asset}: {c.name}") for c in checks]
    grid = Grid("Failing checks (latest result of each)", [Field("Asset"), Field("Check"), Field("Severity"),
                                                             Field("Description")],
                [[c.asset, c.name, c.severity, short(c.description, 300)] for c in checks],
                note="" if checks else "every check passed at its latest run")
    return Section("Asset checks", "", worst([i.level for i in issues]), grids=[grid], issues=issues)


def _storage_section(sizes: list[StoreSize]) -> Section:
    warehouse = [s for s in sizes if s.store == "warehouse"]
    qdrant = [s for s in sizes if s.store == "qdrant"]
    grids = [
        Grid("Warehouse schemas", [Field("Schema"), Field("Tables", "int"), Field("Size", "bytes")],
             [[s.name, s.items, s.size_bytes] for s in sorted(warehouse, key=lambda s: -(s.size_bytes or 0))],
             note="" if warehouse else "not measured"),
        Grid("Qdrant collections", [Field("Collection"), Field("Points", "int"), Field("Size on disk", "bytes")],
             [[s.name, s.items, s.size_bytes] for s in sorted(qdrant, key=lambda s: s.name)],
             note="" if qdrant else "no collections (or Qdrant not configured)"),
    ]
    facts = [Fact("Warehouse", sum(s.size_bytes or 0 for s in warehouse), "bytes"),
             Fact("Qdrant points", sum(s.items or 0 for s in qdrant), "int")]
    return Section("Storage", "", "ok", facts=facts, grids=grids)


def _lag_total(lags: Sequence[TopicLag]) -> int | None:
    known = [lag.lag for lag in lags if lag.lag is not None]
    return sum(known) if known else None


def rows_landed_chart(tables: Sequence[TableState]) -> Chart:
    """Rows written by successful loads per hour (loads spanning up to two days) or per day, oldest first."""
    landed = [(as_datetime(row.get("finished_at")), int(row.get("rows_written") or 0))
              for table in tables for row in (table.loads or []) if _is_success(row)]
    landed = [(moment, rows) for moment, rows in landed if moment is not None]
    title = "Rows landed over time (successful loads)"
    if not landed:
        return Chart("rows_landed", title, [], [], "int", note="no successful loads logged")
    span = (max(m for m, _ in landed) - min(m for m, _ in landed)).total_seconds()
    pattern = "%Y-%m-%d %H:00" if span <= HOURLY_BUCKETS_UP_TO_S else "%Y-%m-%d"
    buckets: dict[str, int] = {}
    for moment, rows in sorted(landed):
        label = moment.astimezone(UTC).strftime(pattern)
        buckets[label] = buckets.get(label, 0) + rows
    unit = "hour" if span <= HOURLY_BUCKETS_UP_TO_S else "day"
    return Chart("rows_landed", f"{title}, per {unit} (UTC)", list(buckets), [float(v) for v in buckets.values()],
                 "int")


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
