"""QdrantResource: local mode here (a path per test); a Qdrant server when AIETL_TEST_QDRANT_URL names one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from qdrant_client import models as qm

from resources.embedder import EmbedderResource
from resources.qdrant import CollectionMismatchError, QdrantResource

pytestmark = pytest.mark.integration


def round_trip(qdrant: QdrantResource, collection: str) -> None:
    embedder = EmbedderResource(model="hashing", dimensions=64)
    texts = ["cast iron skillet", "hiking tent", "chef knife"]
    with qdrant.open() as client:
        if client.collection_exists(collection):
            client.delete_collection(collection)
        client.create_collection(collection, vectors_config=qm.VectorParams(size=64, distance=qm.Distance.COSINE))
        client.upsert(collection, points=[qm.PointStruct(id=i, vector=v.tolist(), payload={"text": t})
                                          for i, (t, v) in enumerate(zip(texts, embedder.embed(texts)))], wait=True)
    with qdrant.open() as client:
        hits = client.query_points(collection, query=embedder.embed(["tent"])[0].tolist(), limit=1).points
        client.delete_collection(collection)
    assert hits[0].payload == {"text": "hiking tent"}


def test_local_mode_persists_across_clients_and_releases_its_path(tmp_path: Path) -> None:
    round_trip(QdrantResource(path=str(tmp_path / "qdrant")), "round_trip")


@pytest.mark.skipif(not os.environ.get("AIETL_TEST_QDRANT_URL"),
                    reason="set AIETL_TEST_QDRANT_URL (and AIETL_TEST_QDRANT_API_KEY if needed) to test a Qdrant "
                           "server; no server binary is installable here")
def test_a_qdrant_server_round_trip() -> None:
    qdrant = QdrantResource(url=os.environ["AIETL_TEST_QDRANT_URL"],
                            api_key=os.environ.get("AIETL_TEST_QDRANT_API_KEY", ""), timeout_s=10)
    round_trip(qdrant, "aietl_test_round_trip")


def test_a_collection_of_another_dimension_is_refused_not_recreated(tmp_path: Path) -> None:
    qdrant = QdrantResource(path=str(tmp_path / "qdrant"))
    with qdrant.open() as client:
        client.create_collection("shop__products", vectors_config=qm.VectorParams(size=64, distance=qm.Distance.COSINE))
        client.upsert("shop__products", points=[qm.PointStruct(id=1, vector=[0.1] * 64, payload={})], wait=True)
    with qdrant.collection("shop__products") as points, pytest.raises(CollectionMismatchError) as caught:
        points.ensure(384, "minilm-384")
    assert "'shop__products' holds 64-dimensional vectors" in str(caught.value) and "minilm-384" in str(caught.value)
    with qdrant.collection("shop__products") as points:
        assert points.count() == 1 and points.vector_size() == 64
        assert points.point_ids() == {"1"}
