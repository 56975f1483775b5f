"""The quality report: NULL shares against the configured limits, key uniqueness, asset check outcomes and
quarantined rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from etl_assets.catalog import raw_namespace
from etl_assets.profile.model import TableProfile
from etl_assets.reports.charts import null_share_chart, rows_chart
from etl_assets.reports.common import (
    RECENT_LOADS,
    IngestionLog,
    IngestionRow,
    TableId,
    headline,
    health_counts,
    health_of,
    method_notes,
    newest_first,
    now_iso,
    profile_issues,
    sum_of,
    when,
    with_log_note,
)
from etl_assets.reports.model import Fact, Field, Grid, Issue, Report, Section, worst


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
         _quarantined_total(ingestion, p), s.health, headline(s)]
        for s, p in zip(sections, profiles, strict=True)
    ]
    summary = Grid("Tables", [Field("Source"), Field("Table"), Field("Rows", "int"), Field("NULL cells", "pct"),
                              Field("Failed checks", "int"), Field("Quarantined", "int"), Field("Health", "health"),
                              Field("Top issue")], summary_rows)
    return Report(
        name="quality", title="Data quality", generated_at=generated_at or now_iso(),
        health=worst([s.health for s in sections]),
        counts={**health_counts(sections), "rows": sum(p.row_count for p in profiles), "checks": len(checks),
                "checks_failed": sum(not c.passed for c in checks),
                "rows_quarantined": sum(r[5] or 0 for r in summary_rows)},
        summary=summary, sections=sections, charts=[rows_chart(profiles), null_share_chart(profiles)],
        notes=with_log_note(notes, ingestion, ": quarantined rows are unknown"),
    )


def _quality_section(profile: TableProfile, rules: TableRules, checks: list[CheckOutcome],
                     loads: list[IngestionRow] | None) -> Section:
    issues = [i for i in profile_issues(profile) if i.level != "info"]
    issues += _null_limit_issues(profile, rules)
    issues += _key_issues(profile, rules)
    issues += [_check_issue(c) for c in checks if not c.passed]
    issues += _quarantine_issues(profile, loads)
    section = Section(profile.source, profile.table, health_of(issues), issues=issues)
    section.facts = [
        Fact("Rows", profile.row_count, "int"),
        Fact("Duplicate rows", profile.duplicate_rows, "int"),
        Fact("NULL cells", _null_cells_share(profile), "pct"),
        Fact("Declared key", list(rules.primary_key), "list"),
        Fact("Candidate keys", [" + ".join(key) for key in profile.candidate_keys], "list"),
        Fact("Checks passed", f"{sum(c.passed for c in checks)} of {len(checks)}"),
        Fact("Rows quarantined (logged loads)", None if loads is None else sum_of(loads, "rows_quarantined"), "int"),
        Fact("Quarantine table", f"{raw_namespace(profile.source)}._quarantine"),
    ]
    section.paragraphs.extend(method_notes(profile))
    section.grids = [_null_grid(profile, rules), _checks_grid(checks)]
    if loads:
        section.grids.append(_quarantine_grid(loads))
    return section


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
    last = newest_first(loads)[0]
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
    with_rejects = [r for r in newest_first(loads) if r.get("rows_quarantined")]
    fields = [Field("Started"), Field("Rows read", "int"), Field("Rows quarantined", "int"), Field("Status")]
    rows = [[when(r.get("started_at")), r.get("rows_read"), r.get("rows_quarantined"), r.get("status")]
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
    return sum_of(ingestion.get((profile.source, profile.table), ()), "rows_quarantined")
