"""``embeddings/<source>/<table>``: the rows of a landed table as vectors in the Qdrant collection
``<source>__<table>``, for every table with ``semantic_search: true``; and ``embeddings/catalog``: every table and
column of the catalog in collection ``aietl__schema``, for schema search. Searching is
:class:`resources.search.SemanticSearchResource`'s job (the CLI and Dagster runs use it alike; each table's
asset check ``searchable`` does, see ``checks.py``).

The index of what is embedded (point id, primary key, content hash) lives in ``aietl_meta.embedding_index`` of the
metadata PostgreSQL, so a rerun embeds only rows that are new or changed and removes the points of deleted rows.
All embeddings runs share one pool, since Qdrant local mode admits one process per path (dagster.yaml limits pools
to one step at a time).
"""

from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetChecksDefinition,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from etl_assets.catalog import SourceTable
from etl_assets.conventions import catalog_owners, code_reference
from etl_assets.embeddings.checks import searchable_check
from etl_assets.embeddings.index import SyncResult, sync_collection
from etl_assets.embeddings.rows import IndexedRow, collection_name, indexed_row, template_columns
from etl_assets.embeddings.schema import schema_rows
from etl_assets.keys import EMBEDDINGS, PROFILE, RAW, asset_key, group_name
from resources.embedder import EmbedderResource
from resources.metadata.embedding_index import latest_profiles
from resources.qdrant import SCHEMA_COLLECTION
from resources.search import SearchHit, SemanticSearchResource

RESOURCE_KEYS = {"warehouse", "metadata", "qdrant", "embedder"}
READ_BATCH_ROWS = 2_000
"""Rows read, embedded and upserted at a time: memory stays bounded by this, not by the table."""
EMBEDDINGS_POOL = "qdrant"
SCHEMA_KEY = AssetKey([EMBEDDINGS, "catalog"])
SCHEMA_GROUP = "catalog"


def build_embedding_assets(tables: list[SourceTable]) -> list[AssetsDefinition | AssetChecksDefinition]:
    """One asset and its ``searchable`` check per table with semantic search on, and the schema-search asset over
    all tables."""
    searchable = [definition for table in tables if table.semantic_search
                  for definition in (_embedding_asset(table), searchable_check(table, EMBEDDINGS_POOL))]
    return [*searchable, _schema_asset(tables)] if tables else searchable


def text_columns(table: SourceTable) -> list[str]:
    """The columns a row's document is made of: the row template's placeholders, else the configured text
    columns, else every string column; a ValueError naming the table when the settings name no such column."""
    known = [column.name for column in table.schema.columns]
    if table.text_template is not None:
        try:
            return template_columns(table.text_template, known)
        except ValueError as error:
            raise ValueError(f"{table.source}.{table.name}: {error}") from None
    configured = list(table.text_columns)
    missing = [name for name in configured if name not in known]
    if missing:
        raise ValueError(f"{table.source}.{table.name}: text_columns {missing} are not columns of the table "
                         f"(columns: {sorted(known)})")
    return configured or [c.name for c in table.schema.columns if c.logical_type == "string"]


def _embedding_asset(table: SourceTable) -> AssetsDefinition:
    columns = text_columns(table)
    collection = collection_name(table.source, table.name)

    @asset(
        key=asset_key(EMBEDDINGS, table.source, table.name),
        group_name=group_name(table.source),
        kinds={"qdrant"},
        owners=list(table.owners),
        metadata=code_reference(_embedding_asset),
        tags={"aietl/layer": "embeddings"},
        deps=[asset_key(RAW, table.source, table.name)],
        pool=EMBEDDINGS_POOL,
        description=f"Rows of {table.raw_namespace}.{table.name} embedded from {', '.join(columns)}"
                    f"{' as ' + repr(table.text_template) if table.text_template else ''} into Qdrant "
                    f"collection {collection!r}; long texts in overlapping chunks; only new or changed rows are "
                    f"embedded.",
        required_resource_keys=RESOURCE_KEYS,
    )
    def embeddings(context: AssetExecutionContext) -> MaterializeResult:
        embedder: EmbedderResource = context.resources.embedder
        batches = indexed_batches(context.resources.warehouse, table, columns, collection, embedder)
        result = sync_collection(context.resources.qdrant, context.resources.metadata, embedder, collection, batches)
        if result.duplicates:
            context.log.warning(f"{table.source}.{table.name}: {result.duplicates} row(s) repeat a primary key value "
                                f"of another row; the last row of each is embedded")
        return _report(context, collection, result, embedder, {"text_columns": MetadataValue.json(columns)})

    return embeddings


def _schema_asset(tables: list[SourceTable]) -> AssetsDefinition:
    @asset(
        key=SCHEMA_KEY,
        group_name=SCHEMA_GROUP,
        kinds={"qdrant"},
        owners=catalog_owners(tables),
        metadata=code_reference(_schema_asset),
        deps=[asset_key(PROFILE, table.source, table.name) for table in tables],
        pool=EMBEDDINGS_POOL,
        description=f"Every table and column of the catalog (names, descriptions, logical and semantic types, "
                    f"profile summaries) embedded into Qdrant collection {SCHEMA_COLLECTION!r}, for schema search "
                    f"(`aietl search QUERY --schema`).",
        required_resource_keys={"metadata", "qdrant", "embedder"},
    )
    def catalog_embeddings(context: AssetExecutionContext) -> MaterializeResult:
        embedder: EmbedderResource = context.resources.embedder
        profiles = latest_profiles(context.resources.metadata)
        rows = schema_rows(tables, profiles, embedder.signature)
        result = sync_collection(context.resources.qdrant, context.resources.metadata, embedder, SCHEMA_COLLECTION,
                                 rows)
        return _report(context, SCHEMA_COLLECTION, result, embedder,
                       {"tables": MetadataValue.int(len(tables)),
                        "profiled_tables": MetadataValue.int(sum(key in profiles for key in
                                                                 ((t.source, t.name) for t in tables)))})

    return catalog_embeddings


def _report(context: AssetExecutionContext, collection: str, result: SyncResult, embedder: EmbedderResource,
            extra: dict[str, Any]) -> MaterializeResult:
    if result.truncated:
        context.log.warning(f"{collection}: {len(result.truncated)} row(s) have more text than "
                            f"{embedder.max_chunks} chunks; only their first chunks are searchable: "
                            f"{result.truncated[:5]}")
    if result.reconciled:
        context.log.warning(f"{collection}: the collection and the index disagreed (an earlier run was "
                            f"interrupted): every row was embedded again and stray points deleted")
    context.log.info(f"{collection}: {result.embedded} embedded, {result.skipped} unchanged, "
                     f"{result.deleted} points deleted, {result.without_text} without text")
    return MaterializeResult(metadata={
        "collection": MetadataValue.text(collection),
        "rows_embedded": MetadataValue.int(result.embedded),
        "rows_skipped": MetadataValue.int(result.skipped),
        "rows_deleted": MetadataValue.int(result.deleted),
        "rows_without_text": MetadataValue.int(result.without_text),
        "rows_truncated": MetadataValue.int(len(result.truncated)),
        "points": MetadataValue.int(result.points),
        "dimensions": MetadataValue.int(embedder.dimensions),
        "model": MetadataValue.text(embedder.signature),
        "collection_rebuilt": MetadataValue.bool(result.collection_rebuilt),
        "reconciled": MetadataValue.bool(result.reconciled),
        **extra,
    })


def indexed_batches(warehouse: Any, table: SourceTable, columns: list[str], collection: str,
                    embedder: EmbedderResource) -> Iterator[list[IndexedRow]]:
    """The table's rows as index entries, ``READ_BATCH_ROWS`` at a time; within a batch the last row of a
    repeated primary key wins (across batches, the later upsert does)."""
    signature = f"{embedder.signature}/c{embedder.chunk_tokens}o{embedder.chunk_overlap}m{embedder.max_chunks}"
    for rows in read_row_batches(warehouse, table.raw_namespace, table.name):
        yield [indexed_row(collection, row, table.schema.primary_key, columns, signature, table.text_template)
               for row in rows]


def read_row_batches(warehouse: Any, namespace: str, table: str, size: int | None = None
                     ) -> Iterator[list[dict[str, Any]]]:
    """Every row of ``namespace.table`` in the warehouse, as dicts, ``size`` rows at a time."""
    yield from warehouse.row_batches(namespace, table, size or READ_BATCH_ROWS)


def read_rows(warehouse: Any, namespace: str, table: str) -> list[dict[str, Any]]:
    """Every row of ``namespace.table`` in the warehouse, as dicts (small tables; see :func:`read_row_batches`)."""
    return [row for rows in read_row_batches(warehouse, namespace, table) for row in rows]


def search(query: str, source: str, table: str, limit: int = 5, *, qdrant: Any,
           embedder: EmbedderResource) -> list[SearchHit]:
    """The ``limit`` rows of ``source.table`` nearest in meaning to ``query`` (see SemanticSearchResource.rows)."""
    return SemanticSearchResource(qdrant=qdrant, embedder=embedder).rows(query, source, table, limit)
