"""Pure functions that turn profiles, recommendations, check outcomes and the ingestion log into reports.

Three reports, each a :class:`~etl_assets.reports.model.Report`:

- analysis: what each table holds (profile highlights, semantic types) and how it should be stored (the
  recommendation with its reasons, the DDL target);
- quality: NULL shares against the configured limits, key uniqueness, asset check outcomes, quarantined rows;
- pipeline: the ingestion log: loads, rows, durations, throughput, failures.

Every table gets a health: ``fail`` (something is broken or a blocking rule is violated), ``warn`` (worth a look),
``ok``, or ``unknown`` (nothing to judge by, e.g. no ingestion log).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from etl_assets.catalog import raw_namespace
from etl_assets.profile.model import ColumnProfile, TableProfile
from etl_assets.recommend.model import Recommendation
from etl_assets.reports.model import Chart, Fact, Field, Grid, Health, Issue, Report, Section, worst

TableId = tuple[str, str]
IngestionRow = Mapping[str, Any]
IngestionLog = Mapping[TableId, Sequence[IngestionRow]]
"""(source, table) -> rows of ``MetadataResource.ingestion_history`` (started_at, finished_at, mode, rows_read,
rows_written, rows_quarantined, watermark_from, watermark_to, status, error)."""

CHART_BARS = 25
RECENT_LOADS = 15
FAILED_STATUSES = {"failed", "failure", "error", "errored"}
RUNNING_STATUSES = {"running", "started", "in_progress"}
BLOCKED_STATUSES = {"blocked"}
"""Not loaded on purpose, e.g. because of an open sync conflict (the error column says why)."""


@dataclass(frozen=True)
class TableRules:
    """The quality rules configured for a table in datasources.yaml."""

    primary_key: tuple[str, ...] = ()
    max_null_share: Mapping[str, float] = field(default_factory=dict)
    blocking: bool = True


@dataclass(frozen=True)
class CheckOutcome:
    """The latest result of one Dagster asset check on one of the table's assets."""

    source: str
    table: str
    asset: str
    name: str
    passed: bool
    severity: str = "ERROR"
    description: str = ""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------------------- analysis

def build_analysis_report(
    profiles: Sequence[TableProfile],
    recommendations: Sequence[Recommendation] = (),
    *,
    notes: Sequence[Issue] = (),
    generated_at: str | None = None,
) -> Report:
    """Per table: profile highlights, semantic types, the storage recommendation with its reasons."""
    by_table = {(r.source, r.table): r for r in recommendations}
    sections = [_analysis_section(p, by_table.get((p.source, p.table))) for p in profiles]
    summary_rows = [
        [s.source, s.table, p.row_count, len(p.columns), _target_of(by_table.get((p.source, p.table))),
         _refresh_of(by_table.get((p.source, p.table))), s.health, _headline(s)]
        for s, p in zip(sections, profiles, strict=True)
    ]
    summary = Grid("Tables", [Field("Source"), Field("Table"), Field("Rows", "int"), Field("Columns", "int"),
                              Field("Target"), Field("Refresh"), Field("Health", "health"), Field("Top issue")],
                   summary_rows)
    return Report(
        name="analysis", title="Data analysis", generated_at=generated_at or now_iso(),
        health=worst([s.health for s in sections]),
        counts={**_health_counts(sections), "rows": sum(p.row_count for p in profiles),
                "columns": sum(len(p.columns) for p in profiles), "recommendations": len(by_table)},
        summary=summary, sections=sections,
        charts=[_rows_chart(profiles), _null_share_chart(profiles), _semantic_chart(profiles)],
        notes=[*notes, *_missing_recommendation_notes(profiles, by_table)],
    )


def _analysis_section(profile: TableProfile, recommendation: Recommendation | None) -> Section:
    issues = _profile_issues(profile)
    if recommendation is None:
        issues.append(Issue("warn", "no storage recommendation yet: materialize "
                                    f"recommendation/{profile.source}/{profile.table}"))
    section = Section(profile.source, profile.table, _health_of(issues), facts=_profile_facts(profile),
                      grids=[_columns_grid(profile)], issues=issues)
    if recommendation is not None:
        section.facts.extend(_recommendation_facts(recommendation))
        section.paragraphs.extend(p for p in (recommendation.summary, _narrative(recommendation)) if p)
        section.grids.insert(0, Grid("Why this layout", [Field("Decision"), Field("Based on")],
                                     [[r.claim, r.fact] for r in recommendation.reasons]))
    section.paragraphs.extend(_method_notes(profile))
    return section


def _profile_facts(profile: TableProfile) -> list[Fact]:
    growth = profile.growth
    facts = [
        Fact("Rows", profile.row_count, "int"),
        Fact("Size", profile.size_bytes, "bytes"),
        Fact("Columns", len(profile.columns), "int"),
        Fact("Candidate keys", [" + ".join(key) for key in profile.candidate_keys], "list"),
        Fact("Time columns", profile.time_columns, "list"),
        Fact("Duplicate rows", profile.duplicate_rows, "int"),
        Fact("Profiled at", profile.profiled_at or None),
    ]
    if profile.sampled:
        facts.append(Fact("Sampled rows", profile.sample_rows, "int"))
    if growth.loads:
        facts.extend([Fact("Loads", growth.loads, "int"), Fact("Rows per day", growth.rows_per_day, "float"),
                      Fact("Last loaded at", growth.last_loaded_at)])
    return facts


def _recommendation_facts(recommendation: Recommendation) -> list[Fact]:
    return [
        Fact("Target store", recommendation.target_store),
        Fact("Engine", recommendation.engine),
        Fact("Partition by", recommendation.partition_by),
        Fact("Order by", recommendation.order_by, "list"),
        Fact("Primary key", recommendation.primary_key, "list"),
        Fact("Indexes", [f"{i.method}({', '.join(i.columns)})" for i in recommendation.indexes], "list"),
        Fact("Low cardinality", recommendation.low_cardinality, "list"),
        Fact("Refresh", recommendation.refresh_cadence),
        Fact("DDL asset", f"ddl/{recommendation.source}/{recommendation.table}"),
    ]


def _narrative(recommendation: Recommendation) -> str:
    return f"Narrative (LLM, advisory only): {recommendation.narrative}" if recommendation.narrative else ""


def _columns_grid(profile: TableProfile) -> Grid:
    fields = [Field("Column"), Field("Type"), Field("Semantic type"), Field("NULLs", "pct"),
              Field("Distinct", "int"), Field("Min"), Field("Max"), Field("Top values")]
    rows = [[c.name, c.logical_type, c.semantic_type, c.null_share, c.distinct_count, _short(c.min),
             _short(c.max), _top_values(c)] for c in profile.columns]
    return Grid("Columns", fields, rows)


def _top_values(column: ColumnProfile, limit: int = 3) -> str:
    return ", ".join(f"{_short(value, 24)} ({count:,})" for value, count in column.top_values[:limit])


def _profile_issues(profile: TableProfile) -> list[Issue]:
    issues = []
    if profile.row_count == 0:
        issues.append(Issue("warn", "the table is empty"))
    null_only = [c.name for c in profile.columns if profile.row_count and c.null_count >= profile.row_count]
    if null_only:
        issues.append(Issue("warn", f"columns with only NULLs: {', '.join(null_only)}"))
    if profile.duplicate_rows:
        issues.append(Issue("warn", f"{profile.duplicate_rows:,} duplicate rows"))
    if profile.row_count and not profile.candidate_keys:
        issues.append(Issue("info", "no candidate key found: rows cannot be told apart by any column set"))
    return issues


def _missing_recommendation_notes(profiles: Sequence[TableProfile], by_table: Mapping[TableId, Any]) -> list[Issue]:
    profiled = {(p.source, p.table) for p in profiles}
    orphans = sorted(f"{s}.{t}" for s, t in by_table if (s, t) not in profiled)
    return [Issue("info", f"recommendations without a profile (not shown): {', '.join(orphans)}")] if orphans else []


def _target_of(recommendation: Recommendation | None) -> str | None:
    if recommendation is None:
        return None
    engine = f" ({recommendation.engine})" if recommendation.engine else ""
    return f"{recommendation.target_store}{engine}"


def _refresh_of(recommendation: Recommendation | None) -> str | None:
    return recommendation.refresh_cadence if recommendation else None


# ---------------------------------------------------------------------------------------------------------- quality

def build_quality_report(
    profiles: Sequence[TableProfile],
    *,
    rules: Mapping[TableId, TableRules] | None = None,
    checks: Sequence[CheckOutcome] = (),
    ingestion: IngestionLog | None = None,
    notes: Sequence[Issue] = (),
    generated_at: str | None = None,
) -> Report:
    """Per table: NULL shares against limits, key uniqueness, check outcomes and quarantined rows.

    ``ingestion`` is None when the ingestion log could not be read; quarantine counts are then reported as unknown.
    """
    rules = rules or {}
    sections = [
        _quality_section(p, rules.get((p.source, p.table), TableRules()),
                         [c for c in checks if (c.source, c.table) == (p.source, p.table)],
                         None if ingestion is None else list(ingestion.get((p.source, p.table), ())))
        for p in profiles
    ]
    summary_rows = [
        [s.source, s.table, p.row_count, _null_cells_share(p), _failed_checks(checks, p),
         _quarantined_total(ingestion, p), s.health, _headline(s)]
        for s, p in zip(sections, profiles, strict=True)
    ]
    summary = Grid("Tables", [Field("Source"), Field("Table"), Field("Rows", "int"), Field("NULL cells", "pct"),
                              Field("Failed checks", "int"), Field("Quarantined", "int"), Field("Health", "health"),
                              Field("Top issue")], summary_rows)
    all_notes = list(notes)
    if ingestion is None and not notes:
        all_notes.append(Issue("warn", "the ingestion log was not available: quarantined rows are unknown"))
    return Report(
        name="quality", title="Data quality", generated_at=generated_at or now_iso(),
        health=worst([s.health for s in sections]),
        counts={**_health_counts(sections), "rows": sum(p.row_count for p in profiles), "checks": len(checks),
                "checks_failed": sum(not c.passed for c in checks),
                "rows_quarantined": sum(r[5] or 0 for r in summary_rows)},
        summary=summary, sections=sections, charts=[_rows_chart(profiles), _null_share_chart(profiles)],
        notes=all_notes,
    )


def _quality_section(profile: TableProfile, rules: TableRules, checks: list[CheckOutcome],
                     loads: list[IngestionRow] | None) -> Section:
    issues = [i for i in _profile_issues(profile) if i.level != "info"]
    issues += _null_limit_issues(profile, rules)
    issues += _key_issues(profile, rules)
    issues += [_check_issue(c) for c in checks if not c.passed]
    issues += _quarantine_issues(profile, loads)
    section = Section(profile.source, profile.table, _health_of(issues), issues=issues)
    section.facts = [
        Fact("Rows", profile.row_count, "int"),
        Fact("Duplicate rows", profile.duplicate_rows, "int"),
        Fact("NULL cells", _null_cells_share(profile), "pct"),
        Fact("Declared key", list(rules.primary_key), "list"),
        Fact("Candidate keys", [" + ".join(key) for key in profile.candidate_keys], "list"),
        Fact("Checks passed", f"{sum(c.passed for c in checks)} of {len(checks)}"),
        Fact("Rows quarantined (logged loads)", None if loads is None else _sum(loads, "rows_quarantined"), "int"),
        Fact("Quarantine table", f"{raw_namespace(profile.source)}._quarantine"),
    ]
    section.paragraphs.extend(_method_notes(profile))
    section.grids = [_null_grid(profile, rules), _checks_grid(checks)]
    if loads:
        section.grids.append(_quarantine_grid(loads))
    return section


def _method_notes(profile: TableProfile) -> list[str]:
    """How the profile's facts were obtained, as the profiler wrote it down."""
    notes = list(getattr(profile, "notes", None) or [])
    if not notes and profile.sampled:
        notes.append(f"some facts come from a sample of {profile.sample_rows or 0:,} rows")
    return [f"Profile method: {'; '.join(notes)}."] if notes else []


def _null_limit_issues(profile: TableProfile, rules: TableRules) -> list[Issue]:
    columns = {c.name: c for c in profile.columns}
    issues = []
    for name, limit in sorted(rules.max_null_share.items()):
        column = columns.get(name)
        if column is None:
            issues.append(Issue("warn", f"a NULL limit is set for column {name!r}, which the profile does not have"))
        elif column.null_share > limit:
            issues.append(Issue("fail" if rules.blocking else "warn",
                                f"{name}: {column.null_share:.1%} NULLs, above the limit of {limit:.1%}"))
    return issues


def _key_issues(profile: TableProfile, rules: TableRules) -> list[Issue]:
    if not rules.primary_key:
        return []
    unique = _key_is_unique(profile, rules.primary_key)
    if unique is False:
        return [Issue("fail", f"declared key ({', '.join(rules.primary_key)}) is not unique")]
    if unique is None:
        return [Issue("warn", f"declared key ({', '.join(rules.primary_key)}) names columns the profile lacks")]
    return []


def _key_is_unique(profile: TableProfile, key: Sequence[str]) -> bool | None:
    """True when some candidate key (or a single NOT NULL all-distinct column) lies within ``key``."""
    columns = {c.name: c for c in profile.columns}
    if any(name not in columns for name in key):
        return None
    if profile.row_count == 0:
        return True
    if any(set(candidate) <= set(key) for candidate in profile.candidate_keys):
        return True
    return any(columns[n].null_count == 0 and columns[n].distinct_count >= profile.row_count for n in key)


def _check_issue(check: CheckOutcome) -> Issue:
    level = "warn" if check.severity.upper() == "WARN" else "fail"
    detail = f": {check.description}" if check.description else ""
    return Issue(level, f"check {check.name} on {check.asset} failed{detail}")


def _quarantine_issues(profile: TableProfile, loads: list[IngestionRow] | None) -> list[Issue]:
    if not loads:
        return []
    last = _newest_first(loads)[0]
    quarantined = int(last.get("rows_quarantined") or 0)
    if not quarantined:
        return []
    return [Issue("warn", f"the last load quarantined {quarantined:,} rows: see "
                          f"{raw_namespace(profile.source)}._quarantine")]


def _null_grid(profile: TableProfile, rules: TableRules) -> Grid:
    fields = [Field("Column"), Field("Type"), Field("NULLs", "int"), Field("NULL share", "pct"),
              Field("Limit", "pct"), Field("Distinct share", "pct"), Field("Status", "health")]
    rows = []
    for column in profile.columns:
        limit = rules.max_null_share.get(column.name)
        status = "ok"
        if limit is not None and column.null_share > limit:
            status = "fail" if rules.blocking else "warn"
        elif profile.row_count and column.null_count >= profile.row_count:
            status = "warn"
        rows.append([column.name, column.logical_type, column.null_count, column.null_share, limit,
                     column.distinct_share, status])
    return Grid("NULLs and distinct values", fields, rows)


def _checks_grid(checks: list[CheckOutcome]) -> Grid:
    fields = [Field("Asset"), Field("Check"), Field("Result", "health"), Field("Severity"), Field("Description")]
    rows = [[c.asset, c.name, "ok" if c.passed else _check_issue(c).level, c.severity, c.description]
            for c in sorted(checks, key=lambda c: (c.passed, c.asset, c.name))]
    return Grid("Asset checks (latest run)", fields, rows, note="" if checks else "no check results recorded")


def _quarantine_grid(loads: list[IngestionRow]) -> Grid:
    with_rejects = [r for r in _newest_first(loads) if r.get("rows_quarantined")]
    fields = [Field("Started"), Field("Rows read", "int"), Field("Rows quarantined", "int"), Field("Status")]
    rows = [[_when(r.get("started_at")), r.get("rows_read"), r.get("rows_quarantined"), r.get("status")]
            for r in with_rejects[:RECENT_LOADS]]
    return Grid("Loads with quarantined rows", fields, rows, note="" if rows else "no rows were quarantined")


def _null_cells_share(profile: TableProfile) -> float | None:
    cells = profile.row_count * len(profile.columns)
    return sum(c.null_count for c in profile.columns) / cells if cells else None


def _failed_checks(checks: Sequence[CheckOutcome], profile: TableProfile) -> int:
    return sum(not c.passed for c in checks if (c.source, c.table) == (profile.source, profile.table))


def _quarantined_total(ingestion: IngestionLog | None, profile: TableProfile) -> int | None:
    if ingestion is None:
        return None
    return _sum(ingestion.get((profile.source, profile.table), ()), "rows_quarantined")


# --------------------------------------------------------------------------------------------------------- pipeline

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
         st["median_rows_per_s"], st["last_started"], sec.health, _headline(sec)]
        for sec, st in zip(sections, stats, strict=True)
    ]
    summary = Grid("Tables", [Field("Source"), Field("Table"), Field("Loads", "int"), Field("Failed", "int"),
                              Field("Rows written", "int"), Field("Median duration", "seconds"),
                              Field("Median rows/s", "float"), Field("Last load"), Field("Health", "health"),
                              Field("Top issue")], summary_rows)
    all_notes = list(notes)
    if ingestion is None and not notes:
        all_notes.append(Issue("warn", "the ingestion log was not available"))
    return Report(
        name="pipeline", title="Pipeline performance", generated_at=generated_at or now_iso(),
        health=worst([s.health for s in sections]),
        counts={**_health_counts(sections), "loads": sum(st["loads"] or 0 for st in stats),
                "loads_failed": sum(st["failed"] or 0 for st in stats),
                "rows_written": sum(st["rows_written"] or 0 for st in stats),
                "rows_quarantined": sum(st["rows_quarantined"] or 0 for st in stats)},
        summary=summary, sections=sections,
        charts=_pipeline_charts(tables, stats), notes=all_notes,
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
    return Section(source, table, _health_of(issues), facts=facts,
                   grids=[_loads_grid(loads)], issues=issues)


def _load_issues(loads: list[IngestionRow]) -> list[Issue]:
    if not loads:
        return [Issue("warn", "no loads logged yet")]
    ordered = _newest_first(loads)
    issues = []
    last = ordered[0]
    if _is_failure(last):
        issues.append(Issue("fail", f"the last load failed: {_short(last.get('error') or 'no error text', 300)}"))
    elif _is_running(last):
        issues.append(Issue("info", f"a load is running since {_when(last.get('started_at'))}"))
    elif _is_blocked(last):
        issues.append(Issue("warn", f"the last load was blocked: {_short(last.get('error') or 'no reason given', 300)}"))
    earlier_failures = sum(_is_failure(r) for r in ordered[1:])
    if earlier_failures:
        issues.append(Issue("warn", f"{earlier_failures} earlier load(s) failed"))
    if last.get("rows_quarantined"):
        issues.append(Issue("warn", f"the last load quarantined {int(last['rows_quarantined']):,} rows"))
    return issues


def _loads_grid(loads: list[IngestionRow]) -> Grid:
    ordered = _newest_first(loads)
    fields = [Field("Started"), Field("Mode"), Field("Rows read", "int"), Field("Rows written", "int"),
              Field("Quarantined", "int"), Field("Duration", "seconds"), Field("Rows/s", "float"),
              Field("Watermark to"), Field("Status"), Field("Error")]
    rows = [[_when(r.get("started_at")), r.get("mode"), r.get("rows_read"), r.get("rows_written"),
             r.get("rows_quarantined"), _duration(r), _throughput(r), _short(r.get("watermark_to")),
             r.get("status"), _short(r.get("error"), 160)] for r in ordered[:RECENT_LOADS]]
    note = f"the {RECENT_LOADS} most recent of {len(ordered)} logged loads" if len(ordered) > RECENT_LOADS else ""
    return Grid("Recent loads", fields, rows, note=note or ("" if rows else "no loads logged"))


def _load_stats(loads: Iterable[IngestionRow] | None) -> dict[str, Any]:
    if loads is None:
        keys = ("loads", "succeeded", "failed", "rows_read", "rows_written", "rows_quarantined", "median_seconds",
                "median_rows_per_s", "last_started", "last_status", "watermark")
        return dict.fromkeys(keys)
    ordered = _newest_first(loads)
    finished = [r for r in ordered if _is_success(r)]
    durations = [d for d in map(_duration, finished) if d is not None]
    rates = [t for t in map(_throughput, finished) if t is not None]
    return {
        "loads": len(ordered), "succeeded": len(finished), "failed": sum(map(_is_failure, ordered)),
        "rows_read": _sum(ordered, "rows_read"), "rows_written": _sum(ordered, "rows_written"),
        "rows_quarantined": _sum(ordered, "rows_quarantined"),
        "median_seconds": statistics.median(durations) if durations else None,
        "median_rows_per_s": statistics.median(rates) if rates else None,
        "last_started": _when(ordered[0].get("started_at")) if ordered else None,
        "last_status": ordered[0].get("status") if ordered else None,
        "watermark": next((_short(r.get("watermark_to")) for r in finished if r.get("watermark_to") is not None),
                          None),
    }


def _pipeline_charts(tables: Sequence[TableId], stats: list[dict[str, Any]]) -> list[Chart]:
    labels = [f"{s}.{t}" for s, t in tables]
    return [
        _bar_chart("rows_written", "Rows written per table (logged loads)", labels,
                   [st["rows_written"] for st in stats], "int"),
        _bar_chart("throughput", "Median throughput per table (rows/s)", labels,
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
    started, finished = _as_datetime(row.get("started_at")), _as_datetime(row.get("finished_at"))
    if started is None or finished is None:
        return None
    return max((finished - started).total_seconds(), 0.0)


def _throughput(row: IngestionRow) -> float | None:
    seconds = _duration(row)
    written = row.get("rows_written")
    if not seconds or written is None or not _is_success(row):
        return None
    return written / seconds


def _newest_first(loads: Iterable[IngestionRow]) -> list[IngestionRow]:
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(loads, key=lambda r: _as_datetime(r.get("started_at")) or epoch, reverse=True)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when(value: Any) -> str | None:
    moment = _as_datetime(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else _short(value)


def _sum(rows: Iterable[IngestionRow], key: str) -> int:
    return sum(int(r.get(key) or 0) for r in rows)


# ----------------------------------------------------------------------------------------------------------- shared

def _rows_chart(profiles: Sequence[TableProfile]) -> Chart:
    return _bar_chart("rows", "Rows per table", [f"{p.source}.{p.table}" for p in profiles],
                      [p.row_count for p in profiles], "int")


def _null_share_chart(profiles: Sequence[TableProfile]) -> Chart:
    shares = [(f"{p.table}.{c.name}", c.null_share) for p in profiles for c in p.columns if c.null_share > 0]
    shares.sort(key=lambda item: item[1], reverse=True)
    chart = _bar_chart("null_shares", "Columns with the most NULLs", [label for label, _ in shares],
                       [share for _, share in shares], "pct")
    if not shares and profiles:
        chart.note = "no column has NULLs"
    return chart


def _semantic_chart(profiles: Sequence[TableProfile]) -> Chart:
    counts: dict[str, int] = {}
    for column in (c for p in profiles for c in p.columns):
        counts[column.semantic_type] = counts.get(column.semantic_type, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return _bar_chart("semantic_types", "Columns by semantic type", [k for k, _ in ordered],
                      [v for _, v in ordered], "int")


def _bar_chart(name: str, title: str, labels: list[str], values: list[float | None], value_format: str) -> Chart:
    """Bars with a value, largest first, at most CHART_BARS of them (the note says how many were left out)."""
    pairs = [(label, float(value)) for label, value in zip(labels, values, strict=True) if value is not None]
    pairs.sort(key=lambda item: item[1], reverse=True)
    note = f"the {CHART_BARS} largest of {len(pairs)}" if len(pairs) > CHART_BARS else ""
    pairs = pairs[:CHART_BARS]
    return Chart(name, title, [label for label, _ in pairs], [value for _, value in pairs], value_format, note)


def _health_of(issues: Sequence[Issue]) -> Health:
    return worst([i.level for i in issues if i.level != "info"])


def _health_counts(sections: Sequence[Section]) -> dict[str, int]:
    return {"tables": len(sections), **{f"tables_{h}": sum(s.health == h for s in sections)
                                        for h in ("ok", "warn", "fail", "unknown")}}


def _headline(section: Section) -> str:
    """The most severe issue of a section, for the summary table."""
    ranked = sorted(section.issues, key=lambda i: {"fail": 0, "warn": 1, "info": 2}[i.level])
    return ranked[0].text if ranked else ""


def _short(value: Any, limit: int = 60) -> str | None:
    if value is None:
        return None
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
