"""Test helpers shared by several test modules."""

from __future__ import annotations

import hashlib
import re

import numpy as np
from langchain_core.embeddings import Embeddings


class HashingEmbeddings(Embeddings):
    """Fast bag-of-words embedder for tests that need many writes but no model semantics."""

    def __init__(self, dimensions: int = 64):
        self.dimensions = dimensions
        self.model = f"hashing-{dimensions}"

    def _vector(self, text: str) -> list[float]:
        vector = np.zeros(self.dimensions, dtype=np.float32)
        # a text without words ("!!!", an emoji) is one token of its own: no vector is all zeros
        for word in re.findall(r"\w+", text.lower()) or [text]:
            digest = hashlib.md5(word.encode()).digest()
            vector[int.from_bytes(digest[:4], "little") % self.dimensions] += 1.0
        norm = np.linalg.norm(vector)
        return (vector / norm if norm else vector).tolist()

    def embed_documents(self, texts):
        return [self._vector(t) for t in texts]

    def embed_query(self, text):
        return self._vector(text)
