"""Exact candidate keys of one table: single columns, then pairs, then triples, then the whole row.

Shared by the profile (``TableProfile.candidate_keys``) and relationship discovery. Work is bounded: at most
``MAX_KEY_COLUMNS`` columns are considered, composites are tried only when no single column is unique, each width
is first screened on a bounded subset of rows (a duplicate there proves a combination is not a key), and at most
``MAX_EXACT_CHECKS`` combinations are verified exactly over the whole table. A table with fewer than two rows has no
inferred keys: every column of a one-row table is trivially unique.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from etl_assets.profile.semantic import base_logical

MAX_KEY_COLUMNS = 64
"""Columns considered for keys per table (key-like names and leftmost first); the rest are named in a note."""
MAX_COMPOSITE_COLUMNS = 8
"""Columns combined into pairs and triples (key-like names and time columns first, then the most distinct)."""
MAX_EXACT_CHECKS = 8
"""Composite combinations verified exactly over the whole table, per table."""
SUBSET_BATCH = 4
"""Combinations screened on the subset per statement, in rank order, stopping at the first key."""
MAX_WHOLE_ROW_COLUMNS = 16
"""A table with no narrower key is checked for duplicate rows (the whole row as its key) up to this width."""
MAX_KEY_TEXT_LENGTH = 64
"""Longer strings are free text (comments, descriptions), not keys, even when no two rows repeat one."""
KEY_FAMILIES = {"int16": "integer", "int32": "integer", "int64": "integer", "string": "string", "uuid": "uuid",
                "date": "date", "timestamp": "timestamp", "timestamptz": "timestamptz"}
KEY_NAME_HINTS = ("id", "key", "code", "no", "num", "number", "uuid", "pk")
TEMPORAL_FAMILIES = ("date", "timestamp", "timestamptz")


def key_family(logical_type: str) -> str | None:
    """The comparison family of a key-able logical type (integers compare with integers ...); None: not a key type
    (floats, decimals, booleans, JSON, binary, time of day)."""
    return KEY_FAMILIES.get(base_logical(logical_type))


@dataclass(frozen=True)
class KeyColumn:
    name: str
    family: str | None
    nulls: int
    unique: bool
    """Exactly: no two rows share a value (and there are no NULLs)."""
    distinct_hint: int
    """The exact distinct count, or a lower bound of it (distinct values in a subset of rows)."""
    max_length: int | None = None

    @property
    def keyable(self) -> bool:
        return (self.family is not None and self.nulls == 0
                and (self.max_length is None or self.max_length <= MAX_KEY_TEXT_LENGTH))


class KeyProbe(Protocol):
    """Exact facts about combinations of columns, computed where the data is."""

    def subset_duplicates(self, combos: Sequence[tuple[str, ...]]) -> set[tuple[str, ...]]:
        """The combinations that repeat a value within a bounded subset of rows (so are not keys)."""

    def is_unique(self, combo: Sequence[str]) -> bool:
        """Exactly over the whole table: no two rows share the combination (callers pass NULL-free columns)."""


@dataclass
class KeySearch:
    keys: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def key_priority(name: str) -> int:
    lowered = name.lower()
    return 0 if any(lowered == hint or lowered.endswith(("_" + hint, hint)) for hint in KEY_NAME_HINTS) else 1


def considered(columns: Sequence[KeyColumn], limit: int = MAX_KEY_COLUMNS) -> tuple[list[KeyColumn], list[str]]:
    """The key-able columns to consider (key-like names first, then table order) and a note when capped."""
    keyable = [c for c in columns if c.keyable]
    ranked = sorted(enumerate(keyable), key=lambda pair: (key_priority(pair[1].name), pair[0]))
    if len(ranked) <= limit:
        return keyable, []
    kept = {c.name for _, c in ranked[:limit]}
    return ([c for c in keyable if c.name in kept],
            [f"keys: {len(keyable) - limit} of {len(keyable)} key-able columns not considered (cap {limit})"])


def find_keys(columns: Sequence[KeyColumn], rows: int, probe: KeyProbe, declared: Sequence[str] = ()) -> KeySearch:
    """The table's exact candidate keys, the declared key first when the data bears it out."""
    search = KeySearch()
    declared = list(declared)
    by_name = {c.name: c for c in columns}
    if declared and rows > 0 and all(n in by_name and by_name[n].nulls == 0 for n in declared):
        if (len(declared) == 1 and by_name[declared[0]].unique) or (len(declared) > 1 and probe.is_unique(declared)):
            search.keys.append(declared)
    if rows < 2:
        if rows == 1:
            search.notes.append("keys: one row, so every column is trivially unique; no key inferred")
        return search
    pool, capped = considered(columns)
    search.notes.extend(capped)
    singles = [[c.name] for c in sorted(pool, key=lambda c: key_priority(c.name)) if c.unique]
    search.keys.extend(key for key in singles if key not in search.keys)
    if singles or any(len(key) > 1 for key in search.keys):
        return search
    composite = _composite_key(pool, rows, probe, search.notes)
    if composite is None and len(columns) <= MAX_WHOLE_ROW_COLUMNS and len(columns) > 1:
        whole = [c.name for c in columns]
        if all(c.nulls == 0 for c in columns) and probe.is_unique(whole):
            composite = whole
            search.notes.append("keys: rows are unique only as a whole (every column together is the key)")
    if composite is not None and composite not in search.keys:
        search.keys.append(composite)
    return search


def _part_priority(column: KeyColumn) -> int:
    return 0 if key_priority(column.name) == 0 or column.family in TEMPORAL_FAMILIES else 1


def _composite_key(pool: Sequence[KeyColumn], rows: int, probe: KeyProbe, notes: list[str]) -> list[str] | None:
    """The first unique pair (else triple) of parts ranked by key-like names and time columns, then by the smallest
    product of distinct counts (the tightest combination, e.g. ``(order, line number)``)."""
    parts = sorted((c for c in pool if 1 < c.distinct_hint < rows), key=lambda c: (_part_priority(c), -c.distinct_hint))
    parts = parts[:MAX_COMPOSITE_COLUMNS]
    order = {c.name: i for i, c in enumerate(pool)}
    budget = MAX_EXACT_CHECKS
    for width in (2, 3):
        combos = list(itertools.combinations(parts, width))
        combos.sort(key=lambda combo: (sum(_part_priority(c) for c in combo),
                                       math.prod(c.distinct_hint for c in combo)))
        names = [tuple(sorted((c.name for c in combo), key=order.__getitem__)) for combo in combos]
        for start in range(0, len(names), SUBSET_BATCH):
            batch = names[start:start + SUBSET_BATCH]
            repeated = probe.subset_duplicates(batch)
            for combo in (n for n in batch if n not in repeated):
                if budget == 0:
                    notes.append(f"keys: stopped after {MAX_EXACT_CHECKS} exact checks of column combinations")
                    return None
                budget -= 1
                if probe.is_unique(combo):
                    return list(combo)
    return None
