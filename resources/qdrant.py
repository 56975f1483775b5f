"""Qdrant, as a server (``url``) or in local mode (``path``: one process at a time per path, so always close)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field, model_validator
from qdrant_client import QdrantClient
from qdrant_client import models as qm

Point = tuple[str, Sequence[float], dict[str, Any]]
"""A point to upsert: its id, its vector, its payload."""


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

    def prepare(self, dimensions: int, expected_points: int) -> bool:
        """Create the collection when missing, recreate it when its vector size or point count disagrees with
        ``expected_points``; True when it was (re)created, i.e. everything must be upserted again."""
        if self.exists():
            vectors = self.client.get_collection(self.name).config.params.vectors
            size = vectors.size if isinstance(vectors, qm.VectorParams) else None
            if size == dimensions and self.client.count(self.name, exact=True).count == expected_points:
                return False
            self.client.delete_collection(self.name)
        self.client.create_collection(self.name, vectors_config=qm.VectorParams(size=dimensions,
                                                                                distance=qm.Distance.COSINE))
        return True

    def upsert(self, points: Sequence[Point]) -> None:
        """Write the points (replacing those of the same id) and wait until they are stored."""
        self.client.upsert(self.name, points=[qm.PointStruct(id=point_id, vector=list(vector), payload=payload)
                                              for point_id, vector, payload in points], wait=True)

    def delete(self, point_ids: Sequence[str]) -> None:
        self.client.delete(self.name, points_selector=qm.PointIdsList(points=list(point_ids)), wait=True)

    def nearest(self, vector: Sequence[float], limit: int) -> list[tuple[float, dict[str, Any]]]:
        """The ``limit`` points nearest to ``vector``, best first, as (score, payload)."""
        points = self.client.query_points(self.name, query=list(vector), limit=limit, with_payload=True).points
        return [(point.score, dict(point.payload or {})) for point in points]
