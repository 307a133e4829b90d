"""The vector tier's contract (langmem_plugin.tiers.VectorStore), for any backend.

Subclass `VectorStoreContract` in a test module and define the `open_store` fixture: a callable
that opens the backend over the same data each time it is called (the suite opens it twice to
check that a reopened store keeps everything), and closes what it opened when the test ends.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ..errors import DimensionMismatchError, InvalidFilterError, MemoryNotFoundError, MissingScopeError
from ..records import MemoryRecord, Scope, SourceRef, content_hash
from ..tiers.vector import AgeRule, SearchParams, VectorStore
from ..tiers.vector.relevance import rank

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DIM = 8
ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


def record(
    text: str, scope: Scope, *, minutes: int = 0, metadata=None, valid_to=None, expires_at=None
) -> MemoryRecord:
    moment = T0 + timedelta(minutes=minutes)
    return MemoryRecord(
        id=f"{scope.key()}::{text}",
        text=text,
        scope=scope,
        metadata=metadata or {},
        created_at=moment,
        updated_at=moment,
        valid_from=moment,
        valid_to=valid_to,
        hash=content_hash(text),
        sources=[SourceRef(message_id="m", turn_id="t", role="user", timestamp=moment)],
        expires_at=expires_at,
    )


def unit(*hot: int) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    for axis in hot:
        vector[axis] = 1.0
    return vector / np.linalg.norm(vector)


def needs_keyword_search(store: VectorStore) -> None:
    """The keyword half of the contract binds the backends that declare keyword search."""
    if not store.capabilities.keyword_search:
        pytest.skip(f"{type(store).__name__} declares no keyword search")


class VectorStoreContract:
    @pytest.fixture
    def open_store(self):
        raise NotImplementedError("define the open_store fixture: a callable that opens the backend")

    @pytest.fixture
    def store(self, open_store) -> VectorStore:
        return open_store()

    def test_protocol_is_implemented(self, store):
        assert isinstance(store, VectorStore)

    def test_insert_get_and_dimensions(self, store):
        assert store.dimensions is None
        items = [record("alpha", ALICE), record("beta", ALICE, minutes=1)]
        store.insert(items, np.stack([unit(0), unit(1)]))
        assert store.dimensions == DIM
        assert [r.text for r in store.get([items[1].id, "missing", items[0].id])] == ["beta", "alpha"]
        assert store.get([items[0].id])[0] == items[0]
        with pytest.raises(DimensionMismatchError):
            store.insert([record("gamma", ALICE)], np.ones((1, DIM + 1), dtype=np.float32))
        with pytest.raises(DimensionMismatchError):
            store.search(ALICE, np.ones(DIM + 1), "alpha", SearchParams())

    def test_scope_is_required_and_isolating(self, store):
        store.insert(
            [record("alice likes tea", ALICE), record("bob likes tea", BOB)], np.stack([unit(0), unit(0)])
        )
        hits = store.search(ALICE, unit(0), "tea", SearchParams(limit=10))
        assert [h.memory.text for h in hits] == ["alice likes tea"]
        assert [r.text for r in store.list(BOB, limit=10)] == ["bob likes tea"]
        assert store.count(ALICE) == 1
        with pytest.raises(MissingScopeError):
            store.list(Scope(), limit=10)

    def test_one_insert_mixing_scopes_and_metadata_keeps_each_records_own(self, store):
        needs_keyword_search(store)
        """Records of one batch, their scopes interleaved (equal scopes as distinct objects) and two
        metadata dicts shared between them, each keep their own scope, metadata and keyword entry,
        also in a scope searched (so cached) before the insert."""
        store.insert([record("warm up", ALICE)], unit(7)[None, :])
        store.search(ALICE, unit(7), "warm", SearchParams())
        tagged, other = {"tag": "a"}, {"tag": "b"}
        items = [
            record("alice tea", Scope(user_id="alice"), metadata=tagged),
            record("bob tea", BOB, metadata=other),
            record("alice coffee", ALICE, metadata=other),
            record("bob coffee", Scope(user_id="bob"), metadata=tagged),
        ]
        store.insert(items, np.stack([unit(0), unit(0), unit(1), unit(1)]))
        stored = {r.text: r for r in store.get([r.id for r in items])}
        assert {text: (r.scope, r.metadata) for text, r in stored.items()} == {
            "alice tea": (ALICE, {"tag": "a"}),
            "bob tea": (BOB, {"tag": "b"}),
            "alice coffee": (ALICE, {"tag": "b"}),
            "bob coffee": (BOB, {"tag": "a"}),
        }
        for scope, name in ((ALICE, "alice"), (BOB, "bob")):
            keyword_only = SearchParams(limit=10, dense_weight=0.0, context=False)
            assert [h.memory.text for h in store.search(scope, unit(1), "coffee", keyword_only)] == [
                f"{name} coffee"
            ]
            dense = {
                h.memory.text for h in store.search(scope, unit(0), "", SearchParams(limit=10, context=False))
            }
            assert dense - {"warm up"} == {f"{name} tea", f"{name} coffee"}
        assert [r.text for r in store.list(BOB, limit=10, filters={"tag": "a"})] == ["bob coffee"]

    def test_sub_scopes_match_every_given_id(self, store):
        run1 = Scope(user_id="alice", run_id="r1")
        run2 = Scope(user_id="alice", run_id="r2")
        store.insert([record("first run", run1), record("second run", run2)], np.stack([unit(0), unit(1)]))
        assert {r.text for r in store.list(ALICE, limit=10)} == {"first run", "second run"}
        assert [r.text for r in store.list(run1, limit=10)] == ["first run"]
        assert [h.memory.text for h in store.search(run2, unit(0), "run", SearchParams())] == ["second run"]

    def test_hybrid_ranking_fuses_dense_and_keyword(self, store):
        needs_keyword_search(store)
        items = [
            record("the cat sleeps on the sofa", ALICE),
            record("zanzibar trip booked", ALICE, minutes=1),
            record("weekly grocery list", ALICE, minutes=2),
        ]
        store.insert(items, np.stack([unit(0), unit(1), unit(2)]))
        dense_only = store.search(ALICE, unit(0), "", SearchParams(limit=3))
        assert (
            dense_only[0].memory.text == "the cat sleeps on the sofa" and dense_only[0].keyword_rank is None
        )
        both = store.search(ALICE, unit(0, 1), "zanzibar", SearchParams(limit=3))
        assert both[0].memory.text == "zanzibar trip booked"
        assert both[0].keyword_rank == 1 and both[0].dense_rank is not None
        keyword_only = store.search(ALICE, unit(2), "zanzibar", SearchParams(limit=3, dense_weight=0.0))
        assert keyword_only[0].memory.text == "zanzibar trip booked"
        assert all(
            h.keyword_rank is None and h.score < keyword_only[0].score for h in keyword_only[1:]
        )  # context only
        assert all(a.score >= b.score for a, b in itertools.pairwise(both))

    def test_search_is_the_shared_ranker_over_the_candidates(self, store):
        """Every backend's search is `relevance.rank` of the candidates it finds (the embedded one
        computes it over arrays): the same hits in the same order, each field equal bit for bit."""
        texts = [
            "alice kept a maple",
            "yes, twice",
            "alice kept a cello",
            "a tiger",
            "dogs kept",
            "the harbor",
        ]
        minutes = [0, 1, 2, 3, 200, 400]  # the last two are no one's neighbouring turns
        items = [
            record(text, ALICE, minutes=at, metadata={"n": i % 2})
            for i, (text, at) in enumerate(zip(texts, minutes, strict=True))
        ]
        store.insert(items, np.stack([unit(0), unit(0, 1), unit(0), unit(2), unit(0, 3), unit(4)]))
        store.insert([record("bob kept a maple", BOB)], unit(0)[None, :])
        linked = {items[3].id: 1.0, items[1].id: 0.4, "unknown": 1.0}
        for params in (
            SearchParams(graph_links=linked),
            SearchParams(graph_links=linked, threshold=0.3, limit=3),
            SearchParams(context=False, dense_weight=0.5, keyword_weight=2.0),
            SearchParams(filters={"n": 0}, graph_links=linked),
            SearchParams(as_of=T0 + timedelta(minutes=100), candidates=2),
        ):
            hits = store.search(ALICE, unit(0), "maple dogs kept tiger", params)
            ranked = rank(store.candidates(ALICE, unit(0), "maple dogs kept tiger", params), params)
            assert [(h.memory.id, h.memory.score, h.model_dump(exclude={"memory"})) for h in hits] == [
                (r.key, r.score, r.hit_fields()) for r in ranked
            ]
            assert hits and all(h.memory.scope == ALICE for h in hits)

    def test_threshold_applies_to_relevance(self, store):
        # two hours apart: not neighbouring turns of one conversation, so no shared context
        store.insert([record("near", ALICE), record("far", ALICE, minutes=120)], np.stack([unit(0), unit(5)]))
        hits = store.search(ALICE, unit(0), "", SearchParams(threshold=0.5))
        assert [(h.memory.text, round(h.similarity, 3), round(h.score, 3)) for h in hits] == [
            ("near", 1.0, 1.0)
        ]
        assert all(0.0 <= h.score <= 1.0 for h in store.search(ALICE, unit(0, 5), "far", SearchParams()))

    def test_metadata_filters(self, store):
        items = [
            record("a", ALICE, metadata={"kind": "food", "stars": 5}),
            record("b", ALICE, metadata={"kind": "food", "stars": 2}),
            record("c", ALICE, metadata={"kind": "travel", "stars": 4}),
        ]
        store.insert(items, np.stack([unit(0), unit(0), unit(0)]))

        def search(filters):
            return sorted(
                h.memory.text for h in store.search(ALICE, unit(0), "", SearchParams(filters=filters))
            )

        assert search({"kind": "food"}) == ["a", "b"]
        assert search({"kind": {"$ne": "food"}}) == ["c"]
        assert search({"kind": {"$in": ["travel"]}, "stars": {"$nin": [5]}}) == ["c"]
        if store.capabilities.range_filters:
            assert search({"stars": {"$gte": 4}}) == ["a", "c"]
            assert search({"kind": {"$in": ["travel"]}, "stars": {"$lt": 5}}) == ["c"]
        else:
            with pytest.raises(InvalidFilterError):
                search({"stars": {"$gte": 4}})
        assert sorted(r.text for r in store.list(ALICE, limit=10, filters={"stars": {"$nin": [2, 4]}})) == [
            "a"
        ]

    def test_nested_metadata_and_dotted_filters(self, store):
        """Nested metadata comes back as stored; a dotted key reaches into it with every operator,
        and '\\.' names a key that holds a dot."""
        order = {"order": {"id": 17, "total": 899, "items": ["kayak", "paddle"], "ship": {"city": "Köln"}}}
        items = [
            record("kayak order", ALICE, metadata={**order, "v1.2": {"ünï code": "yes"}}),
            record(
                "tent order", ALICE, metadata={"order": {"id": 18, "total": 120, "ship": {"city": "Lyon"}}}
            ),
            record("no order", ALICE, metadata={"order": "none", "v1": {"2": "dotted path"}}),
        ]
        store.insert(items, np.stack([unit(0), unit(0), unit(0)]))
        assert store.get([items[0].id])[0].metadata == items[0].metadata

        def texts(filters):
            listed = sorted(r.text for r in store.list(ALICE, limit=10, filters=filters))
            found = sorted(
                h.memory.text for h in store.search(ALICE, unit(0), "", SearchParams(filters=filters))
            )
            assert listed == found
            return listed

        assert texts({"order.total": 899}) == ["kayak order"]
        if store.capabilities.range_filters:
            assert texts({"order.total": {"$gte": 100, "$lt": 899}}) == ["tent order"]
        else:
            with pytest.raises(InvalidFilterError):
                texts({"order.total": {"$gte": 100, "$lt": 899}})
        assert texts({"order.id": {"$in": [17, 18]}}) == ["kayak order", "tent order"]
        assert texts({"order.id": {"$nin": [17]}}) == ["tent order"]
        assert texts({"order.ship.city": "Köln"}) == ["kayak order"]
        assert texts({"order.ship.city": {"$ne": "Köln"}}) == ["tent order"]
        assert texts({"v1\\.2.ünï code": "yes"}) == ["kayak order"]
        assert texts({"v1.2": "dotted path"}) == ["no order"]
        assert texts({"order": "none"}) == ["no order"]
        assert texts({"order.missing": 1}) == []
        assert texts({"order": 899}) == []  # an object is never equal to a scalar

    def test_list_is_newest_first_and_limited(self, store):
        items = [record(f"item {i}", ALICE, minutes=i) for i in range(5)]
        store.insert(items, np.stack([unit(i) for i in range(5)]))
        assert [r.text for r in store.list(ALICE, limit=3)] == ["item 4", "item 3", "item 2"]

    def test_replace_updates_text_vector_and_keyword_index(self, store):
        needs_keyword_search(store)
        original = record("old words here", ALICE)
        store.insert([original], unit(0)[None, :])
        changed = original.model_copy(
            update={"text": "fresh vocabulary", "hash": content_hash("fresh vocabulary")}
        )
        store.replace(changed, unit(3))
        assert store.get([original.id])[0].text == "fresh vocabulary"
        assert store.search(ALICE, unit(3), "vocabulary", SearchParams())[0].keyword_rank == 1
        assert store.search(ALICE, unit(0), "old", SearchParams())[0].keyword_rank is None
        with pytest.raises(MemoryNotFoundError):
            store.replace(record("never stored", ALICE))

    def test_temporal_validity(self, store):
        current = record("lives in Lisbon", ALICE, minutes=60)
        closed = record("lives in Porto", ALICE, valid_to=T0 + timedelta(minutes=60))
        store.insert([current, closed], np.stack([unit(0), unit(0)]))
        assert [h.memory.text for h in store.search(ALICE, unit(0), "lives", SearchParams())] == [
            "lives in Lisbon"
        ]
        past = store.search(ALICE, unit(0), "lives", SearchParams(as_of=T0 + timedelta(minutes=30)))
        assert [h.memory.text for h in past] == ["lives in Porto"]
        assert store.find_by_hash(ALICE, content_hash("lives in Porto")) is None
        assert store.find_by_hash(ALICE, content_hash("Lives in Lisbon")).id == current.id
        assert len(store.list(ALICE, limit=10, include_invalidated=True)) == 2
        store.replace(current.model_copy(update={"valid_to": T0 + timedelta(minutes=90)}))
        assert store.search(ALICE, unit(0), "lives", SearchParams()) == []

    def test_expired_memories_are_hidden_until_asked_for(self, open_store):
        store = open_store()
        now = datetime.now(UTC)
        gone = record("expired note", ALICE, expires_at=now - timedelta(seconds=1))
        later = record("expiring note", ALICE, minutes=1, expires_at=now + timedelta(days=1))
        kept = record("lasting note", ALICE, minutes=2)
        store.insert([gone, later, kept], np.stack([unit(0), unit(0), unit(0)]))

        def searched(**params) -> list[str]:
            return sorted(h.memory.text for h in store.search(ALICE, unit(0), "note", SearchParams(**params)))

        assert searched() == ["expiring note", "lasting note"]
        assert searched(include_expired=True) == ["expired note", "expiring note", "lasting note"]
        assert [r.text for r in store.list(ALICE, limit=10)] == ["lasting note", "expiring note"]
        assert len(store.list(ALICE, limit=10, include_expired=True)) == 3
        assert store.find_by_hash(ALICE, content_hash("expired note")) is None
        assert store.get([gone.id])[0].expires_at == gone.expires_at  # by id the tier hides nothing
        # a warmed search sees expiry changes at once
        assert store.set_expiry([gone.id, "missing"], None) == [gone.id]
        assert store.set_expiry([later.id], now - timedelta(seconds=1)) == [later.id]
        assert searched() == ["expired note", "lasting note"]
        assert store.get([later.id])[0].text == "expiring note"
        reopened = open_store()
        assert [r.expires_at for r in reopened.get([gone.id, later.id])] == [
            None,
            now - timedelta(seconds=1),
        ]

    def test_expired_lists_every_scope_soonest_first(self, store):
        now = datetime.now(UTC)
        items = [
            record("bob first", BOB, expires_at=now - timedelta(minutes=3)),
            record("alice second", ALICE, expires_at=now - timedelta(minutes=2)),
            record("alice later", ALICE, minutes=1, expires_at=now + timedelta(hours=1)),
            record("alice never", ALICE, minutes=2),
        ]
        store.insert(items, np.stack([unit(i) for i in range(4)]))
        assert [r.text for r in store.expired(now, limit=10)] == ["bob first", "alice second"]
        assert [r.text for r in store.expired(now, limit=1)] == ["bob first"]
        assert len(store.expired(now + timedelta(hours=2), limit=10)) == 3

    def test_expired_finds_what_outlived_a_retention_rule(self, store):
        old = T0 - timedelta(days=30)
        items = [
            record("run note", Scope(user_id="u", agent_id="a", run_id="r"), minutes=-60 * 24 * 30),
            record("agent note", Scope(user_id="u", agent_id="a"), minutes=-60 * 24 * 30),
            record("user note", Scope(user_id="u"), minutes=-60 * 24 * 30),
            record("health note", Scope(user_id="u"), minutes=-60 * 24 * 30, metadata={"category": "health"}),
            record("new note", Scope(user_id="u"), minutes=1),
        ]
        store.insert(items, np.stack([unit(i % DIM) for i in range(len(items))]))
        before = old + timedelta(minutes=1)

        def due(**rule) -> set[str]:
            return {r.text for r in store.expired(T0, limit=10, rules=[AgeRule(before, **rule)])}

        assert due(kind="run") == {"run note"}
        assert due(kind="agent") == {"agent note"}
        assert due(kind="user") == {"user note", "health note"}
        if store.capabilities.encryption:  # metadata stored as keyed hashes: no store-wide rule reads it
            with pytest.raises(InvalidFilterError):
                due(filters={"category": "health"})
        else:
            assert due(filters={"category": "health"}) == {"health note"}
        assert due() == {"run note", "agent note", "user note", "health note"}
        assert store.expired(T0, limit=10, rules=[AgeRule(old - timedelta(days=1))]) == []
        assert len(store.expired(T0, limit=2, rules=[AgeRule(before)])) == 2

    def test_delete_and_delete_scope(self, store):
        items = [record(f"a{i}", ALICE) for i in range(3)] + [record("b0", BOB)]
        store.insert(items, np.stack([unit(i) for i in range(4)]))
        store.search(ALICE, unit(0), "", SearchParams())  # warm any cache before deleting
        store.delete([items[0].id, "missing"])
        assert sorted(h.memory.text for h in store.search(ALICE, unit(0), "a0", SearchParams())) == [
            "a1",
            "a2",
        ]
        deleted = store.delete_scope(ALICE)
        assert sorted(r.text for r in deleted) == ["a1", "a2"]
        assert store.search(ALICE, unit(1), "", SearchParams()) == []
        assert store.count(BOB) == 1

    def test_many_rows_search_returns_exact_top_k(self, store):
        rng = np.random.default_rng(0)
        vectors = rng.normal(size=(500, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.insert([record(f"row {i}", ALICE) for i in range(500)], vectors)
        query = vectors[123]
        hits = store.search(ALICE, query, "", SearchParams(limit=5, context=False))
        expected = np.argsort(-(vectors @ query))[:5]
        assert [h.memory.text for h in hits] == [f"row {i}" for i in expected]

    def test_reopen_keeps_everything(self, open_store):
        first = open_store()
        first.insert([record("durable", ALICE)], unit(2)[None, :])
        first.close()
        second = open_store()
        assert second.dimensions == DIM
        assert [h.memory.text for h in second.search(ALICE, unit(2), "durable", SearchParams())] == [
            "durable"
        ]

    def test_reset(self, store):
        store.insert([record("x", ALICE)], unit(0)[None, :])
        store.reset()
        assert store.count(ALICE) == 0 and store.dimensions is None

    def test_concurrent_writers_lose_nothing(self, store):

        def writer(worker: int) -> None:
            for i in range(20):
                store.insert([record(f"w{worker}-{i}", ALICE, minutes=i)], unit(worker % DIM)[None, :])

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert store.count(ALICE) == 80
        assert len(store.search(ALICE, unit(0), "", SearchParams(limit=100, candidates=100))) == 80
