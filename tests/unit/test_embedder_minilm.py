"""The default embedder, all-MiniLM-L6-v2 as ONNX from its PyPI package: its vectors against published fp32
references, meaning over shared words, checksums, scripts, chunks; and the optional OpenAI-compatible endpoint."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from resources.embedder import EmbedderResource, EmbedderUnavailableError, ModelChecksumError, minilm
from resources.embedder.chunks import chunk_text, word_spans
from tests.support.embeddings_stub import embeddings_stub

CENTROIDS = "catalog/data/starter/centroids.json"
"""Published with the tokenizer package: per benchmark, the normalised mean of sentence-transformers' fp32
all-MiniLM-L6-v2 vectors of the queries in training_queries.json."""


@pytest.fixture(scope="module")
def model() -> EmbedderResource:
    embedder = EmbedderResource()
    embedder.load()
    return embedder


def test_vectors_match_the_fp32_sentence_transformers_model(model: EmbedderResource) -> None:
    package = minilm.packaged_file(minilm.TOKENIZER).parents[3]
    queries = json.loads((package / "catalog/data/starter/training_queries.json").read_text())["benchmarks"]
    reference = json.loads((package / CENTROIDS).read_text())
    assert reference["metadata"]["model"] == "all-MiniLM-L6-v2"
    for name in ("AIME-2024", "LiveCodeBench", "LegalBench"):
        vectors = model.embed(queries[name]["queries"])
        centroid = vectors.mean(axis=0)
        centroid /= np.linalg.norm(centroid)
        assert float(centroid @ np.asarray(reference["centroids"][name])) > 0.998, name


def test_paraphrases_are_closer_than_shared_words(model: EmbedderResource) -> None:
    boots, shoes, pan, boots_box = model.embed(["waterproof hiking boots", "rain-proof trail shoes",
                                                "cast iron skillet", "a box of hiking boots laces"])
    assert float(boots @ shoes) > 0.6 > float(boots @ pan) + 0.4
    vectors = model.embed(["waterproof hiking boots", "rain-proof trail shoes"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_batch_gives_the_same_vectors_as_one_at_a_time(model: EmbedderResource) -> None:
    texts = ["short", "a much longer sentence about standing desks and chairs", "medium length text"]
    batch = model.embed(texts)
    single = np.stack([model.embed([text])[0] for text in texts])
    assert np.allclose(batch, single, atol=1e-5)


def test_text_in_several_scripts_embeds(model: EmbedderResource) -> None:
    texts = ["Чугунная сковорода", "铸铁煎锅", "🍳🔥", "", "   "]
    vectors = model.embed(texts)
    assert np.isfinite(vectors).all() and np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    chunks = model.chunks("Привет, мир! 你好世界 🎉 " * 200)
    assert chunks.texts and all(text in "Привет, мир! 你好世界 🎉 " * 200 for text in chunks.texts)


def test_a_model_file_with_a_wrong_checksum_is_refused(tmp_path: Path) -> None:
    damaged = tmp_path / "model.onnx"
    shutil.copyfile(minilm.packaged_file(minilm.MODEL), damaged)
    with damaged.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02")
    with pytest.raises(ModelChecksumError) as caught:
        EmbedderResource(model_file=str(damaged)).embed(["anything"])
    message = str(caught.value)
    assert str(damaged) in message and minilm.MODEL.sha256 in message and "does not match" in message
    actual = message.split("sha256 ")[1].split()[0]
    assert len(actual) == 64 and actual != minilm.MODEL.sha256


def test_a_missing_model_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailableError, match="does not exist"):
        EmbedderResource(model_file=str(tmp_path / "nope.onnx")).embed(["x"])


def test_long_texts_become_overlapping_token_chunks(model: EmbedderResource) -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    chunks = EmbedderResource(model="hashing", chunk_tokens=100, chunk_overlap=20).chunks(text)
    assert len(chunks.texts) == 25 and not chunks.truncated
    first, second = chunks.texts[0].split(), chunks.texts[1].split()
    assert len(first) == 100 and first[80:] == second[:20]
    assert chunks.texts[-1].endswith("word1999")
    spans = minilm.load().token_spans
    assert all(len(spans([chunk])[0]) <= model.chunk_tokens for chunk in model.chunks(text).texts)


def test_a_5_mb_value_is_chunked_up_to_max_chunks_without_tokenizing_it_all(model: EmbedderResource) -> None:
    text = "Водонепроницаемые ботинки 防水靴 🥾 waterproof hiking boots for wet trails. " * 75_000
    assert len(text.encode()) > 5_000_000
    started = time.monotonic()
    chunks = model.chunks(text)
    elapsed = time.monotonic() - started
    assert len(chunks.texts) == model.max_chunks and chunks.truncated
    assert elapsed < 20, "only the chunks that are kept are tokenized"
    tokens = minilm.load().token_spans([chunks.texts[0]])[0]
    assert len(tokens) == model.chunk_tokens


def test_empty_text_has_no_chunks() -> None:
    assert chunk_text("   ", word_spans, 10, 2, 5).texts == []
    assert chunk_text("one", word_spans, 10, 2, 5).texts == ["one"]


def test_the_endpoint_option_embeds_through_an_openai_compatible_server() -> None:
    with embeddings_stub(dimensions=8) as stub:
        embedder = EmbedderResource(model="openai", base_url=stub.url, api_key="sk-test", dimensions=8,
                                    endpoint_model="e5", timeout_s=5)
        vectors = embedder.embed(["a", "b", "c"])
    assert vectors.shape == (3, 8) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    [request] = stub.requests
    assert request["path"] == "/v1/embeddings" and request["body"]["input"] == ["a", "b", "c"]
    assert request["body"]["model"] == "e5" and request["auth"] == "Bearer sk-test"
    second = EmbedderResource(model="openai", base_url=stub.url, dimensions=8)
    assert not np.allclose(vectors[0], vectors[1]) and second.signature == "openai:text-embedding-3-small-8"


def test_endpoint_failures_are_clear_and_never_echo_the_key() -> None:
    with embeddings_stub(status=500) as stub:
        failing = EmbedderResource(model="openai", base_url=stub.url, api_key="sk-secret", dimensions=8, timeout_s=5)
        with pytest.raises(EmbedderUnavailableError, match=r"failed: InternalServerError \(HTTP 500\)") as caught:
            failing.embed(["a"])
    assert "sk-secret" not in str(caught.value)
    with embeddings_stub(dimensions=4) as stub:
        with pytest.raises(EmbedderUnavailableError, match="makes 4-dimensional vectors; set embedder.dimensions: 4"):
            EmbedderResource(model="openai", base_url=stub.url, dimensions=8, timeout_s=5).embed(["a"])
    unreachable = EmbedderResource(model="openai", base_url="http://127.0.0.1:9/v1", dimensions=8, timeout_s=2)
    with pytest.raises(EmbedderUnavailableError, match="APIConnectionError"):
        unreachable.embed(["a"])
    with pytest.raises(EmbedderUnavailableError, match="no endpoint is configured"):
        EmbedderResource(model="openai", dimensions=8).embed(["a"])


def test_a_text_is_only_taken_as_one_chunk_when_it_cannot_have_more_tokens(model: EmbedderResource) -> None:
    from etl_assets.embeddings.index import _surely_one_chunk

    korean = "한국어 텍스트입니다 " * 20
    assert len(korean) < model.chunk_tokens < len(minilm.load().token_spans([korean])[0])
    assert not _surely_one_chunk(korean, model.chunk_tokens) and len(model.chunks(korean).texts) == 2
    for unit in ("waterproof boots ", "Привет мир ", "铸铁煎锅", "🥾", "é", "한국어 "):
        for repeat in (1, 10, 40, 120):
            text = unit * repeat
            if _surely_one_chunk(text, model.chunk_tokens):
                assert len(minilm.load().token_spans([text])[0]) <= model.chunk_tokens, text
