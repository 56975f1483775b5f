"""The explicit fallback: scikit-learn's HashingVectorizer (deterministic and fast; matches shared words only)."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer


def hashing_vectors(texts: list[str], dimensions: int) -> np.ndarray:
    vectorizer = HashingVectorizer(n_features=dimensions, alternate_sign=False, norm="l2",
                                   lowercase=True, dtype=np.float32)
    return vectorizer.transform(texts).toarray()
