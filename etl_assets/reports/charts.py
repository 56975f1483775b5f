"""The charts of the reports: rankings (largest bars first, at most CHART_BARS of them) and, per table, rows over
time and each column's distribution (histogram bins from the profile) or top values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from etl_assets.profile.model import ColumnProfile, TableProfile
from etl_assets.profile.semantic import base_logical
from etl_assets.reports.model import Chart

CHART_BARS = 25


def bar_chart(name: str, title: str, labels: list[str], values: list[float | None], value_format: str) -> Chart:
    """Bars with a value, largest first, at most CHART_BARS of them (the note says how many were left out)."""
    pairs = [(label, float(value)) for label, value in zip(labels, values, strict=True) if value is not None]
    pairs.sort(key=lambda item: item[1], reverse=True)
    note = f"the {CHART_BARS} largest of {len(pairs)}" if len(pairs) > CHART_BARS else ""
    pairs = pairs[:CHART_BARS]
    return Chart(name, title, [label for label, _ in pairs], [value for _, value in pairs], value_format, note)


def rows_chart(profiles: Sequence[TableProfile]) -> Chart:
    return bar_chart("rows", "Rows per table", [f"{p.source}.{p.table}" for p in profiles],
                     [p.row_count for p in profiles], "int")


def null_share_chart(profiles: Sequence[TableProfile]) -> Chart:
    shares = [(f"{p.table}.{c.name}", c.null_share) for p in profiles for c in p.columns if c.null_share > 0]
    shares.sort(key=lambda item: item[1], reverse=True)
    chart = bar_chart("null_shares", "Columns with the most NULLs", [label for label, _ in shares],
                      [share for _, share in shares], "pct")
    if not shares and profiles:
        chart.note = "no column has NULLs"
    return chart


# ------------------------------------------------------------------------------------------- per table and column

COLUMN_CHARTS = 6
"""At most this many per-column charts per table (after rows over time), so a wide table keeps a short report."""
TOP_VALUE_TYPES = ("category", "boolean", "text", "email", "phone", "url", "ip", "integer", "decimal")
DAY = 86_400


def table_charts(profile: TableProfile) -> list[Chart]:
    """Rows over time (by the first time column with a histogram), then per column: the distribution of numbers,
    dates and timestamps, or the most frequent values; identifiers and all-distinct columns have neither."""
    time_chart = rows_over_time_chart(profile)
    charts = [time_chart] if time_chart else []
    shown_time = time_chart.name.rsplit(":", 1)[-1] if time_chart else None
    per_column = [chart for column in profile.columns if column.name != shown_time
                  for chart in [column_chart(profile, column)] if chart]
    return charts + per_column[:COLUMN_CHARTS]


def rows_over_time_chart(profile: TableProfile) -> Chart | None:
    for name in profile.time_columns:
        column = next((c for c in profile.columns if c.name == name), None)
        if column is not None and _histogram(column):
            chart = histogram_chart(profile, column)
            chart.name = f"rows_over_time:{profile.source}.{profile.table}:{column.name}"
            chart.title = f"Rows over time, by {column.name}"
            return chart
    return None


def column_chart(profile: TableProfile, column: ColumnProfile) -> Chart | None:
    if column.semantic_type in ("identifier", "uuid") or [column.name] in profile.candidate_keys:
        return None
    if _histogram(column) and len(column.histogram_counts) > 1:
        return histogram_chart(profile, column)
    if column.top_values and column.semantic_type in TOP_VALUE_TYPES:
        return top_values_chart(profile, column)
    return None


def histogram_chart(profile: TableProfile, column: ColumnProfile) -> Chart:
    """Adjacent bars, one per bin, labelled by the bin's lower edge (a date or time for temporal columns)."""
    edges, counts = column.histogram_edges, column.histogram_counts
    logical = base_logical(column.logical_type)
    temporal = logical in ("date", "timestamp", "timestamptz")
    width = (edges[-1] - edges[0]) / len(counts)
    label = _time_label(DAY if logical == "date" else width) if temporal else _number_label(edges)
    step = DAY if logical == "date" else 1
    if (logical == "date" or logical.startswith("int")) and round((edges[-1] - edges[0]) / step) + 1 == len(counts):
        one = label if temporal else (lambda value: f"{round(value):,}")
        labels = [one(edges[0] + i * step) for i in range(len(counts))]  # one day or one integer per bin
        note = f"one bar per {'day' if logical == 'date' else 'value'}"
    else:
        labels = [label(edge) for edge in edges[:-1]]
        note = f"{len(counts)} equal bins from {label(edges[0])} to {label(edges[-1])}"
    return Chart(f"histogram:{profile.source}.{profile.table}:{column.name}", f"{column.name}: distribution",
                 labels, [float(n) for n in counts], "int", note=note, kind="histogram")


def top_values_chart(profile: TableProfile, column: ColumnProfile) -> Chart:
    shown_rows = sum(count for _, count in column.top_values)
    others = profile.row_count - column.null_count - shown_rows
    chart = bar_chart(f"top_values:{profile.source}.{profile.table}:{column.name}", f"{column.name}: top values",
                      [value for value, _ in column.top_values], [count for _, count in column.top_values], "int")
    if others > 0:
        chart.note = f"{len(column.top_values)} most frequent of {column.distinct_count:,} values; " \
                     f"{others:,} rows hold others"
    return chart


def _histogram(column: ColumnProfile) -> bool:
    """Profiles stored before histograms existed lack the attribute."""
    return bool(getattr(column, "histogram_counts", None))


def _time_label(bin_s: float) -> Callable[[float], str]:
    fmt = "%Y-%m-%d" if bin_s >= DAY else "%Y-%m-%d %H:%M"
    return lambda seconds: datetime.fromtimestamp(seconds, UTC).strftime(fmt)


def _number_label(edges: list[float]) -> Callable[[float], str]:
    width = (edges[-1] - edges[0]) / max(1, len(edges) - 1)
    digits = 0 if width >= 10 or all(float(e).is_integer() for e in edges) else (1 if width >= 1 else 3)
    return lambda value: f"{value:,.{digits}f}"
