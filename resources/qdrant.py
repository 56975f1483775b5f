"""Qdrant, as a server (``url``) or in local mode (``path``: one process at a time per path, so always close)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field, model_validator

if TYPE_CHECKING:  # qdrant_client takes a second to import: only runs that reach Qdrant import it
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm

Point = tuple[str, Sequence[float], dict[str, Any]]
"""A point to upsert: its id, its vector, its payload."""
SCHEMA_COLLECTION = "aietl__schema"
"""The collection of the catalog itself: one point per table and per column (schema search)."""
SCROLL_PAGE = 1_000
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")


class CollectionMismatchError(RuntimeError):
    """An existing collection holds vectors of another size than the embedder makes; it is left untouched."""


def collection_name(source: str, table: str) -> str:
    """The collection of one table's rows (``<source>__<table>``). Qdrant refuses some characters in a collection
    name (quotes, slashes, ...): a name outside ``[A-Za-z0-9_-]`` becomes its readable part plus a hash of the
    original, so two tables never share a collection."""
    name = f"{source}__{table}"
    if _PLAIN_NAME.fullmatch(name):
        return name
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "table"
    return f"{readable[:200]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


class QdrantResource(ConfigurableResource):
    url: str | None = None
    path: str | None = None
    api_key: str | None = Field(default="", description="Pass as EnvVar; never logged.")
    timeout_s: int = 30

    @model_validator(mode="after")
    def _one_endpoint(self) -> QdrantResource:
        if bool(self.url) == bool(self.path):
            raise ValueError("QdrantResource: give exactly one of url (a Qdrant server) or path (local mode)")
        return self

    @property
    def location(self) -> str:
        return self.url or f"local mode at {self.path}"

    def client(self) -> QdrantClient:
        """A new client; the caller closes it (local mode locks ``path`` until then)."""
        from qdrant_client import QdrantClient

        if self.url:
            return QdrantClient(url=self.url, api_key=self.api_key or None, timeout=self.timeout_s)
        return QdrantClient(path=self.path)

    @contextmanager
    def open(self) -> Iterator[QdrantClient]:
        client = self.client()
        try:
            yield client
        finally:
            client.close()

    @contextmanager
    def collection(self, name: str) -> Iterator[QdrantCollection]:
        """One collection through one client, closed at the end."""
        with self.open() as client:
            yield QdrantCollection(client, name)


class QdrantCollection:
    """A collection of cosine-distance vectors, addressed through an open client."""

    def __init__(self, client: QdrantClient, name: str):
        self.client = client
        self.name = name

    def exists(self) -> bool:
        return self.client.collection_exists(self.name)

    def vector_size(self) -> int | None:
        from qdrant_client import models as qm

        vectors = self.client.get_collection(self.name).config.params.vectors
        return vectors.size if isinstance(vectors, qm.VectorParams) else None

    def ensure(self, dimensions: int, model: str) -> bool:
        """Create the collection when missing (True: everything must be upserted); refuse one of another vector
        size with a CollectionMismatchError naming it, rather than dropping the points it holds."""
        from qdrant_client import models as qm

        if self.exists():
            size = self.vector_size()
            if size != dimensions:
                raise CollectionMismatchError(
                    f"Qdrant collection {self.name!r} holds {size}-dimensional vectors but the embedder {model!r} "
                    f"makes {dimensions}: it was filled by another model. Delete the collection to rebuild it from "
                    f"the table (its points are not removed automatically), or configure the embedder it was "
                    f"built with")
            return False
        self.client.create_collection(self.name, vectors_config=qm.VectorParams(size=dimensions,
                                                                                distance=qm.Distance.COSINE))
        return True

    def count(self) -> int:
        return self.client.count(self.name, exact=True).count

    def point_ids(self) -> set[str]:
        """Every point id of the collection (a scroll without payloads or vectors)."""
        ids: set[str] = set()
        offset = None
        while True:
            page, offset = self.client.scroll(self.name, limit=SCROLL_PAGE, offset=offset, with_payload=False,
                                              with_vectors=False)
            ids.update(str(point.id) for point in page)
            if offset is None:
                return ids

    def upsert(self, points: Sequence[Point]) -> None:
        """Write the points (replacing those of the same id) and wait until they are stored."""
        from qdrant_client import models as qm

        self.client.upsert(self.name, points=[qm.PointStruct(id=point_id, vector=list(vector), payload=payload)
                                              for point_id, vector, payload in points], wait=True)

    def delete(self, point_ids: Sequence[str]) -> None:
        from qdrant_client import models as qm

        self.client.delete(self.name, points_selector=qm.PointIdsList(points=list(point_ids)), wait=True)

    def nearest(self, vector: Sequence[float], limit: int,
                where: dict[str, Any] | None = None) -> list[tuple[float, dict[str, Any]]]:
        """The ``limit`` points nearest to ``vector``, best first, as (score, payload); ``where`` keeps only points
        whose payload has those values."""
        points = self.client.query_points(self.name, query=list(vector), limit=limit, query_filter=_filter(where),
                                          with_payload=True).points
        return [(point.score, dict(point.payload or {})) for point in points]

    def payloads(self, limit: int, where: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The payloads of up to ``limit`` points (in id order, so the same ones while the collection is)."""
        page, _ = self.client.scroll(self.name, limit=limit, scroll_filter=_filter(where), with_payload=True,
                                     with_vectors=False)
        return [dict(point.payload or {}) for point in page]


def _filter(where: dict[str, Any] | None) -> qm.Filter | None:
    """Points whose payload has all of ``where``'s values."""
    from qdrant_client import models as qm

    if not where:
        return None
    return qm.Filter(must=[qm.FieldCondition(key=key, match=qm.MatchValue(value=value))
                           for key, value in where.items()])
