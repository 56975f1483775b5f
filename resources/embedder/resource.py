"""EmbedderResource: texts -> unit-length float32 vectors, and long texts -> chunks sized for the model."""

from __future__ import annotations

from typing import Literal

import numpy as np
from dagster import ConfigurableResource
from pydantic import Field, model_validator

from resources.embedder import minilm
from resources.embedder.chunks import Chunks, chunk_text, word_spans

ModelName = Literal["minilm", "hashing", "openai"]


class EmbedderResource(ConfigurableResource):
    """``minilm`` (default): all-MiniLM-L6-v2 offline from its PyPI package; ``hashing``: the word-hashing fallback;
    ``openai``: an OpenAI-compatible embeddings endpoint at ``base_url``."""

    model: ModelName = "minilm"
    dimensions: int = Field(default=384, gt=0)
    chunk_tokens: int = Field(default=minilm.MAX_TOKENS - 2, gt=1, le=minilm.MAX_TOKENS - 2)
    """Tokens per chunk of a long text (the model sees at most 256 tokens, CLS and SEP included)."""
    chunk_overlap: int = Field(default=32, ge=0)
    max_chunks: int = Field(default=64, gt=0)
    """Chunks embedded per row; text beyond them is not searchable (the asset reports such rows)."""
    model_file: str = ""
    """A pre-placed copy of the ONNX file instead of the packaged one; its sha256 must still be the pinned one."""
    base_url: str = ""
    api_key: str = Field(default="", description="Pass as EnvVar; never logged.")
    endpoint_model: str = "text-embedding-3-small"
    timeout_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> EmbedderResource:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(f"embedder: chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_tokens "
                             f"({self.chunk_tokens})")
        if self.model == "minilm" and self.dimensions != minilm.DIMENSIONS:
            raise ValueError(f"embedder: the 'minilm' model makes {minilm.DIMENSIONS}-dimensional vectors; set "
                             f"embedder.dimensions: {minilm.DIMENSIONS} (got {self.dimensions})")
        return self

    @property
    def signature(self) -> str:
        """Identifies the vector space: vectors from different signatures must not share a collection."""
        if self.model == "openai":
            return f"openai:{self.endpoint_model}-{self.dimensions}"
        return f"{self.model}-{self.dimensions}"

    def embed(self, texts: list[str]) -> np.ndarray:
        """One row per text, shape ``(len(texts), dimensions)``, dtype float32, rows of unit length (or zero)."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if self.model == "hashing":
            from resources.embedder.hashing import hashing_vectors  # scikit-learn: imported by the runs that use it

            return hashing_vectors(texts, self.dimensions)
        if self.model == "openai":
            from resources.embedder.endpoint import endpoint_vectors  # the openai client: likewise

            return endpoint_vectors(texts, base_url=self.base_url, api_key=self.api_key, model=self.endpoint_model,
                                    dimensions=self.dimensions, timeout_s=self.timeout_s)
        return minilm.load(self.model_file).encode(texts)

    def chunks(self, text: str) -> Chunks:
        """``text`` as overlapping windows of ``chunk_tokens`` tokens of this model (words for the others)."""
        spans = minilm.load(self.model_file).token_spans if self.model == "minilm" else word_spans
        return chunk_text(text, spans, self.chunk_tokens, self.chunk_overlap, self.max_chunks)

    def load(self) -> None:
        """Load the model now (and verify its files), e.g. before a long run; a no-op for the other models."""
        if self.model == "minilm":
            minilm.load(self.model_file)
