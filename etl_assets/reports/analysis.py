"""The analysis report: what each table holds (profile highlights, semantic types), how it should be stored
(the recommendation with its reasons, the DDL target) and, when measured, the proof: the recommended layout's bytes
on disk and query times against a naive layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from etl_assets.profile.model import ColumnProfile, TableProfile
from etl_assets.proof.model import Proof
from etl_assets.recommend.model import Recommendation
from etl_assets.reports.charts import bar_chart, null_share_chart, rows_chart, table_charts
from etl_assets.reports.common import (
    TableId,
    headline,
    health_counts,
    health_of,
    method_notes,
    now_iso,
    profile_issues,
    short,
)
from etl_assets.reports.model import Chart, Fact, Field, Grid, Issue, Report, Section, worst


def build_analysis_report(
    profiles: Sequence[TableProfile],
    recommendations: Sequence[Recommendation] = (),
    *,
    proofs: Sequence[Proof] = (),
    notes: Sequence[Issue] = (),
    generated_at: str | None = None,
) -> Report:
    """Per table: profile highlights, semantic types, the storage recommendation with its reasons, and its proof
    by measurement when there is one."""
    by_table = {(r.source, r.table): r for r in recommendations}
    proved = {(p.source, p.table): p for p in proofs}
    sections = [_analysis_section(p, by_table.get((p.source, p.table)), proved.get((p.source, p.table)))
                for p in profiles]
    summary_rows = [
        [s.source, s.table, p.row_count, len(p.columns), _target_of(by_table.get((p.source, p.table))),
         _refresh_of(by_table.get((p.source, p.table))), _proof_of(proved.get((p.source, p.table))), s.health,
         headline(s)]
        for s, p in zip(sections, profiles, strict=True)
    ]
    summary = Grid("Tables", [Field("Source"), Field("Table"), Field("Rows", "int"), Field("Columns", "int"),
                              Field("Target"), Field("Refresh"), Field("Measured"), Field("Health", "health"),
                              Field("Top issue")],
                   summary_rows)
    return Report(
        name="analysis", title="Data analysis", generated_at=generated_at or now_iso(),
        health=worst([s.health for s in sections]),
        counts={**health_counts(sections), "rows": sum(p.row_count for p in profiles),
                "columns": sum(len(p.columns) for p in profiles), "recommendations": len(by_table),
                "proofs": len(proved), "proofs_flagged": sum(1 for p in proved.values() if p.flagged)},
        summary=summary, sections=sections,
        charts=[rows_chart(profiles), null_share_chart(profiles), _semantic_chart(profiles)],
        notes=[*notes, *_missing_recommendation_notes(profiles, by_table)],
    )


def _analysis_section(profile: TableProfile, recommendation: Recommendation | None, proof: Proof | None) -> Section:
    issues = profile_issues(profile)
    if recommendation is None:
        issues.append(Issue("warn", "no storage recommendation yet: materialize "
                                    f"recommendation/{profile.source}/{profile.table}"))
    section = Section(profile.source, profile.table, health_of(issues), facts=_profile_facts(profile),
                      grids=[_columns_grid(profile)], issues=issues, charts=table_charts(profile))
    if recommendation is not None:
        section.facts.extend(_recommendation_facts(recommendation))
        section.paragraphs.extend(p for p in (recommendation.summary, _narrative(recommendation)) if p)
        section.grids.insert(0, Grid("Why this layout", [Field("Decision"), Field("Based on")],
                                     [[r.claim, r.fact] for r in recommendation.reasons]))
    if proof is not None:
        _add_proof(section, proof)
    section.paragraphs.extend(method_notes(profile))
    return section


def _add_proof(section: Section, proof: Proof) -> None:
    """The measurement: sizes and ratios as facts, the per-query medians as a grid, a flag as an issue."""
    section.facts.extend([
        Fact("Proof", proof.summary()),
        Fact("Measured on", f"{proof.dialect}, {proof.rows_loaded:,} sample rows" if proof.rows_loaded else
             proof.dialect),
        Fact("Naive size", proof.naive_bytes, "bytes"),
        Fact("Recommended size", proof.recommended_bytes, "bytes"),
        Fact("Size ratio vs naive", proof.size_ratio, "float"),
        Fact("Query speedup vs naive", proof.speedup, "float"),
        Fact("Speedup measured on", proof.clock if proof.timed else None),
    ])
    if proof.queries:
        section.grids.append(Grid(
            f"Proof by measurement (queries from the {proof.query_origin})",
            [Field("Query"), Field("Naive engine ms", "float"), Field("Recommended engine ms", "float"),
             Field("Naive wall ms", "float"), Field("Recommended wall ms", "float"), Field("Speedup", "float")],
            [[q.name, q.naive_median_engine_ms, q.recommended_median_engine_ms, q.naive_median_ms,
              q.recommended_median_ms, q.speedup] for q in proof.queries],
            note="; ".join(proof.notes)))
    if proof.flagged:
        section.issues.append(Issue("warn", f"the recommendation measures worse than naive: {proof.summary()}"))
        section.health = worst([section.health, "warn"])


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
    rows = [[c.name, c.logical_type, c.semantic_type, c.null_share, c.distinct_count, short(c.min),
             short(c.max), _top_values(c)] for c in profile.columns]
    return Grid("Columns", fields, rows)


def _top_values(column: ColumnProfile, limit: int = 3) -> str:
    return ", ".join(f"{short(value, 24)} ({count:,})" for value, count in column.top_values[:limit])


def _missing_recommendation_notes(profiles: Sequence[TableProfile], by_table: Mapping[TableId, Any]) -> list[Issue]:
    profiled = {(p.source, p.table) for p in profiles}
    orphans = sorted(f"{s}.{t}" for s, t in by_table if (s, t) not in profiled)
    return [Issue("info", f"recommendations without a profile (not shown): {', '.join(orphans)}")] if orphans else []


def _target_of(recommendation: Recommendation | None) -> str | None:
    if recommendation is None:
        return None
    engine = f" ({recommendation.engine})" if recommendation.engine else ""
    return f"{recommendation.target_store}{engine}"


def _proof_of(proof: Proof | None) -> str | None:
    return proof.summary().removeprefix("recommended layout: ") if proof else None


def _refresh_of(recommendation: Recommendation | None) -> str | None:
    return recommendation.refresh_cadence if recommendation else None


def _semantic_chart(profiles: Sequence[TableProfile]) -> Chart:
    counts: dict[str, int] = {}
    for column in (c for p in profiles for c in p.columns):
        counts[column.semantic_type] = counts.get(column.semantic_type, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return bar_chart("semantic_types", "Columns by semantic type", [k for k, _ in ordered],
                     [v for _, v in ordered], "int")
