"""What a storage recommendation holds. Every reason cites the profile fact it comes from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TargetStore = Literal["postgres", "clickhouse", "parquet", "kafka"]


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
    order_by: list[str] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    low_cardinality: list[str] = field(default_factory=list)
    distribution: str = "auto"
    """How an MPP store spreads rows: all (copy small tables to every node), key, even, auto."""
    distribution_key: list[str] = field(default_factory=list)
    """Column(s) rows are spread or sharded by (Redshift DISTKEY, ClickHouse Distributed sharding key)."""
    refresh_cadence: str = "daily"
    """A cron expression or a word: hourly, daily, streaming."""
    reasons: list[Reason] = field(default_factory=list)
    summary: str = ""
    narrative: str | None = None
    """Optional text from the LLM endpoint; never changes any decision above."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recommendation:
        values = dict(data)
        values["indexes"] = [Index(columns=tuple(i["columns"]), method=i["method"]) for i in data.get("indexes", [])]
        values["reasons"] = [Reason(**r) for r in data.get("reasons", [])]
        return cls(**values)
