"""Discover exact candidate keys and foreign-key candidates across landed tables, pushed down to the warehouse.

Per table (tables side by side, ``workers`` at a time): a bounded subset of rows (a duplicate there disproves a key),
then one scan for counts, min/max and the exact distinct count of the columns unique in the subset, then exact checks
of a few column combinations (``keys.find_keys``). Across tables: the cheap pruning and evidence rules of
``inclusion.py``; per referenced key one probe (the first values of all its candidates looked up in one hash of the
key); then exactly, per surviving candidate, its distinct values (known from its table's scan, else one statement per
table) and its orphans: by range for a gap-free integer key, else by one anti-join of all the key's candidates
against one hash of the key. Only rows of aggregates travel back.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg

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
from etl_assets.relationships.model import CandidateKey, KeyColumnType, Relationship, Relationships, TableRef
from resources.protocol import SourceUnavailableError, error_text

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
    sync_mode: str = "full"
    known_distinct: dict[str, int] = field(default_factory=dict)
    """Exact distinct counts per column already computed (the table's profile) over ``known_rows`` rows: reused
    instead of recounted while the table still has that many rows."""
    known_rows: int | None = None


WORK_MEM = "256MB"
"""PostgreSQL ``work_mem`` of discovery's sessions: a key's hash and the distinct sorts of a million-row column stay
in memory instead of spilling to disk in batches."""
BATCH = 32
"""Dependents checked exactly against one key per statement (one hash of the key for all of them)."""
PROBE_BATCH = 256
"""Dependents whose first values are looked up in one key per statement (one scan of the key for all of them)."""


class Session:
    """Runs discovery's statements: on PostgreSQL over one connection per worker thread with :data:`WORK_MEM`,
    elsewhere through the warehouse's ``query_arrow`` (chdb has one engine per process)."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse, self.dialect = warehouse, warehouse.dialect
        self._pooled = warehouse.dialect == "postgres" and hasattr(warehouse, "connect")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections = ExitStack()

    def rows(self, statement: str) -> list[dict[str, Any]]:
        if not self._pooled:
            return self.warehouse.query_arrow(statement).to_pylist()
        try:
            with self._connection().cursor() as cursor:
                cursor.execute(statement)
                names = [column.name for column in cursor.description or []]
                return [dict(zip(names, row)) for row in cursor.fetchall()]
        except psycopg.OperationalError as error:
            if not self._connection().broken:
                raise
            raise SourceUnavailableError(f"relationship discovery: the warehouse connection was lost: "
                                         f"{error_text(error)}") from None

    def one(self, statement: str) -> dict[str, Any]:
        return self.rows(statement)[0]

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            with self._lock:
                connection = self._connections.enter_context(self.warehouse.connect(autocommit=True))
            connection.execute("SELECT set_config('work_mem', %s, false)", (WORK_MEM,))
            self._local.connection = connection
        return connection

    def close(self) -> None:
        self._connections.close()


class WarehouseKeyProbe:
    """``keys.KeyProbe`` answered by SQL on one table."""

    def __init__(self, session: Session, namespace: str, table: str, rows: int):
        self.session, self.dialect, self.namespace, self.table, self.rows = (
            session, session.dialect, namespace, table, rows)

    def subset_duplicates(self, combos: Sequence[tuple[str, ...]]) -> set[tuple[str, ...]]:
        row = self.session.one(sql.subset_sql(self.dialect, self.namespace, self.table, combos))
        return {combo for i, combo in enumerate(combos) if int(row[f"u{i}"] or 0) < int(row["n"] or 0)}

    def is_unique(self, combo: Sequence[str]) -> bool:
        row = self.session.one(sql.combo_distinct_sql(self.dialect, self.namespace, self.table, combo))
        return int(row["n"] or 0) == self.rows


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


def _chunks(items: Sequence[_T], size: int) -> list[Sequence[_T]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def table_facts(session: Session, spec: TableSpec) -> TableFacts | None:
    """Exact row count, per key-able column its facts, and the table's exact candidate keys; None when missing.

    The bounded subset comes first: the columns unique there get their exact distinct count in the same scan as
    the counts and min/max, so the table is read once (and those counts serve the inclusion checks later)."""
    warehouse = session.warehouse
    dialect = dialect_of(warehouse.dialect)
    listed = warehouse.table_columns(spec.namespace, spec.table)
    if not listed:
        return None
    notes: list[str] = []
    logical = {name: spec.known_types.get(name) or dialect.logical_type(str(native)) for name, native in listed}
    keyable = [(name, family) for name, family in ((n, key_family(t)) for n, t in logical.items())
               if family is not None]
    if len(keyable) > MAX_KEY_COLUMNS:
        ranked = sorted(range(len(keyable)), key=lambda i: (key_priority(keyable[i][0]), i))[:MAX_KEY_COLUMNS]
        notes.append(f"{spec.source}.{spec.table}: {len(keyable) - MAX_KEY_COLUMNS} of {len(keyable)} key-able "
                     f"columns not considered for keys or references (cap {MAX_KEY_COLUMNS})")
        keyable = [keyable[i] for i in sorted(ranked)]
    if not keyable:
        return TableFacts(spec.source, spec.table, spec.namespace, 0, {}, [], list(spec.declared), notes,
                          spec.sync_mode)
    strings = [name for name, family in keyable if family == "string"]
    subset = session.one(sql.subset_sql(session.dialect, spec.namespace, spec.table, [(name,) for name, _ in keyable],
                                        strings=strings))
    subset_rows = int(subset["n"] or 0)
    unique_in_subset = [name for i, (name, _) in enumerate(keyable)
                        if subset_rows >= 2 and int(subset[f"u{i}"] or 0) == subset_rows
                        and int(subset.get(f"l{i}") or 0) <= MAX_KEY_TEXT_LENGTH]
    known = {n: spec.known_distinct[n] for n in unique_in_subset if n in spec.known_distinct}
    counted = [n for n in unique_in_subset if n not in known]
    stats = session.one(sql.facts_sql(session.dialect, spec.namespace, spec.table, keyable, counted))
    rows = int(stats["n"])
    if known and rows != spec.known_rows:
        notes.append(f"{spec.source}.{spec.table}: {rows:,} rows, not the {spec.known_rows:,} profiled: distinct "
                     f"counts recounted")
        recount = session.one(sql.distinct_sql(session.dialect, spec.namespace, spec.table, [(n,) for n in known]))
        known = {n: int(recount[f"d{i}"] or 0) for i, n in enumerate(known)}
    stats.update({f"c{i}_d": known[name] for i, (name, _) in enumerate(keyable) if name in known})
    key_columns, facts = [], {}
    for i, (name, family) in enumerate(keyable):
        non_null, subset_distinct = int(stats[f"c{i}_n"]), int(subset[f"u{i}"] or 0)
        exact = int(stats[f"c{i}_d"]) if name in unique_in_subset else None
        key_columns.append(KeyColumn(name, family, rows - non_null, rows >= 2 and exact == rows,
                                     exact if exact is not None else subset_distinct, stats.get(f"c{i}_len")))
        if non_null:
            facts[name] = ColumnFacts(name, family, non_null, stats[f"c{i}_min"], stats[f"c{i}_max"],
                                      subset_distinct, exact, stats.get(f"c{i}_minlen"), stats.get(f"c{i}_len"),
                                      logical[name])
    search = find_keys(key_columns, rows, WarehouseKeyProbe(session, spec.namespace, spec.table, rows),
                       spec.declared)
    notes.extend(f"{spec.source}.{spec.table}: {note}" for note in search.notes)
    return TableFacts(spec.source, spec.table, spec.namespace, rows, facts, search.keys, list(spec.declared), notes,
                      spec.sync_mode)


def _families(candidate: Candidate) -> list[str]:
    return [candidate.ref.columns[k].family for k in candidate.ref_columns]


def _probe(session: Session, group: Sequence[Candidate]) -> list[Candidate]:
    """The candidates of one referenced key whose first values are mostly found in it (one statement per
    :data:`BATCH` of them), with the key's density over their range when that is their only evidence."""
    sparse = [c for c in group if c.dense_range is None]
    passed = [c for c in group if c.dense_range is not None]
    for batch in _chunks(sparse, PROBE_BATCH):
        statement = sql.probe_sql(session.dialect, batch[0].key, _families(batch[0]), [c.dependent for c in batch])
        sampled, matched = [0] * len(batch), [0] * len(batch)
        for row in session.rows(statement):
            sampled[int(row["i"])] += int(row["s"] or 0)
            matched[int(row["i"])] += int(row["m"] or 0)
        passed += [c for i, c in enumerate(batch) if probe_passes(c, sampled[i], matched[i])]
    ranged = [c for c in passed if c.dense_range is None and not c.named and c.value_range is not None]
    if ranged:
        row = session.one(sql.in_range_sql(session.dialect, ranged[0].key, [c.value_range for c in ranged]))
        density = {id(c): int(row[f"r{i}"] or 0) for i, c in enumerate(ranged)}
        passed = [dataclasses.replace(c, in_range=density[id(c)]) if id(c) in density else c for c in passed]
    return [c for c in passed if c.evidence_possible()]


def _nested(candidate: Candidate) -> bool:
    """The dependent's [min, max] lies within the gap-free key's range: every value is a key value."""
    facts, (low, high) = candidate.dependent_facts, candidate.dense_range
    return facts is not None and low <= int(facts.min) and int(facts.max) <= high


def _repeated(facts: ColumnFacts) -> bool:
    """Each value repeats at least once on average in the bounded subset: few distinct values, so hash them."""
    return facts.subset_distinct * 2 <= min(facts.non_null, sql.SUBSET_ROWS)


def _verify(session: Session, found: Sequence[Candidate], workers: int) -> list[Verified]:
    """Exact distinct values and orphans of every candidate: distinct counts not known from the table's scan in one
    statement per dependent table, orphans by range for gap-free keys and by one anti-join per key for the rest."""
    tables = {(c.table.namespace, c.table.table): c.table for c in found}
    missing: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for c in found:
        facts = c.dependent_facts
        if (facts is None or facts.exact_distinct is None) and c.columns not in missing.get(c.dependent[:2], []):
            missing.setdefault(c.dependent[:2], []).append(c.columns)
    by_key: dict[tuple, list[Candidate]] = {}
    for c in found:
        if c.dense_range is None:
            by_key.setdefault(c.key, []).append(c)
    jobs: list[Callable[[], dict]] = []
    for key, group in by_key.items():
        for batch in _chunks(group, BATCH):
            def anti_join(batch: Sequence[Candidate] = batch) -> dict:
                repeated = [i for i, c in enumerate(batch)
                            if c.dependent_facts is not None and _repeated(c.dependent_facts)]
                rows = session.rows(sql.orphans_sql(session.dialect, batch[0].key, _families(batch[0]),
                                                    [c.dependent for c in batch], repeated))
                counts = {int(row["i"]): int(row["orphans"]) for row in rows}
                return {("orphans", id(c)): counts.get(i, 0) for i, c in enumerate(batch)}
            jobs.append(anti_join)
    for c in found:
        if c.dense_range is not None and not _nested(c):
            def outside(c: Candidate = c) -> dict:
                row = session.one(sql.outside_sql(session.dialect, c.dependent, *c.dense_range))
                return {("orphans", id(c)): int(row["orphans"] or 0)}
            jobs.append(outside)
    for (namespace, table), column_sets in missing.items():
        facts = tables[(namespace, table)].columns
        repeated = [s[0] for s in column_sets if len(s) == 1 and _repeated(facts[s[0]])]

        def distinct(namespace: str = namespace, table: str = table, sets: list = column_sets,
                     repeated: list = repeated) -> dict:
            row = session.one(sql.distinct_sql(session.dialect, namespace, table, sets, repeated))
            return {("distinct", namespace, table, s): int(row[f"d{i}"] or 0) for i, s in enumerate(sets)}
        jobs.append(distinct)
    results: dict = {}
    for part in _parallel(lambda job: job(), jobs, workers):
        results.update(part)
    verified = []
    for c in found:
        facts = c.dependent_facts
        distinct_values = (facts.exact_distinct if facts is not None and facts.exact_distinct is not None
                           else results[("distinct", *c.dependent)])
        verified.append(Verified(c, distinct_values, results.get(("orphans", id(c)), 0)))
    return verified


def discover(warehouse: Warehouse, specs: Sequence[TableSpec], workers: int | None = None) -> Relationships:
    workers = workers or default_workers(warehouse)
    session = Session(warehouse)
    try:
        return _discover(session, specs, workers)
    finally:
        session.close()


def _discover(session: Session, specs: Sequence[TableSpec], workers: int) -> Relationships:
    started = time.perf_counter()
    found = _parallel(lambda spec: (spec, table_facts(session, spec)), specs, workers)
    facts_done = time.perf_counter()
    notes = [f"{spec.source}.{spec.table}: not in the warehouse ({spec.namespace}.{spec.table}); skipped"
             for spec, facts in found if facts is None]
    tables = [facts for _, facts in found if facts is not None]
    for facts in tables:
        notes.extend(facts.notes)
    groups: dict[tuple, list[Candidate]] = {}
    for candidate in candidates(tables):
        groups.setdefault((candidate.ref.source, candidate.ref.table, candidate.ref_columns), []).append(candidate)
    probed = [c for group in _parallel(lambda g: _probe(session, g), groups.values(), workers) for c in group]
    probe_done = time.perf_counter()
    kept = select(_verify(session, probed, workers))
    verify_done = time.perf_counter()
    notes.append(f"{len(tables)} tables, {sum(len(t.keys) for t in tables)} candidate keys; "
                 f"{sum(len(g) for g in groups.values())} reference candidates after pruning, {len(probed)} verified "
                 f"exactly, {len(kept)} kept; seconds: table facts and keys {facts_done - started:.1f}, probes "
                 f"{probe_done - facts_done:.1f}, exact checks {verify_done - probe_done:.1f}")
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
                        evidence=evidence, ref_types=tuple(_key_type(c.ref, k) for k in c.ref_columns))


def _key_type(table: TableFacts, column: str) -> KeyColumnType:
    facts = table.columns[column]
    integer = facts.family == "integer"
    return KeyColumnType(column, facts.logical, int(facts.min) if integer else None,
                         int(facts.max) if integer else None,
                         facts.max_length if facts.family == "string" else None, table.sync_mode)
