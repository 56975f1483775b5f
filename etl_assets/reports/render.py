"""Render a :class:`Report` as HTML and Markdown (Jinja2), JSON, and PDF (WeasyPrint from the same HTML).

Everything a report shows is embedded: charts are SVG data URIs drawn by matplotlib (text as paths, so no fonts
are needed), the stylesheet is inline, and the PDF renderer may only load ``data:`` URLs, so rendering never
touches the network.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from etl_assets.reports.model import Chart, Report

FORMATS = ("html", "md", "json", "pdf")
EMPTY = "–"
FONTS = '"DejaVu Sans", "Noto Color Emoji", "Droid Sans Fallback", "Liberation Sans", Arial, sans-serif'
"""The font stack of HTML and PDF: DejaVu (Debian ``fonts-dejavu-core``) for text and symbols, Noto Color Emoji
(``fonts-noto-color-emoji``) for emoji and Droid Sans Fallback (``fonts-droid-fallback``) for Chinese, Japanese
and Korean in the data; Pango falls back through fontconfig for anything else."""
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|&#!~])|(?<!\w)_|_(?!\w)")


@dataclass
class ReportFiles:
    """Where a rendered report was written."""

    paths: dict[str, Path] = field(default_factory=dict)
    pdf_pages: int | None = None
    markdown: str = ""


def format_value(value: Any, fmt: str = "text") -> str:
    """A cell or fact as text; ``None``/empty shows as a dash."""
    if value is None or value == "" or (isinstance(value, list | tuple) and not value) or (
        isinstance(value, float) and math.isnan(value)
    ):
        return EMPTY
    formatter = _FORMATTERS.get(fmt)
    if formatter is not None and isinstance(value, int | float) and not isinstance(value, bool):
        return formatter(value)
    if fmt == "list" and isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if fmt == "health":
        return str(value).upper()
    return str(value)


def _pct(share: float) -> str:
    if share == 0:
        return "0%"
    if 0 < share < 0.001:
        return "<0.1%"
    return f"{share:.1%}"


def _float(number: float) -> str:
    return f"{number:,.0f}" if abs(number) >= 100 else f"{number:,.2f}"


def _seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def _bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


_FORMATTERS = {"int": lambda v: f"{int(v):,}", "float": _float, "pct": _pct, "seconds": _seconds,
               "bytes": _bytes}


def markdown_escape(text: Any) -> str:
    """Text that Markdown shows literally (no HTML, links, emphasis or table breaks), on one line."""
    one_line = " ".join(str(text).split())
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), one_line)


# ------------------------------------------------------------------------------------------------------------ charts

CHART_FONTS = ("DejaVu Sans", "Droid Sans Fallback", "Symbola")
"""Charts are drawn with outline fonts (matplotlib cannot draw colour emoji): DejaVu, then CJK from Droid Sans
Fallback, then symbols and emoji from Symbola (Debian ``fonts-symbola``), where installed."""


@cache
def _chart_fonts() -> list[str]:
    """The chart font families found on this machine, registered with matplotlib (its font cache may predate them)."""
    from matplotlib import font_manager

    known = {font.name for font in font_manager.fontManager.ttflist}
    missing = [family for family in CHART_FONTS if family not in known]
    if missing:
        for path in font_manager.findSystemFonts():
            try:
                name = font_manager.FontProperties(fname=path).get_name()
            except (OSError, RuntimeError, ValueError):
                continue
            if name in missing:
                font_manager.fontManager.addfont(path)
                known.add(name)
    return [family for family in CHART_FONTS if family in known]


def chart_data_uri(chart: Chart) -> str:
    """The chart as an SVG ``data:`` URI: horizontal bars, largest on top, each labelled with its value; or for a
    histogram, adjacent vertical bars in label order."""
    from matplotlib import rc_context

    with rc_context({"font.family": _chart_fonts() or ["sans-serif"]}):
        return _svg_uri(_histogram_figure(chart) if chart.kind == "histogram" else _bars_figure(chart))


def _bars_figure(chart: Chart) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=(7.5, 0.9 + 0.3 * len(chart.labels)), layout="constrained")
    axes = figure.subplots()
    positions = range(len(chart.labels))
    bars = axes.barh(list(positions), chart.values, color="#4477aa", height=0.65)
    axes.set_yticks(list(positions), [_clip(label, 40) for label in chart.labels], fontsize=8)
    axes.invert_yaxis()
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(float(v), chart.format)))
    axes.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=chart.format == "int"))
    axes.tick_params(axis="x", labelsize=7)
    axes.bar_label(bars, labels=[format_value(v, chart.format) for v in chart.values], fontsize=7, padding=2)
    axes.margins(x=0.15)
    axes.spines[["top", "right"]].set_visible(False)
    if chart.format == "pct":
        axes.set_xlim(0, 1.15)
    return figure


HISTOGRAM_TICKS = 6


def _histogram_figure(chart: Chart) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=(5.2, 2.4), layout="constrained")
    axes = figure.subplots()
    positions = list(range(len(chart.labels)))
    axes.bar(positions, chart.values, width=0.92, color="#4477aa", align="edge")
    every = max(1, math.ceil(len(positions) / HISTOGRAM_TICKS))
    ticks = positions[::every]
    axes.set_xticks(ticks, [_clip(chart.labels[i], 16) for i in ticks], fontsize=7, rotation=30, ha="right",
                    rotation_mode="anchor")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(float(v), chart.format)))
    axes.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=chart.format == "int"))
    axes.tick_params(axis="y", labelsize=7)
    axes.set_xlim(0, len(positions))
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def _svg_uri(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_bar(value: float, largest: float, width: int = 20) -> str:
    """A bar of block characters for the Markdown rendering of a chart."""
    if largest <= 0 or value <= 0:
        return ""
    return "█" * max(1, round(width * value / largest))


# -------------------------------------------------------------------------------------------------------- templates

@cache
def _environment(autoescape: bool) -> Environment:
    environment = Environment(loader=PackageLoader("etl_assets.reports", "templates"), autoescape=autoescape,
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)
    environment.filters["fmt"] = format_value
    environment.filters["md"] = markdown_escape
    environment.globals["text_bar"] = text_bar
    return environment


def render_html(report: Report, *, charts: bool = True) -> str:
    every_chart = [*report.charts, *(c for section in report.sections for c in section.charts)]
    images = {c.name: chart_data_uri(c) for c in every_chart if c.labels} if charts else {}
    template = _environment(True).get_template("report.html.j2")
    return template.render(report=report, images=images, fonts=Markup(FONTS))


def render_markdown(report: Report, *, preview: bool = False) -> str:
    """The whole report, or with ``preview`` only its header, notes and summary table (for Dagster metadata)."""
    return _environment(False).get_template("report.md.j2").render(report=report, preview=preview)


def render_json(report: Report) -> str:
    return json.dumps(_finite(report.to_dict()), indent=2, ensure_ascii=False, default=str) + "\n"


def render_pdf(html: str) -> tuple[bytes, int]:
    """PDF bytes and page count of ``html``; only ``data:`` URLs may be loaded while rendering."""
    document = pdf_document(html)
    return document.write_pdf(), len(document.pages)


def pdf_document(html: str) -> Any:
    """The laid-out WeasyPrint document of ``html`` (pages, boxes; fonts once written), loading only ``data:``."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"}, timeout=1)
    return HTML(string=html, url_fetcher=fetcher).render()


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity: such numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------------------- output

def write_report(report: Report, directory: Path, formats: Iterable[str] = FORMATS) -> ReportFiles:
    """Write ``<directory>/<report.name>.<format>`` for each format; each file is replaced atomically."""
    wanted = list(dict.fromkeys(formats))
    unknown = sorted(set(wanted) - set(FORMATS))
    if unknown:
        raise ValueError(f"report {report.name}: unknown format(s) {unknown}; choose from {list(FORMATS)}")
    directory.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(markdown=render_markdown(report))
    html = render_html(report) if {"html", "pdf"} & set(wanted) else ""
    for fmt in wanted:
        content: str | bytes
        if fmt == "pdf":
            content, files.pdf_pages = render_pdf(html)
        elif fmt == "json":
            content = render_json(report)
        else:
            content = html if fmt == "html" else files.markdown
        files.paths[fmt] = _write_atomically(directory / f"{report.name}.{fmt}", content)
    return files


def _write_atomically(path: Path, content: str | bytes) -> Path:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(content, bytes):
        temporary.write_bytes(content)
    else:
        temporary.write_text(content, encoding="utf-8")
    os.replace(temporary, path)
    return path
