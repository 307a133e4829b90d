"""One ranker for every vector backend: `relevance.rank` scores and orders a search's candidates,
and the embedded backend's array form of it (`relevance.rank_scope`) gives the same hits, bit for
bit, on random scopes of a real store (both keyword paths) and on random candidates."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langmem_plugin.records import MemoryRecord, Scope, content_hash
from langmem_plugin.tiers.vector import SearchParams, sqlite_backend
from langmem_plugin.tiers.vector.relevance import (
    CONTEXT_WEIGHT,
    Candidates,
    ScopeCandidates,
    TermEvidence,
    rank,
    rank_scope,
    relevance,
)
from langmem_plugin.tiers.vector.sqlite_backend import SQLiteVectorStore

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
DIMENSIONS = 8
USER, OTHER = Scope(user_id="zora"), Scope(user_id="max")
WORDS = [
    "zora",
    "lamp",
    "cello",
    "tiger",
    "maple",
    "allergies",
    "allergic",
    "dog",
    "dogs",
    "visited",
    "visit",
    "paints",
]
# seconds between one memory and the next: the same conversation (within an hour) or not
GAPS = [0, 30, 1800, 3600, 3601, 86400]


def _hits(store, scope: Scope, vector: np.ndarray, query: str, params: SearchParams) -> list[tuple]:
    return [
        (h.memory.id, h.memory.score, h.model_dump(exclude={"memory"}))
        for h in store.search(scope, vector, query, params)
    ]


def _ranked(store, scope: Scope, vector: np.ndarray, query: str, params: SearchParams) -> list[tuple]:
    return [
        (r.key, r.score, r.hit_fields()) for r in rank(store.candidates(scope, vector, query, params), params)
    ]


@st.composite
def _scopes(draw) -> tuple[list[MemoryRecord], list[int]]:
    """Memories of USER, some of OTHER between them (rowids, hence neighbours, skip those), some
    invalidated, some tagged; the index of each one's vector in a small pool (equal vectors tie)."""
    count = draw(st.integers(1, 24), label="memories")
    records, pool = [], []
    moment = T0
    for i in range(count):
        moment += timedelta(seconds=draw(st.sampled_from(GAPS)))
        text = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=5)))
        closed = draw(st.sampled_from([None, None, None, timedelta(hours=1), timedelta(days=400)]))
        records.append(
            MemoryRecord(
                id=f"m{i}-{uuid.uuid4().hex[:6]}",
                text=text,
                scope=draw(st.sampled_from([USER, USER, USER, OTHER])),
                metadata=draw(st.sampled_from([{}, {"tag": "a"}, {"tag": "b"}])),
                created_at=moment,
                updated_at=moment,
                valid_from=moment,
                valid_to=None if closed is None else moment + closed,
                hash=content_hash(text),
            )
        )
        pool.append(draw(st.integers(0, 5)))
    return records, pool


@st.composite
def _params(draw, ids: list[str]) -> SearchParams:
    links = draw(st.lists(st.sampled_from(ids + ["unknown"]), unique=True, max_size=5))
    return SearchParams(
        limit=draw(st.integers(1, 15)),
        candidates=draw(st.integers(1, 20)),
        rrf_k=draw(st.sampled_from([1, 10, 60])),
        dense_weight=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
        keyword_weight=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
        keyword_max_docs=draw(st.sampled_from([1, 3, 2000])),
        graph_links={m: draw(st.sampled_from([0.1, 0.5, 1.0])) for m in links},
        graph_weight=draw(st.sampled_from([0.0, 1.0, 1.5])),
        threshold=draw(st.one_of(st.none(), st.floats(0.0, 1.0))),
        context=draw(st.booleans()),
        filters=draw(st.sampled_from([None, {"tag": "a"}])),
        as_of=draw(st.sampled_from([None, T0 + timedelta(hours=2), T0 + timedelta(days=3)])),
    )


@settings(max_examples=150, deadline=None)
@given(scope=_scopes(), data=st.data())
@pytest.mark.parametrize("keyword_path", ["scan", "fts5"])
def test_the_embedded_search_is_the_shared_ranker_over_its_candidates_bit_for_bit(
    tmp_path_factory, keyword_path, scope, data
):
    """Random scopes (neighbouring turns, other users' rows between them, invalidated and tagged
    memories, equal vectors), random queries, graph links and settings: the embedded backend's
    hits are `rank` of its candidates, each field equal bit for bit, in the same order."""
    records, pool = scope
    rng = np.random.default_rng(len(records))
    vectors = rng.normal(size=(6, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with pytest.MonkeyPatch.context() as patch:
        if keyword_path == "fts5":
            patch.setattr(sqlite_backend, "KEYWORD_SCAN_MAX_ROWS", 0)
        store = SQLiteVectorStore(
            tmp_path_factory.mktemp(keyword_path) / "vectors.sqlite3", synchronous="OFF"
        )
        try:
            cut = data.draw(st.integers(0, len(records)), label="records of a first insert")
            for batch in (slice(0, cut), slice(cut, None)):
                if records[batch]:
                    store.insert(records[batch], vectors[pool[batch]])
            for _ in range(3):
                query = " ".join(data.draw(st.lists(st.sampled_from(WORDS), max_size=4), label="query"))
                vector = vectors[data.draw(st.integers(0, 5), label="query vector")]
                params = data.draw(_params([r.id for r in records]))
                assert _hits(store, USER, vector, query, params) == _ranked(
                    store, USER, vector, query, params
                )
        finally:
            store.close()


def test_one_search_with_every_kind_of_evidence_is_the_shared_ranker(tmp_path):
    """The equality above, on a search with dense, keyword, graph and context evidence, a tie of
    relevance and a threshold that leaves a candidate out."""
    texts = [
        "zora visited the maple grove",
        "yes, twice!",
        "zora paints lamps",
        "a tiger",
        "dogs visit",
        "a harbor",
    ]
    seconds = [0, 1, 2, 3, 4, 2 * 86400]  # the last one, days later, is no other's neighbour
    records = [
        MemoryRecord(
            id=f"m{i}",
            text=text,
            scope=USER,
            created_at=T0 + timedelta(seconds=at),
            updated_at=T0 + timedelta(seconds=at),
            valid_from=T0 + timedelta(seconds=at),
            hash=content_hash(text),
        )
        for i, (text, at) in enumerate(zip(texts, seconds))
    ]
    axes = np.eye(DIMENSIONS, dtype=np.float32)
    vectors = np.stack(
        [axes[0], (axes[0] + axes[1]) / np.sqrt(2), axes[0], 0.6 * axes[0] + 0.8 * axes[2], axes[3], axes[4]]
    )
    store = SQLiteVectorStore(tmp_path / "vectors.sqlite3")
    try:
        store.insert(records, vectors)
        params = SearchParams(graph_links={"m3": 1.0}, threshold=0.05)
        hits = {h.memory.id: h for h in store.search(USER, axes[0], "maple dogs", params)}
        assert _hits(store, USER, axes[0], "maple dogs", params) == _ranked(
            store, USER, axes[0], "maple dogs", params
        )
        assert (
            list(hits)[:2] == ["m0", "m2"] and hits["m0"].score == hits["m2"].score == 1.0
        )  # tie: fusion decides
        assert hits["m0"].keyword_score > 0 and hits["m4"].keyword_score > 0 and hits["m3"].graph_score == 1.0
        assert hits["m1"].context_score == 1.0 and "m5" not in hits
        assert "m5" in {h.memory.id for h in store.search(USER, axes[0], "maple dogs", SearchParams())}
    finally:
        store.close()


@st.composite
def _scope_candidates(draw) -> ScopeCandidates:
    """Any candidates of a scope of up to 40 positions: lists with no repeats, neighbour pairs among
    the scored positions (of candidates or not), any term counts and memories found."""
    size = draw(st.integers(1, 40))
    position = st.integers(0, size - 1)
    dense, keyword, graph = (draw(st.lists(position, unique=True, max_size=12)) for _ in range(3))
    neighbours = draw(
        st.lists(st.tuples(position, position).filter(lambda pair: pair[0] != pair[1]), max_size=12)
    )
    scored = np.fromiter(
        dict.fromkeys([*dense, *keyword, *graph, *(p for pair in neighbours for p in pair)]), dtype=np.int64
    )
    terms = [
        TermEvidence(
            f"t{i}", draw(st.integers(0, size)), np.array(sorted(draw(st.sets(position))), dtype=np.int64)
        )
        for i in range(draw(st.integers(0, 4)))
    ]
    return ScopeCandidates(
        size=size,
        dense=dense,
        keyword=keyword,
        graph=graph,
        specificity={p: draw(st.floats(0.0, 1.0)) for p in graph},
        scored=scored,
        similarity=np.array([draw(st.floats(-1.0, 1.0)) for _ in scored], dtype=np.float64),
        terms=terms,
        total=size,
        neighbours=(
            np.array([a for a, _ in neighbours], dtype=np.int64),
            np.array([b for _, b in neighbours], dtype=np.int64),
        ),
    )


@settings(max_examples=600, deadline=None)
@given(
    found=_scope_candidates(),
    weights=st.tuples(*[st.sampled_from([0.0, 0.3, 1.0, 2.5])] * 3),
    limit=st.integers(1, 50),
    rrf_k=st.integers(1, 80),
    threshold=st.one_of(st.none(), st.floats(0.0, 1.0)),
    context=st.booleans(),
)
def test_rank_scope_is_rank_bit_for_bit_on_any_candidates(found, weights, limit, rrf_k, threshold, context):
    params = SearchParams(
        limit=limit,
        rrf_k=rrf_k,
        dense_weight=weights[0],
        keyword_weight=weights[1],
        graph_weight=weights[2],
        threshold=threshold,
        context=context,
    )
    expected = rank(found.keyed({p: p for p in range(found.size)}), params)
    assert rank_scope(found, params) == expected


def test_rank_scores_by_relevance_breaks_ties_by_fusion_and_lends_neighbours_context():
    """What `rank` does, on hand-made candidates keyed by name."""
    found = Candidates(
        dense=["a", "b", "c"],
        keyword=["c"],
        similarity={"a": 0.5, "b": 0.5, "c": 0.2, "reply": 0.0},
        terms=[TermEvidence("maple", 1, ["c"]), TermEvidence("zora", 3, ["a", "b", "c"])],  # zora: in 3 of 4
        total=4,
        neighbours=[("c", "reply"), ("nobody", "a")],  # "nobody" is no candidate: lends nothing
    )
    hits = rank(found, SearchParams())
    assert [h.key for h in hits] == ["c", "reply", "a", "b"]
    c, reply, a, b = hits
    assert c.keyword_score == 1.0 and a.keyword_score == 0.0  # the common word weighs nothing
    assert c.score == relevance(0.2, 1.0) == 1.0 and a.score == b.score == relevance(0.5, 0.0)
    assert a.fused_score > b.fused_score and (a.dense_rank, b.dense_rank, c.keyword_rank) == (1, 2, 1)
    assert reply.fused_score is None and reply.context_score == c.score == 1.0
    assert reply.score == relevance(0.0, 0.0, None, 1.0) == pytest.approx(CONTEXT_WEIGHT)
    assert (
        c.context_score == 0.0 and a.context_score is None
    )  # reply's own relevance; a has no candidate beside it
    assert [h.key for h in rank(found, SearchParams(threshold=0.6))] == ["c", "reply"]
    assert [h.key for h in rank(found, SearchParams(context=False, limit=2))] == ["c", "a"]
