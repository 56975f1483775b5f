"""The catalog as documents (pure logic): one per table and one per column, from names, descriptions, logical and
semantic types and the latest profile, so a question in words ("which table holds customer emails?") finds them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from etl_assets.catalog import SourceTable
from etl_assets.embeddings.rows import IndexedRow, indexed_row
from resources.qdrant import SCHEMA_COLLECTION

SEMANTIC_WORDS = {
    "email": "email addresses", "phone": "phone numbers", "url": "web links (URLs)", "ip": "IP addresses",
    "uuid": "UUIDs", "identifier": "identifiers (ids, codes)", "category": "categories (a few repeated values)",
    "text": "free text", "timestamp": "timestamps (date and time)", "date": "dates", "boolean": "yes/no flags",
    "integer": "whole numbers", "decimal": "decimal numbers (amounts, prices)", "json": "JSON documents",
}
LOGICAL_WORDS = (("timestamp", "date and time"), ("date", "date"), ("time", "time of day"),
                 ("decimal", "decimal number (an amount)"), ("float", "decimal number"), ("int", "whole number"),
                 ("bool", "yes/no flag"), ("string", "text"), ("json", "JSON document"), ("binary", "bytes"))
_WORD_BREAK = re.compile(r"[_\W]+")


def logical_words(logical_type: str) -> str:
    """``timestamptz`` -> ``date and time``: the logical type as the model reads it."""
    return next((said for prefix, said in LOGICAL_WORDS if logical_type.startswith(prefix)), logical_type)


def words(name: str) -> str:
    """``signup_at`` -> ``signup at``: names read as words by the model."""
    return _WORD_BREAK.sub(" ", name).strip() or name


def schema_rows(tables: Sequence[SourceTable], profiles: dict[tuple[str, str], dict[str, Any]],
                model_signature: str) -> list[IndexedRow]:
    """One index entry per table and per column of ``tables``."""
    rows: list[IndexedRow] = []
    for table in tables:
        profile = profiles.get((table.source, table.name), {})
        columns = {column["name"]: column for column in profile.get("columns", [])}
        rows.append(_entry({"kind": "table", "source": table.source, "table": table.name,
                            "text": table_document(table, profile)}, model_signature))
        for column in table.schema.columns:
            rows.append(_entry({"kind": "column", "source": table.source, "table": table.name,
                                "column": column.name, "logical_type": column.logical_type,
                                "semantic_type": columns.get(column.name, {}).get("semantic_type", ""),
                                "text": column_document(table, column.name, columns.get(column.name, {}))},
                               model_signature))
    return rows


def table_document(table: SourceTable, profile: dict[str, Any]) -> str:
    schema = table.schema
    parts = [f"Table {words(table.name)} ({table.name}) of source {words(table.source)}"]
    if getattr(schema, "description", ""):
        parts.append(schema.description)
    parts.append("columns: " + ", ".join(words(column.name) for column in schema.columns))
    if schema.primary_key:
        parts.append(f"one row per {' and '.join(words(name) for name in schema.primary_key)}")
    if profile.get("row_count") is not None:
        parts.append(f"{profile['row_count']:,} rows")
    return ". ".join(parts)


def column_document(table: SourceTable, name: str, profiled: dict[str, Any]) -> str:
    column = table.schema.column(name)
    parts = [f"Column {words(name)} ({name}) of table {words(table.name)}",
             f"a {logical_words(column.logical_type)} ({column.logical_type})"]
    semantic = profiled.get("semantic_type", "")
    if semantic:
        parts.append(f"holds {SEMANTIC_WORDS.get(semantic, semantic)}")
    if column.description:
        parts.append(column.description)
    if profiled.get("null_share") is not None:
        parts.append(f"{profiled['null_share']:.0%} empty, {profiled.get('distinct_count', 0):,} distinct values")
    return ". ".join(parts)


def _entry(record: dict[str, Any], model_signature: str) -> IndexedRow:
    key = ["source", "table", "column"] if record["kind"] == "column" else ["source", "table"]
    return indexed_row(SCHEMA_COLLECTION, record, key, ["text"], model_signature)
