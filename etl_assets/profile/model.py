"""What a profile holds. Produced by the profile layer, read by checks, recommendations, DDL and reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

SEMANTIC_TYPES = (
    "integer", "decimal", "boolean", "date", "timestamp", "email", "phone", "url", "uuid", "ip", "json",
    "category", "text", "identifier", "latitude", "longitude",
)
COORDINATES = ("latitude", "longitude")


@dataclass
class ColumnProfile:
    name: str
    logical_type: str
    semantic_type: str
    null_count: int
    null_share: float
    distinct_count: int
    distinct_share: float
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    top_values: list[tuple[str, int]] = field(default_factory=list)
    min_length: int | None = None
    max_length: int | None = None
    mean_length: float | None = None
    patterns: list[tuple[str, int]] = field(default_factory=list)
    description: str = ""
    physical_type: str = ""
    """The type as the warehouse stores it (e.g. ``numeric(12,2)``, ``Nullable(String)``, Arrow's ``int64``)."""
    histogram_edges: list[float] = field(default_factory=list)
    """Bin edges of the distribution of a numeric, date or timestamp column (dates and timestamps as seconds since
    1970-01-01 UTC); one more edge than counts. Empty for other columns and columns without values."""
    histogram_counts: list[int] = field(default_factory=list)
    """Non-NULL values per bin; each bin holds its lower edge, the last one its upper edge too."""


@dataclass
class GrowthFacts:
    """From the ingestion log: how often the table is loaded and how fast it grows."""

    loads: int = 0
    rows_per_day: float | None = None
    loads_per_day: float | None = None
    last_loaded_at: str | None = None


@dataclass
class TableProfile:
    source: str
    table: str
    row_count: int
    size_bytes: int | None
    columns: list[ColumnProfile]
    candidate_keys: list[list[str]] = field(default_factory=list)
    time_columns: list[str] = field(default_factory=list)
    equivalent_columns: list[list[str]] = field(default_factory=list)
    """Groups of columns that determine each other one to one (a code and its name): a sort key or a GROUP BY takes
    one of each group."""
    duplicate_rows: int = 0
    sampled: bool = False
    sample_rows: int | None = None
    growth: GrowthFacts = field(default_factory=GrowthFacts)
    profiled_at: str = ""
    notes: list[str] = field(default_factory=list)
    """How the facts were obtained (exact, sampled, approximate) and anything that could not be computed."""

    def column(self, name: str) -> ColumnProfile:
        return next(c for c in self.columns if c.name == name)

    def repeats(self, name: str, others: Iterable[str]) -> bool:
        """Whether column ``name`` is one to one with any of ``others`` (``equivalent_columns``)."""
        group = next((g for g in self.equivalent_columns if name in g), [name])
        return any(other != name and other in group for other in others)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableProfile:
        values = dict(data)
        values["columns"] = [ColumnProfile(**c) for c in data["columns"]]
        values["growth"] = GrowthFacts(**data.get("growth", {}))
        return cls(**values)
