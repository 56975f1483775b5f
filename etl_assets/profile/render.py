"""A readable Markdown summary of a profile, for the asset's metadata in the Dagster UI and for reports."""

from __future__ import annotations

from typing import Any

from etl_assets.profile.model import ColumnProfile, TableProfile

MAX_CELL = 40


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size_bytes < 1024 or unit == "GiB":
            return f"{size_bytes:,.0f} {unit}" if unit == "B" else f"{size_bytes:,.1f} {unit}"
        size_bytes /= 1024
    return ""


def _top(column: ColumnProfile) -> str:
    return ", ".join(f"{_cell(value)} ({count:,})" for value, count in column.top_values[:3])


def _range(column: ColumnProfile) -> str:
    if column.min is None and column.max is None:
        return ""
    return f"{_cell(column.min)} .. {_cell(column.max)}"


def profile_markdown(profile: TableProfile) -> str:
    lines = [
        f"### Profile of `{profile.source}.{profile.table}`",
        "",
        f"- **Rows:** {profile.row_count:,} · **size:** {_size(profile.size_bytes)} · "
        f"**duplicate rows:** {profile.duplicate_rows:,}",
        f"- **Candidate keys:** {_keys(profile.candidate_keys)}",
        f"- **Time columns:** {', '.join(f'`{c}`' for c in profile.time_columns) or 'none'}",
        f"- **Growth:** {_growth(profile)}",
        f"- **How:** {'; '.join(profile.notes)}" if profile.notes else "",
        "",
        "| column | type | semantic | null | distinct | range | mean ± std | length | top values | pattern |",
        "|---|---|---|---:|---:|---|---|---|---|---|",
    ]
    lines.extend(_column_row(column) for column in profile.columns)
    return "\n".join(line for line in lines if line is not None) + "\n"


def _column_row(column: ColumnProfile) -> str:
    spread = "" if column.mean is None else f"{column.mean:.4g}" + (
        "" if column.std is None else f" ± {column.std:.3g}")
    length = "" if column.min_length is None else f"{column.min_length}..{column.max_length}"
    pattern = f"`{_cell(column.patterns[0][0])}`" if column.patterns else ""
    cells = [f"`{_cell(column.name)}`", _cell(column.logical_type), column.semantic_type, f"{column.null_share:.1%}",
             f"{column.distinct_count:,}", _range(column), spread, length, _top(column), pattern]
    return "| " + " | ".join(cells) + " |"


def _keys(keys: list[list[str]]) -> str:
    return ", ".join("(" + ", ".join(f"`{c}`" for c in key) + ")" for key in keys) or "none found"


def _growth(profile: TableProfile) -> str:
    growth = profile.growth
    if not growth.loads:
        return "no loads logged yet"
    parts = [f"{growth.loads} load(s), last at {growth.last_loaded_at}"]
    if growth.loads_per_day is not None:
        parts.append(f"{growth.loads_per_day:.2f} loads/day")
    if growth.rows_per_day is not None:
        parts.append(f"{growth.rows_per_day:+,.0f} rows/day")
    return ", ".join(parts)
