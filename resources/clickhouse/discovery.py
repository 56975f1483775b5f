"""What ``system.tables`` / ``system.columns`` rows say about a table: keys, version and cursor columns, schema."""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from resources.clickhouse.ddl import sort_key_expressions
from resources.clickhouse.types import parse_native
from resources.schema import Column, TableSchema

COLLAPSING_ENGINES = (
    "ReplacingMergeTree", "CollapsingMergeTree", "VersionedCollapsingMergeTree", "SummingMergeTree",
    "AggregatingMergeTree", "CoalescingMergeTree",
)
SKIPPED_ENGINES = ("MaterializedView", "Dictionary")
_VERSIONED = {"ReplacingMergeTree": 0, "VersionedCollapsingMergeTree": 1}
"""Engines with a version column -> its position among the engine's column arguments."""


def is_collapsing(engine: str) -> bool:
    return any(engine.endswith(family) for family in COLLAPSING_ENGINES)


def sorting_key_columns(sorting_key: str, column_names: set[str]) -> list[str]:
    """The sorting key as column names, or [] when any part of it is an expression (e.g. ``toDate(ts)``)."""
    try:
        parts = sort_key_expressions(sorting_key)
    except ParseError:
        return []
    names = [part.name for part in parts if isinstance(part, exp.Column) and not part.table]
    return names if parts and len(names) == len(parts) and all(n in column_names for n in names) else []


def version_column(engine_full: str) -> str | None:
    """The version column of ``ReplacingMergeTree(ver)`` / ``VersionedCollapsingMergeTree(sign, ver)``."""
    engine = _engine_call(engine_full)
    if not isinstance(engine, exp.Anonymous):
        return None
    family = str(engine.this).removeprefix("Replicated").removeprefix("Shared")
    if family not in _VERSIONED:
        return None
    columns = [argument.name for argument in engine.expressions if isinstance(argument, exp.Column)]
    position = _VERSIONED[family]
    return columns[position] if len(columns) > position else None


def _engine_call(engine_full: str) -> exp.Expression | None:
    """The engine of ``system.tables.engine_full`` (``Name(arguments) ORDER BY ...``) as parsed by sqlglot; only
    the call itself is parsed when the clauses after it are beyond sqlglot."""
    clickhouse = sqlglot.Dialect.get_or_raise("clickhouse")
    for text in (engine_full, engine_full.split(")", 1)[0] + ")"):
        try:
            properties = clickhouse.parse_into(exp.Properties, "ENGINE = " + text)[0]
        except ParseError:
            continue
        engine = properties.find(exp.EngineProperty)
        return engine.this if engine is not None else None
    return None


def cursor_candidates(columns: list[Column], version: str | None) -> list[str]:
    """Columns that grow with new data: the Replacing version column, then date/time columns (``updated``-like
    names first)."""
    temporal = [c.name for c in columns if c.logical_type in ("timestamp", "timestamptz", "date")]
    temporal.sort(key=lambda name: (not re.search(r"updat|modif|chang|version|_at$|ts$", name), name))
    ordered = [version] if version else []
    return ordered + [name for name in temporal if name != version]


def column_from_system(row: dict[str, Any]) -> Column:
    native = parse_native(row["type"])
    return Column(name=row["name"], logical_type=str(native.logical()), nullable=native.nullable,
                  source_type=row["type"], description=row.get("comment") or "")


def table_schema_from_system(source: str, database: str, table_row: dict[str, Any],
                             column_rows: list[dict[str, Any]]) -> TableSchema:
    """Build one TableSchema from a system.tables row and its system.columns rows."""
    columns = [column_from_system(row) for row in column_rows]
    names = {c.name for c in columns}
    unique = is_collapsing(table_row["engine"])
    primary_key = sorting_key_columns(table_row.get("sorting_key") or "", names) if unique else []
    version = version_column(table_row.get("engine_full") or "")
    return TableSchema(
        source=source, name=table_row["name"], columns=columns, primary_key=primary_key,
        cursor_candidates=cursor_candidates(columns, version if version in names else None),
        row_estimate=table_row.get("total_rows"), namespace=database,
    )
