"""The catalog: every source table's discovered schema, merged with its settings from datasources.yaml.

Discovery talks to the sources and is run on demand (``aietl discover``); its result is stored in
config/catalog.json so that the code location builds its definitions quickly and offline.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from etl_assets.config.models import (
    CheckSettings,
    DataSources,
    PartitionSettings,
    RetrySettings,
    SourceDefaults,
    SyncSettings,
    TableSettings,
)
from resources.schema import TableSchema


@dataclass(frozen=True)
class SourceTable:
    """One table to land: its schema, the kind of source it comes from, and its effective settings."""

    kind: str
    schema: TableSchema
    sync: SyncSettings
    batch_size: int
    semantic_search: bool
    text_columns: tuple[str, ...]
    checks: CheckSettings
    target: str
    text_template: str | None = None
    retry: RetrySettings = RetrySettings()
    owners: tuple[str, ...] = ()
    """The table's owners, else its source's, else the top-level ``owners`` of datasources.yaml."""
    partition: PartitionSettings | None = None
    """Set when the table lands by time partitions; its ``column`` is resolved (never None here)."""

    @property
    def source(self) -> str:
        return self.schema.source

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def raw_namespace(self) -> str:
        return raw_namespace(self.source)


def raw_namespace(source: str) -> str:
    """The warehouse schema (ClickHouse: database) that a source's raw tables land in."""
    return f"raw_{source}"


def load_catalog(file: Path) -> dict[str, list[TableSchema]]:
    if not file.is_file():
        return {}
    document = json.loads(file.read_text(encoding="utf-8"))
    return {source: [TableSchema.from_dict(t) for t in tables] for source, tables in document["sources"].items()}


def save_catalog(file: Path, catalog: dict[str, list[TableSchema]]) -> None:
    document = {"version": 1, "sources": {s: [t.to_dict() for t in catalog[s]] for s in sorted(catalog)}}
    file.write_text(json.dumps(document, indent=1, sort_keys=False, default=str) + "\n", encoding="utf-8")


def selected(name: str, settings: SourceDefaults) -> bool:
    included = any(fnmatch.fnmatchcase(name, pattern) for pattern in settings.include)
    return included and not any(fnmatch.fnmatchcase(name, pattern) for pattern in settings.exclude)


def source_tables(datasources: DataSources, catalog: dict[str, list[TableSchema]]) -> list[SourceTable]:
    """Every selected table of every configured source (Kafka topics excluded: they are streams)."""
    tables = []
    for source, (kind, settings) in datasources.all_sources().items():
        if kind == "kafka":
            continue
        for schema in catalog.get(source, []):
            if selected(schema.name, settings):
                tables.append(_with_settings(kind, schema, settings, datasources.warehouse, datasources.owners,
                                             set(datasources.targets.clickhouse)))
    return tables


def _with_settings(kind: str, schema: TableSchema, defaults: SourceDefaults, warehouse: str,
                   owners: Sequence[str] = (), clickhouse_targets: set[str] | frozenset[str] = frozenset()
                   ) -> SourceTable:
    own = defaults.tables.get(schema.name, TableSettings())
    sync = own.sync or defaults.sync
    primary_key = own.primary_key if own.primary_key is not None else schema.primary_key
    for column in [*primary_key, *([sync.cursor] if sync.cursor else [])]:
        if column not in {c.name for c in schema.columns}:
            raise ValueError(f"{schema.source}.{schema.name}: configured column {column!r} is not in the table "
                             f"(columns: {[c.name for c in schema.columns]}); run `aietl discover` if it is new")
    if sync.mode == "merge" and not primary_key:
        raise ValueError(f"{schema.source}.{schema.name}: sync mode 'merge' needs a primary key")
    target = defaults.target or warehouse
    partition = _partition(kind, schema, own.partition, sync, target in clickhouse_targets)
    return SourceTable(
        kind=kind,
        schema=replace(schema, primary_key=list(primary_key), cursor_column=sync.cursor),
        sync=sync,
        batch_size=own.batch_size or defaults.batch_size,
        semantic_search=own.semantic_search if own.semantic_search is not None else defaults.semantic_search,
        text_columns=tuple(own.text_columns or ()),
        checks=own.checks or CheckSettings(),
        target=target,
        text_template=own.text_template,
        retry=defaults.retry,
        owners=tuple(own.owners or defaults.owners or owners),
        partition=partition,
    )


PARTITION_COLUMN_TYPES = ("date", "timestamp", "timestamptz")
PARTITIONED_SOURCE_KINDS = ("postgres", "clickhouse", "files")
"""Sources whose connector reads one period at the source (a WHERE clause; a pyarrow filter for files)."""


class PartitionError(ValueError):
    """A table's ``partition`` setting that cannot work; ``key`` is its key path below the table's settings."""

    def __init__(self, kind: str, schema: TableSchema, key: str, reason: str):
        self.kind, self.source, self.table, self.key, self.reason = kind, schema.source, schema.name, key, reason
        super().__init__(f"{schema.source}.{schema.name}: {key}: {reason}")


def _partition(kind: str, schema: TableSchema, partition: PartitionSettings | None, sync: SyncSettings,
               clickhouse_target: bool) -> PartitionSettings | None:
    """The partition settings with their column resolved and checked: a date or time column of the table, the sync
    cursor when there is one (the sensor maps cursor values to partitions), and a source and target that can read
    and replace one period."""
    if partition is None:
        return None
    column = partition.column or sync.cursor
    if not column:
        raise PartitionError(kind, schema, "partition", "no column to cut periods on; set partition.column "
                                                        "(or sync.cursor)")
    types = {c.name: c.logical_type for c in schema.columns}
    if column not in types:
        raise PartitionError(kind, schema, "partition.column",
                             f"column {column!r} is not in the table (columns: {sorted(types)})")
    if types[column] not in PARTITION_COLUMN_TYPES:
        raise PartitionError(kind, schema, "partition.column",
                             f"column {column!r} is {types[column]}, not a date or timestamp column")
    if sync.cursor and column != sync.cursor:
        raise PartitionError(kind, schema, "partition.column",
                             f"column {column!r} is not the sync cursor {sync.cursor!r}; the incremental sensor "
                             "finds the changed partitions from the cursor, so partition on the cursor column")
    if sync.mode == "merge":
        raise PartitionError(kind, schema, "partition", "a merged table's rows move to another period when their "
                                                        "cursor changes; partition append-only tables (sync mode "
                                                        "incremental) or full ones")
    if kind not in PARTITIONED_SOURCE_KINDS:
        raise PartitionError(kind, schema, "partition", f"time partitions are not supported for {kind} sources "
                                                        f"yet (only {', '.join(PARTITIONED_SOURCE_KINDS)})")
    if clickhouse_target:
        raise PartitionError(kind, schema, "partition", "time partitions land in a PostgreSQL target only (not "
                                                        "supported for a ClickHouse target yet)")
    return partition.model_copy(update={"column": column})
