"""The YQL the YDB connector runs: paged reads in primary-key order (keyset pagination) and MAX(cursor).

YQL is no sqlglot dialect, so the text is built from backquoted identifiers (:func:`quote`) and ``$name``
parameters DECLARE'd with their types; values are always bound as parameters, never written into the text.
"""

from __future__ import annotations

import re
from typing import Any

from resources.schema import TableSchema


def quote(identifier: str) -> str:
    """A YQL identifier in backticks (a table path may contain slashes)."""
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def keyset_condition(primary_key: list[str], last_key: list[Any] | None) -> tuple[str, list[int]]:
    """The condition "key > last_key" for keyset pagination, as text with ``$k<i>`` parameters, and the indexes of
    the key parts bound as parameters. NULL parts (YDB keys may be NULL, and NULL sorts first) become IS [NOT] NULL
    tests instead of parameters."""
    if last_key is None:
        return "", []
    alternatives, bound = [], set()
    for position, column in enumerate(primary_key):
        terms = [_equals(primary_key[i], i, last_key[i], bound) for i in range(position)]
        terms.append(_greater(column, position, last_key[position], bound))
        alternatives.append("(" + " AND ".join(terms) + ")")
    return "(" + " OR ".join(alternatives) + ")", sorted(bound)


def _equals(column: str, index: int, value: Any, bound: set[int]) -> str:
    if value is None:
        return f"{quote(column)} IS NULL"
    bound.add(index)
    return f"{quote(column)} = $k{index}"


def _greater(column: str, index: int, value: Any, bound: set[int]) -> str:
    if value is None:
        return f"{quote(column)} IS NOT NULL"
    bound.add(index)
    return f"{quote(column)} > $k{index}"


def page_query(table: TableSchema, last_key: list[Any] | None, since: bool, page_rows: int) -> tuple[str, list[int]]:
    """One page of the table in primary-key order, after ``last_key``, limited to rows with cursor >= $since."""
    columns = ", ".join(quote(c.name) for c in table.columns)
    conditions = []
    if since:
        conditions.append(f"{quote(cursor_name(table))} >= $since")
    keyset, bound = keyset_condition(table.primary_key, last_key)
    if keyset:
        conditions.append(keyset)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    order = ", ".join(quote(k) for k in table.primary_key)
    return f"SELECT {columns} FROM {quote(table.name)}{where} ORDER BY {order} LIMIT {int(page_rows)};", bound


def declarations(parameters: dict[str, Any]) -> str:
    """DECLARE statements for typed parameters (needed by YDB versions before implicit declaration)."""
    return "".join(f"DECLARE {name} AS {_yql_type_text(value.value_type)};\n" for name, value in parameters.items())


def _yql_type_text(value_type: Any) -> str:
    """The SDK spells the UUID type in capitals; YQL's type string is ``Uuid``."""
    return re.sub(r"\bUUID\b", "Uuid", str(value_type))


def max_cursor_query(table: TableSchema) -> str:
    return f"SELECT MAX({quote(cursor_name(table))}) AS max_cursor FROM {quote(table.name)};"


def cursor_name(table: TableSchema) -> str:
    if not table.cursor_column:
        raise ValueError(f"table {table.source}.{table.name} has no cursor column; set sync.cursor in "
                         f"datasources.yaml (candidates: {table.cursor_candidates})")
    return table.cursor_column
