"""Text embeddings, offline by default: all-MiniLM-L6-v2 as ONNX (``minilm.py``), the hashing fallback
(``hashing.py``), an optional OpenAI-compatible endpoint (``endpoint.py``), and chunking of long texts (``chunks.py``).
"""

from resources.embedder.chunks import Chunks
from resources.embedder.errors import EmbedderUnavailableError, ModelChecksumError
from resources.embedder.resource import EmbedderResource

__all__ = ["Chunks", "EmbedderResource", "EmbedderUnavailableError", "ModelChecksumError"]
