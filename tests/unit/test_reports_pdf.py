"""The PDF a person reads: no heading left alone at the bottom of a page, and every character drawn by a font that
has it (no empty boxes), checked on WeasyPrint's laid-out document and the fonts it embeds."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from etl_assets.profile.profiler import profile_arrow
from etl_assets.reports.analysis import build_analysis_report
from etl_assets.reports.quality import build_quality_report
from etl_assets.reports.render import pdf_document, render_html
from tests.support.pdf import glyph_gaps, stranded_headings

NAMES = ["Tent ⛺ for cold nights", "Sleeping bag 🏕️", "Zürich → Genève ✓", "«Quotes» and ‘curly’ ones",
         "Ångström · naïve café – 5 €", "超轻 ultralight"]


def catalog(tables: int = 7) -> list:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    profiles = []
    for t in range(tables):
        rows = 60 + 10 * t
        data = pa.table({
            "id": list(range(rows)),
            "name": [NAMES[n % len(NAMES)] for n in range(rows)],
            "category": [("outdoor", "kitchen", "ski-touring-and-mountaineering-gear")[n % 3] for n in range(rows)],
            "price": [round(9.5 + n * 1.25, 2) for n in range(rows)],
            "created_at": [start + dt.timedelta(hours=7 * n) for n in range(rows)],
            "description": [f"A long description of item {n} that has to wrap between words inside a narrow cell "
                            "https://example.org/a/very/long/path/without/any/spaces/at/all" for n in range(rows)],
        })
        profiles.append(profile_arrow(data, "shop", f"products_{t}", primary_key=["id"]))
    return profiles


@pytest.fixture(scope="module")
def documents():
    profiles = catalog()
    rendered = []
    for report in (build_analysis_report(profiles), build_quality_report(profiles)):
        document = pdf_document(render_html(report))
        document.write_pdf()
        rendered.append((report.name, document))
    return rendered


def test_no_heading_is_the_last_thing_on_a_page(documents) -> None:
    for name, document in documents:
        assert len(document.pages) >= 3, name
        assert stranded_headings(document) == [], name


def test_the_embedded_fonts_draw_every_character(documents) -> None:
    for name, document in documents:
        families = {font.family for font in document.fonts.values()}
        assert glyph_gaps(document) == {}, (name, families)
        assert "Noto Color Emoji" in families, families


def test_the_checks_see_a_stranded_heading_and_a_missing_glyph() -> None:
    stranded = pdf_document('<style>@page { size: A6; margin: 10mm } h2 { break-after: auto }</style>'
                            '<div style="height: 105mm"></div><h2>Alone</h2><p>the section\'s text</p>')
    assert stranded_headings(stranded) == [(1, "Alone")]

    kept = pdf_document('<style>@page { size: A6; margin: 10mm } h2 { break-after: avoid }</style>'
                        '<div style="height: 105mm"></div><h2>Kept</h2><p>the section\'s text</p>')
    assert stranded_headings(kept) == []

    unknown = pdf_document("<p>no font has \U0010fffd</p>")
    unknown.write_pdf()
    assert "\U0010fffd" in [char for chars in glyph_gaps(unknown).values() for char in chars]


def test_chart_labels_are_drawn_with_fonts_that_have_their_characters() -> None:
    import warnings

    from etl_assets.reports.model import Chart
    from etl_assets.reports.render import chart_data_uri

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chart_data_uri(Chart("names", "Top names", NAMES, [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]))
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []
