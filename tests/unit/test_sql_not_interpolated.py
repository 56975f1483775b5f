"""No SQL is built by interpolating text into a string (issue 11, point 5): names and values go through sqlglot,
psycopg.sql or the drivers' parameters.

The test reads every string literal of ``etl_assets/``, ``resources/`` and ``sensors/`` that interpolates (an f-string,
or a literal followed by ``.format(`` or ``%``) and fails on one that holds a SQL keyword followed by a placeholder.
The few justified exceptions are listed below with their reason; an entry that no longer matches anything fails too,
so the list cannot go stale.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("etl_assets", "resources", "sensors")
KEYWORD_THEN_PLACEHOLDER = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|TRUNCATE|RENAME|EXCHANGE|OPTIMIZE|ATTACH|COPY|GRANT|FROM|WHERE"
    r"|JOIN)\b[^\n]*?(\{|%s|%\(|%d)")
LOWER_CASE_QUERY = re.compile(r"\bselect\s[\s\S]*?\bfrom\b")
PLACEHOLDER = re.compile(r"\{|%s|%\(|%d")


def reads_as_sql(text: str) -> bool:
    """An upper-case keyword then a placeholder, or a lower-case SELECT ... FROM with a placeholder (lower-case
    keywords alone are English: "loaded {n} rows from {path}")."""
    return bool(KEYWORD_THEN_PLACEHOLDER.search(text)
                or (LOWER_CASE_QUERY.search(text) and PLACEHOLDER.search(text)))


ALLOWED = {
    ("etl_assets/proof/engines.py", "DROP DATABASE IF EXISTS {"):
        "ClickHouse's DROP DATABASE ... SYNC, which sqlglot cannot express; the name is a sqlglot quoted identifier",
    ("etl_assets/proof/engines.py", "OPTIMIZE TABLE {"):
        "ClickHouse's OPTIMIZE TABLE ... FINAL, which sqlglot cannot express; the name is a sqlglot table reference",
    ("etl_assets/proof/engines.py", "ALTER TABLE {"):
        "ClickHouse's ALTER TABLE ... MODIFY SETTING, which sqlglot cannot express; the name is a sqlglot table "
        "reference, the setting a constant",
    ("resources/clickhouse/sql.py", "EXCHANGE TABLES {"):
        "ClickHouse's EXCHANGE TABLES, which sqlglot cannot express; names are sqlglot quoted identifiers",
    ("resources/clickhouse/sql.py", "RENAME TABLE {"):
        "ClickHouse's multi-table RENAME TABLE ... ON CLUSTER; names are sqlglot quoted identifiers",
    ("resources/clickhouse/sql.py", "ATTACH PARTITION ID {"):
        "ClickHouse's ATTACH PARTITION ID ... FROM; names are sqlglot quoted identifiers, the id a sqlglot literal",
    ("resources/ydb/sql.py", "SELECT {columns} FROM {"):
        "YQL: sqlglot has no YDB dialect; names go through quote() (backticks escaped), values are $parameters",
    ("resources/ydb/sql.py", " WHERE {"): "YQL, as above: conditions built from quote() and $parameters",
    ("resources/ydb/sql.py", "SELECT MAX({"): "YQL, as above",
    ("etl_assets/transform/generate.py", "from {{{{ source("):
        "a dbt model: columns are sqlglot quoted identifiers, the source and table Jinja string literals",
    ("etl_assets/ddl/dialects/clickhouse.py", "CREATE DICTIONARY {"):
        "advice text for the user, not executed; names are sqlglot quoted identifiers and literals",
    ("etl_assets/ddl/assets.py", "CREATE TABLE for {"): "an asset description (prose), not SQL",
    ("etl_assets/recommend/querylog.py", "not a SELECT, UPDATE or DELETE statement"): "an error message, not SQL",
    ("etl_assets/transform/spec/resolver.py", "is not a column of the FROM table {"): "an error message, not SQL",
}


def interpolating_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each run of adjacent string literals in ``path`` that is an f-string or is formatted."""
    tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text()).readline))
    found, index = [], 0
    while index < len(tokens):
        if tokens[index].type != tokenize.STRING:
            index += 1
            continue
        run, end = [], index
        while end < len(tokens) and tokens[end].type in (tokenize.STRING, tokenize.NL, tokenize.COMMENT):
            if tokens[end].type == tokenize.STRING:
                run.append(tokens[end].string)
            end += 1
        following = [t.string for t in tokens[end:end + 2]]
        formatted = following == [".", "format"] or following[:1] == ["%"]
        if formatted or any(re.match(r"[rRbB]?[fF]", literal) for literal in run):
            found.append((tokens[index].start[0], "".join(_body(literal) for literal in run)))
        index = end
    return found


def _body(literal: str) -> str:
    """The literal's text as written, without prefix and quotes; ``\\n`` read as the line break it stands for."""
    quote = re.match(r"[A-Za-z]*(\"\"\"|\'\'\'|\"|\')", literal).group(1)
    start = literal.index(quote) + len(quote)
    return literal[start:len(literal) - len(quote)].replace("\\n", "\n").replace("\\t", "\t")


def sql_interpolations() -> list[tuple[str, int, str]]:
    hits = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, text in interpolating_literals(path):
                if reads_as_sql(text):
                    hits.append((str(path.relative_to(ROOT)), line, text))
    return hits


def allowed_by(file: str, text: str) -> tuple[str, str] | None:
    return next(((f, needle) for f, needle in ALLOWED if f == file and needle in text), None)


def test_no_sql_is_built_by_string_interpolation() -> None:
    offending = [f"{file}:{line}: {text[:120]}" for file, line, text in sql_interpolations()
                 if allowed_by(file, text) is None]
    assert offending == [], "SQL built by interpolation; use sqlglot, psycopg.sql or parameters:\n" + "\n".join(
        offending)


def test_every_allowed_exception_still_exists() -> None:
    used = {allowed_by(file, text) for file, _, text in sql_interpolations()}
    assert set(ALLOWED) - used == set()


def test_the_scanner_finds_interpolated_sql(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('a = f"SELECT * FROM {table}"\nb = "DELETE FROM {} WHERE id = 1".format(t)\n'
                      'c = "UPDATE t SET x = %s" % value\nd = f"select\\n{cols}\\nfrom t"\n'
                      'e = "SELECT * FROM t WHERE id = %s"\nf = f"loaded {n} rows from {path}"\n')
    hits = [text for _, text in interpolating_literals(sample)
            if reads_as_sql(text)]
    assert [text[:4] for text in hits] == ["SELE", "DELE", "UPDA", "sele"], hits
