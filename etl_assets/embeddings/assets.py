"""``embeddings/<source>/<table>``: the rows of a landed table as vectors in the Qdrant collection
``<source>__<table>``, for every table with ``semantic_search: true``; plus ``search()`` over them for the CLI.

The index of what is embedded (point id, primary key, content hash) lives in ``aietl_meta.embedding_index`` of the
metadata PostgreSQL, so a rerun embeds only rows that are new or changed and removes the points of deleted rows.
"""

from dataclasses import dataclass
from typing import Any

import sqlglot.expressions as sge
from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset
from psycopg.rows import dict_row

from etl_assets.catalog import SourceTable
from etl_assets.embeddings.index import SyncResult, apply_changes, clear_index, prepare_collection, read_index
from etl_assets.embeddings.rows import IndexedRow, collection_name, duplicate_keys, indexed_row, plan_changes
from resources.embedder import EmbedderResource
from resources.qdrant import QdrantResource

EMBEDDINGS_LAYER = "embeddings"
RESOURCE_KEYS = {"warehouse", "metadata", "qdrant", "embedder"}


def embeddings_key(source: str, table: str) -> AssetKey:
    return AssetKey([EMBEDDINGS_LAYER, source, table])


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
        key=embeddings_key(table.source, table.name),
        group_name=table.source,
        kinds={"qdrant"},
        deps=[AssetKey(["raw", table.source, table.name])],
        description=f"Rows of {table.raw_namespace}.{table.name} embedded from {', '.join(columns)} into Qdrant "
                    f"collection {collection!r}; only new or changed rows are embedded.",
        required_resource_keys=RESOURCE_KEYS,
    )
    def embeddings(context: AssetExecutionContext) -> MaterializeResult:
        embedder: EmbedderResource = context.resources.embedder
        rows = _indexed_rows(context, table, columns, collection, embedder.signature)
        result = sync_collection(context.resources.qdrant, context.resources.metadata, embedder, collection, rows)
        context.log.info(f"{collection}: {result.embedded} embedded, {result.skipped} unchanged, "
                         f"{result.deleted} deleted")
        return MaterializeResult(metadata={
            "collection": MetadataValue.text(collection),
            "rows_embedded": MetadataValue.int(result.embedded),
            "rows_skipped": MetadataValue.int(result.skipped),
            "rows_deleted": MetadataValue.int(result.deleted),
            "points": MetadataValue.int(len(rows)),
            "dimensions": MetadataValue.int(embedder.dimensions),
            "model": MetadataValue.text(embedder.signature),
            "text_columns": MetadataValue.json(columns),
            "collection_rebuilt": MetadataValue.bool(result.collection_rebuilt),
        })

    return embeddings


def _indexed_rows(context: AssetExecutionContext, table: SourceTable, columns: list[str], collection: str,
                  signature: str) -> list[IndexedRow]:
    source_rows = read_rows(context.resources.warehouse, table.raw_namespace, table.name)
    rows = [indexed_row(collection, row, table.schema.primary_key, columns, signature) for row in source_rows]
    duplicates = duplicate_keys(rows)
    if duplicates:
        context.log.warning(f"{table.source}.{table.name}: {len(duplicates)} primary key value(s) occur more than "
                            f"once (e.g. {duplicates[0]}); the last row of each is embedded")
    return list({row.point_id: row for row in rows}.values())


def read_rows(warehouse: Any, namespace: str, table: str) -> list[dict[str, Any]]:
    """Every row of ``namespace.table`` in the warehouse, as dicts."""
    dialect = getattr(warehouse, "dialect", "postgres")
    statement = sge.select("*").from_(sge.table_(table, db=namespace, quoted=True)).sql(dialect=dialect)
    if dialect == "postgres":
        with warehouse.connect() as connection, connection.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(statement).fetchall()
    return warehouse.query_arrow(statement).to_pylist()


def sync_collection(qdrant: QdrantResource, metadata: Any, embedder: EmbedderResource, collection: str,
                    rows: list[IndexedRow]) -> SyncResult:
    """Bring the collection and its index in line with ``rows``, embedding only what changed."""
    _ensure_index_table(metadata)
    with metadata.postgres.connect() as connection, qdrant.open() as client:
        indexed = read_index(connection, collection)
        rebuilt = prepare_collection(client, collection, embedder.dimensions, len(indexed))
        if rebuilt:
            clear_index(connection, collection)
            indexed = {}
        changes = plan_changes(rows, indexed)
        apply_changes(client, connection, embedder, collection, changes)
    return SyncResult(embedded=len(changes.to_embed), skipped=changes.unchanged, deleted=len(changes.to_delete),
                      collection_rebuilt=rebuilt)


def _ensure_index_table(metadata: Any) -> None:
    with metadata.postgres.connect() as connection:
        present = connection.execute("SELECT to_regclass('aietl_meta.embedding_index') IS NOT NULL").fetchone()[0]
    if not present:
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
