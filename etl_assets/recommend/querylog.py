"""Which columns queries filter, join, group and sort on, per table, from a query log.

Queries are parsed with sqlglot and walked scope by scope (CTEs and subqueries included): every column is resolved
through its scope's sources to a base table, and counted in the role its clause gives it, weighted by how often the
query ran. Logs come from PostgreSQL's ``pg_stat_statements``, ClickHouse's ``system.query_log``, or a ``.sql`` file.
Tables are keyed by their bare, lower-cased name, the way source tables are named in the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokens import TokenType

_USING = "\x00using"
"""Marks a column named in JOIN ... USING (...): it belongs to every joined table."""
ROLES = ("equality", "range", "like", "join", "group_by", "order_by", "aggregate")
_RANGE = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)
_EQUALITY = (exp.EQ, exp.In, exp.NEQ, exp.Is)
_LIKE = (exp.Like, exp.ILike)
_READING_STATEMENTS = (exp.Query, exp.Update, exp.Delete)


class QueryLogUnavailable(RuntimeError):
    """The query log could not be read; the message names the log and the cause."""


class QueryRunner(Protocol):
    def query_arrow(self, sql: str, params: Any = None) -> Any: ...


@dataclass(frozen=True)
class LoggedQuery:
    sql: str
    calls: int = 1
    location: str = ""
    """Where the query came from, e.g. ``queries.sql:12`` or ``pg_stat_statements``."""


@dataclass
class ColumnUsage:
    """How many query executions used the column in each role."""

    equality: int = 0
    range: int = 0
    like: int = 0
    join: int = 0
    group_by: int = 0
    order_by: int = 0
    aggregate: int = 0
    """Inside an aggregate function: sum(x), avg(x), count(DISTINCT x)."""

    @property
    def filtered(self) -> int:
        return self.equality + self.range + self.like

    def describe(self) -> str:
        """E.g. "equality filter in 120, join in 40 executions"."""
        parts = [f"{role.replace('_', ' ')} in {getattr(self, role):,}" for role in ROLES if getattr(self, role)]
        return ", ".join(parts) + " executions" if parts else "unused"


@dataclass
class TableUsage:
    table: str
    queries: int = 0
    """Executions of queries that read the table."""
    columns: dict[str, ColumnUsage] = field(default_factory=dict)

    def column(self, name: str) -> ColumnUsage:
        return self.columns.get(name.lower(), ColumnUsage())

    def ranked(self, role: str) -> list[str]:
        """Columns used in ``role`` (or ``filtered``), most used first."""
        counts = {name: getattr(usage, role) for name, usage in self.columns.items() if getattr(usage, role)}
        return sorted(counts, key=lambda name: (-counts[name], name))


@dataclass
class QueryUsage:
    tables: dict[str, TableUsage] = field(default_factory=dict)
    statements: int = 0
    problems: list[str] = field(default_factory=list)
    """Statements that could not be parsed, as "location: reason"."""
    origin: str = ""

    def for_table(self, table: str) -> TableUsage:
        return self.tables.get(table.lower(), TableUsage(table.lower()))


def analyze(
    queries: Iterable[LoggedQuery], dialect: str = "postgres", origin: str = "",
    known_columns: dict[str, set[str]] | None = None,
) -> QueryUsage:
    """Column usage per table over every query in the log; unparsable statements are listed, not fatal.

    ``known_columns`` (table -> its column names) lets an unqualified column in a join be given to the one table
    that has it; without it such a column is left out rather than guessed.
    """
    usage = QueryUsage(origin=origin)
    known = {table.lower(): {c.lower() for c in columns} for table, columns in (known_columns or {}).items()}
    for query in queries:
        where = query.location or "query"
        try:
            tree = sqlglot.parse_one(query.sql, read=dialect)
        except SqlglotError as error:
            usage.problems.append(f"{where}: not parsable as {dialect} SQL: {_first_line(error)}")
            continue
        if not isinstance(tree, _READING_STATEMENTS):
            usage.problems.append(f"{where}: not a SELECT, UPDATE or DELETE statement: {query.sql[:60]!r}")
            continue
        usage.statements += 1
        _count(tree, query.calls, usage, known)
    return usage


def _as_select(tree: exp.Expr) -> exp.Expr:
    """UPDATE/DELETE filter rows like a SELECT over their table with the same WHERE; scopes only cover queries."""
    if isinstance(tree, (exp.Update, exp.Delete)) and isinstance(tree.this, exp.Table):
        select = exp.select("*").from_(tree.this.copy())
        where = tree.args.get("where")
        return select.where(where.this.copy()) if where is not None else select
    return tree


def _count(tree: exp.Expr, calls: int, usage: QueryUsage, known: dict[str, set[str]]) -> None:
    read_tables: set[str] = set()
    for scope in traverse_scope(_as_select(tree)):
        read_tables.update(source.name.lower() for source in scope.sources.values() if isinstance(source, exp.Table))
        for role, column in _column_roles(scope):
            for table, name in _resolve(scope, column.name, column.table, known):
                columns = _table(usage, table).columns
                counts = columns.setdefault(name.lower(), ColumnUsage())
                setattr(counts, role, getattr(counts, role) + calls)
    for table in read_tables:
        _table(usage, table).queries += calls


def _table(usage: QueryUsage, name: str) -> TableUsage:
    return usage.tables.setdefault(name, TableUsage(name))


def _column_roles(scope: Scope) -> Iterable[tuple[str, exp.Column]]:
    select = scope.expression

    def owned(node: exp.Expr | None) -> list[exp.Column]:
        """Columns of this scope's own SELECT (not of subqueries nested in the clause)."""
        if node is None:
            return []
        return [c for c in node.find_all(exp.Column) if c.find_ancestor(exp.Select) is select and not c.is_star]

    where = select.args.get("where")
    if where is not None:
        for predicate in where.find_all(*_RANGE, *_EQUALITY, *_LIKE):
            role = "range" if isinstance(predicate, _RANGE) else "like" if isinstance(predicate, _LIKE) else "equality"
            yield from ((role, column) for column in owned(predicate))
    for join in select.args.get("joins") or []:
        yield from (("join", column) for column in owned(join.args.get("on")))
        for name in join.args.get("using") or []:
            yield "join", exp.column(name.name, table=_USING)
    yield from (("group_by", column) for column in owned(select.args.get("group")))
    yield from (("order_by", column) for column in owned(select.args.get("order")))
    aggregated = {(c.table, c.name): c for aggregate in select.find_all(exp.AggFunc) for c in owned(aggregate)}
    yield from (("aggregate", column) for column in aggregated.values())  # once per query: sum(x), avg(x) count 1


def _resolve(
    scope: Scope, name: str, qualifier: str, known: dict[str, set[str]], depth: int = 0
) -> list[tuple[str, str]]:
    """The (base table, column) pairs a column refers to, following CTEs and derived tables.

    An unqualified column in a scope with several sources is resolved only when exactly one source can hold it
    (by ``known`` columns or by a subquery's projections); a USING column belongs to every joined source.
    """
    if depth > 8:
        return []
    if qualifier and qualifier != _USING:
        candidates = [scope.sources[qualifier]] if qualifier in scope.sources else []
    else:
        candidates = [source for source in scope.sources.values() if _may_hold(source, name, known)]
    resolved: list[tuple[str, str]] = []
    for source in candidates:
        if isinstance(source, exp.Table):
            resolved.append((source.name.lower(), name))
        elif isinstance(source, Scope):
            resolved.extend(_resolve_in_subquery(source, name, known, depth))
    return resolved if qualifier or len(resolved) <= 1 else []


def _may_hold(source: exp.Table | Scope, name: str, known: dict[str, set[str]]) -> bool:
    if isinstance(source, Scope):
        return any(
            p.alias_or_name == name or isinstance(p, exp.Star) for p in getattr(source.expression, "expressions", [])
        )
    columns = known.get(source.name.lower())
    return columns is None or name.lower() in columns


def _resolve_in_subquery(
    scope: Scope, name: str, known: dict[str, set[str]], depth: int
) -> list[tuple[str, str]]:
    for projection in getattr(scope.expression, "expressions", []):
        if projection.alias_or_name == name and isinstance(projection.unalias(), exp.Column):
            inner = projection.unalias()
            return _resolve(scope, inner.name, inner.table, known, depth + 1)
        if isinstance(projection, exp.Star):
            return _resolve(scope, name, "", known, depth + 1)
    return []


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def split_statements(sql: str, dialect: str) -> list[tuple[int, str]]:
    """(line, statement) for each statement of a script, split at the dialect's own semicolon tokens."""
    tokenizer = sqlglot.Dialect.get_or_raise(dialect).tokenizer()
    statements: list[tuple[int, str]] = []
    start = 0
    start_line = 1
    for token in tokenizer.tokenize(sql):
        if token.token_type == TokenType.SEMICOLON:
            statements.append((start_line, sql[start:token.start]))
            start = token.end + 1
            start_line = token.line
    statements.append((start_line, sql[start:]))
    return [(line + _leading_newlines(text), text.strip()) for line, text in statements if _has_code(text, dialect)]


def _leading_newlines(text: str) -> int:
    return len(text) - len(text.lstrip("\n")) if text.startswith("\n") else 0


def _has_code(text: str, dialect: str) -> bool:
    try:
        return bool(sqlglot.Dialect.get_or_raise(dialect).tokenizer().tokenize(text))
    except SqlglotError:
        return bool(text.strip())


def read_sql_file(path: Path, dialect: str = "postgres") -> list[LoggedQuery]:
    """Every statement of a ``.sql`` file, each counted once; identical statements add up."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise QueryLogUnavailable(f"query log {path}: cannot read: {error.strerror or error}") from None
    try:
        statements = split_statements(text, dialect)
    except SqlglotError as error:
        raise QueryLogUnavailable(f"query log {path}: cannot tokenize: {_first_line(error)}") from None
    return [LoggedQuery(sql, 1, f"{path.name}:{line}") for line, sql in statements]


PG_STAT_STATEMENTS_SQL = """
SELECT query, calls FROM pg_stat_statements
WHERE query ~* '^\\s*(with|select)\\y' AND query NOT ILIKE '%%pg_stat_statements%%'
ORDER BY calls DESC LIMIT {limit}
"""
CLICKHOUSE_QUERY_LOG_SQL = """
SELECT any(query) AS query, count() AS calls FROM system.query_log
WHERE type = 'QueryFinish' AND query_kind = 'Select' AND event_date >= today() - {days}
GROUP BY normalized_query_hash ORDER BY calls DESC LIMIT {limit}
"""


def read_pg_stat_statements(postgres: QueryRunner, limit: int = 5000) -> list[LoggedQuery]:
    """The most-run SELECTs recorded by the pg_stat_statements extension, with their call counts."""
    return _read_log(postgres, PG_STAT_STATEMENTS_SQL.format(limit=int(limit)), "pg_stat_statements")


def read_clickhouse_query_log(clickhouse: QueryRunner, days: int = 7, limit: int = 5000) -> list[LoggedQuery]:
    """The most-run SELECT shapes of the last ``days`` days in ClickHouse's system.query_log."""
    sql = CLICKHOUSE_QUERY_LOG_SQL.format(days=int(days), limit=int(limit))
    return _read_log(clickhouse, sql, "system.query_log")


def _read_log(runner: QueryRunner, sql: str, origin: str) -> list[LoggedQuery]:
    try:
        rows = runner.query_arrow(sql).to_pylist()
    except Exception as error:  # noqa: BLE001 - any driver error means the same thing: no log to learn from
        raise QueryLogUnavailable(f"{origin}: cannot read the query log: {_first_line(error)}") from None
    return [LoggedQuery(row["query"], int(row["calls"]), origin) for row in rows if row.get("query")]
