"""Which column sets may reference which candidate keys, which inclusions count as evidence, and which to keep.

Pure logic over per-column facts. Cheap pruning first (same type family, the dependent's distinct values in a subset
not more than the key has, overlapping min/max ranges, and the dependent's range inside the key's unless the names
agree: a partial reference with orphans beyond the key's range is kept only then), then evidence: values
contained in a key are evidence of a reference unless the containment follows from the ranges alone, which is the
case for a gap-free integer key (any integer in [min, max] is in it) and for a column with one value. Such
candidates need their names to agree (a tie-breaker elsewhere). After exact verification, each dependent column set
keeps its clean references (the best named ones when several keys hold it), or else its best partial one when
enough of its values match.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from etl_assets.relationships.keys import key_priority

MIN_MATCH_SHARE = 0.95
"""A partial reference (some orphans) is reported when at least this share of its distinct values match ..."""
NAMED_MIN_MATCH_SHARE = 0.5
"""... or this share, when the names agree (``flights.tailnum`` and ``planes.tailnum``)."""
PROBE_MIN_SHARE = 0.5
"""A candidate is verified exactly only when this share of a subset of its values is found in the key."""
MAX_KEY_WIDTH = 3
MAX_COMPOSITE_CANDIDATES = 4
"""Dependent column combinations tried per (table, composite key)."""
NAME_EVIDENCE = 2
"""A name score from which names agree (see :func:`name_score`)."""
MAX_CHANCE = 1e-6
"""An inclusion is evidence when values contained in the key by chance would be this unlikely."""
UNREFERENCED_FAMILIES = ("timestamp", "timestamptz")
"""A unique timestamp is referenced alone only when the names agree (time joins are composite: (origin, hour))."""
GENERIC_NAMES = {"id", "key", "code", "no", "num", "number", "name", "uuid", "pk", "ref"}


@dataclass(frozen=True)
class ColumnFacts:
    name: str
    family: str
    non_null: int
    min: Any
    max: Any
    subset_distinct: int
    """Distinct values among the table's first rows: a lower bound of the exact count."""
    exact_distinct: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    logical: str = ""
    """The column's logical type (``int32``, ``string`` ...)."""

    @property
    def span(self) -> int | None:
        """How many values fit in [min, max] (integers and dates)."""
        if self.family == "integer":
            return int(self.max) - int(self.min) + 1
        if self.family == "date" and isinstance(self.min, dt.date):
            return (self.max - self.min).days + 1
        return None


@dataclass
class TableFacts:
    source: str
    table: str
    namespace: str
    rows: int
    columns: dict[str, ColumnFacts]
    keys: list[list[str]]
    declared: list[str]
    notes: list[str]
    sync_mode: str = "full"


@dataclass(frozen=True)
class Candidate:
    table: TableFacts
    columns: tuple[str, ...]
    ref: TableFacts
    ref_columns: tuple[str, ...]
    name_score: int
    dense_range: tuple[int, int] | None
    """The gap-free integer range of a single-column key: containment is then checked by range, exactly."""
    in_range: int | None = None
    """Key values within the dependent's [min, max] (from the probe; integers and dates)."""

    @property
    def dependent(self) -> tuple[str, str, tuple[str, ...]]:
        return self.table.namespace, self.table.table, self.columns

    @property
    def key(self) -> tuple[str, str, tuple[str, ...]]:
        return self.ref.namespace, self.ref.table, self.ref_columns

    @property
    def dependent_facts(self) -> ColumnFacts | None:
        return self.table.columns[self.columns[0]] if len(self.columns) == 1 else None

    @property
    def value_range(self) -> tuple[Any, Any] | None:
        """The dependent's [min, max] when the key's density there can be counted (single integer/date columns)."""
        facts = self.dependent_facts
        return (facts.min, facts.max) if facts is not None and facts.span is not None else None

    @property
    def named(self) -> bool:
        return self.name_score >= NAME_EVIDENCE

    def chance(self, distinct_values: int) -> float:
        """How likely ``distinct_values`` values would all be key values by chance: the key's density over the
        dependent's range to that power (1 for a gap-free key: containment then says nothing); 0 (unknown, taken
        as evidence) for strings, timestamps and composites with two values or more."""
        facts = self.dependent_facts
        if self.dense_range is not None:
            return 1.0
        if facts is not None and facts.span and self.in_range is not None:
            return min(1.0, self.in_range / facts.span) ** max(distinct_values, 1)
        return 1.0 if distinct_values < 2 else 0.0

    def evidence_possible(self) -> bool:
        """Before exact verification: could the inclusion be evidence at the most distinct values it can have?"""
        facts = self.dependent_facts
        if self.named or facts is None:
            return True
        most = min(facts.non_null, facts.span) if facts.span else facts.non_null
        return self.chance(most) <= MAX_CHANCE


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def stem(column: str) -> str:
    """The column name without a short table prefix (``l_orderkey`` -> ``orderkey``, ``ps_suppkey`` -> ``suppkey``)."""
    tokens = _tokens(column)
    if len(tokens) > 1 and len(tokens[0]) <= 2:
        tokens = tokens[1:]
    return "".join(tokens)


def name_score(column: str, ref_column: str, ref_table: str) -> int:
    """3: same (non-generic) name; 2: the referenced table's name plus its key's (``store_id`` -> ``stores.id``);
    1: a shared meaningful token; 0: nothing in common."""
    mine, theirs = stem(column), stem(ref_column)
    entity = "".join(singular(t) for t in _tokens(ref_table))
    if mine == theirs and mine not in GENERIC_NAMES:
        return 3
    if mine in (entity + theirs, entity, singular(entity) + theirs):
        return 2
    shared = (set(_tokens(column)) & (set(_tokens(ref_column)) | {singular(t) for t in _tokens(ref_table)}))
    return 1 if shared - GENERIC_NAMES and any(len(t) > 2 for t in shared) else 0


def dense_range(facts: ColumnFacts, rows: int) -> tuple[int, int] | None:
    if facts.family != "integer" or facts.min is None or rows < 1:
        return None
    low, high = int(facts.min), int(facts.max)
    return (low, high) if high - low + 1 == rows else None


def _overlaps(mine: ColumnFacts, theirs: ColumnFacts) -> bool:
    if mine.family != theirs.family or mine.non_null == 0 or theirs.min is None:
        return False
    return not (mine.max < theirs.min or mine.min > theirs.max)


def _within(mine: ColumnFacts, theirs: ColumnFacts) -> bool:
    """The dependent's [min, max] lies inside the key's: every value can be a key value."""
    return theirs.min <= mine.min and mine.max <= theirs.max


def _lengths_within(mine: ColumnFacts, theirs: ColumnFacts) -> bool:
    if None in (mine.min_length, mine.max_length, theirs.min_length, theirs.max_length):
        return True
    return theirs.min_length <= mine.min_length and mine.max_length <= theirs.max_length


def candidates(tables: Sequence[TableFacts]) -> list[Candidate]:
    """Every (dependent columns, key) pair that survives the cheap pruning and has evidence enough to verify."""
    found: list[Candidate] = []
    for ref in tables:
        if ref.rows < 2:
            continue
        for key in ref.keys:
            if len(key) > MAX_KEY_WIDTH:
                continue
            for table in tables:
                found.extend(_single(table, ref, key[0]) if len(key) == 1 else _composite(table, ref, key))
    return found


def _single(table: TableFacts, ref: TableFacts, key_column: str) -> list[Candidate]:
    key = ref.columns[key_column]
    dense = dense_range(key, ref.rows)
    found = []
    for column in table.columns.values():
        if (table is ref and column.name == key_column) or not _overlaps(column, key):
            continue
        score = name_score(column.name, key_column, ref.table)
        if column.subset_distinct * _min_share(score) > ref.rows:
            continue
        if dense is None and score < NAME_EVIDENCE and not _within(column, key):
            continue
        if column.family == "string" and score < NAME_EVIDENCE and not _lengths_within(column, key):
            continue
        trivial = dense is not None or column.min == column.max or key.family in UNREFERENCED_FAMILIES
        if trivial and score < NAME_EVIDENCE:
            continue
        found.append(Candidate(table, (column.name,), ref, (key_column,), score, dense))
    return found


def _composite(table: TableFacts, ref: TableFacts, key: Sequence[str]) -> list[Candidate]:
    if table is ref:
        return []
    options = [[c for c in table.columns.values()
                if _overlaps(c, ref.columns[k]) and ref.columns[k].min <= c.min and c.max <= ref.columns[k].max]
               for k in key]
    combos = [combo for combo in itertools.product(*options) if len({c.name for c in combo}) == len(combo)]
    scored = sorted(((sum(name_score(c.name, k, ref.table) for c, k in zip(combo, key)), combo) for combo in combos),
                    key=lambda pair: (-pair[0], [c.name for c in pair[1]]))
    return [Candidate(table, tuple(c.name for c in combo), ref, tuple(key), score, None)
            for score, combo in scored[:MAX_COMPOSITE_CANDIDATES]]


def _min_share(score: int) -> float:
    return NAMED_MIN_MATCH_SHARE if score >= NAME_EVIDENCE else MIN_MATCH_SHARE


def probe_passes(candidate: Candidate, sampled: int, matched: int) -> bool:
    return sampled > 0 and matched / sampled >= PROBE_MIN_SHARE


@dataclass(frozen=True)
class Verified:
    candidate: Candidate
    distinct_values: int
    orphans: int

    @property
    def match_share(self) -> float:
        return 1.0 - self.orphans / self.distinct_values if self.distinct_values else 0.0


def _rank(item: Verified) -> tuple[int, bool]:
    """Better names first, then a reference to the table's first (primary) candidate key."""
    c = item.candidate
    return c.name_score, bool(c.ref.keys) and tuple(c.ref.keys[0]) == c.ref_columns


def select(verified: Sequence[Verified]) -> list[Verified]:
    """Per dependent column set: its clean references ranked best (names, then the referenced table's first key),
    else its best partial one."""
    by_dependent: dict[tuple, list[Verified]] = {}
    for item in verified:
        c = item.candidate
        by_dependent.setdefault((c.table.source, c.table.table, c.columns), []).append(item)
    kept = []
    for items in by_dependent.values():
        items = [i for i in items if (i.candidate.named or i.candidate.chance(i.distinct_values) <= MAX_CHANCE)
                 and references_a_key(i.candidate)]
        clean = [i for i in items if i.orphans == 0 and i.distinct_values > 0]
        if clean:
            best = max(_rank(i) for i in clean)
            kept.extend(i for i in clean if _rank(i) == best)
            continue
        partial = [i for i in items if i.match_share >= _min_share(i.candidate.name_score)]
        if partial:
            kept.append(max(partial, key=lambda i: (i.candidate.name_score, i.match_share)))
    return _drop_implied(kept)


def references_a_key(candidate: Candidate) -> bool:
    """Whether the referenced columns are a key to reference: the table's declared or first candidate key, a
    composite key, or a column whose name says it identifies (``*_id``, ``code``, ...). Another single column that
    happens to be unique (``stores.city`` in a table of ten stores) is an attribute, not a key."""
    ref, columns = candidate.ref, candidate.ref_columns
    if len(columns) > 1 or list(columns) == list(ref.declared) or (ref.keys and tuple(ref.keys[0]) == columns):
        return True
    return key_priority(columns[0]) == 0


def _drop_implied(kept: list[Verified]) -> list[Verified]:
    """A clean key-to-key reference whose reverse is also clean is one 1:1 pair: keep the better named direction."""
    def side(table: TableFacts, columns: tuple[str, ...]) -> tuple:
        return table.source, table.table, columns

    pairs = {(side(i.candidate.table, i.candidate.columns), side(i.candidate.ref, i.candidate.ref_columns)): i
             for i in kept if i.orphans == 0}
    result = []
    for item in kept:
        c = item.candidate
        mine, theirs = side(c.table, c.columns), side(c.ref, c.ref_columns)
        reverse = pairs.get((theirs, mine)) if item.orphans == 0 else None
        if reverse is not None and (reverse.candidate.name_score, theirs) > (c.name_score, mine):
            continue
        result.append(item)
    return result
