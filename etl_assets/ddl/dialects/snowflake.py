"""Snowflake: PRIMARY KEY (informational), CLUSTER BY (time bucket + sort dimensions) when partitioned.

| logical      | Snowflake                  | logical      | Snowflake       |
|--------------|----------------------------|--------------|-----------------|
| bool         | BOOLEAN                    | binary       | BINARY          |
| int16/32/64  | SMALLINT / INT / BIGINT    | date / time  | DATE / TIME     |
| float32/64   | FLOAT (both 64-bit)        | timestamp    | TIMESTAMP_NTZ   |
| decimal(p,s) | NUMBER (p <= 38, s <= 37)  | timestamptz  | TIMESTAMP_TZ    |
| string       | VARCHAR                    | json / uuid  | VARIANT / VARCHAR(36) |
"""

from __future__ import annotations

from sqlglot import exp

from etl_assets.ddl.common import (
    Ddl,
    Table,
    TableTypes,
    column_ref,
    foreign_key_notes,
    keyed_body,
    partition_parts,
    schema_and_table,
)

NAME = "snowflake"
TYPES = {
    "float32": "FLOAT", "float64": "FLOAT", "binary": "BINARY", "timestamp": "TIMESTAMP_NTZ",
    "timestamptz": "TIMESTAMP_TZ", "json": "VARIANT", "uuid": "VARCHAR(36)",
}
_READ_BACK = {exp.DataType.Type.VARCHAR: "string", exp.DataType.Type.TIMESTAMPNTZ: "timestamp",
              exp.DataType.Type.VARIANT: "json", exp.DataType.Type.BINARY: "binary"}
DECIMAL_LIMITS = (38, 37)
MAX_CLUSTER = 3
MAPPER = TableTypes(NAME, TYPES, _READ_BACK, DECIMAL_LIMITS)
"""Snowflake has one 64-bit FLOAT and VARIANT for JSON; no hint changes a type."""


def build(table: Table) -> Ddl:
    rec, notes = table.recommendation, []
    body = keyed_body(table, MAPPER, notes, rec.primary_key)
    properties: list[exp.Expr] = []
    partition = partition_parts(rec)
    if partition and partition.granularity in ("year", "month", "day"):
        bucket: exp.Expr = exp.TsOrDsToDate(this=column_ref(partition.column))
        if partition.granularity != "day":
            bucket = exp.DateTrunc(this=bucket, unit=exp.var(partition.granularity.upper()))
        dimensions = [column_ref(n) for n in rec.order_by if n != partition.column and table.logical(n) != "json"]
        properties.append(exp.ClusterProperty(expressions=[bucket, *dimensions][:MAX_CLUSTER]))
    notes.extend(foreign_key_notes(table, NAME))
    return Ddl(NAME, schema_and_table(table, body, properties), notes)
