"""BigQuery: PARTITION BY {DATE,DATETIME,TIMESTAMP}_TRUNC(col, MONTH/DAY), CLUSTER BY (<= 4 columns); no keys.

| logical      | BigQuery                          | logical      | BigQuery        |
|--------------|-----------------------------------|--------------|-----------------|
| bool         | BOOL                              | binary       | BYTES           |
| int16/32/64  | INT64                             | date / time  | DATE / TIME     |
| float32/64   | FLOAT64                           | timestamp    | DATETIME        |
| decimal(p,s) | NUMERIC, or BIGNUMERIC (p <= 76)  | timestamptz  | TIMESTAMP       |
| string       | STRING                            | json / uuid  | JSON / STRING   |
"""

from __future__ import annotations

from sqlglot import exp

from etl_assets.ddl.common import (
    Ddl,
    Partition,
    Table,
    TableTypes,
    column_defs,
    column_ref,
    default_hints,
    foreign_key_notes,
    partition_parts,
    schema_and_table,
)
from resources.schema import LogicalType

NAME = "bigquery"
TYPES = {
    "bool": "BOOL", "int16": "INT64", "int32": "INT64", "int64": "INT64", "float32": "FLOAT64", "float64": "FLOAT64",
    "string": "STRING", "binary": "BYTES", "timestamp": "DATETIME", "timestamptz": "TIMESTAMP", "uuid": "STRING",
}
_READ_BACK = {exp.DataType.Type.BIGDECIMAL: "decimal", exp.DataType.Type.BINARY: "binary"}
DECIMAL_LIMITS = (76, 38)
NUMERIC_LIMITS = (29, 9)
"""NUMERIC holds 29 integer digits and 9 fractional ones; wider decimals need BIGNUMERIC."""
MAX_CLUSTER = 4
_CLUSTERABLE = ("bool", "int16", "int32", "int64", "string", "uuid", "date", "timestamp", "timestamptz")
_TRUNCATE = {"date": exp.DateTrunc, "timestamp": exp.DatetimeTrunc, "timestamptz": exp.TimestampTrunc}


class BigQueryTypes(TableTypes):
    """BigQuery's types: one integer and one float type; decimals in NUMERIC when they fit, else BIGNUMERIC."""

    def decimal_type(self, fitted: LogicalType) -> exp.DataType:
        data_type = fitted.data_type()
        if fitted.precision - fitted.scale > NUMERIC_LIMITS[0] or fitted.scale > NUMERIC_LIMITS[1]:
            data_type.set("this", exp.DataType.Type.BIGDECIMAL)
        return data_type


MAPPER = BigQueryTypes(NAME, TYPES, _READ_BACK, DECIMAL_LIMITS)


def build(table: Table) -> Ddl:
    rec, notes = table.recommendation, []
    body = column_defs(table, MAPPER, notes, default_hints(table, set(rec.primary_key)))
    properties: list[exp.Expr] = []
    partition = partition_parts(rec)
    if partition and partition.granularity in ("year", "month", "day"):
        properties.append(exp.PartitionedByProperty(this=_partition_expression(table, partition)))
    elif partition:
        notes.append(f"{rec.partition_by} is not applied in BigQuery (no hash partitioning); clustering instead")
    cluster = [n for n in (rec.order_by or rec.primary_key) if _clusterable(table, n)][:MAX_CLUSTER]
    if cluster:
        properties.append(exp.ClusterProperty(expressions=[column_ref(name) for name in cluster]))
    notes.extend(foreign_key_notes(table, NAME))
    return Ddl(NAME, schema_and_table(table, body, properties), notes)


def _partition_expression(table: Table, partition: Partition) -> exp.Expr:
    logical = table.logical(partition.column)
    if logical == "date" and partition.granularity == "day":
        return column_ref(partition.column)
    truncate = _TRUNCATE.get(logical)
    if truncate is None:
        raise ValueError(f"{table.name}: cannot partition by {partition.column} of type {logical} in BigQuery")
    return truncate(this=column_ref(partition.column), unit=exp.var(partition.granularity.upper()))


def _clusterable(table: Table, name: str) -> bool:
    logical = table.logical(name)
    return logical in _CLUSTERABLE or logical.startswith("decimal")
