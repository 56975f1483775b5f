"""The pipeline report: the ingestion log's loads, rows, durations, throughput and failures per table."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from etl_assets.reports.charts import bar_chart
from etl_assets.reports.common import (
    RECENT_LOADS,
    IngestionLog,
    IngestionRow,
    TableId,
    as_datetime,
    headline,
    health_counts,
    health_of,
    newest_first,
    now_iso,
    short,
    sum_of,
    when,
    with_log_note,
)
from etl_assets.reports.model import Chart, Fact, Field, Grid, Issue, Report, Section, worst

FAILED_STATUSES = {"failed", "failure", "error", "errored"}
RUNNING_STATUSES = {"running", "started", "in_progress"}
BLOCKED_STATUSES = {"blocked"}
"""Not loaded on purpose, e.g. because of an open sync conflict (the error column says why)."""


def build_pipeline_report(
    tables: Sequence[TableId],
    ingestion: IngestionLog | None,
    *,
    notes: Sequence[Issue] = (),
    generated_at: str | None = None,
) -> Report:
    """Per table: the logged loads with rows, durations, throughput and failures."""
    sections = [_pipeline_section(s, t, None if ingestion is None else list(ingestion.get((s, t), ())))
                for s, t in tables]
    stats = [_load_stats(None if ingestion is None else ingestion.get(t, ())) for t in tables]
    summary_rows = [
        [sec.source, sec.table, st["loads"], st["failed"], st["rows_written"], st["median_seconds"],
         st["median_rows_per_s"], st["last_started"], sec.health, headline(sec)]
        for sec, st in zip(sections, stats, strict=True)
    ]
    summary = Grid("Tables", [Field("Source"), Field("Table"), Field("Loads", "int"), Field("Failed", "int"),
                              Field("Rows written", "int"), Field("Median duration", "seconds"),
                              Field("Median rows/s", "float"), Field("Last load"), Field("Health", "health"),
                              Field("Top issue")], summary_rows)
    return Report(
        name="pipeline", title="Pipeline performance", generated_at=generated_at or now_iso(),
        health=worst([s.health for s in sections]),
        counts={**health_counts(sections), "loads": sum(st["loads"] or 0 for st in stats),
                "loads_failed": sum(st["failed"] or 0 for st in stats),
                "rows_written": sum(st["rows_written"] or 0 for st in stats),
                "rows_quarantined": sum(st["rows_quarantined"] or 0 for st in stats)},
        summary=summary, sections=sections,
        charts=_pipeline_charts(tables, stats), notes=with_log_note(notes, ingestion),
    )


def _pipeline_section(source: str, table: str, loads: list[IngestionRow] | None) -> Section:
    if loads is None:
        return Section(source, table, "unknown", issues=[Issue("info", "ingestion log not available")])
    stats = _load_stats(loads)
    issues = _load_issues(loads)
    facts = [
        Fact("Loads logged", stats["loads"], "int"), Fact("Succeeded", stats["succeeded"], "int"),
        Fact("Failed", stats["failed"], "int"), Fact("Rows read", stats["rows_read"], "int"),
        Fact("Rows written", stats["rows_written"], "int"), Fact("Rows quarantined", stats["rows_quarantined"], "int"),
        Fact("Median duration", stats["median_seconds"], "seconds"),
        Fact("Median throughput (rows/s)", stats["median_rows_per_s"], "float"),
        Fact("Last load", stats["last_started"]), Fact("Last status", stats["last_status"]),
        Fact("Watermark", stats["watermark"]),
    ]
    return Section(source, table, health_of(issues), facts=facts,
                   grids=[_loads_grid(loads)], issues=issues)


def _load_issues(loads: list[IngestionRow]) -> list[Issue]:
    if not loads:
        return [Issue("warn", "no loads logged yet")]
    ordered = newest_first(loads)
    issues = []
    last = ordered[0]
    if _is_failure(last):
        issues.append(Issue("fail", f"the last load failed: {short(last.get('error') or 'no error text', 300)}"))
    elif _is_running(last):
        issues.append(Issue("info", f"a load is running since {when(last.get('started_at'))}"))
    elif _is_blocked(last):
        issues.append(Issue("warn", f"the last load was blocked: {short(last.get('error') or 'no reason given', 300)}"))
    earlier_failures = sum(_is_failure(r) for r in ordered[1:])
    if earlier_failures:
        issues.append(Issue("warn", f"{earlier_failures} earlier load(s) failed"))
    if last.get("rows_quarantined"):
        issues.append(Issue("warn", f"the last load quarantined {int(last['rows_quarantined']):,} rows"))
    return issues


def _loads_grid(loads: list[IngestionRow]) -> Grid:
    ordered = newest_first(loads)
    fields = [Field("Started"), Field("Mode"), Field("Rows read", "int"), Field("Rows written", "int"),
              Field("Quarantined", "int"), Field("Duration", "seconds"), Field("Rows/s", "float"),
              Field("Watermark to"), Field("Status"), Field("Error")]
    rows = [[when(r.get("started_at")), r.get("mode"), r.get("rows_read"), r.get("rows_written"),
             r.get("rows_quarantined"), _duration(r), _throughput(r), short(r.get("watermark_to")),
             r.get("status"), short(r.get("error"), 160)] for r in ordered[:RECENT_LOADS]]
    note = f"the {RECENT_LOADS} most recent of {len(ordered)} logged loads" if len(ordered) > RECENT_LOADS else ""
    return Grid("Recent loads", fields, rows, note=note or ("" if rows else "no loads logged"))


def _load_stats(loads: Iterable[IngestionRow] | None) -> dict[str, Any]:
    if loads is None:
        keys = ("loads", "succeeded", "failed", "rows_read", "rows_written", "rows_quarantined", "median_seconds",
                "median_rows_per_s", "last_started", "last_status", "watermark")
        return dict.fromkeys(keys)
    ordered = newest_first(loads)
    finished = [r for r in ordered if _is_success(r)]
    durations = [d for d in map(_duration, finished) if d is not None]
    rates = [t for t in map(_throughput, finished) if t is not None]
    return {
        "loads": len(ordered), "succeeded": len(finished), "failed": sum(map(_is_failure, ordered)),
        "rows_read": sum_of(ordered, "rows_read"), "rows_written": sum_of(ordered, "rows_written"),
        "rows_quarantined": sum_of(ordered, "rows_quarantined"),
        "median_seconds": statistics.median(durations) if durations else None,
        "median_rows_per_s": statistics.median(rates) if rates else None,
        "last_started": when(ordered[0].get("started_at")) if ordered else None,
        "last_status": ordered[0].get("status") if ordered else None,
        "watermark": next((short(r.get("watermark_to")) for r in finished if r.get("watermark_to") is not None),
                          None),
    }


def _pipeline_charts(tables: Sequence[TableId], stats: list[dict[str, Any]]) -> list[Chart]:
    labels = [f"{s}.{t}" for s, t in tables]
    return [
        bar_chart("rows_written", "Rows written per table (logged loads)", labels,
                  [st["rows_written"] for st in stats], "int"),
        bar_chart("throughput", "Median throughput per table (rows/s)", labels,
                  [st["median_rows_per_s"] for st in stats], "float"),
    ]


def _is_failure(row: IngestionRow) -> bool:
    return str(row.get("status") or "").lower() in FAILED_STATUSES


def _is_running(row: IngestionRow) -> bool:
    return str(row.get("status") or "").lower() in RUNNING_STATUSES or row.get("finished_at") is None


def _is_blocked(row: IngestionRow) -> bool:
    return str(row.get("status") or "").lower() in BLOCKED_STATUSES


def _is_success(row: IngestionRow) -> bool:
    return not (_is_failure(row) or _is_running(row) or _is_blocked(row))


def _duration(row: IngestionRow) -> float | None:
    started, finished = as_datetime(row.get("started_at")), as_datetime(row.get("finished_at"))
    if started is None or finished is None:
        return None
    return max((finished - started).total_seconds(), 0.0)


def _throughput(row: IngestionRow) -> float | None:
    seconds = _duration(row)
    written = row.get("rows_written")
    if not seconds or written is None or not _is_success(row):
        return None
    return written / seconds
