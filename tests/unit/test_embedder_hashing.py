"""EmbedderResource and the pure logic of the embeddings layer (row text, content hashes, change plans)."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pytest
from pydantic import ValidationError

from etl_assets.embeddings.rows import (
    PAYLOAD_TEXT_CHARS,
    document_text,
    indexed_row,
    json_safe,
    plan_changes,
    row_text,
    template_columns,
)
from resources.embedder import EmbedderResource
from resources.qdrant import QdrantResource

SKILLET = "Classic cast iron skillet for cooking at home"
KNIFE = "Pro chef knife for cooking at home"
TENT = "Two person hiking tent, waterproof"
HASHING = EmbedderResource(model="hashing")


def test_hashing_vectors_are_unit_length_float32_of_the_configured_size() -> None:
    vectors = EmbedderResource(model="hashing", dimensions=128).embed([SKILLET, KNIFE, ""])
    assert vectors.shape == (3, 128) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0)
    assert not vectors[2].any(), "an empty text has no features"


def test_hashing_is_deterministic_across_instances() -> None:
    assert np.array_equal(HASHING.embed([SKILLET, TENT]), EmbedderResource(model="hashing").embed([SKILLET, TENT]))


def test_texts_sharing_words_are_closer_than_unrelated_ones() -> None:
    skillet, knife, tent = HASHING.embed([SKILLET, KNIFE, TENT])
    assert float(skillet @ knife) > float(skillet @ tent)


def test_no_texts_give_an_empty_matrix() -> None:
    assert EmbedderResource(model="hashing", dimensions=16).embed([]).shape == (0, 16)


def test_the_signature_names_model_and_size() -> None:
    assert HASHING.signature == "hashing-384"
    assert EmbedderResource().signature == "minilm-384", "the real model is the default"
    assert EmbedderResource(model="openai", endpoint_model="e5", dimensions=8).signature == "openai:e5-8"


def test_dimensions_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        EmbedderResource(dimensions=0)


def test_minilm_refuses_a_size_it_cannot_make() -> None:
    with pytest.raises(ValidationError, match="384-dimensional"):
        EmbedderResource(model="minilm", dimensions=128)


def test_chunk_overlap_must_be_smaller_than_the_chunk() -> None:
    with pytest.raises(ValidationError, match="chunk_overlap"):
        EmbedderResource(chunk_tokens=10, chunk_overlap=10)


def test_row_text_joins_the_text_columns_in_order_and_skips_empty_values() -> None:
    row = {"name": "Skillet", "description": "  Cast iron. ", "category": None, "price": 3}
    assert row_text(row, ["name", "category", "description"]) == "Skillet. Cast iron."


def test_content_hash_follows_content_and_model_and_point_ids_follow_the_key() -> None:
    row = {"product_id": 7, "name": "Skillet", "price": decimal.Decimal("9.50")}
    base = indexed_row("shop__products", row, ["product_id"], ["name"], "hashing-384")
    same = indexed_row("shop__products", dict(row), ["product_id"], ["name"], "hashing-384")
    repriced = indexed_row("shop__products", {**row, "price": decimal.Decimal("8")}, ["product_id"], ["name"],
                           "hashing-384")
    other_model = indexed_row("shop__products", row, ["product_id"], ["name"], "minilm-384")
    assert base == same
    assert len({base.content_hash, repriced.content_hash, other_model.content_hash}) == 3
    assert base.point_id == repriced.point_id == other_model.point_id
    assert base.pk == {"product_id": 7} and base.payload["price"] == 9.5


def test_without_a_primary_key_a_row_is_identified_by_its_content() -> None:
    first = indexed_row("c", {"a": 1}, [], ["a"], "m")
    assert first.pk == {"_content": first.content_hash}
    assert first.point_id != indexed_row("c", {"a": 2}, [], ["a"], "m").point_id


def test_plan_embeds_new_and_changed_rows_and_deletes_vanished_points() -> None:
    rows = [indexed_row("c", {"id": i, "t": f"text {i}"}, ["id"], ["t"], "m") for i in range(3)]
    indexed = {rows[0].point_id: rows[0].content_hash, rows[1].point_id: "stale", "gone-point": "x"}
    changes = plan_changes(rows, indexed)
    assert [row.pk["id"] for row in changes.to_embed] == [1, 2]
    assert changes.unchanged == 1 and changes.to_delete == ["gone-point"]
    assert changes.unchanged_points == {rows[0].point_id}


def test_unchanged_rows_keep_every_chunk_point_written_for_their_content() -> None:
    row = indexed_row("c", {"id": 1, "t": "text"}, ["id"], ["t"], "m")
    chunk_1, _ = row.point("c", 1, "more")
    indexed = {row.point_id: row.content_hash, chunk_1: row.content_hash, "old-chunk-2": "older version"}
    changes = plan_changes([row], indexed)
    assert changes.unchanged_points == {row.point_id, chunk_1} and changes.to_delete == ["old-chunk-2"]


def test_point_ids_follow_collection_key_and_chunk() -> None:
    row = indexed_row("c", {"id": 1, "t": "x"}, ["id"], ["t"], "m")
    ids = {row.point_id, row.point("c", 1, "x")[0], row.point("d", 0, "x")[0],
           indexed_row("c", {"id": "1", "t": "x"}, ["id"], ["t"], "m").point_id}
    assert len(ids) == 4, "a key that changes type (1 -> '1') is another row"
    assert row.point_id == row.point("c", 0, "x")[0]


def test_a_row_template_fills_columns_and_treats_null_as_empty() -> None:
    row = {"name": "Skillet", "category": None, "description": " Cast iron "}
    assert document_text(row, ["name"], "{name} ({category}): {description}") == "Skillet (): Cast iron"
    assert document_text({"name": None, "description": "  "}, ["name", "description"]) == ""
    assert template_columns("{name} - {description}") == ["name", "description"]


def test_long_values_are_clipped_in_the_payload_but_hashed_whole() -> None:
    long_text = "x" * (PAYLOAD_TEXT_CHARS + 10)
    first = indexed_row("c", {"id": 1, "t": long_text}, ["id"], ["t"], "m")
    second = indexed_row("c", {"id": 1, "t": long_text + "y"}, ["id"], ["t"], "m")
    assert len(first.payload["t"]) == PAYLOAD_TEXT_CHARS + 1 and first.content_hash != second.content_hash


def test_json_safe_converts_what_json_cannot_hold() -> None:
    value = {"d": dt.date(2026, 1, 2), "n": decimal.Decimal("1.5"), "b": b"\x00\x01", "l": (1, dt.time(3, 4))}
    assert json_safe(value) == {"d": "2026-01-02", "n": 1.5, "b": "AAE=", "l": [1, "03:04:00"]}


def test_qdrant_needs_exactly_one_of_url_and_path() -> None:
    with pytest.raises(ValidationError, match="exactly one of url"):
        QdrantResource()
    with pytest.raises(ValidationError, match="exactly one of url"):
        QdrantResource(url="http://127.0.0.1:6333", path="/tmp/q")
    assert QdrantResource(path="/tmp/q").location == "local mode at /tmp/q"
