"""Embedding cache in the key-value tier, keyed by scope + embedder identity + text hash.

Keys are `<scope key>/<sha256>`: a scope's entries are found (and purged) by their scope, and
one scope can never learn from the cache whether another scope ever embedded a text."""

from __future__ import annotations

import hashlib

import numpy as np
from langchain_core.embeddings import Embeddings

from ..identity import model_identity
from ..records import Scope
from ..tiers.keyvalue import KeyValueStore

NAMESPACE = "embeddings"


def embed_texts(embeddings: Embeddings, texts: list[str]) -> np.ndarray:
    """Embed documents as a float32 matrix, using the fast array path where the embedder has one."""
    if hasattr(embeddings, "embed_array"):
        return embeddings.embed_array(texts)
    return np.asarray(embeddings.embed_documents(texts), dtype=np.float32).reshape(len(texts), -1)


class CachedEmbeddings:
    """Wraps an embedder; repeated texts (re-runs, duplicate facts, repeated queries) cost nothing."""

    def __init__(self, embeddings: Embeddings, kv: KeyValueStore | None):
        self.embeddings = embeddings
        self._kv = kv
        self._identity = model_identity(embeddings)

    def _key(self, scope: Scope, text: str) -> str:
        return self._keys(scope, [text])[0]

    def _keys(self, scope: Scope, texts: list[str]) -> list[str]:
        scope_key = scope.key()
        identity = f"{self._identity}\x1f"
        return [f"{scope_key}/{hashlib.sha256((identity + text).encode('utf-8')).hexdigest()}" for text in texts]

    def embed(self, texts: list[str], scope: Scope, remember: bool = True) -> np.ndarray:
        """Vectors of the texts, cached for `scope` (the scope on whose behalf they are embedded).

        `remember=False` uses cached vectors but stores no new ones: for verbatim memories, whose
        vectors the vector tier keeps anyway, a second copy would cost a write and ~1.5 KB each.
        """
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self._kv is None:
            return embed_texts(self.embeddings, texts)
        keys = self._keys(scope, texts)
        cached = self._kv.get_many(NAMESPACE, keys)
        unique_missing: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key not in cached:
                unique_missing.setdefault(key, i)
        if unique_missing:
            fresh = embed_texts(self.embeddings, [texts[i] for i in unique_missing.values()])
            new_items = {k: fresh[j].tobytes() for j, k in enumerate(unique_missing)}
            if remember:
                self._kv.put_many(NAMESPACE, new_items)
            cached.update(new_items)
        return np.stack([np.frombuffer(cached[k], dtype=np.float32) for k in keys])
