"""The embedding index (``aietl_meta.embedding_index`` in the metadata PostgreSQL) and its Qdrant collection kept
in step: only rows whose content hash changed are embedded and upserted; points of deleted rows are removed.

Qdrant is written first and the index second, so a failure between the two leaves index rows that are missing or
stale, which the next run simply embeds again (upserts by point id are idempotent).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from etl_assets.embeddings.rows import Changes, IndexedRow
from resources.embedder import EmbedderResource

EMBED_CHUNK = 256


@dataclass
class SyncResult:
    embedded: int
    skipped: int
    deleted: int
    collection_rebuilt: bool
    points: int = 0
    duplicates: int = 0


def read_index(connection: psycopg.Connection, collection: str) -> dict[str, str]:
    """Point id -> content hash of everything indexed for ``collection``."""
    with connection.transaction():
        rows = connection.execute("SELECT point_id::text, content_hash FROM aietl_meta.embedding_index "
                                  "WHERE collection = %s", (collection,)).fetchall()
    return dict(rows)


def clear_index(connection: psycopg.Connection, collection: str) -> None:
    with connection.transaction():
        connection.execute("DELETE FROM aietl_meta.embedding_index WHERE collection = %s", (collection,))


def prepare_collection(client: QdrantClient, collection: str, dimensions: int, indexed_points: int) -> bool:
    """Create the collection when missing, recreate it when its vector size or point count disagrees with the
    index; True when it was (re)created, i.e. everything must be embedded again."""
    if client.collection_exists(collection):
        vectors = client.get_collection(collection).config.params.vectors
        size = vectors.size if isinstance(vectors, qm.VectorParams) else None
        if size == dimensions and client.count(collection, exact=True).count == indexed_points:
            return False
        client.delete_collection(collection)
    client.create_collection(collection, vectors_config=qm.VectorParams(size=dimensions, distance=qm.Distance.COSINE))
    return True


def apply_changes(client: QdrantClient, connection: psycopg.Connection, embedder: EmbedderResource,
                  collection: str, changes: Changes) -> None:
    for chunk in _chunks(changes.to_embed, EMBED_CHUNK):
        vectors = embedder.embed([row.text for row in chunk])
        client.upsert(collection, points=[
            qm.PointStruct(id=row.point_id, vector=vector.tolist(), payload={**row.payload, "_pk": row.pk})
            for row, vector in zip(chunk, vectors, strict=True)], wait=True)
        _upsert_index(connection, collection, chunk)
    if changes.to_delete:
        client.delete(collection, points_selector=qm.PointIdsList(points=changes.to_delete), wait=True)
        with connection.transaction():
            connection.execute("DELETE FROM aietl_meta.embedding_index "
                               "WHERE collection = %s AND point_id = ANY(%s::uuid[])", (collection, changes.to_delete))


def _upsert_index(connection: psycopg.Connection, collection: str, rows: list[IndexedRow]) -> None:
    with connection.transaction(), connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO aietl_meta.embedding_index (collection, point_id, pk, content_hash) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (collection, point_id) DO UPDATE SET pk = excluded.pk, "
            "content_hash = excluded.content_hash, embedded_at = now()",
            [(collection, row.point_id, Jsonb(row.pk), row.content_hash) for row in rows])


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
