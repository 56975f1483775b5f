"""MySQL: InnoDB, utf8mb4, PRIMARY KEY, secondary btree indexes (bounded VARCHAR keys); no partitioning.

| logical      | MySQL                                   | logical      | MySQL        |
|--------------|-----------------------------------------|--------------|--------------|
| bool         | BOOLEAN                                 | binary       | LONGBLOB     |
| int16/32/64  | SMALLINT / INT / BIGINT                 | date         | DATE         |
| float32/64   | FLOAT / DOUBLE                          | time         | TIME(6)      |
| decimal(p,s) | DECIMAL (p <= 65, s <= 30)              | timestamp(tz)| DATETIME(6)  |
| string       | VARCHAR(n) keys, VARCHAR(255), TEXT ... | json / uuid  | JSON / CHAR(36) |
"""

from __future__ import annotations

from sqlglot import exp

from etl_assets.ddl.common import (
    Ddl,
    Table,
    TableTypes,
    TypeHints,
    column_ref,
    foreign_key_notes,
    ident,
    index_name,
    keyed_body,
    schema_and_table,
    sized,
)
from etl_assets.recommend.model import Index

NAME = "mysql"
TYPES = {
    "float32": "FLOAT", "float64": "DOUBLE", "binary": "LONGBLOB", "time": "TIME(6)", "timestamp": "DATETIME(6)",
    "timestamptz": "DATETIME(6)",
}
_READ_BACK = {
    exp.DataType.Type.VARCHAR: "string", exp.DataType.Type.CHAR: "string", exp.DataType.Type.MEDIUMTEXT: "string",
    exp.DataType.Type.LONGTEXT: "string", exp.DataType.Type.LONGBLOB: "binary",
    exp.DataType.Type.DATETIME: "timestamp",
}
DECIMAL_LIMITS = (65, 30)
MAX_CHAR = 255
MAX_KEY_CHARS = 768
"""InnoDB keys are at most 3072 bytes, i.e. 768 utf8mb4 characters."""
MAX_ENUM_LABEL = 255
"""MySQL ENUM members are at most 255 characters."""


class MySqlTypes(TableTypes):
    """MySQL's types; strings are sized from the profile (keys need a bounded VARCHAR)."""

    def string_type(self, hints: TypeHints, column: str, notes: list[str]) -> exp.DataType:
        return _string_type(hints, column, notes)


def _string_type(hints: TypeHints, column: str, notes: list[str]) -> exp.DataType:
    longest = hints.max_length
    if hints.enum_values and not hints.key and all(len(value) <= MAX_ENUM_LABEL for value in hints.enum_values):
        return exp.DataType(this=exp.DataType.Type.ENUM,
                            expressions=[exp.Literal.string(value) for value in hints.enum_values])
    if hints.fixed_length and longest is not None and 0 < longest <= MAX_CHAR:
        return sized(exp.DataType.Type.CHAR, longest)
    if hints.key:
        if longest is not None and longest > MAX_KEY_CHARS:
            notes.append(f"{column}: values up to {longest:,} characters exceed MySQL's key limit of "
                         f"{MAX_KEY_CHARS} characters; longer values will be rejected")
        return sized(exp.DataType.Type.VARCHAR,
                     MAX_KEY_CHARS if longest is None else min(MAX_KEY_CHARS, max(64, 2 * longest)))
    if longest is not None and longest <= 255:
        return sized(exp.DataType.Type.VARCHAR, length_bound(longest))
    if longest is None or longest <= 16_383:
        return exp.DataType(this=exp.DataType.Type.TEXT)
    return exp.DataType(this=exp.DataType.Type.MEDIUMTEXT if longest <= 4_194_303 else exp.DataType.Type.LONGTEXT)


def length_bound(longest: int) -> int:
    """Twice the longest value seen, rounded up to a power of two (at least 8, at most 255)."""
    size = 8
    while size < 2 * longest:
        size *= 2
    return min(size, 255)


MAPPER = MySqlTypes(NAME, TYPES, _READ_BACK, DECIMAL_LIMITS, sized=("string",))


def build(table: Table) -> Ddl:
    rec, notes = table.recommendation, []
    indexed = [i for i in rec.indexes if i.method == "btree" and list(i.columns) != rec.primary_key]
    indexed = [i for i in indexed if _indexable(table, i, notes)]
    keys = set(rec.primary_key) | {name for index in indexed for name in index.columns}
    body = keyed_body(table, MAPPER, notes, rec.primary_key, hinted=keys)
    body.extend(
        exp.IndexColumnConstraint(this=ident(index_name(NAME, table.name, i.columns, "idx")),
                                  expressions=[column_ref(name) for name in i.columns])
        for i in indexed
    )
    if rec.partition_by:
        notes.append(f"{rec.partition_by} partitioning is not applied in MySQL (it would force the partition "
                     "column into every unique key)")
    properties = [exp.EngineProperty(this=exp.var("InnoDB")),
                  exp.CharacterSetProperty(this=exp.var("utf8mb4"), default=True)]
    notes.extend(foreign_key_notes(table, NAME))
    return Ddl(NAME, schema_and_table(table, body, properties), notes)


def _indexable(table: Table, index: Index, notes: list[str]) -> bool:
    for name in index.columns:
        logical = table.logical(name)
        too_long = logical == "string" and (table.max_length(name) or 0) > MAX_KEY_CHARS
        if logical in ("json", "binary") or too_long:
            notes.append(f"index on {name} left out: MySQL cannot index {logical} values of this size")
            return False
    return True
