"""The embedding index (``aietl_meta.embedding_index``, kept by the metadata resource) and its Qdrant collection
kept in step: only rows whose content hash changed are embedded and upserted; points of deleted rows are removed.

Qdrant is written first and the index second, so a failure between the two leaves index rows that are missing or
stale, which the next run simply embeds again (upserts by point id are idempotent).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from etl_assets.embeddings.rows import Changes, IndexedRow, plan_changes
from resources.embedder import EmbedderResource
from resources.metadata import MetadataResource
from resources.qdrant import QdrantCollection, QdrantResource

EMBED_CHUNK = 256


@dataclass
class SyncResult:
    embedded: int
    skipped: int
    deleted: int
    collection_rebuilt: bool
    points: int = 0
    duplicates: int = 0


def sync_collection(qdrant: QdrantResource, metadata: MetadataResource, embedder: EmbedderResource, collection: str,
                    batches: Iterable[list[IndexedRow]] | list[IndexedRow]) -> SyncResult:
    """Bring the collection and its index in line with the rows, embedding only what changed, batch by batch.

    Only the index's point ids and content hashes are held in memory for the whole table (to find deleted
    rows); rows, texts and vectors are held one batch at a time."""
    if isinstance(batches, list):
        batches = iter([batches])
    with metadata.session(), qdrant.collection(collection) as points:
        indexed = metadata.read_index(collection)
        rebuilt = points.prepare(embedder.dimensions, len(indexed))
        if rebuilt:
            metadata.clear_index(collection)
            indexed = {}
        seen: set[str] = set()
        embedded = skipped = duplicates = 0
        for batch in batches:
            unique = list({row.point_id: row for row in batch}.values())
            duplicates += len(batch) - len(unique) + sum(row.point_id in seen for row in unique)
            seen.update(row.point_id for row in unique)
            changes = plan_changes(unique, indexed, deletions=False)
            apply_changes(points, metadata, embedder, changes)
            embedded, skipped = embedded + len(changes.to_embed), skipped + changes.unchanged
        deleted = sorted(set(indexed) - seen)
        apply_changes(points, metadata, embedder, Changes(to_delete=deleted))
    return SyncResult(embedded=embedded, skipped=skipped, deleted=len(deleted), collection_rebuilt=rebuilt,
                      points=len(seen), duplicates=duplicates)


def apply_changes(points: QdrantCollection, metadata: MetadataResource, embedder: EmbedderResource,
                  changes: Changes) -> None:
    for chunk in _chunks(changes.to_embed, EMBED_CHUNK):
        vectors = embedder.embed([row.text for row in chunk])
        points.upsert([(row.point_id, vector.tolist(), {**row.payload, "_pk": row.pk})
                       for row, vector in zip(chunk, vectors, strict=True)])
        metadata.upsert_index(points.name, [(row.point_id, row.pk, row.content_hash) for row in chunk])
    if changes.to_delete:
        points.delete(changes.to_delete)
        metadata.delete_index(points.name, changes.to_delete)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
