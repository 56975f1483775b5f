"""Semantic search over what the embeddings assets wrote to Qdrant: a table's rows, or the catalog (schema search).

A resource, so a Dagster op, asset or asset check can search as the CLI does (``required_resource_keys={"search"}``
or a ``search: SemanticSearchResource`` parameter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagster import ConfigurableResource

from resources.embedder import EmbedderResource
from resources.qdrant import SCHEMA_COLLECTION, CollectionMismatchError, QdrantResource, collection_name

PK_FIELD = "_pk"
CHUNK_FIELD = "_chunk"
TEXT_FIELD = "_text"
"""Payload fields the embeddings assets add to a row's own columns: its key, the chunk number and the chunk text."""
OVERFETCH = 4
"""Points fetched per wanted hit, since several chunks of one row may be among the nearest."""


@dataclass(frozen=True)
class SearchHit:
    score: float
    pk: dict[str, Any]
    """The source row's primary key (schema hits: source, table and column)."""
    payload: dict[str, Any]
    """The row's columns (long values clipped) or, for schema hits, what the table or column is."""
    text: str = ""
    """The text that matched: the chunk of the row, or the description of the table or column."""


class SemanticSearchResource(ConfigurableResource):
    qdrant: QdrantResource
    embedder: EmbedderResource

    def rows(self, query: str, source: str, table: str, limit: int = 5) -> list[SearchHit]:
        """The ``limit`` rows of ``source.table`` nearest in meaning to ``query``, best first, one hit per row."""
        return self.rows_each([query], source, table, limit)[0]

    def rows_each(self, queries: list[str], source: str, table: str, limit: int = 5) -> list[list[SearchHit]]:
        """:meth:`rows` for several queries at once (one model call, one Qdrant client)."""
        collection = collection_name(source, table)
        hint = f"materialize asset embeddings/{source}/{table} first (needs semantic_search: true)"
        return [_one_per_row(nearest, limit)
                for nearest in self._nearest(collection, queries, limit * OVERFETCH, hint)]

    def schema(self, query: str, limit: int = 5, kind: str | None = None) -> list[SearchHit]:
        """The tables and columns whose descriptions, types and profiles are nearest to ``query``; ``kind``
        ``"table"`` or ``"column"`` keeps only those."""
        [nearest] = self._nearest(SCHEMA_COLLECTION, [query], limit, "materialize asset embeddings/catalog first",
                                  {"kind": kind} if kind else None)
        return [SearchHit(score=score, pk={k: payload.get(k) for k in ("source", "table", "column") if k in payload},
                          payload=payload, text=str(payload.get(TEXT_FIELD, ""))) for score, payload in nearest]

    def _nearest(self, collection: str, queries: list[str], limit: int, hint: str,
                 where: dict[str, Any] | None = None) -> list[list[tuple[float, dict[str, Any]]]]:
        if not queries or any(not query.strip() for query in queries):
            raise ValueError("search: the query is empty")
        if limit < 1:
            raise ValueError(f"search: limit must be at least 1 (got {limit})")
        vectors = self.embedder.embed(queries)
        with self.qdrant.collection(collection) as points:
            if not points.exists():
                raise LookupError(f"no embeddings in Qdrant collection {collection!r} ({self.qdrant.location}): "
                                  f"{hint}")
            if points.vector_size() != self.embedder.dimensions:
                raise CollectionMismatchError(f"Qdrant collection {collection!r} holds {points.vector_size()}-"
                                              f"dimensional vectors, the embedder {self.embedder.signature!r} makes "
                                              f"{self.embedder.dimensions}: search with the model that built it")
            return [points.nearest(vector.tolist(), limit, where) for vector in vectors]


def _one_per_row(nearest: list[tuple[float, dict[str, Any]]], limit: int) -> list[SearchHit]:
    """The best chunk of each row, best first."""
    hits: dict[str, SearchHit] = {}
    for score, payload in nearest:
        pk = dict(payload.get(PK_FIELD, {}))
        key = repr(sorted(pk.items()))
        if key not in hits:
            row = {k: v for k, v in payload.items() if k not in (PK_FIELD, CHUNK_FIELD, TEXT_FIELD)}
            hits[key] = SearchHit(score=score, pk=pk, payload=row, text=str(payload.get(TEXT_FIELD, "")))
    return list(hits.values())[:limit]
