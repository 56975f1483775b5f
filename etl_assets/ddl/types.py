"""The per-dialect type layer: a logical type (resources/protocol.py) -> a sqlglot ``DataType`` for each dialect.

Each dialect's type is written in that dialect's own spelling and parsed by sqlglot with that dialect, so the tree
renders back to exactly the type we meant. What the table below cannot express (sizes from profile facts,
ClickHouse nullability, limits) is applied by :func:`column_type`; anything lossy is reported as a note.

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

import re
from dataclasses import dataclass, field

from sqlglot import exp

DIALECTS = ("postgres", "clickhouse", "mysql", "redshift", "snowflake", "bigquery")

_FIXED: dict[str, dict[str, str]] = {
    "postgres": {
        "bool": "BOOLEAN", "int16": "SMALLINT", "int32": "INT", "int64": "BIGINT", "float32": "REAL",
        "float64": "DOUBLE PRECISION", "string": "TEXT", "binary": "BYTEA", "date": "DATE", "time": "TIME",
        "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ", "json": "JSONB", "uuid": "UUID",
    },
    "clickhouse": {
        "bool": "Bool", "int16": "Int16", "int32": "Int32", "int64": "Int64", "float32": "Float32",
        "float64": "Float64", "string": "String", "binary": "String", "date": "Date32",
        "timestamp": "DateTime64(6)", "timestamptz": "DateTime64(6, 'UTC')", "json": "JSON", "uuid": "UUID",
    },
    "mysql": {
        "bool": "BOOLEAN", "int16": "SMALLINT", "int32": "INT", "int64": "BIGINT", "float32": "FLOAT",
        "float64": "DOUBLE", "binary": "LONGBLOB", "date": "DATE", "time": "TIME(6)",
        "timestamp": "DATETIME(6)", "timestamptz": "DATETIME(6)", "json": "JSON", "uuid": "CHAR(36)",
    },
    "redshift": {
        "bool": "BOOLEAN", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT", "float32": "REAL",
        "float64": "DOUBLE PRECISION", "binary": "VARBYTE", "date": "DATE", "time": "TIME",
        "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ", "json": "SUPER", "uuid": "CHAR(36)",
    },
    "snowflake": {
        "bool": "BOOLEAN", "int16": "SMALLINT", "int32": "INT", "int64": "BIGINT", "float32": "FLOAT",
        "float64": "FLOAT", "string": "VARCHAR", "binary": "BINARY", "date": "DATE", "time": "TIME",
        "timestamp": "TIMESTAMP_NTZ", "timestamptz": "TIMESTAMP_TZ", "json": "VARIANT", "uuid": "VARCHAR(36)",
    },
    "bigquery": {
        "bool": "BOOL", "int16": "INT64", "int32": "INT64", "int64": "INT64", "float32": "FLOAT64",
        "float64": "FLOAT64", "string": "STRING", "binary": "BYTES", "date": "DATE", "time": "TIME",
        "timestamp": "DATETIME", "timestamptz": "TIMESTAMP", "json": "JSON", "uuid": "STRING",
    },
}
_CLICKHOUSE_TIME = "Time64(6)"
"""Not in sqlglot's ClickHouse grammar, so it is carried as a user-defined type node."""

_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
_DECIMAL_LIMITS = {  # dialect -> (max precision, max scale)
    "postgres": (1000, 1000), "clickhouse": (76, 76), "mysql": (65, 30), "redshift": (38, 37),
    "snowflake": (38, 37), "bigquery": (76, 38),
}
MYSQL_MAX_KEY_CHARS = 768
"""InnoDB keys are at most 3072 bytes, i.e. 768 utf8mb4 characters."""
REDSHIFT_MAX_VARCHAR_BYTES = 65_535


@dataclass(frozen=True)
class TypeHints:
    """What a column's profile and the recommendation say beyond its logical type."""

    nullable: bool = True
    max_length: int | None = None
    """Longest value seen, in characters (strings) or bytes (binary)."""
    key: bool = False
    """Part of a primary, sort or index key (MySQL needs a bounded VARCHAR; ClickHouse a non-Nullable type)."""
    low_cardinality: bool = False


@dataclass
class TypeResult:
    data_type: exp.DataType
    notes: list[str] = field(default_factory=list)


def column_type(logical_type: str, dialect: str, hints: TypeHints = TypeHints(), column: str = "") -> TypeResult:
    """The ``DataType`` tree for ``logical_type`` in ``dialect``, with notes on anything lossy."""
    if dialect not in _FIXED:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    notes: list[str] = []
    decimal = _DECIMAL.match(logical_type)
    if decimal:
        spelled = _decimal_type(int(decimal.group(1)), int(decimal.group(2)), dialect, column, notes)
    elif logical_type == "string":
        spelled = _string_type(dialect, hints, column, notes)
    elif logical_type == "time" and dialect == "clickhouse":
        spelled = _CLICKHOUSE_TIME
    elif logical_type in _FIXED[dialect]:
        spelled = _FIXED[dialect][logical_type]
    else:
        raise ValueError(f"column {column!r}: unknown logical type {logical_type!r}")
    data_type = exp.DataType.build(spelled, dialect=dialect, udt=spelled == _CLICKHOUSE_TIME)
    if dialect == "clickhouse":
        data_type = _clickhouse_nullability(data_type, logical_type, hints, column, notes)
    return TypeResult(data_type, notes)


def _decimal_type(precision: int, scale: int, dialect: str, column: str, notes: list[str]) -> str:
    max_precision, max_scale = _DECIMAL_LIMITS[dialect]
    fitted_precision = max(1, min(precision, max_precision))
    fitted_scale = min(scale, max_scale, fitted_precision)
    if (fitted_precision, fitted_scale) != (precision, scale):
        notes.append(f"{column}: decimal({precision},{scale}) exceeds {dialect}'s limits; "
                     f"narrowed to ({fitted_precision},{fitted_scale})")
    if dialect == "bigquery":
        fits_numeric = fitted_precision - fitted_scale <= 29 and fitted_scale <= 9
        return f"{'NUMERIC' if fits_numeric else 'BIGNUMERIC'}({fitted_precision}, {fitted_scale})"
    name = {"postgres": "NUMERIC", "clickhouse": "Decimal", "snowflake": "NUMBER"}.get(dialect, "DECIMAL")
    return f"{name}({fitted_precision}, {fitted_scale})"


def _string_type(dialect: str, hints: TypeHints, column: str, notes: list[str]) -> str:
    if dialect == "mysql":
        return _mysql_string(hints, column, notes)
    if dialect == "redshift":
        return _redshift_string(hints, column, notes)
    return _FIXED[dialect]["string"]


def _mysql_string(hints: TypeHints, column: str, notes: list[str]) -> str:
    longest = hints.max_length
    if hints.key:
        if longest is not None and longest > MYSQL_MAX_KEY_CHARS:
            notes.append(f"{column}: values up to {longest:,} characters exceed MySQL's key limit of "
                         f"{MYSQL_MAX_KEY_CHARS} characters; longer values will be rejected")
        return f"VARCHAR({MYSQL_MAX_KEY_CHARS if longest is None else min(MYSQL_MAX_KEY_CHARS, max(64, 2 * longest))})"
    if longest is not None and longest <= 255:
        return "VARCHAR(255)"
    if longest is None or longest <= 16_383:
        return "TEXT"
    return "MEDIUMTEXT" if longest <= 4_194_303 else "LONGTEXT"


def _redshift_string(hints: TypeHints, column: str, notes: list[str]) -> str:
    if hints.max_length is None:
        return f"VARCHAR({REDSHIFT_MAX_VARCHAR_BYTES})"
    worst_case_bytes = 4 * hints.max_length
    if worst_case_bytes > REDSHIFT_MAX_VARCHAR_BYTES:
        notes.append(f"{column}: values up to {hints.max_length:,} characters may exceed Redshift's "
                     f"{REDSHIFT_MAX_VARCHAR_BYTES:,}-byte VARCHAR; load with TRUNCATECOLUMNS or keep them in SUPER")
        return f"VARCHAR({REDSHIFT_MAX_VARCHAR_BYTES})"
    size = 256
    while size < worst_case_bytes:
        size *= 2
    return f"VARCHAR({min(size, REDSHIFT_MAX_VARCHAR_BYTES)})"


def _clickhouse_nullability(
    data_type: exp.DataType, logical_type: str, hints: TypeHints, column: str, notes: list[str]
) -> exp.DataType:
    """Set ``nullable`` on every node: unset means "wrap in Nullable" to sqlglot's ClickHouse generator."""
    nullable = hints.nullable and not hints.key
    if logical_type == "json":
        if hints.nullable:
            notes.append(f"{column}: ClickHouse JSON cannot be Nullable; NULL is stored as an empty object")
        nullable = False
    data_type.set("nullable", nullable)
    if hints.low_cardinality and logical_type == "string":
        return exp.DataType(
            this=exp.DataType.Type.LOWCARDINALITY, expressions=[data_type], nested=True, nullable=False
        )
    return data_type
