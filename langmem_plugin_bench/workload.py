"""The synthetic workload shared by the scale and peers benchmarks: generated sentences with
realistic low-rank vectors, and an embedder that looks them up so that model cost does not hide
storage cost."""

from __future__ import annotations

import numpy as np
from langchain_core.embeddings import Embeddings

SUBJECTS = ["Alice", "Bob", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana"]
VERBS = [
    "visited",
    "bought",
    "painted",
    "cooked",
    "repaired",
    "photographed",
    "sold",
    "borrowed",
    "planted",
    "studied",
]


def make_vocabulary(rng: np.random.Generator, size: int = 3000) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=rng.integers(4, 10))) for _ in range(size)]


def make_sentences(rng: np.random.Generator, count: int, vocabulary: list[str]) -> list[str]:
    # Zipf-distributed object words give the keyword index a realistic long tail.
    ranks = np.minimum(rng.zipf(1.3, size=(count, 3)), len(vocabulary)) - 1
    return [
        f"{SUBJECTS[i % len(SUBJECTS)]} {VERBS[(i // 8) % len(VERBS)]} "
        f"the {vocabulary[a]} {vocabulary[b]} near {vocabulary[c]} #{i}"
        for i, (a, b, c) in enumerate(ranks)
    ]


def low_rank_vectors(
    rng: np.random.Generator, count: int, dimensions: int = 384, rank: int = 48
) -> np.ndarray:
    basis = rng.normal(size=(rank, dimensions)).astype(np.float32)
    vectors = rng.normal(size=(count, rank)).astype(np.float32) @ basis
    vectors += 0.05 * rng.normal(size=vectors.shape).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class PrecomputedEmbeddings(Embeddings):
    """Returns vectors computed ahead of time, so the benchmark times storage, not the model."""

    def __init__(self, table: dict[str, np.ndarray], dimensions: int):
        self.table = table
        self.dimensions = dimensions
        self.model = "precomputed"

    def embed_array(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.table[t] for t in texts])

    def embed_documents(self, texts):
        return self.embed_array(texts).tolist()

    def embed_query(self, text):
        return self.table[text].tolist()


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile of durations in seconds, in milliseconds."""
    return float(np.percentile(np.asarray(samples) * 1000.0, q))
