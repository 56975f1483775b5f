"""ClickHouse: the recommended layout (MergeTree-family ENGINE, PARTITION BY toYYYYMM/toYYYYMMDD, ORDER BY,
LowCardinality, skip indexes) and, on a cluster, ON CLUSTER, a Replicated* engine on ``<table>_local`` and a
Distributed ``<table>`` over it.

This module decides the layout; the statements are built by :mod:`resources.clickhouse.ddl` and the types come
from the ClickHouse connector's table (:mod:`resources.clickhouse.types`). Key columns and JSON are never Nullable
(ClickHouse rejects Nullable sort keys and Nullable JSON).
"""

from __future__ import annotations

import datetime as dt
import re
from itertools import takewhile

from sqlglot import exp

from etl_assets.ddl.common import (
    NO_HINTS,
    Ddl,
    Table,
    TypeHints,
    chosen_hints,
    column_ref,
    fit_decimal,
    ident,
    index_name,
    partition_parts,
    typed_columns,
)
from etl_assets.recommend.facts import parse_instant
from etl_assets.recommend.layout import KEY_ROLES
from etl_assets.recommend.model import Index
from resources.clickhouse import ddl as clickhouse_ddl
from resources.clickhouse import types as clickhouse_types
from resources.schema import Column, LogicalType

NAME = "clickhouse"
DECIMAL_LIMITS = (76, 76)
SKIP_INDEXES: dict[str, tuple[int, ...]] = {
    "minmax": (), "set": (1000,), "bloom_filter": (), "tokenbf_v1": (10240, 3, 0), "ngrambf_v1": (3, 10240, 3, 0),
}
"""Skip index types and their parameters."""
TEXT_SKIP_INDEXES = ("tokenbf_v1", "ngrambf_v1")
SKIP_INDEX_GRANULARITY = 4
BLOOM_FILTER_GRANULARITY = 1
"""A bloom_filter index holds one filter per granule: its bytes follow the values it holds (bits per row from its
false-positive rate), not the granularity, so one per granule costs no more and lets a lookup by value read the
granule holding it (ClickHouse's OpenTelemetry schema indexes its trace ids so)."""
INDEX_GRANULE_ROWS = 8192
"""ClickHouse's default ``index_granularity``: a table within one granule is read whole by any query."""
KEY_INDEX_EXCLUDED_TYPES = ("float32", "float64", "json", "binary")
REPLICA_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
REPLICA_NAME = "{replica}"
_ENGINE = re.compile(r"^(\w+)(?:\((.*)\))?$")
_INTEGERS = (
    ("UInt8", 0, 2**8 - 1), ("UInt16", 0, 2**16 - 1), ("UInt32", 0, 2**32 - 1), ("UInt64", 0, 2**64 - 1),
    ("Int8", -(2**7), 2**7 - 1), ("Int16", -(2**15), 2**15 - 1), ("Int32", -(2**31), 2**31 - 1),
    ("Int64", -(2**63), 2**63 - 1),
)
"""ClickHouse's integer types, narrowest first: unsigned ones for ranges without negative values."""
DATE_RANGE = (dt.date(1970, 1, 1), dt.date(2149, 6, 6))
DATETIME_RANGE = (dt.datetime(1970, 1, 1), dt.datetime(2106, 2, 7))
PARTITION_FUNCTIONS = {"year": "toYear", "month": "toYYYYMM", "day": "toYYYYMMDD"}
_COMPACT = {"date": "Date", "timestamp": "DateTime", "timestamptz": "DateTime('UTC')"}
ZSTD_LEVEL = 1
"""Codec level of cold columns: ZSTD(1) stores them 20-40% smaller than the default LZ4; higher levels cost write
time for little more."""
DELTA_TYPES = ("date", "timestamp", "timestamptz")
T64_TYPES = ("int16", "int32", "int64")
MIN_SORTED_RUN = 8
"""A time column counts as sorted (Delta pays) when, within the sort key, the columns before it leave runs of at
least this many rows on average (rows / product of their distinct counts)."""


class ClickHouseTypes:
    """The connector's ClickHouse types, with the DDL's hints: Nullable unless a key, closed sets as Enum8, other
    low-cardinality strings as LowCardinality."""

    system = NAME

    def to_native(self, logical: LogicalType, nullable: bool = True) -> str:
        return clickhouse_types.CLICKHOUSE.to_native(logical, nullable)

    def from_native(self, native: str) -> LogicalType:
        return clickhouse_types.CLICKHOUSE.from_native(native)

    def column_type(self, logical: LogicalType, hints: TypeHints = NO_HINTS,
                    column: str = "") -> tuple[exp.DataType, list[str]]:
        notes: list[str] = []
        if logical.is_decimal:
            logical = fit_decimal(logical, DECIMAL_LIMITS, NAME, column, notes)
        if logical.name == "json" and hints.nullable:
            notes.append(f"{column}: ClickHouse JSON cannot be Nullable; NULL is stored as an empty object")
        data_type = _narrow(logical, hints) or clickhouse_types.data_type(logical, nullable=False)
        data_type.set("nullable", hints.nullable and not hints.key and data_type.this != exp.DataType.Type.JSON)
        if _as_enum(logical, hints):
            data_type = enum_type(hints.enum_values, hints.nullable)
        elif hints.low_cardinality and logical.name == "string":
            data_type = exp.DataType(this=exp.DataType.Type.LOWCARDINALITY, expressions=[data_type], nested=True,
                                     nullable=False)
        return data_type, notes


def _as_enum(logical: LogicalType, hints: TypeHints) -> bool:
    """A closed set of strings off every key (the profile saw all its values, over many rows each)."""
    return logical.name == "string" and bool(hints.enum_values) and not hints.key


def enum_type(values: tuple[str, ...], nullable: bool) -> exp.DataType:
    """``Enum8('a' = 1, 'b' = 2, ...)`` numbered in the values' sorted order, so that ORDER BY the column sorts as
    the strings do. Of the comparisons with a string outside the set, = and IN match nothing, but != fails."""
    members = [exp.EQ(this=exp.Literal.string(value), expression=exp.Literal.number(number))
               for number, value in enumerate(sorted(values), start=1)]
    return exp.DataType(this=exp.DataType.Type.ENUM8, expressions=members, nullable=nullable)


def _narrow(logical: LogicalType, hints: TypeHints) -> exp.DataType | None:
    """The narrowest integer for the range seen, Date/DateTime for times within their range; None: the default."""
    if logical.is_integer and hints.min_value is not None and hints.max_value is not None:
        name = next(n for n, low, high in _INTEGERS if low <= hints.min_value and hints.max_value <= high)
        return exp.DataType.build(name, dialect=NAME)
    if hints.compact_time and logical.name in _COMPACT:
        return exp.DataType.build(_COMPACT[logical.name], dialect=NAME)
    return None


def compact_time(table: Table, column: str) -> bool:
    """Whether the profiled range fits Date/DateTime (and a timestamp has whole seconds only)."""
    profile, chosen = table.profiles.get(column), table.chosen(column)
    logical = table.logical(column)
    if profile is None or logical not in _COMPACT or (logical != "date" and not (chosen and chosen.seconds)):
        return False
    first, last = parse_instant(profile.min), parse_instant(profile.max)
    if first is None or last is None:
        return False
    low, high = DATETIME_RANGE if logical != "date" else (dt.datetime.combine(DATE_RANGE[0], dt.time()),
                                                          dt.datetime.combine(DATE_RANGE[1], dt.time()))
    return low <= first and last < high


MAPPER = ClickHouseTypes()


def build(table: Table) -> Ddl:
    rec, notes = table.recommendation, []
    skip_indexes = [i for i in rec.indexes if i.method in SKIP_INDEXES and _skippable(table, i, notes)]
    key_index = key_lookup_index(table, skip_indexes)
    if key_index is not None:
        skip_indexes.append(key_index)
        notes.append(f"bloom_filter skip index on the key column {key_index.columns[0]}, GRANULARITY "
                     f"{BLOOM_FILTER_GRANULARITY}: the sort key leads with {_sort_key(table)[0]}, so the primary index "
                     "cannot find a key value; the filter lets a lookup by key read the granule holding it instead "
                     "of every granule")
    keys = key_columns(table) | {name for i in skip_indexes if i.method in TEXT_SKIP_INDEXES for name in i.columns}
    codecs = {c.name: codec(table, c.name, access_columns(table, skip_indexes)) for c in table.schema.columns}
    body = _column_defs(table, notes, keys, codecs)
    notes.extend(_codec_notes(table, {name: reason for name, (_, reason) in codecs.items()}))
    notes.extend(_enum_notes(body))
    body.extend(_skip_index(index) for index in skip_indexes)
    local_name = f"{table.name}_local" if table.cluster else table.name
    statements: list[exp.Expr] = [
        clickhouse_ddl.create_database(table.namespace, cluster=table.cluster),
        clickhouse_ddl.create_table(table.namespace, local_name, body, [_engine(table), *_layout(table)],
                                    cluster=table.cluster, if_not_exists=True),
    ]
    if table.cluster:
        statements.append(_distributed_table(table, local_name, notes))
    notes.extend(_relationship_notes(table))
    notes.extend(_aggregation_notes(table))
    return Ddl(NAME, statements, notes)


def key_lookup_index(table: Table, skip_indexes: list[Index]) -> Index | None:
    """A bloom_filter on the primary key's first column when the sort key does not lead with it (a time series
    sorted by time, a fact by its codes): lookups by key (a row's detail, an update's match) would otherwise read
    every granule. Not for a table within one granule, nor for a column another skip index already covers."""
    key, sort_key = table.recommendation.primary_key, _sort_key(table)
    if not key or sort_key[:1] == key[:1] or (table.row_count is not None and table.row_count <= INDEX_GRANULE_ROWS):
        return None
    if table.logical(key[0]) in KEY_INDEX_EXCLUDED_TYPES or any(key[0] in i.columns for i in skip_indexes):
        return None
    return Index((key[0],), "bloom_filter")


def _sort_key(table: Table) -> list[str]:
    return list(table.recommendation.order_by or table.recommendation.primary_key)


def _enum_notes(columns: list[exp.Expr]) -> list[str]:
    enums = [c.name for c in columns
             if isinstance(c, exp.ColumnDef) and c.kind and c.kind.is_type(exp.DataType.Type.ENUM8)]
    if not enums:
        return []
    return [f"Enum8 on {', '.join(enums)}: closed sets (every value seen, each in many rows, no key), one byte a row, "
            "grouped and compared as integers; an insert with a value not in the set fails naming it until ALTER "
            "TABLE ... MODIFY COLUMN adds it (a change of metadata only), and so does a filter x != 'v' with such a "
            "value (Unknown element; = and IN answer no rows)"]


def _aggregation_notes(table: Table) -> list[str]:
    """A sort key leading with low-cardinality columns serves a GROUP BY on them only when the query asks for
    aggregation in order (off by default): measured 2.1x faster than hashing on the OnTime shape at 100k rows."""
    low = set(table.recommendation.low_cardinality)
    leading = list(takewhile(lambda name: name in low, _sort_key(table)))
    if not leading:
        return []
    return [f"queries grouping by {', '.join(leading)} (the sort key's leading columns) aggregate group by group "
            "instead of hashing every row with SETTINGS optimize_aggregation_in_order = 1"]


def _relationship_notes(table: Table) -> list[str]:
    rec = table.recommendation
    notes = [f"foreign key ({', '.join(fk.columns)}) -> {fk.ref_table} ({', '.join(fk.ref_columns)}), "
             f"{fk.match_share:.1%} matching: not enforced by ClickHouse; join on it" for fk in rec.foreign_keys]
    if rec.dictionary and rec.primary_key:
        dictionary = exp.table_(f"{table.name}_dict", db=table.namespace, quoted=True).sql("clickhouse")
        key = ", ".join(exp.to_identifier(c, quoted=True).sql("clickhouse") for c in rec.primary_key)
        source = exp.Literal.string(table.name).sql("clickhouse")
        notes.append(f"small dimension joined by other tables: serve it as a dictionary too, e.g. CREATE DICTIONARY "
                     f"{dictionary} (...) PRIMARY KEY {key} SOURCE(CLICKHOUSE(TABLE {source})) LAYOUT(HASHED()) "
                     f"LIFETIME(3600), read with dictGet")
    return notes


def key_columns(table: Table) -> set[str]:
    """Columns of the primary key, sort key, partition key and engine arguments (never Nullable)."""
    rec = table.recommendation
    engine_arguments = engine_parts(rec.engine)[1]
    partition = [rec.partition_column] if rec.partition_column else []
    return {*rec.primary_key, *rec.order_by, *engine_arguments, *partition}


def engine_parts(engine: str | None) -> tuple[str, list[str]]:
    """``("ReplacingMergeTree", ["updated_at"])`` from ``"ReplacingMergeTree(updated_at)"``; MergeTree by default."""
    if not engine:
        return "MergeTree", []
    match = _ENGINE.match(engine.strip())
    if not match:
        raise ValueError(f"unsupported ClickHouse engine {engine!r}")
    arguments = [a.strip() for a in (match.group(2) or "").split(",") if a.strip()]
    return match.group(1), arguments


def _column_defs(table: Table, notes: list[str], keys: set[str],
                 codecs: dict[str, tuple[list[exp.Expr], str]] | None = None) -> list[exp.Expr]:
    """Column definitions: ``keys`` are not Nullable; ``codecs``: each column's (the Distributed table has none:
    it stores nothing)."""
    low_cardinality = _low_cardinality(table)

    def hints(column: Column) -> TypeHints:
        return chosen_hints(table, column, keys, low_cardinality=column.name in low_cardinality,
                            compact_time=compact_time(table, column.name))

    return [_column_def(column.name, data_type, not_null, codecs[column.name][0] if codecs else [])
            for column, data_type, not_null in typed_columns(table, MAPPER, notes, hints)]


def _column_def(name: str, data_type: exp.DataType, not_null: bool, codecs: list[exp.Expr]) -> exp.ColumnDef:
    definition = clickhouse_ddl.column_def(name, data_type)
    constraints = [exp.ColumnConstraint(kind=exp.NotNullColumnConstraint())] if not_null else []
    if codecs:
        constraints.append(exp.ColumnConstraint(kind=exp.CompressColumnConstraint(this=codecs)))
    definition.set("constraints", constraints or None)
    return definition


def codec(table: Table, column: str, access: set[str]) -> tuple[list[exp.Expr], str]:
    """The column's codecs and the reason, from its role in the layout and the profile.

    Measured on chdb (1M-row samples of three published shapes): ZSTD(1) on every column made filters on the sort
    key up to 1.4x slower than LZ4 for 1-3% of the bytes; LZ4 everywhere cost a third of the size ratio; plain LZ4
    on unsorted integer keys (foreign keys) cost 10% of TPC-H's size ratio, which T64 before it wins back. A
    dimension's other columns keep LZ4: its rows are read whole, by lookups on its key, joins and dictionary loads
    (TPC-H customer at 30k rows: a lookup 1.45x faster than with ZSTD, 1.6x larger).
    """
    logical = table.logical(column)
    if logical == "json":
        return [], "json"
    order_by = table.recommendation.order_by or table.recommendation.primary_key
    if logical in DELTA_TYPES and column in access and sorted_time(table, column):
        return [exp.var("Delta"), exp.var("LZ4")], "sorted time"
    if logical in T64_TYPES and order_by[:1] != [column]:
        return [exp.var("T64"), exp.var("LZ4")], "narrow integer"
    if column in access:
        return [], "access path"
    if column in table.recommendation.aggregated:
        return [], "aggregated"
    if table.recommendation.role in KEY_ROLES:
        return [], "whole rows"
    return [exp.Anonymous(this="ZSTD", expressions=[exp.Literal.number(ZSTD_LEVEL)])], "cold"


def sorted_time(table: Table, column: str) -> bool:
    """Whether ``column`` ascends over runs of rows in the sort key: it leads, or the columns before it have so
    few value combinations that runs of ``MIN_SORTED_RUN`` rows or more share them."""
    order_by = table.recommendation.order_by or table.recommendation.primary_key
    if column not in order_by:
        return False
    preceding = order_by[:order_by.index(column)]
    if not preceding:
        return True
    combinations = 1
    for name in preceding:
        profile = table.profiles.get(name)
        if profile is None or table.row_count is None:
            return False
        combinations *= max(profile.distinct_count, 1)
    return combinations * MIN_SORTED_RUN <= table.row_count


def access_columns(table: Table, skip_indexes: list[Index]) -> set[str]:
    """Columns every filter, group, lookup or join of the layout reads: sort, primary and partition keys,
    foreign-key and skip-index columns."""
    foreign = {name for fk in table.recommendation.foreign_keys for name in fk.columns}
    return key_columns(table) | foreign | {name for index in skip_indexes for name in index.columns}


def _codec_notes(table: Table, chosen: dict[str, str]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for name, reason in chosen.items():
        groups.setdefault(reason, []).append(name)
    wording = {
        "access path": "default LZ4 (no CODEC) on the sort, partition, join and index columns {}: every filter, "
                       "group and join decodes them, and LZ4 decodes several times faster than ZSTD",
        "aggregated": "default LZ4 (no CODEC) on {}: the query log aggregates them, and LZ4 decodes several times "
                      "faster than ZSTD",
        "sorted time": "CODEC(Delta, LZ4) on {}: it ascends within the sort key, so Delta leaves small differences "
                       "that LZ4 packs and decodes fast",
        "narrow integer": "CODEC(T64, LZ4) on the integers {} (all but a leading sort column): T64 drops the bits "
                          "their range never uses, LZ4 keeps them fast to decode for sums and joins",
        "cold": f"CODEC(ZSTD({ZSTD_LEVEL})) on {{}}: read only when selected, so stored smaller (ZSTD) at some decode "
                "cost",
        "whole rows": "default LZ4 (no CODEC) on the other columns {} too: a dimension's rows are read whole, by "
                      "lookups on its key, joins and dictionary loads, and LZ4 decodes several times faster than ZSTD",
    }
    return [wording[reason].format(", ".join(names)) for reason, names in groups.items() if reason in wording]


def _low_cardinality(table: Table) -> set[str]:
    return set(table.recommendation.low_cardinality)


def _skippable(table: Table, index: Index, notes: list[str]) -> bool:
    """Token/ngram bloom filters need non-Nullable strings: only columns the profile shows without NULLs."""
    if index.method not in TEXT_SKIP_INDEXES:
        return True
    for name in index.columns:
        profile = table.profiles.get(name)
        has_nulls = profile.null_count > 0 if profile is not None else table.schema.column(name).nullable
        if table.logical(name) != "string" or has_nulls:
            notes.append(f"{index.method} index on {name} left out: it needs a string column without NULLs")
            return False
    return True


def _engine(table: Table) -> exp.EngineProperty:
    name, arguments = engine_parts(table.recommendation.engine)
    if not name.endswith("MergeTree"):
        raise ValueError(f"{table.name}: engine {name!r} is not of the MergeTree family")
    columns: list[exp.Expr] = [column_ref(argument) for argument in arguments]
    if table.cluster:
        name = f"Replicated{name}"
        columns = [exp.Literal.string(REPLICA_PATH), exp.Literal.string(REPLICA_NAME), *columns]
    return clickhouse_ddl.engine(name, columns)


def _layout(table: Table) -> list[exp.Expr]:
    rec = table.recommendation
    properties: list[exp.Expr] = []
    partition = partition_parts(rec)
    if partition and partition.granularity in PARTITION_FUNCTIONS:
        function = PARTITION_FUNCTIONS[partition.granularity]
        properties.append(clickhouse_ddl.partition_by(
            exp.Anonymous(this=function, expressions=[column_ref(partition.column)])))
    properties.append(clickhouse_ddl.order_by(rec.order_by or rec.primary_key))
    return properties


def _skip_index(index: Index) -> exp.IndexColumnConstraint:
    parameters = SKIP_INDEXES[index.method]
    index_type: exp.Expr = (
        exp.Anonymous(this=index.method, expressions=[exp.Literal.number(p) for p in parameters])
        if parameters else exp.var(index.method)
    )
    expression: exp.Expr = (
        column_ref(index.columns[0]) if len(index.columns) == 1
        else exp.Tuple(expressions=[column_ref(name) for name in index.columns])
    )
    granularity = BLOOM_FILTER_GRANULARITY if index.method == "bloom_filter" else SKIP_INDEX_GRANULARITY
    return exp.IndexColumnConstraint(
        this=ident(index_name(NAME, "idx", index.columns, index.method)), expression=expression,
        index_type=index_type, granularity=exp.Literal.number(granularity),
    )


def _distributed_table(table: Table, local_name: str, notes: list[str]) -> exp.Create:
    rec = table.recommendation
    if rec.distribution_key:
        sharding: exp.Expr = exp.Anonymous(this="cityHash64",
                                           expressions=[column_ref(name) for name in rec.distribution_key])
    else:
        sharding = exp.Anonymous(this="rand", expressions=[])
        notes.append("no distribution key: the Distributed table shards rows at random")
    engine = clickhouse_ddl.engine("Distributed", [
        exp.Literal.string(table.cluster or ""), exp.Literal.string(table.namespace),
        exp.Literal.string(local_name), sharding,
    ])
    body = _column_defs(table, [], key_columns(table))
    return clickhouse_ddl.create_table(table.namespace, table.name, body, [engine], cluster=table.cluster,
                                       if_not_exists=True)

