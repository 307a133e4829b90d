"""A word or entity in most of a scope's memories (the user's own name) is no evidence: it adds
nothing to the keyword share, links nothing through the graph and is left out of the query that is
embedded; the same on both keyword paths of the embedded backend and on Weaviate."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langmem_plugin import AsyncMemory, Memory
from langmem_plugin.integrations.recall import RECALL_THRESHOLD  # the value docs/benchmarks.md measured
from langmem_plugin.records import MemoryRecord, Scope, content_hash
from langmem_plugin.tiers.vector import SearchParams
from langmem_plugin.tiers.vector import sqlite_backend, weaviate_backend
from langmem_plugin.tiers.vector.relevance import (
    MAX_TERM_SHARE,
    WORD,
    entity_specificity,
    is_common,
    keyword_terms,
    term_matches,
    term_weight,
    without_words,
)
from langmem_plugin.tiers.vector.sqlite_backend import SQLiteVectorStore

from .backends import VECTOR_BACKENDS
from .helpers import HashingEmbeddings

NOUNS = [
    "lamp",
    "cello",
    "tiger",
    "maple",
    "quartz",
    "violin",
    "harbor",
    "pepper",
    "walnut",
    "canyon",
    "falcon",
    "ginger",
]
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
USER = Scope(user_id="zora")
DIMENSIONS = 16


def _records(texts: list[str]) -> list[MemoryRecord]:
    """One memory per text, an hour and more apart: no two are neighbouring turns."""
    records = []
    for i, text in enumerate(texts):
        moment = T0 + timedelta(hours=2 * i)
        records.append(
            MemoryRecord(
                id=str(uuid.uuid4()),
                text=text,
                scope=USER,
                created_at=moment,
                updated_at=moment,
                valid_from=moment,
                hash=content_hash(text),
            )
        )
    return records


def _vectors(count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(count)
    vectors = rng.normal(size=(count + 1, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors[:count], vectors[count]


def _texts(total: int, named: int) -> list[str]:
    """`total` memories, the first `named` of them mentioning Zora, each with a noun of its own."""
    return [f"{'Zora kept' if i < named else 'kept'} a {NOUNS[i]}" for i in range(total)]


def _evidence(store, query: str, vector: np.ndarray) -> dict[str, tuple]:
    """Each memory's score and keyword evidence for the query, by text."""
    params = SearchParams(limit=20, candidates=20, context=False)
    return {
        h.memory.text: (h.score, h.keyword_score, h.keyword_rank is not None)
        for h in store.search(USER, vector, query, params)
    }


@settings(max_examples=80, deadline=None)
@given(total=st.integers(1, len(NOUNS)), data=st.data())
def test_a_term_in_most_memories_adds_nothing_and_both_keyword_paths_agree_bit_for_bit(
    tmp_path_factory, total, data
):
    """Asking "zora <noun>" scores every memory as asking "<noun>" exactly when Zora is in more than
    half of them (and in more than one); otherwise her memories gain keyword evidence. The in-memory
    statistics of small scopes and FTS5's of big ones give the same terms, weights and scores."""
    named = data.draw(st.integers(0, total), label="memories naming Zora")
    noun = data.draw(st.sampled_from(NOUNS), label="noun asked about")
    texts = _texts(total, named)
    vectors, query = _vectors(total)
    found = {}
    for path in ("scan", "fts5"):
        store = SQLiteVectorStore(tmp_path_factory.mktemp(path) / "vectors.sqlite3", synchronous="OFF")
        with pytest.MonkeyPatch.context() as patch:
            if path == "fts5":
                patch.setattr(sqlite_backend, "KEYWORD_SCAN_MAX_ROWS", 0)
            store.insert(_records(texts), vectors)
            found[path] = (
                _evidence(store, f"zora {noun}", query),
                _evidence(store, noun, query),
                store.common_terms(USER, ["zora", noun]),
            )
        store.close()
    assert found["scan"] == found["fts5"]
    with_name, without_name, common = found["scan"]
    assert common == (["zora"] if is_common(named, total) else [])
    if is_common(named, total):
        assert with_name == without_name
    else:
        for text in texts[:named]:
            if noun not in text:
                assert with_name[text][1] > 0 and with_name[text][0] > without_name[text][0]


@pytest.mark.parametrize("total, named", [(1, 1), (2, 2), (4, 2), (4, 3), (7, 5), (6, 6)])
@pytest.mark.parametrize("counted", ["from texts", "by the server"])
@pytest.mark.parametrize("backend", ["weaviate", "weaviate-tenants"])
def test_weaviate_weighs_and_counts_terms_as_the_embedded_backend(
    tmp_path, request, monkeypatch, backend, counted, total, named
):
    """Same texts, same vectors: Weaviate finds the same common terms and gives each memory the same
    keyword evidence and relevance as the embedded backend (which has no neighbouring turns here),
    whether it counts a scope's words from its texts or asks the server (scopes too big to read)."""
    if counted == "by the server":
        monkeypatch.setattr(weaviate_backend, "COUNTED_SCOPE_MAX_ROWS", 0)
    texts = _texts(total, named) + ["Allergies: Zora's dogs are allergic", "a dogma about allergy"]
    vectors, query = _vectors(len(texts))
    stores = {name: VECTOR_BACKENDS[name](tmp_path / name, request) for name in ("sqlite", backend)}
    try:
        evidence = {}
        for name, store in stores.items():
            store.insert(_records(texts), vectors)
            terms = keyword_terms("Zora's dog allergies and the maple")
            evidence[name] = (
                store.common_terms(USER, terms),
                _evidence(store, "Zora's dog allergies and the maple", query),
            )
        common, hits = evidence["sqlite"]
        expected = [t for t in terms if is_common(sum(term_matches(t, x.lower()) for x in texts), len(texts))]
        assert evidence[backend][0] == common == expected
        assert evidence[backend][1].keys() == hits.keys()
        for text, (score, keyword, _) in evidence[backend][
            1
        ].items():  # Weaviate's BM25 ranks exact words only
            assert hits[text][:2] == (pytest.approx(score, abs=1e-6), keyword)
    finally:
        for store in stores.values():
            store.close()


@pytest.mark.parametrize("backend", ["weaviate", "weaviate-tenants"])
@pytest.mark.parametrize("counted", ["from texts", "by the server"])
def test_weaviate_word_counts_follow_every_write_and_keep_no_deleted_text(
    tmp_path, request, monkeypatch, backend, counted
):
    """A scope's texts are read once (or each word counted by the server once); this client's
    inserts extend its counts, any other change (another client's insert, a rewrite) has them
    counted again, and a delete drops them all."""
    store = VECTOR_BACKENDS[backend](tmp_path, request)
    other = VECTOR_BACKENDS[backend](tmp_path, request)  # another process's client, same collection
    reads: list = []  # each time the scope's counts start afresh
    if counted == "by the server":
        monkeypatch.setattr(weaviate_backend, "COUNTED_SCOPE_MAX_ROWS", 0)
        monkeypatch.setattr(weaviate_backend, "ServerCounts", _counting(weaviate_backend.ServerCounts, reads))
    else:
        monkeypatch.setattr(weaviate_backend, "ScopeKeywords", _counting_texts(weaviate_backend.ScopeKeywords, reads))
    try:
        records = _records(_texts(4, 2))  # Zora kept a lamp / a cello, kept a tiger / a maple
        vectors, _ = _vectors(6)
        store.insert(records, vectors[:4])
        assert store.common_terms(USER, ["zora", "kept"]) == ["kept"]  # Zora in 2 of 4: half is not most
        [more] = _records(["Zora kept a lamp too"])
        store.insert([more], vectors[4:5])
        assert store.common_terms(USER, ["zora", "kept"]) == ["zora", "kept"]  # 3 of 5, 5 of 5
        assert len(reads) == 1
        [theirs] = _records(["Zora saw a tiger"])
        other.insert([theirs], vectors[5:6])
        assert store.common_terms(USER, ["zora", "kept"]) == ["zora", "kept"]  # 4 of 6, 5 of 6
        assert len(reads) == 2
        store.replace(more.model_copy(update={"text": "a lamp", "updated_at": more.updated_at + timedelta(1)}))
        assert store.common_terms(USER, ["zora", "kept"]) == ["kept"]  # 3 of 6, 4 of 6
        assert len(reads) == 3 and store.counted_scopes() == [USER]
        store.delete([records[2].id])
        assert store.counted_scopes() == []  # a delete drops every scope's counted texts
        assert store.common_terms(USER, ["zora", "kept", "lamp"]) == ["zora", "kept"]  # 3, 3 and 2 of 5
        store.delete_scope(USER)
        assert store.counted_scopes() == [] and store.common_terms(USER, ["zora"]) == []
    finally:
        other.close()
        store.close()


def _counting_texts(scope_keywords, made: list):
    """ScopeKeywords that records each time a scope's texts are read and counted afresh."""

    def make(texts):
        made.append(len(texts))
        return scope_keywords(texts)

    return make


def _counting(server_counts, made: list):
    """ServerCounts that records each time a scope's counts start afresh."""

    def make(total, count, known=None):
        if known is None:
            made.append(total)
        return server_counts(total, count, known)

    return make


@settings(max_examples=300)
@given(linked=st.integers(1, 500), extra=st.integers(0, 500))
def test_entity_specificity_falls_with_the_share_linked_and_is_none_for_most(linked, extra):
    total = linked + extra
    specificity = entity_specificity(linked, total)
    assert 0.0 <= specificity <= 1.0
    assert (specificity == 0.0) == is_common(linked, total)
    assert entity_specificity(1, total) == 1.0
    if linked > 1:
        assert entity_specificity(linked - 1, total) >= specificity
    assert term_weight(linked, total) == (
        0.0
        if linked > 1 and linked > MAX_TERM_SHARE * total
        else pytest.approx(specificity * term_weight(1, total))
    )


@settings(max_examples=300)
@given(
    words=st.lists(
        st.sampled_from(["Zora", "zora", "ZORA", "where", "does", "live", "lamp", "über", "x"]), max_size=8
    ),
    separators=st.lists(st.sampled_from([" ", "'s ", "? ", ", ", "-", "\n"]), min_size=8, max_size=8),
)
def test_without_words_removes_exactly_the_given_words(words, separators):
    text = "".join(w + s for w, s in zip(words, separators))
    kept = without_words(text, {"zora", "lamp"})
    remaining = [w for w in WORD.findall(text) if w.lower() not in {"zora", "lamp"}]
    if remaining:
        assert WORD.findall(kept) == remaining
    else:
        assert kept == text  # nothing else to embed: the query as asked


class RecordingEmbeddings(HashingEmbeddings):
    """Remembers what it embedded, in order."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []

    def embed_documents(self, texts):
        self.texts += list(texts)
        return super().embed_documents(texts)


def _dated(texts: list[str]) -> list[dict]:
    return [
        {"role": "user", "content": t, "timestamp": (T0 + timedelta(days=i)).isoformat()}
        for i, t in enumerate(texts)
    ]


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_the_query_is_embedded_without_the_scopes_common_words(tmp_path, mode):
    embeddings = RecordingEmbeddings()
    config = {"path": str(tmp_path / mode), "graph": {"enabled": False}, "embedder": {"cache": False}}
    memories = [
        "Zora lives in Berlin.",
        "Zora is allergic to peanuts.",
        "Zora plays the cello.",
        "Tom lives in Oslo.",
    ]
    if mode == "sync":
        with Memory(config, embeddings=embeddings) as memory:
            memory.add(_dated(memories), user_id="zora", infer=False)
            embeddings.texts.clear()
            memory.search("Where does Zora live?", user_id="zora")
            memory.search("Where does Tom live?", user_id="zora")
    else:
        memory = AsyncMemory(config, embeddings=embeddings)
        await memory.add(_dated(memories), user_id="zora", infer=False)
        embeddings.texts.clear()
        await memory.search("Where does Zora live?", user_id="zora")
        await memory.search("Where does Tom live?", user_id="zora")
        await memory.aclose()
    assert embeddings.texts == ["Where does live?", "Where does Tom live?"]  # Zora: 3 of 4 memories, Tom: 1


@pytest.fixture(params=["sqlite", "weaviate"])
def minilm_memory(request, tmp_path, minilm):
    config = {"path": str(tmp_path / "m")}
    if request.param == "weaviate":
        node = request.getfixturevalue("weaviate_node")
        collection = "R" + uuid.uuid4().hex[:12]
        config["vector"] = {
            "backend": "weaviate",
            "url": node.url,
            "grpc_port": node.grpc_port,
            "collection": collection,
        }
    with Memory(config, embeddings=minilm) as memory:
        yield memory


def test_the_users_name_does_not_make_her_other_memories_relevant(minilm_memory):
    """ "Where does Alice live?": her name is in every memory; only where she lives answers."""
    said = [
        "I live in Berlin.",
        "I'm allergic to peanuts.",
        "I work as a nurse.",
        "I have a dog named Rex.",
        "I play the cello.",
    ]
    for day, text in enumerate(said):  # days apart: separate conversations, no neighbouring turns
        moment = (T0 + timedelta(days=day)).isoformat()
        minilm_memory.add(
            {"role": "user", "name": "Alice", "content": text, "timestamp": moment}, user_id="alice"
        )
    stored = {r.text for r in minilm_memory.get_all(user_id="alice")}
    assert all(re.match(r"Alice\b", text) for text in stored), stored
    hits = {
        h.memory.text: h for h in minilm_memory.search("Where does Alice live?", user_id="alice", limit=5)
    }
    home = next(h for text, h in hits.items() if "Berlin" in text)
    peanuts = next(h for text, h in hits.items() if "peanuts" in text)
    assert home.score >= RECALL_THRESHOLD > peanuts.score
    assert peanuts.score < home.score / 2
    assert all(h.graph_score is None for h in hits.values())  # "Alice" names an entity, but a common word
    unrelated = minilm_memory.search("What's 2+2?", user_id="alice", limit=5)
    assert max(h.score for h in unrelated) < RECALL_THRESHOLD
