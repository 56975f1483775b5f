"""Redshift: DISTSTYLE ALL/KEY/EVEN/AUTO, DISTKEY, COMPOUND SORTKEY (led by the event time); strings sized in
bytes, JSON as SUPER.

| logical      | Redshift                   | logical      | Redshift                |
|--------------|----------------------------|--------------|-------------------------|
| bool         | BOOLEAN                    | binary       | VARBYTE                 |
| int16/32/64  | SMALLINT / INTEGER / BIGINT| date / time  | DATE / TIME             |
| float32/64   | REAL / DOUBLE PRECISION    | timestamp    | TIMESTAMP               |
| decimal(p,s) | DECIMAL (p <= 38, s <= 37) | timestamptz  | TIMESTAMPTZ             |
| string       | VARCHAR(n <= 65535 bytes)  | json / uuid  | SUPER / CHAR(36)        |
"""

from __future__ import annotations

from sqlglot import exp

from etl_assets.ddl.common import (
    Ddl,
    Table,
    TableTypes,
    TypeHints,
    foreign_key_notes,
    ident,
    keyed_body,
    schema_and_table,
    sized,
)

NAME = "redshift"
TYPES = {"binary": "VARBYTE", "timestamptz": "TIMESTAMPTZ", "json": "SUPER"}
_READ_BACK = {exp.DataType.Type.VARCHAR: "string", exp.DataType.Type.CHAR: "string",
              exp.DataType.Type.SUPER: "json"}
DECIMAL_LIMITS = (38, 37)
MAX_VARCHAR_BYTES = 65_535
MIN_VARCHAR_BYTES = 8
"""VARCHAR sizes are 4 bytes per character seen, rounded up to a power of two from this."""


class RedshiftTypes(TableTypes):
    """Redshift's types; VARCHAR sizes are bytes, so strings are sized for 4-byte characters."""

    def string_type(self, hints: TypeHints, column: str, notes: list[str]) -> exp.DataType:
        return sized(exp.DataType.Type.VARCHAR, _varchar_bytes(hints, column, notes))


def _varchar_bytes(hints: TypeHints, column: str, notes: list[str]) -> int:
    if hints.max_length is None:
        return MAX_VARCHAR_BYTES
    worst_case_bytes = 4 * hints.max_length
    if worst_case_bytes > MAX_VARCHAR_BYTES:
        notes.append(f"{column}: values up to {hints.max_length:,} characters may exceed Redshift's "
                     f"{MAX_VARCHAR_BYTES:,}-byte VARCHAR; load with TRUNCATECOLUMNS or keep them in SUPER")
        return MAX_VARCHAR_BYTES
    size = MIN_VARCHAR_BYTES
    while size < worst_case_bytes:
        size *= 2
    return min(size, MAX_VARCHAR_BYTES)


MAPPER = RedshiftTypes(NAME, TYPES, _READ_BACK, DECIMAL_LIMITS, sized=("string",))


def build(table: Table) -> Ddl:
    rec, notes = table.recommendation, []
    body = keyed_body(table, MAPPER, notes, rec.primary_key)
    properties: list[exp.Expr] = [exp.DistStyleProperty(this=exp.var(rec.distribution.upper()))]
    if rec.distribution == "key" and rec.distribution_key:
        properties.append(exp.DistKeyProperty(this=ident(rec.distribution_key[0])))
    leading = [rec.event_time] if rec.event_time and rec.event_time in rec.order_by else []
    sort_key = [name for name in [*leading, *rec.order_by] if table.logical(name) not in ("json", "binary")]
    sort_key = list(dict.fromkeys(sort_key))
    if sort_key:
        properties.append(exp.SortKeyProperty(this=[ident(name) for name in sort_key], compound=True))
    notes.extend(foreign_key_notes(table, NAME))
    return Ddl(NAME, schema_and_table(table, body, properties), notes)
