"""DDL test cases shared by the unit tests and the engine tests: the sample tables, a table with every logical type
and awkward identifiers, generated rows, real profiles of them and forced layouts that exercise every property.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from dataclasses import replace

import dagster as dg
import pyarrow as pa

from etl_assets.catalog import SourceTable, load_catalog, source_tables
from etl_assets.config.loader import load_datasources
from etl_assets.ddl.dialects.clickhouse import SKIP_INDEXES
from etl_assets.keys import relationships_key
from etl_assets.paths import CATALOG_FILE, DATASOURCES_FILE
from etl_assets.profile.model import TableProfile
from etl_assets.profile.profiler import profile_arrow
from etl_assets.recommend.decisions import recommend
from etl_assets.recommend.model import Index, Recommendation
from etl_assets.relationships.model import Relationships
from resources.schema import LOGICAL_TYPES, Column, TableSchema, to_arrow

NAMESPACE = "optimized test"
AWKWARD_NAMES = ["select", "Order", "group by", 'we"ird', "back`tick", "Ümlaut name", "user", "123start"]


def sample_tables() -> list[SourceTable]:
    return source_tables(load_datasources(DATASOURCES_FILE), load_catalog(CATALOG_FILE))


def relationships_asset(found: Relationships | None = None) -> dg.AssetsDefinition:
    """Stand-in upstream for the relationships asset: ``found`` as the IO manager stores it (a dict)."""
    @dg.asset(key=relationships_key())
    def relationships() -> dict:
        return (found or Relationships()).to_dict()

    return relationships


def every_type_schema() -> TableSchema:
    types = [t for t in LOGICAL_TYPES if t != "decimal"] + ["decimal(38,9)"]
    columns = [Column("id", "int64", nullable=False), Column("created at", "timestamptz", nullable=False)]
    columns += [Column(f"c_{t.split('(')[0]}", t) for t in types]
    columns += [Column(name, "string") for name in AWKWARD_NAMES]
    return TableSchema("test src", "Every Type's table", columns, primary_key=["id"])


def value(logical: str, row: int) -> object:
    """A value of ``logical`` (a type name without parameters) for generated row ``row``."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=row * 3)
    return {
        "bool": row % 2 == 0, "int16": row % 7, "int32": row * 10, "int64": row, "float32": row / 4,
        "float64": row / 3, "string": f"value {row % 5}", "binary": bytes([row % 256]), "date": start.date(),
        "time": dt.time(row % 24, 30), "timestamp": start.replace(tzinfo=None), "timestamptz": start,
        "json": json.dumps({"n": row}), "uuid": f"00000000-0000-0000-0000-{row:012d}",
    }.get(logical, decimal.Decimal(row) / 4)


def synthetic_profile(schema: TableSchema, rows: int = 60) -> TableProfile:
    """The real profiler over generated rows shaped like the schema (time columns span ~6 months)."""
    data = pa.table({
        c.name: pa.array([value(c.type.name, r + 1) for r in range(rows)], to_arrow(c.logical_type))
        for c in schema.columns
    })
    json_columns = {c.name: "json" for c in schema.columns if c.logical_type == "json"}
    uuid_columns = {c.name: "uuid" for c in schema.columns if c.logical_type == "uuid"}
    return profile_arrow(data, schema.source, schema.name, primary_key=schema.primary_key,
                         logical_types={**json_columns, **uuid_columns})


def time_column(schema: TableSchema) -> str | None:
    return next((c.name for c in schema.columns if c.logical_type in ("date", "timestamp", "timestamptz")
                 and c.name not in schema.primary_key), None)


def layouts(schema: TableSchema, profile: TableProfile, table: SourceTable | None) -> dict[str, Recommendation]:
    """The rules' recommendation and forced variants that exercise every property the builders can emit."""
    ruled = recommend(profile, table)
    key = schema.primary_key or [schema.columns[0].name]
    event = time_column(schema)
    variants = {"rules": ruled}
    month = f"month({event})" if event else f"hash({key[0]}, 4)"
    variants["postgres partitioned"] = replace(
        ruled, target_store="postgres", partition_by=month, partition_column=event or key[0], primary_key=key,
        indexes=[Index((c.name,), _postgres_method(c)) for c in schema.columns[:6]] + (
            [Index((event,), "brin")] if event else []),
    )
    strings = [c.name for c in schema.columns if c.logical_type == "string" and c.name not in key]
    variants["clickhouse replacing"] = replace(
        ruled, target_store="clickhouse", primary_key=key, order_by=key,
        engine=f"ReplacingMergeTree({event})" if event else "MergeTree",
        partition_by=f"month({event})" if event else None, partition_column=event,
        low_cardinality=strings[:2],
        indexes=[Index((c,), m) for c, m in zip(strings * 5, SKIP_INDEXES)],
    )
    return variants


def _postgres_method(column: Column) -> str:
    return {"json": "gin", "string": "gin_trgm"}.get(column.logical_type, "btree")


def cases() -> list[tuple[str, TableSchema, TableProfile, Recommendation]]:
    """``(id, schema, profile, layout)`` for every sample table and the every-type table, in every layout."""
    found = []
    for table in sample_tables():
        profile = synthetic_profile(table.schema)
        for label, layout in layouts(table.schema, profile, table).items():
            found.append((f"{table.source}.{table.name} {label}", table.schema, profile, layout))
    schema = every_type_schema()
    profile = synthetic_profile(schema)
    for label, layout in layouts(schema, profile, None).items():
        found.append((f"every type {label}", schema, profile, layout))
    many = synthetic_profile(schema, rows=600)  # 5 string values x 120 rows: closed sets (ENUM, Enum8)
    found.append(("every type closed sets", schema, many, recommend(many, None)))
    return found


CASES = cases()


def orders_case() -> tuple[TableSchema, TableProfile, Recommendation]:
    table = next(t for t in sample_tables() if t.name == "orders")
    profile = synthetic_profile(table.schema)
    return table.schema, profile, recommend(profile, table)
