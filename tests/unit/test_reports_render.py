"""Rendering reports to HTML, Markdown, JSON and PDF: content, escaping, well-formedness, offline rendering."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from etl_assets.reports.analysis import build_analysis_report
from etl_assets.reports.model import Chart, Report
from etl_assets.reports.pipeline import build_pipeline_report
from etl_assets.reports.quality import CheckOutcome, TableRules, build_quality_report
from etl_assets.reports.render import (
    chart_data_uri,
    format_value,
    markdown_escape,
    render_html,
    render_json,
    render_markdown,
    render_pdf,
    write_report,
)
from tests.support.reports import (
    EVIL,
    sample_customers,
    sample_empty,
    sample_log,
    sample_orders,
    sample_recommendation,
)

VOID_ELEMENTS = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr"}


class TagChecker(HTMLParser):
    """Records every start tag and every mismatch between start and end tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID_ELEMENTS:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(html)
    checker.close()
    return checker


def reports() -> list[Report]:
    profiles = [sample_customers(), sample_orders(), sample_empty()]
    checks = [CheckOutcome("shop_files", "customers", "profile/shop_files/customers", f"nulls_{EVIL}", False,
                           "ERROR", f"bad {EVIL}")]
    rules = {("shop_files", "customers"): TableRules(("customer_id",), {"email": 0.0})}
    tables = [(p.source, p.table) for p in profiles]
    return [
        build_analysis_report(profiles, [sample_recommendation()], generated_at="2026-11-22T12:00:00+00:00"),
        build_quality_report(profiles, rules=rules, checks=checks, ingestion=sample_log()),
        build_pipeline_report(tables, sample_log()),
    ]


@pytest.fixture(scope="module")
def rendered() -> list[tuple[Report, str, str]]:
    return [(report, render_html(report), render_markdown(report)) for report in reports()]


# -------------------------------------------------------------------------------------------------------------- html

def test_html_is_well_formed_and_has_every_section(rendered: list[tuple[Report, str, str]]) -> None:
    for report, html, _ in rendered:
        checker = parse(html)
        assert checker.errors == [] and checker.stack == [], report.name
        ids = {attrs.get("id") for _, attrs in checker.tags}
        assert {f"section-{i}" for i in range(1, len(report.sections) + 1)} <= ids
        links = [attrs["href"] for tag, attrs in checker.tags if tag == "a"]
        assert links == [f"#section-{i}" for i in range(1, len(report.sections) + 1)]
        assert html.startswith("<!DOCTYPE html>")
        style = html.split("<style>", 1)[1].split("</style>", 1)[0]
        assert "&#" not in style and "&quot;" not in style and "&amp;" not in style


def test_html_escapes_all_data(rendered: list[tuple[Report, str, str]]) -> None:
    for report, html, _ in rendered:
        checker = parse(html)
        assert not [tag for tag, _ in checker.tags if tag in {"script", "i"}], report.name
        assert "<script" not in html.lower()
        assert "&lt;script&gt;" in html
        assert any(EVIL in text for text in checker.text), report.name


def test_html_embeds_charts_and_loads_nothing_from_elsewhere(rendered: list[tuple[Report, str, str]]) -> None:
    for report, html, _ in rendered:
        checker = parse(html)
        images = [attrs["src"] for tag, attrs in checker.tags if tag == "img"]
        charts = [*report.charts, *(c for section in report.sections for c in section.charts)]
        assert len(images) == len([c for c in charts if c.labels]) > 0
        assert all(src.startswith("data:image/svg+xml;base64,") for src in images)
        assert not [attrs for tag, attrs in checker.tags if tag in {"link", "script", "iframe"}]
        assert not re.search(r"(src|href)=\"(?!data:|#)", html)
        assert "@import" not in html and "url(" not in html


def test_html_shows_summary_and_health_badges(rendered: list[tuple[Report, str, str]]) -> None:
    _, html, _ = rendered[1]
    assert 'id="summary"' in html
    assert '<span class="badge h-fail">FAIL</span>' in html
    assert "email: 1.2% NULLs, above the limit of 0.0%" in html
    assert "raw_shop_files._quarantine" in html


def test_chart_is_an_svg_without_scripts() -> None:
    uri = chart_data_uri(Chart("c", "t", [EVIL, "b"], [0.5, 0.25], "pct"))
    svg = base64.b64decode(uri.split(",", 1)[1]).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert not re.search(r"href=\"(?!#)", svg)


# ---------------------------------------------------------------------------------------------------------- markdown

def test_markdown_has_summary_sections_and_tables(rendered: list[tuple[Report, str, str]]) -> None:
    report, _, markdown = rendered[0]
    assert markdown.startswith("# Data analysis — ⚠️ WARN\n")
    assert "| shop\\_files | customers | 1,000 | 4 | postgres (heap) | daily | – | ⚠️ WARN |" not in markdown
    assert "| shop_files | customers | 1,000 | 4 | postgres (heap) | daily | – | ⚠️ WARN |" in markdown
    for sec in report.sections:
        assert f"## {sec.source}.{sec.table} — " in markdown
    assert "### Why this layout" in markdown and "### Columns" in markdown
    assert "| shop_db.orders | 5,000 | ████████████████████ |" in markdown


def test_markdown_tables_keep_their_shape(rendered: list[tuple[Report, str, str]]) -> None:
    for report, _, markdown in rendered:
        table: list[int] = []
        for line in [*markdown.splitlines(), ""]:
            if line.startswith("|"):
                table.append(len(re.findall(r"(?<!\\)\|", line)))
            elif table:
                assert len(set(table)) == 1, f"{report.name}: ragged table {table}"
                table = []


def test_markdown_escapes_html_and_table_breaks(rendered: list[tuple[Report, str, str]]) -> None:
    for report, _, markdown in rendered:
        assert not re.search(r"(?<!\\)<script", markdown), report.name
        assert "\\<script\\>alert('x')\\</script\\>" in markdown
    assert markdown_escape("a|b <i>x</i>\nnext *y* [z](u) _w_ snake_case") == \
        "a\\|b \\<i\\>x\\</i\\> next \\*y\\* \\[z\\](u) \\_w\\_ snake_case"


def test_markdown_preview_stops_after_the_summary(rendered: list[tuple[Report, str, str]]) -> None:
    report = rendered[2][0]
    preview = render_markdown(report, preview=True)
    assert preview.startswith("# Pipeline performance — ❌ FAIL")
    assert "| shop_db | orders | 2 | 1 | 5,000 |" in preview
    assert "## shop_db.orders" not in preview and "Recent loads" not in preview


def test_empty_report_renders_everywhere() -> None:
    report = build_analysis_report([])
    assert "No tables to report on." in render_html(report)
    assert "_No tables to report on._" in render_markdown(report)
    assert parse(render_html(report)).errors == []


# -------------------------------------------------------------------------------------------------------------- json

def test_json_holds_raw_values_and_no_nan() -> None:
    report = build_quality_report([sample_customers()])
    report.sections[0].facts[0] = type(report.sections[0].facts[0])("Rows", float("nan"), "int")
    data = json.loads(render_json(report))

    assert data["name"] == "quality" and data["counts"]["tables"] == 1
    assert data["sections"][0]["facts"][0]["value"] is None
    nulls = next(g for g in data["sections"][0]["grids"] if g["title"] == "NULLs and distinct values")
    assert nulls["rows"][1][:4] == ["email", "string", 12, 0.012]
    assert data["sections"][0]["grids"][0]["rows"][3][0] == EVIL


# ------------------------------------------------------------------------------------------------------- formatting

@pytest.mark.parametrize(("value", "fmt", "text"), [
    (None, "int", "–"), ("", "text", "–"), ([], "list", "–"), (float("nan"), "float", "–"),
    (1234567, "int", "1,234,567"), (0, "pct", "0%"), (0.0004, "pct", "<0.1%"), (0.4567, "pct", "45.7%"),
    (1.0, "pct", "100.0%"), (3.14159, "float", "3.14"), (12345.6, "float", "12,346"),
    (0.25, "seconds", "250 ms"), (4.0, "seconds", "4.0 s"), (125, "seconds", "2 min 5 s"),
    (7260, "seconds", "2 h 1 min"), (512, "bytes", "512 B"), (52_000, "bytes", "50.8 KiB"),
    (3 * 1024**3, "bytes", "3.0 GiB"), (["a", "b"], "list", "a, b"), ("warn", "health", "WARN"),
    (True, "int", "True"), ("x", "int", "x"),
])
def test_format_value(value: object, fmt: str, text: str) -> None:
    assert format_value(value, fmt) == text


# --------------------------------------------------------------------------------------------------------------- pdf

class CountingHandler(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        CountingHandler.requests.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_http() -> Iterator[str]:
    CountingHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_pdf_has_pages_and_renders_offline(rendered: list[tuple[Report, str, str]], local_http: str) -> None:
    _, html, _ = rendered[1]
    remote = (f'<link rel="stylesheet" href="{local_http}/style.css">'
              f'<img src="{local_http}/logo.png"><style>@font-face {{ font-family: x; src: url({local_http}/f.woff) }}'
              f'</style>')
    pdf, pages = render_pdf(html.replace("</head>", remote + "</head>"))

    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pages >= 2
    assert CountingHandler.requests == []


def test_write_report_writes_every_format(tmp_path: Path) -> None:
    report = reports()[2]
    files = write_report(report, tmp_path / "out")

    assert sorted(files.paths) == ["html", "json", "md", "pdf"]
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "pipeline.html", "pipeline.md", "pipeline.json", "pipeline.pdf"}
    assert files.paths["pdf"].read_bytes().startswith(b"%PDF-") and files.pdf_pages
    assert json.loads(files.paths["json"].read_text(encoding="utf-8"))["name"] == "pipeline"
    assert files.paths["md"].read_text(encoding="utf-8") == files.markdown
    assert parse(files.paths["html"].read_text(encoding="utf-8")).errors == []


def test_write_report_can_skip_formats_and_rejects_unknown_ones(tmp_path: Path) -> None:
    report = reports()[0]
    files = write_report(report, tmp_path, ["md", "json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis.json", "analysis.md"]
    assert files.pdf_pages is None

    with pytest.raises(ValueError, match=r"report analysis: unknown format\(s\) \['docx'\]"):
        write_report(report, tmp_path, ["md", "docx"])


def test_a_chart_with_nothing_to_draw_says_why() -> None:
    report = build_quality_report([sample_orders()])
    html = render_html(report)
    assert "Columns with the most NULLs: no column has NULLs" in html
    assert len([tag for tag, _ in parse(html).tags if tag == "img"]) == 1
