"""Looking into a laid-out WeasyPrint document: headings left at the bottom of a page, and characters that the
embedded fonts do not draw."""

from __future__ import annotations

import io
import unicodedata
from typing import Any

HEADINGS = ("h1", "h2", "h3", "caption", "figcaption")


def _boxes(box: Any, inside_heading: bool = False):
    """(box, inside a heading) for every box under ``box``, page-margin boxes (header, footer) left out."""
    from weasyprint.formatting_structure.boxes import MarginBox

    for child in getattr(box, "children", ()):
        if isinstance(child, MarginBox):
            continue
        heading = inside_heading or getattr(child, "element_tag", None) in HEADINGS
        yield child, heading
        yield from _boxes(child, heading)


def _text(box: Any) -> str:
    from weasyprint.formatting_structure.boxes import TextBox

    if isinstance(box, TextBox):
        return box.text
    return "".join(_text(child) for child in getattr(box, "children", ()))


def stranded_headings(document: Any) -> list[tuple[int, str]]:
    """(page number, heading text) of each heading with nothing of its section below it on its page."""
    from weasyprint.formatting_structure.boxes import ReplacedBox, TextBox

    stranded = []
    for number, page in enumerate(document.pages, start=1):
        boxes = list(_boxes(page._page_box))
        content = [box for box, in_heading in boxes if not in_heading and isinstance(box, TextBox | ReplacedBox)]
        headings = {}
        for box, _ in boxes:  # the outermost box of each heading element (its line and text boxes share the tag)
            if getattr(box, "element_tag", None) in HEADINGS and _text(box).strip():
                headings.setdefault(id(box.element), box)
        for box in headings.values():
            bottom = box.position_y + box.margin_height()
            if not any(other.position_y >= bottom - 0.5 for other in content):
                stranded.append((number, " ".join(_text(box).split())))
    return stranded


def glyph_gaps(document: Any) -> dict[str, list[str]]:
    """Per embedded font, the characters it was asked to draw but has no glyph for (rendered as empty boxes).

    Call after ``document.write_pdf()``: WeasyPrint collects the fonts while drawing. A character counts as drawn
    when the font's own cmap maps it (checked with fontTools on the embedded font file), so a fallback glyph that
    WeasyPrint substituted for a missing one is caught too."""
    from fontTools.ttLib import TTFont

    gaps: dict[str, list[str]] = {}
    for font in document.fonts.values():
        missing = {chr(codepoint) for codepoint in font.missing}
        face = TTFont(io.BytesIO(font.file_content), fontNumber=font.index, lazy=True)
        cmap = face.getBestCmap() or {}
        drawn = {char for text in font.to_unicode.values() for char in str(text)}
        missing |= {char for char in drawn if ord(char) not in cmap and not char.isspace()
                    and unicodedata.category(char) not in ("Mn", "Me", "Cf")}  # marks, selectors: part of a cluster
        if missing:
            gaps[font.family] = sorted(missing)
    return gaps
