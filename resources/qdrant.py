"""Qdrant, as a server (``url``) or in local mode (``path``: one process at a time per path, so always close)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource
from pydantic import Field, model_validator
from qdrant_client import QdrantClient


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
