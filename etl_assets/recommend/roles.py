"""The table's role (fact, event log, dimension, reference) and what its relationships add to the advice.

| role      | from the profile and the relationships                                                          |
|-----------|--------------------------------------------------------------------------------------------------|
| empty     | no rows                                                                                          |
| fact      | an event time, and foreign keys to other tables or numeric measures                              |
| dimension | referenced by another table's foreign key, or keyed with no event time, > reference limits       |
| reference | like a dimension, but <= REFERENCE_MAX_ROWS rows and <= REFERENCE_MAX_COLUMNS columns (a lookup) |
| event_log | an event time, no foreign keys, no measures                                                      |
| table     | none of these                                                                                    |
"""

from __future__ import annotations

import re

from etl_assets.profile.model import COORDINATES, ColumnProfile
from etl_assets.recommend.facts import SMALL_TABLE_ROWS, Facts
from etl_assets.recommend.model import ForeignKey, Join, Reason, Recommendation
from etl_assets.relationships.model import Relationship, Relationships

REFERENCE_MAX_ROWS = 1_000
REFERENCE_MAX_COLUMNS = 4
FOREIGN_KEY_MIN_MATCH = 0.99
"""A relationship whose values match the referenced key at least this share is advised as a foreign key."""
JOIN_MIN_MATCH = 0.9
"""... and at least this share as a suggested join."""
DICTIONARY_MAX_ROWS = 1_000_000
"""A dimension joined by another table and at most this big is also suggested as a ClickHouse dictionary."""
MEASURE_MIN_DISTINCT = 20
_ID_LIKE = re.compile(r"(^id$|_id$|key$|uuid|code$)", re.IGNORECASE)
_NUMERIC = ("int16", "int32", "int64", "float32", "float64")


def measures(facts: Facts) -> list[ColumnProfile]:
    """Numeric columns that are neither keys, identifiers, codes, coordinates nor low-cardinality attributes."""
    keyed = set(facts.primary_key)
    return [
        c for c in facts.profile.columns
        if (c.logical_type in _NUMERIC or c.logical_type.startswith("decimal")) and c.name not in keyed
        and c.name not in facts.unusable and not _ID_LIKE.search(c.name)
        and c.semantic_type not in ("identifier", *COORDINATES)
        and c.distinct_count >= MEASURE_MIN_DISTINCT
    ]


def choose_role(facts: Facts, relationships: Relationships | None, recommendation: Recommendation) -> None:
    profile = facts.profile
    outgoing = relationships.outgoing(profile.source, profile.table) if relationships else []
    incoming = relationships.incoming(profile.source, profile.table) if relationships else []
    role, fact = _role(facts, outgoing, incoming)
    recommendation.role = role  # type: ignore[assignment]
    recommendation.reasons.append(Reason(f"role: {role}", fact))


def _role(facts: Facts, outgoing: list[Relationship], incoming: list[Relationship]) -> tuple[str, str]:
    if facts.rows == 0:
        return "empty", "row_count=0"
    event = facts.event_time
    found = measures(facts)
    referenced = _referencing(incoming)
    if event is not None and (outgoing or found) and not (incoming and not outgoing):
        parts = [f"row_count={facts.rows:,}; event time {event.name}"]
        if outgoing:
            parts.append(f"references {_referenced(outgoing)}")
        if found:
            parts.append(f"measures {', '.join(c.name for c in found[:5])}")
        return "fact", "; ".join(parts)
    if incoming or (facts.primary_key and event is None and facts.rows < SMALL_TABLE_ROWS):
        why = f"row_count={facts.rows:,}; referenced by {referenced}" if incoming else \
            f"keyed by {', '.join(facts.primary_key)}, no event time, row_count={facts.rows:,} < {SMALL_TABLE_ROWS:,}"
        width = len(facts.profile.columns)
        if facts.rows <= REFERENCE_MAX_ROWS and width <= REFERENCE_MAX_COLUMNS:
            return "reference", f"{why}; {facts.rows:,} rows x {width} columns (a lookup table)"
        return "dimension", why
    if event is not None:
        return "event_log", f"row_count={facts.rows:,}; event time {event.name}; no foreign keys, no measures"
    return "table", f"row_count={facts.rows:,}; no event time, not referenced by another table"


def _referenced(relationships: list[Relationship]) -> str:
    return ", ".join(f"{r.ref_table.table} ({', '.join(r.columns)})" for r in relationships[:4])


def _referencing(relationships: list[Relationship]) -> str:
    return ", ".join(f"{r.table.table}.{'+'.join(r.columns)}" for r in relationships[:4])


def add_relationships(facts: Facts, relationships: Relationships | None, recommendation: Recommendation) -> None:
    """Foreign keys and suggested joins from the outgoing relationships; a dictionary for a small dimension."""
    if relationships is None:
        return
    profile = facts.profile
    for found in relationships.outgoing(profile.source, profile.table):
        share = f"{found.match_share:.1%} of {found.distinct_values:,} distinct values match"
        target = f"{found.ref_table.table} ({', '.join(found.ref_columns)})"
        if found.match_share >= JOIN_MIN_MATCH:
            recommendation.joins.append(Join(found.ref_table.source, found.ref_table.table, found.columns,
                                             found.ref_columns))
        if found.match_share < FOREIGN_KEY_MIN_MATCH:
            recommendation.reasons.append(Reason(
                f"no foreign key {', '.join(found.columns)} -> {target}",
                f"{share}; {found.orphans:,} orphans (< {FOREIGN_KEY_MIN_MATCH:.0%})"))
            continue
        recommendation.foreign_keys.append(ForeignKey(found.columns, found.ref_table.source, found.ref_table.table,
                                                      found.ref_columns, found.match_share, found.orphans,
                                                      found.ref_types))
        clean = "clean" if found.clean else f"{found.orphans:,} orphans: not enforceable as is"
        recommendation.reasons.append(Reason(f"foreign key ({', '.join(found.columns)}) -> {target}",
                                             f"{share} ({clean})"))
    incoming = relationships.incoming(profile.source, profile.table)
    if incoming and recommendation.role in ("dimension", "reference") and facts.rows <= DICTIONARY_MAX_ROWS \
            and recommendation.primary_key:
        recommendation.dictionary = True
        recommendation.reasons.append(Reason(
            f"ClickHouse dictionary keyed by {', '.join(recommendation.primary_key)}",
            f"joined by {_referencing(incoming)}; row_count={facts.rows:,} <= {DICTIONARY_MAX_ROWS:,}"))


def main_join_key(recommendation: Recommendation, facts: Facts) -> str | None:
    """The foreign-key column with the most distinct values (rows spread evenly; the biggest join is local)."""
    single = [fk.columns[0] for fk in recommendation.foreign_keys if len(fk.columns) == 1]
    distinct = {c.name: c.distinct_count for c in facts.profile.columns}
    return max(single, key=lambda name: (distinct.get(name, 0), name), default=None)
