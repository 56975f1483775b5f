"""``embeddings/<source>/<table>``: the rows of a landed table as vectors in the Qdrant collection
``<source>__<table>``, for every table with ``semantic_search: true``; plus ``search()`` over them for the CLI.

The index of what is embedded (point id, primary key, content hash) lives in ``aietl_meta.embedding_index`` of the
metadata PostgreSQL, so a rerun embeds only rows that are new or changed and removes the points of deleted rows.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlglot.expressions as sge
from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset
from psycopg.rows import dict_row

from etl_assets.catalog import SourceTable
from etl_assets.keys import EMBEDDINGS, RAW, asset_key, group_name
from etl_assets.embeddings.index import SyncResult, apply_changes, clear_index, prepare_collection, read_index
from etl_assets.embeddings.rows import Changes, IndexedRow, collection_name, indexed_row, plan_changes
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
    """Every row of ``namespace.table`` in the warehouse, as dicts, ``size`` rows at a time: a server-side cursor
    on PostgreSQL, an Arrow stream on ClickHouse."""
    size = size or READ_BATCH_ROWS
    dialect = getattr(warehouse, "dialect", "postgres")
    statement = sge.select("*").from_(sge.table_(table, db=namespace, quoted=True)).sql(dialect=dialect)
    if dialect == "postgres":
        yield from _postgres_pages(warehouse, statement, size)
        return
    with warehouse.client() as client, client.query_arrow_stream(
            statement, settings={"max_block_size": size}, use_strings=True) as stream:
        for block in stream:
            yield from (chunk.to_pylist() for chunk in _slices(block, size))


def _postgres_pages(warehouse: Any, statement: str, size: int) -> Iterator[list[dict[str, Any]]]:
    with warehouse.connect() as connection, connection.transaction(), connection.cursor(
            name=f"aietl_embed_{uuid.uuid4().hex[:12]}", row_factory=dict_row) as cursor:
        cursor.itersize = size
        cursor.execute(statement)
        while rows := cursor.fetchmany(size):
            yield rows


def _slices(block: Any, size: int) -> Iterator[Any]:
    for start in range(0, block.num_rows, size):
        yield block.slice(start, size)


def read_rows(warehouse: Any, namespace: str, table: str) -> list[dict[str, Any]]:
    """Every row of ``namespace.table`` in the warehouse, as dicts (small tables; see :func:`read_row_batches`)."""
    return [row for rows in read_row_batches(warehouse, namespace, table) for row in rows]


def sync_collection(qdrant: QdrantResource, metadata: Any, embedder: EmbedderResource, collection: str,
                    batches: Iterator[list[IndexedRow]] | list[IndexedRow]) -> SyncResult:
    """Bring the collection and its index in line with the rows, embedding only what changed, batch by batch.

    Only the index's point ids and content hashes are held in memory for the whole table (to find deleted
    rows); rows, texts and vectors are held one batch at a time."""
    if isinstance(batches, list):
        batches = iter([batches])
    _ensure_index_table(metadata)
    with metadata.postgres.connect() as connection, qdrant.open() as client:
        indexed = read_index(connection, collection)
        rebuilt = prepare_collection(client, collection, embedder.dimensions, len(indexed))
        if rebuilt:
            clear_index(connection, collection)
            indexed = {}
        seen: set[str] = set()
        embedded = skipped = duplicates = 0
        for batch in batches:
            unique = list({row.point_id: row for row in batch}.values())
            duplicates += len(batch) - len(unique) + sum(row.point_id in seen for row in unique)
            seen.update(row.point_id for row in unique)
            changes = plan_changes(unique, indexed, deletions=False)
            apply_changes(client, connection, embedder, collection, changes)
            embedded, skipped = embedded + len(changes.to_embed), skipped + changes.unchanged
        deleted = sorted(set(indexed) - seen)
        apply_changes(client, connection, embedder, collection, Changes(to_delete=deleted))
    return SyncResult(embedded=embedded, skipped=skipped, deleted=len(deleted), collection_rebuilt=rebuilt,
                      points=len(seen), duplicates=duplicates)


def _ensure_index_table(metadata: Any) -> None:
    """Apply the migrations (0100 holds the embedding index) unless every one is applied: one query then."""
    metadata.migrate()


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
    with qdrant.open() as client:
        if not client.collection_exists(collection):
            raise LookupError(f"no embeddings for {source}.{table} in Qdrant ({qdrant.location}): materialize "
                              f"asset embeddings/{source}/{table} first (needs semantic_search: true)")
        points = client.query_points(collection, query=vector.tolist(), limit=limit, with_payload=True).points
    return [SearchHit(score=point.score, pk=dict(point.payload.get("_pk", {})),
                      payload={k: v for k, v in point.payload.items() if k != "_pk"}) for point in points]
