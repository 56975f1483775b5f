"""What the three reports share: the ingestion-log types, table health, and short texts for cells.

Every table gets a health: ``fail`` (something is broken or a blocking rule is violated), ``warn`` (worth a look),
``ok``, or ``unknown`` (nothing to judge by, e.g. no ingestion log).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from etl_assets.profile.model import TableProfile
from etl_assets.reports.model import Health, Issue, Section, worst

TableId = tuple[str, str]
IngestionRow = Mapping[str, Any]
IngestionLog = Mapping[TableId, Sequence[IngestionRow]]
"""(source, table) -> rows of ``MetadataResource.ingestion_history`` (started_at, finished_at, mode, rows_read,
rows_written, rows_quarantined, watermark_from, watermark_to, status, error)."""
RECENT_LOADS = 15


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def health_of(issues: Sequence[Issue]) -> Health:
    return worst([i.level for i in issues if i.level != "info"])


def with_log_note(notes: Sequence[Issue], ingestion: object | None, consequence: str = "") -> list[Issue]:
    """``notes``, plus a warning that the ingestion log was not available when it was not and no note says why."""
    if ingestion is not None or notes:
        return list(notes)
    return [Issue("warn", f"the ingestion log was not available{consequence}")]


def health_counts(sections: Sequence[Section]) -> dict[str, int]:
    return {"tables": len(sections), **{f"tables_{h}": sum(s.health == h for s in sections)
                                        for h in ("ok", "warn", "fail", "unknown")}}


def headline(section: Section) -> str:
    """The most severe issue of a section, for the summary table."""
    ranked = sorted(section.issues, key=lambda i: {"fail": 0, "warn": 1, "info": 2}[i.level])
    return ranked[0].text if ranked else ""


def short(value: Any, limit: int = 60) -> str | None:
    if value is None:
        return None
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def profile_issues(profile: TableProfile) -> list[Issue]:
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


def method_notes(profile: TableProfile) -> list[str]:
    """How the profile's facts were obtained, as the profiler wrote it down."""
    notes = list(getattr(profile, "notes", None) or [])
    if not notes and profile.sampled:
        notes.append(f"some facts come from a sample of {profile.sample_rows or 0:,} rows")
    return [f"Profile method: {'; '.join(notes)}."] if notes else []


def newest_first(loads: Iterable[IngestionRow]) -> list[IngestionRow]:
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(loads, key=lambda r: as_datetime(r.get("started_at")) or epoch, reverse=True)


def as_datetime(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def when(value: Any) -> str | None:
    moment = as_datetime(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else short(value)


def sum_of(rows: Iterable[IngestionRow], key: str) -> int:
    return sum(int(r.get(key) or 0) for r in rows)
