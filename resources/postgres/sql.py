"""The PostgreSQL connector's statements, built with psycopg.sql: catalog reads, COPY, DDL and the load statements.

Column types come from :mod:`resources.postgres.types` (a fixed vocabulary), every name goes through
``sql.Identifier`` and every value through a placeholder or ``sql.Literal``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import sql

from resources.postgres.types import UNCONSTRAINED_NUMERIC
from resources.schema import Column, TableSchema

DISCOVER_COLUMNS = """
SELECT c.relname, c.reltuples::bigint, a.attname,
       format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
                   CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END),
       a.attnotnull, col_description(c.oid, a.attnum),
       (a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%%')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND (%s::text[] IS NULL OR c.relname = ANY(%s::text[]))
ORDER BY c.relname, a.attnum
"""
"""Columns of the tables and views of a schema: (table, row estimate, column, type, not null, comment, sequence)."""

DISCOVER_KEYS = """
SELECT c.relname, array_agg(a.attname ORDER BY k.ord)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE i.indisprimary AND n.nspname = %s
GROUP BY c.relname
"""

TABLE_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""

TABLE_SIZE = """
SELECT pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s
"""

DEPENDENT_VIEWS = """
SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND r.ev_class <> c.oid LIMIT 1
"""

UTC_SESSION = "SET TIME ZONE 'UTC'"


def names(columns: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, columns))


def select_expression(column: Column) -> sql.Composable:
    """How a column is selected for COPY so that its text form parses as its Arrow type."""
    name = sql.Identifier(column.name)
    if column.source_type.endswith("[]"):
        return sql.SQL("to_jsonb({})::text").format(name)
    if column.source_type == "numeric" and column.logical_type == UNCONSTRAINED_NUMERIC:
        return sql.SQL("round({}, 10)").format(name)
    return name


def copy_out(table: TableSchema, namespace: str, since: Any, period: Any = None) -> sql.Composed:
    """``COPY (SELECT ...) TO STDOUT (FORMAT csv)``; with ``since``, rows whose cursor is ``>= since`` or NULL; with
    ``period`` (a :class:`resources.protocol.Period`), only the rows of that period."""
    select = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(select_expression(column) for column in table.columns),
        sql.Identifier(namespace, table.name))
    if period is not None:
        select = sql.SQL("{} WHERE {}").format(select, in_period(period))
    elif since is not None and table.cursor_column:
        cursor = sql.Identifier(table.cursor_column)
        select = sql.SQL("{} WHERE {} >= {} OR {} IS NULL").format(select, cursor, sql.Literal(since), cursor)
    return sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(select)


def in_period(period: Any) -> sql.Composed:
    """``column >= start AND column < end`` of a time partition."""
    column = sql.Identifier(period.column)
    return sql.SQL("{} >= {} AND {} < {}").format(column, sql.Literal(period.start), column, sql.Literal(period.end))


def delete_period(namespace: str, table: str, period: Any) -> sql.Composed:
    return sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(namespace, table), in_period(period))


def copy_in(target: sql.Composable, columns: Iterable[str]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(target, names(columns))


def select_all(namespace: str, table: str) -> sql.Composed:
    return sql.SQL("SELECT * FROM {}").format(sql.Identifier(namespace, table))


def count_rows(namespace: str, table: str) -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(namespace, table))


def max_cursor(table: TableSchema, namespace: str, at_least: bool = False) -> sql.Composed:
    """``SELECT max(cursor)``; with ``at_least``, the first value >= the statement's parameter when there is one
    (an InitPlan runs only when referenced, so ``max`` scans the table only when no such row exists)."""
    cursor, relation = sql.Identifier(table.cursor_column), sql.Identifier(namespace, table.name)
    highest = sql.SQL("SELECT max({}) FROM {}").format(cursor, relation)
    if not at_least:
        return highest
    return sql.SQL("SELECT coalesce((SELECT {cursor} FROM {relation} WHERE {cursor} >= %s LIMIT 1), ({highest}))"
                   ).format(cursor=cursor, relation=relation, highest=highest)


def max_cursors(tables: Sequence[tuple[str, str, str]]) -> sql.Composed:
    """One query for the highest cursor of many ``(namespace, table, cursor column)``: rows of (table, max as text)."""
    return sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}::text, max({})::text FROM {}").format(
            sql.Literal(table), sql.Identifier(cursor), sql.Identifier(namespace, table))
        for namespace, table, cursor in tables)


def set_statement_timeout(seconds: float) -> sql.Composed:
    return sql.SQL("SET statement_timeout = {}").format(sql.Literal(f"{int(seconds * 1000)}ms"))


def create_schema(namespace: str) -> sql.Composed:
    return sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(namespace))


def create_table(namespace: str, name: str, columns: Sequence[tuple[str, str]], primary_key: Sequence[str],
                 constraint: str) -> sql.Composed:
    """``CREATE TABLE`` of ``(column, PostgreSQL type)`` pairs, with a named primary key when one is given."""
    definition = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(native))
                                    for column, native in columns)
    if primary_key:
        definition = sql.SQL("{}, CONSTRAINT {} PRIMARY KEY ({})").format(
            definition, sql.Identifier(constraint), names(primary_key))
    return sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(namespace, name), definition)


def add_column(namespace: str, table: str, column: str, native: str, if_not_exists: bool = False) -> sql.Composed:
    clause = sql.SQL("ADD COLUMN IF NOT EXISTS" if if_not_exists else "ADD COLUMN")
    return sql.SQL("ALTER TABLE {} {} {} {}").format(
        sql.Identifier(namespace, table), clause, sql.Identifier(column), sql.SQL(native))


def alter_column_type(namespace: str, table: str, column: str, native: str) -> sql.Composed:
    name, new_type = sql.Identifier(column), sql.SQL(native)
    return sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{}").format(
        sql.Identifier(namespace, table), name, new_type, name, new_type)


def drop_table(namespace: str, name: str, if_exists: bool = True) -> sql.Composed:
    return sql.SQL("DROP TABLE IF EXISTS {}" if if_exists else "DROP TABLE {}").format(sql.Identifier(namespace, name))


def rename_table(namespace: str, name: str, new_name: str) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(namespace, name), sql.Identifier(new_name))


def rename_constraint(namespace: str, table: str, name: str, new_name: str) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
        sql.Identifier(namespace, table), sql.Identifier(name), sql.Identifier(new_name))


def delete_all(namespace: str, table: str) -> sql.Composed:
    return sql.SQL("DELETE FROM {}").format(sql.Identifier(namespace, table))


def insert_from(namespace: str, table: str, source: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
        sql.Identifier(namespace, table), names(columns), names(columns), sql.Identifier(namespace, source))


def create_temporary_like(temporary: sql.Identifier, namespace: str, table: str) -> sql.Composed:
    return sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
        temporary, sql.Identifier(namespace, table))


def upsert(namespace: str, table: str, incoming: sql.Identifier, columns: Sequence[str], primary_key: Sequence[str],
           cursor_column: str | None, deduplicate: bool = True) -> sql.Composed:
    """Insert the incoming rows, one per key (the latest cursor wins), updating the rows whose key exists.

    Without ``deduplicate`` the incoming keys must be unique already (no sort is needed then).
    """
    key = names(primary_key)
    order = key
    if cursor_column and cursor_column in columns:
        order = sql.SQL("{}, {} DESC NULLS LAST").format(key, sql.Identifier(cursor_column))
    others = [name for name in columns if name not in primary_key]
    action = sql.SQL("DO NOTHING") if not others else sql.SQL("DO UPDATE SET {}").format(sql.SQL(", ").join(
        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in others))
    if not deduplicate:
        return sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) {}").format(
            sql.Identifier(namespace, table), names(columns), names(columns), incoming, key, action)
    return sql.SQL(
        "INSERT INTO {} ({}) SELECT DISTINCT ON ({}) {} FROM {} ORDER BY {} ON CONFLICT ({}) {}"
    ).format(sql.Identifier(namespace, table), names(columns), key, names(columns), incoming, order, key, action)


def lock_for_load(namespace: str, table: str) -> sql.Composed:
    """Loads of one table take turns (readers are not blocked)."""
    return sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(sql.Identifier(namespace, table))


def is_empty(namespace: str, table: str) -> sql.Composed:
    return sql.SQL("SELECT NOT EXISTS (SELECT FROM {})").format(sql.Identifier(namespace, table))


def copy_out_binary(columns: Sequence[tuple[str, str, str]], namespace: str, table: str, cursor_column: str | None,
                    since: Any) -> sql.Composed:
    """``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` of ``(column, source type, target type)`` triples, each cast to
    its target's type so the stream loads as is; with ``since``, rows whose cursor is ``>= since`` or NULL."""
    select = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(_cast_to_target(*column) for column in columns), sql.Identifier(namespace, table))
    if since is not None and cursor_column:
        cursor = sql.Identifier(cursor_column)
        select = sql.SQL("{} WHERE {} >= {} OR {} IS NULL").format(select, cursor, sql.Literal(since), cursor)
    return sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(select)


def _cast_to_target(column: str, source_type: str, target_type: str) -> sql.Composable:
    name = sql.Identifier(column)
    if source_type == target_type:
        return name
    value: sql.Composable = name
    if source_type.endswith("[]"):
        value = sql.SQL("to_jsonb({})").format(name)
    elif source_type == "numeric" and target_type.startswith("numeric("):
        value = sql.SQL("round({}, {})").format(name, sql.Literal(_scale(target_type)))
    return sql.SQL("CAST({} AS {}) AS {}").format(value, sql.SQL(target_type), name)


def _scale(numeric_type: str) -> int:
    inside = numeric_type[numeric_type.index("(") + 1:numeric_type.index(")")]
    return int(inside.split(",")[1]) if "," in inside else 0


def loaded_stats(target: sql.Composable, cursor_column: str | None) -> sql.Composed:
    """Rows, highest cursor and NULL cursors of a table that holds exactly the rows of one load."""
    if not cursor_column:
        return sql.SQL("SELECT count(*), NULL, 0 FROM {}").format(target)
    cursor = sql.Identifier(cursor_column)
    return sql.SQL("SELECT count(*), max({}), count(*) - count({}) FROM {}").format(cursor, cursor, target)


def append_new_rows(namespace: str, table: str, incoming: sql.Identifier, columns: Sequence[str],
                    cursor_column: str) -> sql.Composed:
    """Insert the incoming rows not already present at or after the incoming rows' lowest cursor."""
    return sql.SQL(
        "INSERT INTO {target} ({columns}) SELECT {columns} FROM {incoming} EXCEPT ALL SELECT {columns} FROM {target} "
        "WHERE {cursor} >= (SELECT min({cursor}) FROM {incoming}) "
        "OR ({cursor} IS NULL AND EXISTS (SELECT 1 FROM {incoming} WHERE {cursor} IS NULL))"
    ).format(target=sql.Identifier(namespace, table), columns=names(columns), incoming=incoming,
             cursor=sql.Identifier(cursor_column))
