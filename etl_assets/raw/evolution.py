"""Schema evolution: how the landed (warehouse) schema follows the source's.

New source columns are added; a column whose type grows (int32 -> int64, a wider decimal) is widened; a column that
narrows keeps its wider landed type; a column that disappears stays (NULL in new rows). A type that neither holds
the other (int -> string, timestamp -> int) is a conflict: the table is not loaded until it is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from resources.schema import Column, TableSchema, widest_type


@dataclass(frozen=True)
class SchemaPlan:
    landed: TableSchema
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    widened: dict[str, tuple[str, str]] = field(default_factory=dict)
    narrowed: dict[str, tuple[str, str]] = field(default_factory=dict)
    conflicts: list[dict[str, str]] = field(default_factory=list)

    def diff(self) -> dict[str, Any]:
        return {
            "added": self.added, "removed": self.removed,
            "widened": {name: list(types) for name, types in self.widened.items()},
            "narrowed": {name: list(types) for name, types in self.narrowed.items()},
            "conflicts": self.conflicts,
        }

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.widened or self.narrowed or self.conflicts)


def plan_schema(previous_landed: TableSchema | None, live: TableSchema) -> SchemaPlan:
    """Compare the schema landed so far with the live source schema; ``landed`` is what the target must look like."""
    if previous_landed is None:
        return SchemaPlan(landed=_nullable(live))
    live_columns = {c.name: c for c in live.columns}
    landed_columns: list[Column] = []
    plan: dict[str, Any] = {"removed": [], "widened": {}, "narrowed": {}, "conflicts": []}
    for old in previous_landed.columns:
        new = live_columns.get(old.name)
        if new is None:
            plan["removed"].append(old.name)
            landed_columns.append(replace(old, nullable=True))
            continue
        landed_columns.append(_landed_column(old, new, plan))
    known = {c.name for c in previous_landed.columns}
    added = [c.name for c in live.columns if c.name not in known]
    landed_columns += [replace(live_columns[name], nullable=True) for name in added]
    landed = replace(live, columns=landed_columns)
    return SchemaPlan(landed=landed, added=added, **plan)


def _landed_column(old: Column, new: Column, plan: dict[str, Any]) -> Column:
    if old.logical_type == new.logical_type:
        return replace(new, nullable=True)
    wider = widest_type(old.logical_type, new.logical_type)
    if wider is None:
        plan["conflicts"].append({
            "column": new.name, "landed_type": old.logical_type, "source_type": new.logical_type,
            "detail": f"column {new.name!r} changed from {old.logical_type} to {new.logical_type} "
                      f"(source type {new.source_type or '?'}); the landed column cannot hold both",
        })
        return replace(old, nullable=True)
    if wider == new.logical_type:
        plan["widened"][new.name] = (old.logical_type, new.logical_type)
    else:
        plan["narrowed"][new.name] = (old.logical_type, new.logical_type)
    return replace(new, logical_type=wider, nullable=True)


def _nullable(schema: TableSchema) -> TableSchema:
    """Landed columns accept NULL (only primary-key columns are NOT NULL, through the key constraint)."""
    return replace(schema, columns=[replace(c, nullable=True) for c in schema.columns])
