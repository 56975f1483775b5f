"""The embedding index (``aietl_meta.embedding_index``, kept by the metadata resource) and its Qdrant collection
kept in step: only rows whose content hash changed are chunked, embedded and upserted; points of deleted rows, and
chunks a shorter new version no longer has, are removed.

Qdrant is written first and the index second, and all chunks of a row are indexed in one transaction, so a run
killed at any moment leaves index rows that are missing or stale, which the next run embeds again (upserts by point
id are idempotent). When the collection's point count and the index disagree (a run died between the two writes),
every row is embedded again and every point no row has any more is deleted: no collection is ever dropped.
Encoding overlaps with writing: while one group of rows is upserted and indexed, the next is encoded.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from etl_assets.embeddings.rows import Changes, IndexedRow, plan_changes, points_by_hash
from resources.embedder import EmbedderResource
from resources.metadata import MetadataResource
from resources.qdrant import QdrantCollection, QdrantResource

GROUP_POINTS = 256
"""Chunks encoded, upserted and indexed together."""


@dataclass
class SyncResult:
    embedded: int
    skipped: int
    deleted: int
    collection_rebuilt: bool
    points: int = 0
    duplicates: int = 0
    without_text: int = 0
    reconciled: bool = False
    truncated: list[dict[str, Any]] = field(default_factory=list)
    """Keys of rows whose text went on past ``embedder.max_chunks`` chunks (the rest is not searchable)."""


def sync_collection(qdrant: QdrantResource, metadata: MetadataResource, embedder: EmbedderResource, collection: str,
                    batches: Iterable[list[IndexedRow]] | list[IndexedRow]) -> SyncResult:
    """Bring the collection and its index in line with the rows, embedding only what changed, batch by batch.

    The model is loaded (its files verified) before Qdrant is touched. Only the index's point ids and content
    hashes are held in memory for the whole table (to find deleted rows and stale chunks); rows, texts and vectors
    are held one batch at a time."""
    if isinstance(batches, list):
        batches = iter([batches])
    embedder.load()
    with metadata.session(), qdrant.collection(collection) as points, ThreadPoolExecutor(1) as writer:
        created = points.ensure(embedder.dimensions, embedder.signature)
        indexed = metadata.read_index(collection)
        reconciled = False
        if created and indexed:
            metadata.clear_index(collection)
            indexed = {}
        elif not created and points.count() != len(indexed):
            indexed, reconciled = {point: "" for point in points.point_ids() | set(indexed)}, True
        by_hash = points_by_hash(indexed)
        sync = _Sync(points, metadata, embedder, writer)
        rows_seen: set[str] = set()
        skipped = duplicates = 0
        for batch in batches:
            unique = list({row.point_id: row for row in batch}.values())
            duplicates += len(batch) - len(unique) + sum(row.point_id in rows_seen for row in unique)
            rows_seen.update(row.point_id for row in unique)
            changes = plan_changes(unique, indexed, deletions=False, by_hash=by_hash)
            sync.seen |= changes.unchanged_points
            skipped += changes.unchanged
            sync.embed(changes.to_embed)
        sync.flush()
        deleted = sorted(set(indexed) - sync.seen)
        sync.write_deletions(Changes(to_delete=deleted))
    return SyncResult(embedded=sync.embedded, skipped=skipped, deleted=len(deleted), collection_rebuilt=created,
                      points=len(sync.seen), duplicates=duplicates, without_text=sync.without_text,
                      reconciled=reconciled, truncated=sync.truncated)


def _surely_one_chunk(text: str, chunk_tokens: int) -> bool:
    """True when ``text`` cannot have more than ``chunk_tokens`` tokens, without tokenizing it: every token covers
    at least one character of the normalized text, and normalizing (e.g. Hangul into its letters) never makes more
    characters than the UTF-8 bytes of the original."""
    return len(text.encode()) <= chunk_tokens


class _Sync:
    """Chunks changed rows into groups of about ``GROUP_POINTS`` points; encodes a group while the previous one is
    being written (one write in flight, so memory stays bounded by two groups)."""

    def __init__(self, points: QdrantCollection, metadata: MetadataResource, embedder: EmbedderResource,
                 writer: ThreadPoolExecutor):
        self.points, self.metadata, self.embedder, self.writer = points, metadata, embedder, writer
        self.seen: set[str] = set()
        self.embedded = self.without_text = 0
        self.truncated: list[dict[str, Any]] = []
        self.group: list[tuple[IndexedRow, int, str]] = []
        self.pending: Future | None = None

    def embed(self, rows: list[IndexedRow]) -> None:
        for row in rows:
            chunks = [row.text] if _surely_one_chunk(row.text, self.embedder.chunk_tokens) else None
            if chunks is None:
                split = self.embedder.chunks(row.text)
                chunks = split.texts
                if split.truncated:
                    self.truncated.append(row.pk)
            if not chunks or not row.text.strip():
                self.without_text += 1
                continue
            self.embedded += 1
            self.group.extend((row, number, text) for number, text in enumerate(chunks))
            if len(self.group) >= GROUP_POINTS:
                self._send()

    def flush(self) -> None:
        self._send()
        self._wait()

    def _send(self) -> None:
        if self.group:
            group, self.group = self.group, []
            vectors = self.embedder.embed([text for _, _, text in group])
            self._wait()
            self.pending = self.writer.submit(self._write, group, vectors)

    def _wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.seen.update(pending.result())

    def _write(self, group: list[tuple[IndexedRow, int, str]], vectors: Any) -> list[str]:
        upserts, entries = [], []
        for (row, number, text), vector in zip(group, vectors, strict=True):
            point, payload = row.point(self.points.name, number, text)
            upserts.append((point, vector.tolist(), payload))
            entries.append((point, row.pk, row.content_hash))
        self.points.upsert(upserts)
        self.metadata.upsert_index(self.points.name, entries)
        return [point for point, _, _ in entries]

    def write_deletions(self, changes: Changes) -> None:
        if changes.to_delete:
            self.points.delete(changes.to_delete)
            self.metadata.delete_index(self.points.name, changes.to_delete)
