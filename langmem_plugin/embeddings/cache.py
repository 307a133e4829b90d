"""The one door every vector goes through: unit length, and cached in the key-value tier.

Every vector the pipeline stores or searches with comes from `CachedEmbeddings.embed`, which
scales it to unit length, so that any LangChain `Embeddings` works whatever the length of its
vectors (`DeterministicFakeEmbedding`, `HuggingFaceEmbeddings` without `normalize_embeddings`, an
API returning raw scores): the tiers compare vectors by their dot product and report it as the
cosine similarity in [0, 1] that `threshold` and the memory manager's duplicate test rely on.
A vector with no direction (all zeros) or with NaN / infinite values raises
`InvalidEmbeddingError` before anything is written.

Cache keys are `<scope key>/<sha256>`: a scope's entries are found (and purged) by their scope,
and one scope can never learn from the cache whether another scope ever embedded a text."""

from __future__ import annotations

import hashlib

import numpy as np
from langchain_core.embeddings import Embeddings

from ..errors import InvalidEmbeddingError
from ..identity import model_identity
from ..namespaces import EMBEDDINGS
from ..records import Scope
from ..tiers.keyvalue import KeyValueStore


def embed_texts(embeddings: Embeddings, texts: list[str]) -> np.ndarray:
    """Embed documents as a float32 matrix, using the fast array path where the embedder has one."""
    if hasattr(embeddings, "embed_array"):
        return embeddings.embed_array(texts)
    return np.asarray(embeddings.embed_documents(texts), dtype=np.float32).reshape(len(texts), -1)


# Vectors whose length is 1 within float32 rounding are returned as they are.
_UNIT_TOLERANCE = 1e-6


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """The rows scaled to unit length (float32); `InvalidEmbeddingError` for a row of zeros or a
    row holding NaN or infinity. Lengths are computed in float64, so no finite float32 row
    overflows or underflows on the way."""
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))
    unusable = ~np.isfinite(norms) | (norms == 0.0)
    if unusable.any():
        row = int(np.flatnonzero(unusable)[0])
        what = "all zeros" if norms[row] == 0.0 else "not finite (NaN or infinity)"
        raise InvalidEmbeddingError(
            f"the embedder's vector for text {row + 1} of {len(vectors)} is {what}: "
            "it has no direction to compare"
        )
    if np.all(np.abs(norms - 1.0) <= _UNIT_TOLERANCE):
        return vectors
    return (vectors / norms[:, None]).astype(np.float32)


class CachedEmbeddings:
    """Wraps an embedder: unit-length vectors, and repeated texts (re-runs, duplicate facts,
    repeated queries) cost nothing."""

    def __init__(self, embeddings: Embeddings, kv: KeyValueStore | None):
        self.embeddings = embeddings
        self._kv = kv
        self._identity = model_identity(embeddings)

    def keys(self, scope: Scope, texts: list[str]) -> list[str]:
        """The cache key of each text embedded for `scope`: the scope's key, then a digest of the
        model's identity and the text, so that a purge finds a scope's entries by its prefix and
        another model never reads them."""
        scope_key = scope.key()
        identity = f"{self._identity}\x1f"
        return [
            f"{scope_key}/{hashlib.sha256((identity + text).encode('utf-8')).hexdigest()}" for text in texts
        ]

    def embed(self, texts: list[str], scope: Scope, remember: bool = True) -> np.ndarray:
        """Vectors of the texts, cached for `scope` (the scope on whose behalf they are embedded).

        `remember=False` uses cached vectors but stores no new ones: for verbatim memories, whose
        vectors the vector tier keeps anyway, a second copy would cost a write and ~1.5 KB each.
        """
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self._kv is None:
            return unit_rows(embed_texts(self.embeddings, texts))
        keys = self.keys(scope, texts)
        cached = self._kv.get_many(EMBEDDINGS, keys)
        unique_missing: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key not in cached:
                unique_missing.setdefault(key, i)
        if unique_missing:
            fresh = unit_rows(embed_texts(self.embeddings, [texts[i] for i in unique_missing.values()]))
            new_items = {k: fresh[j].tobytes() for j, k in enumerate(unique_missing)}
            if remember:
                self._kv.put_many(EMBEDDINGS, new_items)
            cached.update(new_items)
        # entries cached by a version that stored vectors as the embedder gave them are scaled too
        return unit_rows(np.stack([np.frombuffer(cached[k], dtype=np.float32) for k in keys]))
