"""Embedders whose vectors are not unit length work like normalised ones: every vector passes
through `CachedEmbeddings`, which scales it to unit length (documents, queries and cached
entries alike) and refuses a vector without a direction before anything is written."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from langmem_plugin import InvalidEmbeddingError, Memory
from langmem_plugin.embeddings import CachedEmbeddings
from langmem_plugin.embeddings.cache import unit_rows
from langmem_plugin.namespaces import EMBEDDINGS
from langmem_plugin.records import Scope
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore

from .helpers import HashingEmbeddings

FACTS = [
    "I love hiking in the Alps",
    "My sister lives in Lisbon",
    "I work as a nurse",
    "I am allergic to peanuts",
    "I play the cello every Sunday",
    "My dog is called Biscuit",
    "I drive an old Volvo",
    "I collect vintage stamps",
]


class ScaledEmbeddings(Embeddings):
    """Another embedder's vectors, each multiplied by a positive factor chosen per text: what
    `HuggingFaceEmbeddings(normalize_embeddings=False)` or a raw API gives, in effect."""

    def __init__(self, inner: Embeddings, factor):
        self.inner = inner
        self.factor = factor
        self.model = f"scaled-{getattr(inner, 'model', type(inner).__name__)}"

    def embed_documents(self, texts):
        return [(np.asarray(v, dtype=np.float64) * self.factor(t)).tolist() for t, v in zip(texts, self.inner.embed_documents(texts))]

    def embed_query(self, text):
        return self.embed_documents([text])[0]


class FixedVectors(Embeddings):
    """Returns the given vector for every text (zeros, NaN, ...)."""

    def __init__(self, vector):
        self.vector = list(vector)
        self.model = "fixed"

    def embed_documents(self, texts):
        return [list(self.vector) for _ in texts]

    def embed_query(self, text):
        return list(self.vector)


def _add_facts_one_by_one(memory: Memory) -> None:
    for fact in FACTS:
        memory.add(fact, user_id="alice")


@pytest.mark.parametrize(
    "embedder",
    [DeterministicFakeEmbedding(size=64), ScaledEmbeddings(HashingEmbeddings(), lambda text: 40.0)],
    ids=["DeterministicFakeEmbedding", "hashing-x40"],
)
def test_eight_distinct_facts_are_eight_memories_with_spread_scores(tmp_path, embedder):
    with Memory({"path": str(tmp_path / "m")}, embeddings=embedder) as memory:
        _add_facts_one_by_one(memory)
        assert len(memory.get_all(user_id="alice")) == 8
        hits = memory.search("Alice plays the cello every Sunday", user_id="alice")
        scores = [h.score for h in hits]
        assert all(0.0 <= s <= 1.0 for s in scores) and all(-1.0 <= h.similarity <= 1.0 + 1e-6 for h in hits)
        assert hits[0].memory.text == "Alice plays the cello every Sunday." and scores[0] == pytest.approx(1.0, abs=1e-5)
        assert len(set(round(s, 3) for s in scores)) >= 3  # not every hit 1.0
        kept = memory.search("Alice plays the cello every Sunday", user_id="alice", threshold=0.9)
        assert [h.memory.text for h in kept] == ["Alice plays the cello every Sunday."]


def test_a_scaled_minilm_answers_like_minilm(tmp_path, minilm):
    """The duplicate test of the offline manager and the threshold see cosines, whatever the scale."""
    results = {}
    for name, embedder in (("plain", minilm), ("scaled", ScaledEmbeddings(minilm, lambda text: 25.0 + len(text)))):
        with Memory({"path": str(tmp_path / name)}, embeddings=embedder) as memory:
            _add_facts_one_by_one(memory)
            memory.add("I really love hiking in the Alps", user_id="alice")  # a near-duplicate
            hits = memory.search("What instrument does she play?", user_id="alice", threshold=0.3)
            results[name] = (
                sorted(r.text for r in memory.get_all(user_id="alice")),
                [(h.memory.text, round(h.score, 4)) for h in hits],
            )
    assert results["scaled"] == results["plain"]
    assert len(results["plain"][0]) == 8 and results["plain"][1]  # the threshold keeps the cello, not everything


def test_vectors_with_no_direction_are_refused_before_anything_is_written(tmp_path):
    for vector, what in (([0.0] * 8, "all zeros"), ([1.0, math.nan] + [0.0] * 6, "not finite"), ([math.inf] + [1.0] * 7, "not finite")):
        with Memory({"path": str(tmp_path / what / str(len(vector)))}, embeddings=FixedVectors(vector)) as memory:
            for infer in (False, True):
                with pytest.raises(InvalidEmbeddingError, match=what):
                    memory.add("I keep bees in my garden", user_id="u", infer=infer)
            with pytest.raises(InvalidEmbeddingError, match=what):
                memory.search("bees", user_id="u")
            assert memory.get_all(user_id="u") == []
            assert memory.services.kv.keys("history") == [] and memory.services.kv.keys(EMBEDDINGS) == []


def test_cached_vectors_of_any_length_come_back_unit_length(tmp_path):
    """Entries cached as the embedder gave them (by a version that did not scale them) are scaled on the way out."""
    kv = SQLiteKeyValueStore(tmp_path / "kv")
    try:
        inner = HashingEmbeddings()
        cached = CachedEmbeddings(inner, kv)
        scope = Scope(user_id="u")
        raw = np.asarray(inner.embed_documents(["old entry"]), dtype=np.float32) * 7.5
        kv.put_many(EMBEDDINGS, {cached.keys(scope, ["old entry"])[0]: raw[0].tobytes()})
        vectors = cached.embed(["old entry", "new entry"], scope)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
        assert np.allclose(vectors[0], raw[0] / np.linalg.norm(raw[0]), atol=1e-6)
    finally:
        kv.close()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=4, max_size=4),
        min_size=1,
        max_size=6,
    )
)
def test_unit_rows_gives_unit_length_or_a_typed_error(rows):
    vectors = np.asarray(rows, dtype=np.float32)
    lengths = np.linalg.norm(vectors.astype(np.float64), axis=1)
    if np.any(lengths == 0):
        with pytest.raises(InvalidEmbeddingError):
            unit_rows(vectors)
        return
    unit = unit_rows(vectors)
    assert unit.dtype == np.float32
    assert np.allclose(np.linalg.norm(unit.astype(np.float64), axis=1), 1.0, atol=1e-5)
    assert np.allclose(unit.astype(np.float64), vectors.astype(np.float64) / lengths[:, None], atol=1e-5)


TEXTS = [
    "Ana moved to Porto in May",
    "Ana's brother teaches chemistry",
    "The cello lessons are on Sundays",
    "Ana is allergic to shellfish",
    "Ana bought a red bicycle",
    "Her favourite film is Spirited Away",
    "Ana runs every morning before work",
    "The team meeting moved to Thursday",
    "Ana's cat sleeps on the piano",
    "Ana plans a trip to Kyoto next spring",
]
QUERIES = ["Where does Ana live?", "What instrument lessons are there?", "food allergy", "travel plans"]


@pytest.fixture(scope="module")
def reference_results(tmp_path_factory, minilm):
    """Search results of the unscaled embedder: the scaled runs must give the same."""
    with Memory({"path": str(tmp_path_factory.mktemp("reference")), "graph": {"enabled": False}}, embeddings=minilm) as memory:
        memory.add(TEXTS, user_id="ana", infer=False)
        return {q: _ranked(memory, q) for q in QUERIES}


def _ranked(memory: Memory, query: str) -> list[tuple[str, float]]:
    return [(h.memory.text, h.score) for h in memory.search(query, user_id="ana", limit=10)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), exponents=st.lists(st.floats(-6, 6), min_size=1, max_size=5))
def test_search_results_do_not_depend_on_the_scale_of_each_vector(tmp_path_factory, minilm, reference_results, seed, exponents):
    """Each text (stored or queried) gets its own factor in [1e-6, 1e6]: same hits, same order, same scores."""

    def factor(text: str) -> float:
        pick = int.from_bytes(hashlib.sha256(f"{seed}:{text}".encode()).digest()[:4], "little")
        return 10.0 ** exponents[pick % len(exponents)]

    path = tmp_path_factory.mktemp("scaled")
    with Memory({"path": str(path), "graph": {"enabled": False}}, embeddings=ScaledEmbeddings(minilm, factor)) as memory:
        memory.add(TEXTS, user_id="ana", infer=False)
        for query in QUERIES:
            got, expected = _ranked(memory, query), reference_results[query]
            # the same hits with the same scores; so the same order, but for hits whose scores tie
            assert dict(got) == pytest.approx(dict(expected), abs=1e-5)
            assert [s for _, s in got] == pytest.approx([s for _, s in expected], abs=1e-5)
