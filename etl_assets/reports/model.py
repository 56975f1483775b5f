"""What a report holds: a presentation-neutral structure that analysis.py, quality.py and pipeline.py fill and
render.py draws.

Cells and facts keep their raw values (ints, shares as 0..1 floats, seconds) together with a *format* name, so the
JSON report stays machine-readable while HTML, Markdown and PDF show them formatted the same way.
Formats: text, int, float, pct, seconds, bytes, health, list.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Health = Literal["ok", "warn", "fail", "unknown"]
HEALTH_RANK: dict[str, int] = {"ok": 0, "unknown": 1, "warn": 2, "fail": 3}
IssueLevel = Literal["info", "warn", "fail"]


def worst(healths: list[str], default: Health = "ok") -> Health:
    """The most severe of ``healths`` (``default`` when empty)."""
    return max(healths, key=HEALTH_RANK.__getitem__, default=default)  # type: ignore[return-value]


@dataclass(frozen=True)
class Field:
    title: str
    format: str = "text"


@dataclass
class Grid:
    """A table of values with typed columns."""

    title: str
    fields: list[Field]
    rows: list[list[Any]]
    note: str = ""
    """Shown under the table, e.g. "showing the 20 most recent of 50 loads"."""


@dataclass(frozen=True)
class Fact:
    label: str
    value: Any
    format: str = "text"


@dataclass(frozen=True)
class Issue:
    level: IssueLevel
    text: str


@dataclass
class Chart:
    """A bar chart: one bar per label."""

    name: str
    title: str
    labels: list[str]
    values: list[float]
    format: str = "int"
    """How the values are shown on the axis: int, pct or float."""
    note: str = ""
    kind: str = "bars"
    """``bars``: horizontal bars, a ranking; ``histogram``: adjacent vertical bars in label order (bins of a
    distribution, or periods of time)."""


@dataclass
class Section:
    """Everything a report says about one table."""

    source: str
    table: str
    health: Health
    facts: list[Fact] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    """Charts about this table alone: rows over time, per-column distributions and top values."""

    @property
    def title(self) -> str:
        """``source.table``; just ``source`` for a section about a whole source or another part of the platform."""
        return f"{self.source}.{self.table}" if self.table else self.source


@dataclass
class Report:
    name: str
    title: str
    generated_at: str
    health: Health
    counts: dict[str, int | float]
    summary: Grid
    sections: list[Section] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)
    """Report-wide remarks, e.g. that the ingestion log could not be read."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
