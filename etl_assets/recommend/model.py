"""What a storage recommendation holds. Every reason cites the profile fact it comes from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from etl_assets.relationships.model import KeyColumnType, key_types

TargetStore = Literal["postgres", "clickhouse", "parquet", "kafka"]
TableRole = Literal["fact", "event_log", "dimension", "reference", "table", "empty"]


@dataclass(frozen=True)
class Reason:
    claim: str
    """What was decided, e.g. "partition by month of created_at"."""
    fact: str
    """The profile fact it rests on, e.g. "created_at is a timestamp covering 412 days; 2.1M rows/day"."""


@dataclass(frozen=True)
class Index:
    columns: tuple[str, ...]
    method: str
    """postgres: btree, brin, gin, gin_trgm (GIN with pg_trgm's gin_trgm_ops);
    clickhouse: minmax, set, bloom_filter, tokenbf_v1, ngrambf_v1."""


@dataclass(frozen=True)
class ColumnType:
    """The type chosen for one column from its profile; every dialect spells it (``etl_assets.ddl``)."""

    name: str
    logical: str
    """The narrowest logical type that holds what the profile saw (``int16``, ``decimal(9,2)``, ``date`` ...)."""
    nullable: bool = True
    min_value: int | None = None
    max_value: int | None = None
    """Integer range seen (lets ClickHouse pick UInt8 .. Int64)."""
    max_length: int | None = None
    fixed_length: bool = False
    """Every string value has the same length (codes)."""
    low_cardinality: bool = False
    enum_values: tuple[str, ...] = ()
    """Every value of a small closed set (MySQL ENUM); empty when the set is not known to be complete."""
    seconds: bool = False
    """Timestamps without sub-second parts (ClickHouse DateTime instead of DateTime64)."""
    reason: str = ""


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_source: str
    ref_table: str
    ref_columns: tuple[str, ...]
    match_share: float = 1.0
    orphans: int = 0
    ref_types: tuple[KeyColumnType, ...] = ()
    """What the referenced key columns' types are chosen from (the referencing columns take the same types)."""


@dataclass(frozen=True)
class Join:
    """A join ``pipelines.yaml`` can use: this table's ``columns`` = ``ref_table``'s ``ref_columns``."""

    ref_source: str
    ref_table: str
    columns: tuple[str, ...]
    ref_columns: tuple[str, ...]
    kind: str = "left"


@dataclass
class Recommendation:
    source: str
    table: str
    target_store: TargetStore
    engine: str | None = None
    """e.g. MergeTree / ReplacingMergeTree(updated_at) for ClickHouse, heap for PostgreSQL."""
    partition_by: str | None = None
    """A partitioning expression in the target's terms, e.g. "month(created_at)", "day(ts)", "hash(customer_id, 8)"."""
    partition_column: str | None = None
    event_time: str | None = None
    """The column that marks when a row happened (Redshift leads its SORTKEY with it: zone maps prune time ranges;
    ClickHouse puts balanced filter codes before it)."""
    order_by: list[str] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    low_cardinality: list[str] = field(default_factory=list)
    aggregated: list[str] = field(default_factory=list)
    """Columns the query log aggregates (sums, averages), most aggregated first."""
    distribution: str = "auto"
    """How an MPP store spreads rows: all (copy small tables to every node), key, even, auto."""
    distribution_key: list[str] = field(default_factory=list)
    """Column(s) rows are spread or sharded by (Redshift DISTKEY, ClickHouse Distributed sharding key)."""
    role: TableRole = "table"
    """fact, event_log, dimension, reference, table (none of these) or empty."""
    column_types: list[ColumnType] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    joins: list[Join] = field(default_factory=list)
    dictionary: bool = False
    """Small dimension joined by a fact table: also serve it as a ClickHouse dictionary."""
    refresh_cadence: str = "daily"
    """A cron expression or a word: hourly, daily, streaming."""
    reasons: list[Reason] = field(default_factory=list)
    summary: str = ""
    narrative: str | None = None
    """Optional text from the LLM endpoint; never changes any decision above."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def column_type(self, name: str) -> ColumnType | None:
        return next((c for c in self.column_types if c.name == name), None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recommendation:
        """Also reads dicts written before roles, column types and relationships existed."""
        values = dict(data)
        values["indexes"] = [Index(columns=tuple(i["columns"]), method=i["method"]) for i in data.get("indexes", [])]
        values["reasons"] = [Reason(**r) for r in data.get("reasons", [])]
        values["column_types"] = [ColumnType(**{**c, "enum_values": tuple(c.get("enum_values", ()))})
                                  for c in data.get("column_types", [])]
        values["foreign_keys"] = [ForeignKey(**{**f, "columns": tuple(f["columns"]),
                                                "ref_columns": tuple(f["ref_columns"]),
                                                "ref_types": key_types(f.get("ref_types", ()))})
                                  for f in data.get("foreign_keys", [])]
        values["joins"] = [Join(**{**j, "columns": tuple(j["columns"]), "ref_columns": tuple(j["ref_columns"])})
                           for j in data.get("joins", [])]
        return cls(**values)
