"""``embeddings/<source>/<table>``: the rows of a landed table as vectors in the Qdrant collection
``<source>__<table>``, for every table with ``semantic_search: true``; plus ``search()`` over them for the CLI.

The index of what is embedded (point id, primary key, content hash) lives in ``aietl_meta.embedding_index`` of the
metadata PostgreSQL, so a rerun embeds only rows that are new or changed and removes the points of deleted rows.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset

from etl_assets.catalog import SourceTable
from etl_assets.embeddings.index import sync_collection
from etl_assets.embeddings.rows import IndexedRow, collection_name, indexed_row
from etl_assets.keys import EMBEDDINGS, RAW, asset_key, group_name
from resources.embedder import EmbedderResource
from resources.qdrant import QdrantResource

RESOURCE_KEYS = {"warehouse", "metadata", "qdrant", "embedder"}
READ_BATCH_ROWS = 2_000
"""Rows read, embedded and upserted at a time: memory stays bounded by this, not by the table."""


def build_embedding_assets(tables: list[SourceTable]) -> list[AssetsDefinition]:
    """One asset per table with semantic search on."""
    return [_embedding_asset(table) for table in tables if table.semantic_search]


def text_columns(table: SourceTable) -> list[str]:
    """The configured text columns, or every string column when none are configured."""
    configured = list(table.text_columns)
    known = {column.name for column in table.schema.columns}
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
        deps=[asset_key(RAW, table.source, table.name)],
        description=f"Rows of {table.raw_namespace}.{table.name} embedded from {', '.join(columns)} into Qdrant "
                    f"collection {collection!r}; only new or changed rows are embedded.",
        required_resource_keys=RESOURCE_KEYS,
    )
    def embeddings(context: AssetExecutionContext) -> MaterializeResult:
        embedder: EmbedderResource = context.resources.embedder
        batches = indexed_batches(context.resources.warehouse, table, columns, collection, embedder.signature)
        result = sync_collection(context.resources.qdrant, context.resources.metadata, embedder, collection, batches)
        if result.duplicates:
            context.log.warning(f"{table.source}.{table.name}: {result.duplicates} row(s) repeat a primary key value "
                                f"of another row; the last row of each is embedded")
        context.log.info(f"{collection}: {result.embedded} embedded, {result.skipped} unchanged, "
                         f"{result.deleted} deleted")
        return MaterializeResult(metadata={
            "collection": MetadataValue.text(collection),
            "rows_embedded": MetadataValue.int(result.embedded),
            "rows_skipped": MetadataValue.int(result.skipped),
            "rows_deleted": MetadataValue.int(result.deleted),
            "points": MetadataValue.int(result.points),
            "dimensions": MetadataValue.int(embedder.dimensions),
            "model": MetadataValue.text(embedder.signature),
            "text_columns": MetadataValue.json(columns),
            "collection_rebuilt": MetadataValue.bool(result.collection_rebuilt),
        })

    return embeddings


def indexed_batches(warehouse: Any, table: SourceTable, columns: list[str], collection: str,
                    signature: str) -> Iterator[list[IndexedRow]]:
    """The table's rows as index entries, ``READ_BATCH_ROWS`` at a time; within a batch the last row of a
    repeated primary key wins (across batches, the later upsert does)."""
    for rows in read_row_batches(warehouse, table.raw_namespace, table.name):
        entries = [indexed_row(collection, row, table.schema.primary_key, columns, signature) for row in rows]
        yield entries


def read_row_batches(warehouse: Any, namespace: str, table: str, size: int | None = None
                     ) -> Iterator[list[dict[str, Any]]]:
    """Every row of ``namespace.table`` in the warehouse, as dicts, ``size`` rows at a time."""
    yield from warehouse.row_batches(namespace, table, size or READ_BATCH_ROWS)


def read_rows(warehouse: Any, namespace: str, table: str) -> list[dict[str, Any]]:
    """Every row of ``namespace.table`` in the warehouse, as dicts (small tables; see :func:`read_row_batches`)."""
    return [row for rows in read_row_batches(warehouse, namespace, table) for row in rows]


@dataclass(frozen=True)
class SearchHit:
    score: float
    pk: dict[str, Any]
    payload: dict[str, Any]


def search(query: str, source: str, table: str, limit: int = 5, *, qdrant: QdrantResource,
           embedder: EmbedderResource) -> list[SearchHit]:
    """The ``limit`` rows of ``source.table`` nearest in meaning to ``query``, best first."""
    collection = collection_name(source, table)
    vector = embedder.embed([query])[0]
    with qdrant.collection(collection) as points:
        if not points.exists():
            raise LookupError(f"no embeddings for {source}.{table} in Qdrant ({qdrant.location}): materialize "
                              f"asset embeddings/{source}/{table} first (needs semantic_search: true)")
        nearest = points.nearest(vector.tolist(), limit)
    return [SearchHit(score=score, pk=dict(payload.get("_pk", {})),
                      payload={k: v for k, v in payload.items() if k != "_pk"}) for score, payload in nearest]
