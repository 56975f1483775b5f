"""The bar charts of the reports: largest bars first, at most CHART_BARS of them."""

from __future__ import annotations

from collections.abc import Sequence

from etl_assets.profile.model import TableProfile
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
