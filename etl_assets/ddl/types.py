"""The DDL type layer by dialect name: each dialect's one type table lives in its module (``dialects/<name>.py``;
PostgreSQL's and ClickHouse's come from their connectors), and :func:`column_type` asks the right one.

| logical      | postgres    | clickhouse             | mysql       | redshift     | snowflake     | bigquery   |
|--------------|-------------|------------------------|-------------|--------------|---------------|------------|
| bool         | BOOLEAN     | Bool                   | BOOLEAN     | BOOLEAN      | BOOLEAN       | BOOL       |
| int16/32/64  | SMALLINT..  | Int16/Int32/Int64      | SMALLINT..  | SMALLINT..   | SMALLINT..    | INT64      |
| float32/64   | REAL/DOUBLE | Float32/Float64        | FLOAT/DOUBLE| REAL/DOUBLE  | FLOAT         | FLOAT64    |
| decimal(p,s) | NUMERIC     | Decimal (p<=76)        | DECIMAL(<=65)| DECIMAL(<=38)| NUMBER(<=38) | (BIG)NUMERIC|
| string       | TEXT        | String / LowCardinality| VARCHAR/TEXT| VARCHAR(n)   | VARCHAR       | STRING     |
| binary       | BYTEA       | String                 | LONGBLOB    | VARBYTE      | BINARY        | BYTES      |
| date         | DATE        | Date32                 | DATE        | DATE         | DATE          | DATE       |
| time         | TIME        | Time64(6)              | TIME(6)     | TIME         | TIME          | TIME       |
| timestamp    | TIMESTAMP   | DateTime64(6)          | DATETIME(6) | TIMESTAMP    | TIMESTAMP_NTZ | DATETIME   |
| timestamptz  | TIMESTAMPTZ | DateTime64(6, 'UTC')   | DATETIME(6) | TIMESTAMPTZ  | TIMESTAMP_TZ  | TIMESTAMP  |
| json         | JSONB       | JSON (never Nullable)  | JSON        | SUPER        | VARIANT       | JSON       |
| uuid         | UUID        | UUID                   | CHAR(36)    | CHAR(36)     | VARCHAR(36)   | STRING     |
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from etl_assets.ddl.common import NO_HINTS, DialectTypes, TypeHints, column_logical
from etl_assets.ddl.dialects import DIALECTS

__all__ = ["DIALECTS", "MAPPERS", "TypeHints", "TypeResult", "column_type", "mapper"]

MAPPERS: dict[str, DialectTypes] = {name: module.MAPPER for name, module in DIALECTS.items()}


@dataclass
class TypeResult:
    data_type: exp.DataType
    notes: list[str] = field(default_factory=list)


def mapper(dialect: str) -> DialectTypes:
    if dialect not in MAPPERS:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    return MAPPERS[dialect]


def column_type(logical_type: str, dialect: str, hints: TypeHints = NO_HINTS, column: str = "") -> TypeResult:
    """The ``DataType`` tree for ``logical_type`` in ``dialect``, with notes on anything lossy."""
    types = mapper(dialect)
    data_type, notes = types.column_type(column_logical(logical_type, column), hints, column)
    return TypeResult(data_type, notes)
