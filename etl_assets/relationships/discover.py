"""Discover exact candidate keys and foreign-key candidates across landed tables, pushed down to the warehouse.

Per table (tables side by side, ``workers`` at a time): one scan for counts and min/max of the key-able columns, one
look at a bounded subset of rows (a duplicate there disproves a key), one exact distinct count of the columns still
possibly unique, and exact checks of a few column combinations (``keys.find_keys``). Across tables: the cheap pruning
and evidence rules of ``inclusion.py``, one probe per referenced key (a subset of each candidate's values against one
scan of the key's table), then one exact statement per surviving candidate: distinct values and orphans, by range for
a gap-free integer key, by anti-join otherwise. Only rows of aggregates travel back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from etl_assets.profile.pushdown import Warehouse, dialect_of
from etl_assets.relationships import sql
from etl_assets.relationships.inclusion import (
    Candidate,
    ColumnFacts,
    TableFacts,
    Verified,
    candidates,
    probe_passes,
    select,
)
from etl_assets.relationships.keys import (
    MAX_KEY_COLUMNS,
    MAX_KEY_TEXT_LENGTH,
    KeyColumn,
    find_keys,
    key_family,
    key_priority,
)
from etl_assets.relationships.model import CandidateKey, Relationship, Relationships, TableRef

_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True)
class TableSpec:
    """A landed table to include: where it is, its declared key and the catalog's logical types."""

    source: str
    table: str
    namespace: str
    declared: tuple[str, ...] = ()
    known_types: dict[str, str] = field(default_factory=dict)


class WarehouseKeyProbe:
    """``keys.KeyProbe`` answered by SQL on one table."""

    def __init__(self, warehouse: Warehouse, namespace: str, table: str, rows: int):
        self.warehouse, self.dialect, self.namespace, self.table, self.rows = (
            warehouse, warehouse.dialect, namespace, table, rows)

    def subset_duplicates(self, combos: Sequence[tuple[str, ...]]) -> set[tuple[str, ...]]:
        row = _one(self.warehouse, sql.subset_sql(self.dialect, self.namespace, self.table, combos))
        return {combo for i, combo in enumerate(combos) if int(row[f"u{i}"] or 0) < int(row["n"] or 0)}

    def is_unique(self, combo: Sequence[str]) -> bool:
        row = _one(self.warehouse, sql.combo_distinct_sql(self.dialect, self.namespace, self.table, combo))
        return int(row["n"] or 0) == self.rows


def _one(warehouse: Warehouse, statement: str) -> dict[str, Any]:
    return warehouse.query_arrow(statement).to_pylist()[0]


def _parallel(work: Callable[[_T], _R], items: Iterable[_T], workers: int) -> list[_R]:
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, items))


def default_workers(warehouse: Warehouse) -> int:
    """Two statements at a time on a server; one on the embedded chdb engine (one engine per process)."""
    chdb = getattr(warehouse, "chdb_path", None)
    return 1 if chdb else 2


def table_facts(warehouse: Warehouse, spec: TableSpec) -> TableFacts | None:
    """Exact row count, per key-able column its facts, and the table's exact candidate keys; None when missing."""
    dialect = dialect_of(warehouse.dialect)
    listed = warehouse.table_columns(spec.namespace, spec.table)
    if not listed:
        return None
    notes: list[str] = []
    typed = [(name, key_family(spec.known_types.get(name) or dialect.logical_type(str(native))))
             for name, native in listed]
    keyable = [(name, family) for name, family in typed if family is not None]
    if len(keyable) > MAX_KEY_COLUMNS:
        ranked = sorted(range(len(keyable)), key=lambda i: (key_priority(keyable[i][0]), i))[:MAX_KEY_COLUMNS]
        notes.append(f"{spec.source}.{spec.table}: {len(keyable) - MAX_KEY_COLUMNS} of {len(keyable)} key-able "
                     f"columns not considered for keys or references (cap {MAX_KEY_COLUMNS})")
        keyable = [keyable[i] for i in sorted(ranked)]
    if not keyable:
        return TableFacts(spec.source, spec.table, spec.namespace, 0, {}, [], list(spec.declared), notes)
    stats = _one(warehouse, sql.facts_sql(warehouse.dialect, spec.namespace, spec.table, keyable))
    rows = int(stats["n"])
    subset = _one(warehouse, sql.subset_sql(warehouse.dialect, spec.namespace, spec.table,
                                            [(name,) for name, _ in keyable]))
    subset_rows = int(subset["n"] or 0)
    maybe_unique = [name for i, (name, family) in enumerate(keyable)
                    if rows >= 2 and int(stats[f"c{i}_n"]) == rows and int(subset[f"u{i}"] or 0) == subset_rows
                    and (stats.get(f"c{i}_len") or 0) <= MAX_KEY_TEXT_LENGTH
                    and (family != "integer" or int(stats[f"c{i}_max"]) - int(stats[f"c{i}_min"]) + 1 >= rows)]
    exact: dict[str, int] = {}
    if maybe_unique:
        counted = _one(warehouse, sql.distinct_sql(warehouse.dialect, spec.namespace, spec.table, maybe_unique))
        exact = {name: int(counted[f"d{i}"]) for i, name in enumerate(maybe_unique)}
    key_columns, facts = [], {}
    for i, (name, family) in enumerate(keyable):
        non_null, subset_distinct = int(stats[f"c{i}_n"]), int(subset[f"u{i}"] or 0)
        key_columns.append(KeyColumn(name, family, rows - non_null, exact.get(name) == rows and rows > 0,
                                     exact.get(name, subset_distinct), stats.get(f"c{i}_len")))
        if non_null:
            facts[name] = ColumnFacts(name, family, non_null, stats[f"c{i}_min"], stats[f"c{i}_max"],
                                      subset_distinct, exact.get(name), stats.get(f"c{i}_minlen"),
                                      stats.get(f"c{i}_len"))
    search = find_keys(key_columns, rows, WarehouseKeyProbe(warehouse, spec.namespace, spec.table, rows),
                       spec.declared)
    notes.extend(f"{spec.source}.{spec.table}: {note}" for note in search.notes)
    return TableFacts(spec.source, spec.table, spec.namespace, rows, facts, search.keys, list(spec.declared), notes)


def _probe(warehouse: Warehouse, group: list[Candidate]) -> list[Candidate]:
    """The candidates of one referenced key whose subset of values is mostly found in it (one scan of its table)."""
    dense = [c for c in group if c.dense_range is not None]
    sparse = [c for c in group if c.dense_range is None]
    if not sparse:
        return dense
    row = _one(warehouse, sql.probe_sql(warehouse.dialect, sparse[0].key,
                                        [(*c.dependent, c.value_range) for c in sparse]))
    passed = []
    for i, candidate in enumerate(sparse):
        if not probe_passes(candidate, int(row[f"s{i}"] or 0), int(row[f"m{i}"] or 0)):
            continue
        if f"r{i}" in row:
            candidate = dataclasses.replace(candidate, in_range=int(row[f"r{i}"] or 0))
        if candidate.evidence_possible():
            passed.append(candidate)
    return dense + passed


def _verify(warehouse: Warehouse, candidate: Candidate) -> Verified:
    row = _one(warehouse, sql.orphans_sql(warehouse.dialect, candidate.dependent, candidate.key,
                                          candidate.dense_range))
    return Verified(candidate, int(row["distinct_values"] or 0), int(row["orphans"] or 0))


def discover(warehouse: Warehouse, specs: Sequence[TableSpec], workers: int | None = None) -> Relationships:
    workers = workers or default_workers(warehouse)
    found = _parallel(lambda spec: (spec, table_facts(warehouse, spec)), specs, workers)
    notes = [f"{spec.source}.{spec.table}: not in the warehouse ({spec.namespace}.{spec.table}); skipped"
             for spec, facts in found if facts is None]
    tables = [facts for _, facts in found if facts is not None]
    for facts in tables:
        notes.extend(facts.notes)
    groups: dict[tuple, list[Candidate]] = {}
    for candidate in candidates(tables):
        groups.setdefault((candidate.ref.source, candidate.ref.table, candidate.ref_columns), []).append(candidate)
    probed = [c for group in _parallel(lambda g: _probe(warehouse, g), groups.values(), workers) for c in group]
    verified = _parallel(lambda c: _verify(warehouse, c), probed, workers)
    kept = select(verified)
    notes.append(f"{len(tables)} tables, {sum(len(t.keys) for t in tables)} candidate keys; "
                 f"{sum(len(g) for g in groups.values())} reference candidates after pruning, {len(probed)} verified "
                 f"exactly, {len(kept)} kept")
    return Relationships(keys=_keys(tables), relationships=[_relationship(v) for v in kept], notes=notes)


def _keys(tables: Sequence[TableFacts]) -> list[CandidateKey]:
    return [CandidateKey(TableRef(t.source, t.table), tuple(key), declared=key == t.declared)
            for t in tables for key in t.keys]


def _relationship(item: Verified) -> Relationship:
    c = item.candidate
    if c.dense_range is not None:
        evidence = f"names agree and values lie within the gap-free key range {c.dense_range[0]}..{c.dense_range[1]}"
    elif len(c.columns) > 1:
        evidence = "the value combinations are contained in the composite key"
    else:
        evidence = "the values are contained in the key" + (" and the names agree" if c.named else "")
    return Relationship(TableRef(c.table.source, c.table.table), c.columns, TableRef(c.ref.source, c.ref.table),
                        c.ref_columns, round(item.match_share, 6), item.orphans, item.distinct_values,
                        evidence=evidence)
