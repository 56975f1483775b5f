"""An OpenAI-compatible ``/embeddings`` endpoint (optional: only used with ``embedder.model: openai``).

The client is made per call with a timeout and ``max_retries=0``, so a broken endpoint costs one short request and
surfaces as EmbedderUnavailableError; the error text carries the error class and HTTP status only, never the body
(which may echo request headers such as the API key).
"""

from __future__ import annotations

import numpy as np
import openai

from resources.embedder.errors import EmbedderUnavailableError

REQUEST_TEXTS = 256
_UNUSED_KEY = "not-needed"


def endpoint_vectors(texts: list[str], *, base_url: str, api_key: str, model: str, dimensions: int,
                     timeout_s: float) -> np.ndarray:
    if not base_url.strip():
        raise EmbedderUnavailableError("embedder.model is 'openai' but no endpoint is configured (embedder.base_url)")
    client = openai.OpenAI(base_url=base_url, api_key=api_key or _UNUSED_KEY, timeout=timeout_s, max_retries=0)
    rows: list[list[float]] = []
    try:
        for start in range(0, len(texts), REQUEST_TEXTS):
            batch = texts[start:start + REQUEST_TEXTS]
            response = client.embeddings.create(model=model, input=batch)
            data = sorted(response.data, key=lambda item: item.index)
            if len(data) != len(batch):
                raise EmbedderUnavailableError(f"embeddings endpoint {base_url} returned {len(data)} vectors "
                                               f"for {len(batch)} texts")
            rows.extend(item.embedding for item in data)
    except openai.OpenAIError as error:
        status = getattr(error, "status_code", None)
        raise EmbedderUnavailableError(f"embeddings endpoint {base_url} failed: {type(error).__name__}"
                                       + (f" (HTTP {status})" if status else "")) from None
    finally:
        client.close()
    vectors = np.asarray(rows, dtype=np.float32)
    if vectors.shape[1] != dimensions:
        raise EmbedderUnavailableError(f"embeddings endpoint {base_url} (model {model}) makes {vectors.shape[1]}-"
                                       f"dimensional vectors; set embedder.dimensions: {vectors.shape[1]} "
                                       f"(configured: {dimensions})")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.clip(norms, 1e-12, None)
