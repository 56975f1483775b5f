"""The per-table charts of the analysis report, built from small profiles made by the real profiler."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from etl_assets.profile.profiler import profile_arrow
from etl_assets.reports.analysis import build_analysis_report
from etl_assets.reports.charts import COLUMN_CHARTS, column_chart, rows_over_time_chart, table_charts
from etl_assets.reports.render import chart_data_uri, render_markdown

UTC = dt.UTC


def orders(rows: int = 120):
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    data = pa.table({
        "order_id": list(range(1, rows + 1)),
        "status": [("paid", "shipped", "shipped", "returned")[n % 4] for n in range(rows)],
        "quantity": [1 + n % 5 for n in range(rows)],
        "total": [float(n % 40) * 2.5 for n in range(rows)],
        "created_at": [start + dt.timedelta(hours=4 * n) for n in range(rows)],
        "shipped_on": [dt.date(2026, 1, 1 + n % 10) for n in range(rows)],
    })
    return profile_arrow(data, "shop", "orders", primary_key=["order_id"])


def test_rows_over_time_counts_every_row_by_the_time_column() -> None:
    profile = orders()
    chart = rows_over_time_chart(profile)

    assert chart is not None and chart.kind == "histogram"
    assert chart.title == "Rows over time, by created_at"
    assert sum(chart.values) == 120 and len(chart.values) == 20
    assert chart.labels[0] == "2026-01-01 00:00" and chart.labels[-1] == "2026-01-19 20:12"
    assert len(set(chart.labels)) == 20


def test_numbers_get_a_histogram_and_narrow_integers_one_bar_per_value() -> None:
    profile = orders()
    quantity = column_chart(profile, profile.column("quantity"))
    total = column_chart(profile, profile.column("total"))

    assert quantity.kind == "histogram" and quantity.labels == ["1", "2", "3", "4", "5"]
    assert quantity.values == [24.0] * 5 and quantity.note == "one bar per value"
    assert total.kind == "histogram" and len(total.values) == 20 and sum(total.values) == 120
    assert total.labels[0] == "0.0" and total.note.startswith("20 equal bins from 0.0 to 97.5")


def test_dates_get_one_bar_per_day() -> None:
    profile = orders()
    chart = column_chart(profile, profile.column("shipped_on"))

    assert chart.labels == [f"2026-01-{day:02d}" for day in range(1, 11)]
    assert chart.values == [12.0] * 10 and chart.note == "one bar per day"


def test_categories_get_top_value_bars_and_identifiers_nothing() -> None:
    profile = orders()
    status = column_chart(profile, profile.column("status"))

    assert status.kind == "bars" and status.labels == ["shipped", "paid", "returned"]
    assert status.values == [60.0, 30.0, 30.0]
    assert column_chart(profile, profile.column("order_id")) is None


def test_a_table_gets_rows_over_time_first_and_a_bounded_number_of_column_charts() -> None:
    charts = table_charts(orders())

    assert charts[0].title == "Rows over time, by created_at"
    assert [c.title for c in charts[1:]] == ["status: top values", "quantity: distribution", "total: distribution",
                                             "shipped_on: distribution"]
    wide = profile_arrow(pa.table({f"c{i}": [n % (i + 3) for n in range(50)] for i in range(12)}), "s", "wide")
    assert len(table_charts(wide)) == COLUMN_CHARTS


def test_profiles_stored_before_histograms_still_chart_their_top_values() -> None:
    profile = orders()
    for column in profile.columns:
        del column.histogram_edges, column.histogram_counts  # as unpickled from an older run
    charts = table_charts(profile)
    assert [c.title for c in charts] == ["status: top values", "quantity: top values", "total: top values"]


def test_the_analysis_report_draws_and_writes_the_table_charts() -> None:
    report = build_analysis_report([orders()], generated_at="2026-12-01T00:00:00+00:00")
    [section] = report.sections
    assert [c.name for c in section.charts] == [c.name for c in table_charts(orders())]

    svg = chart_data_uri(section.charts[0])
    assert svg.startswith("data:image/svg+xml;base64,")
    markdown = render_markdown(report)
    assert "### Rows over time, by created_at (20 equal bins from 2026-01-01 00:00 to 2026-01-20 20:00)" in markdown
    assert "| 2026-01-01 00:00 | 6 | ████████████████████ |" in markdown
