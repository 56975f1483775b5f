"""The system-health report ``reports/health``: is every source reachable, is every table synced as often as its
schedule says, what waits in Kafka, which checks fail, and how much room the warehouse and Qdrant take.

The summary has one row per source, in the order of the per-source sections (the HTML links each row to its
section); sections on asset checks and storage follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from etl_assets.reports.common import as_datetime, headline, short
from etl_assets.reports.health import (
    HealthInputs,
    SourceProbe,
    StoreSize,
    TableState,
    TableStatus,
    TopicLag,
    failing_checks,
    is_success,
    table_statuses,
)
from etl_assets.reports.model import Chart, Fact, Field, Grid, Issue, Report, Section, worst
from etl_assets.reports.quality import CheckOutcome

HOURLY_BUCKETS_UP_TO_S = 2 * 86_400
"""Rows landed are charted per hour when the logged loads span at most this long, else per day."""


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
        name="health", title="System health", generated_at=generated_at or now.isoformat(timespec="seconds"),
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
              for table in tables for row in (table.loads or []) if is_success(row)]
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
