"""What relationship discovery finds: per table its exact candidate keys, across tables the foreign-key candidates.

These are the contract between discovery (this layer), the recommendation (keys, joins, ClickHouse dictionaries),
the DDL (FOREIGN KEY / REFERENCES clauses or comments) and the generated dbt tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TableRef:
    source: str
    table: str

    def __str__(self) -> str:
        return f"{self.source}.{self.table}"


@dataclass(frozen=True)
class CandidateKey:
    """Columns whose values are unique and never NULL over the whole landed table (checked exactly)."""

    table: TableRef
    columns: tuple[str, ...]
    declared: bool = False
    """The source or datasources.yaml declares it as the primary key."""


@dataclass(frozen=True)
class KeyColumnType:
    """What a referenced key column's type is chosen from, so the columns that reference it can take the same type
    (``recommend.types.referenced_type`` applies the rules the key's own recommendation applies)."""

    column: str
    logical: str
    min: int | None = None
    """Integer keys: the smallest and largest value (exact, from discovery's scan)."""
    max: int | None = None
    max_length: int | None = None
    """String keys: the longest value."""
    sync_mode: str = "full"
    """The referenced table's sync mode (a growing table keeps its identifiers' source type)."""


@dataclass(frozen=True)
class Relationship:
    """Values of ``columns`` of ``table`` contained in the candidate key ``ref_columns`` of ``ref_table``."""

    table: TableRef
    columns: tuple[str, ...]
    ref_table: TableRef
    ref_columns: tuple[str, ...]
    match_share: float
    """Share of the distinct non-NULL values (tuples) of ``columns`` found in the referenced key (1.0: clean)."""
    orphans: int
    """Distinct non-NULL values (tuples) of ``columns`` with no match in the referenced key."""
    distinct_values: int
    evidence: str = ""
    """Why it is believed: contained in a key, or (gap-free integer keys) names that agree plus the ranges."""
    ref_types: tuple[KeyColumnType, ...] = ()
    """Per column of ``ref_columns``: what its type is chosen from."""

    @property
    def clean(self) -> bool:
        return self.orphans == 0


@dataclass
class Relationships:
    keys: list[CandidateKey] = field(default_factory=list)
    relationships: list[Relationship] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """How discovery went: what was capped or skipped, and how many candidates were pruned and verified."""

    def keys_of(self, source: str, table: str) -> list[CandidateKey]:
        return [k for k in self.keys if (k.table.source, k.table.table) == (source, table)]

    def outgoing(self, source: str, table: str) -> list[Relationship]:
        """The foreign-key candidates of ``source.table`` (it references other tables)."""
        return [r for r in self.relationships if (r.table.source, r.table.table) == (source, table)]

    def incoming(self, source: str, table: str) -> list[Relationship]:
        """The relationships that reference ``source.table`` (it is their dimension)."""
        return [r for r in self.relationships if (r.ref_table.source, r.ref_table.table) == (source, table)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Relationships:
        def ref(value: dict[str, Any]) -> TableRef:
            return TableRef(**value)

        keys = [CandidateKey(ref(k["table"]), tuple(k["columns"]), k.get("declared", False)) for k in data["keys"]]
        relationships = [
            Relationship(ref(r["table"]), tuple(r["columns"]), ref(r["ref_table"]), tuple(r["ref_columns"]),
                         r["match_share"], r["orphans"], r["distinct_values"], r.get("evidence", ""),
                         key_types(r.get("ref_types", ())))
            for r in data["relationships"]
        ]
        return cls(keys, relationships, list(data.get("notes", [])))


def key_types(values: Any) -> tuple[KeyColumnType, ...]:
    """``ref_types`` from their dicts (as JSON and the IO manager keep them) or as they are."""
    return tuple(v if isinstance(v, KeyColumnType) else KeyColumnType(**v) for v in values or ())
