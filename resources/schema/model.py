"""The schema model: what a source table is (columns, logical types, keys, cursor), shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from resources.schema.arrow import to_arrow
from resources.schema.types import LogicalType, parse_logical


@dataclass(frozen=True)
class Column:
    name: str
    logical_type: str
    """The logical type as text (see :mod:`resources.schema.types`); ``type`` gives it parsed."""
    nullable: bool = True
    source_type: str = ""
    description: str = ""

    @property
    def type(self) -> LogicalType:
        return parse_logical(self.logical_type)


@dataclass
class TableSchema:
    """One source table as discovered (and then refined by datasources.yaml settings)."""

    source: str
    name: str
    columns: list[Column]
    primary_key: list[str] = field(default_factory=list)
    cursor_candidates: list[str] = field(default_factory=list)
    row_estimate: int | None = None
    namespace: str = ""
    cursor_column: str | None = None

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.source}.{self.name} has no column {name!r}")

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, to_arrow(c.logical_type), nullable=c.nullable) for c in self.columns])

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "name": self.name, "namespace": self.namespace,
            "columns": [c.__dict__ for c in self.columns], "primary_key": self.primary_key,
            "cursor_candidates": self.cursor_candidates, "row_estimate": self.row_estimate,
            "cursor_column": self.cursor_column,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSchema:
        return cls(
            source=data["source"], name=data["name"], namespace=data.get("namespace", ""),
            columns=[Column(**c) for c in data["columns"]], primary_key=list(data.get("primary_key", [])),
            cursor_candidates=list(data.get("cursor_candidates", [])), row_estimate=data.get("row_estimate"),
            cursor_column=data.get("cursor_column"),
        )


@dataclass(frozen=True)
class QuarantinedRecord:
    """A record that could not be loaded, with where it came from and why."""

    source: str
    table: str
    location: str
    reason: str
    raw: str = ""
