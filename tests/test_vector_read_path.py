"""The embedded vector tier's read path: the byte-bounded per-scope cache, in-memory keyword
statistics of small scopes (the same matching as keyword coverage), vectorised relevance, and
how few SQL statements one search runs."""

import sqlite3
import uuid
from contextlib import closing

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from langmem_plugin.records import MemoryRecord, Scope, utc_now
from langmem_plugin.testing.inspect import sqlite_activity
from langmem_plugin.tiers.vector.base import SearchParams
from langmem_plugin.tiers.vector.dense_index import DenseIndex
from langmem_plugin.tiers.vector.relevance import (
    fused_array,
    keyword_terms,
    miss_array,
    relevance,
    rrf_ranking,
    term_evidence,
    term_matches,
    term_pattern,
    with_context,
    word_root,
)
from langmem_plugin.tiers.vector import scope_keywords
from langmem_plugin.tiers.vector.scope_keywords import ScopeKeywords
from langmem_plugin.tiers.vector import sqlite_backend
from langmem_plugin.tiers.vector.sqlite_backend import SQLiteVectorStore

DIMENSIONS = 16


def _records(scope: Scope, texts: list[str]) -> list[MemoryRecord]:
    now = utc_now()
    return [
        MemoryRecord(id=str(uuid.uuid4()), text=t, scope=scope, created_at=now, updated_at=now, valid_from=now, hash=t)
        for t in texts
    ]


def _vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.normal(size=(count, DIMENSIONS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path):
    store = SQLiteVectorStore(tmp_path / "vectors.sqlite3", synchronous="NORMAL", cache_bytes=20_000)
    yield store
    store.close()


def _statements(store: SQLiteVectorStore, scope: Scope, query: str) -> list[str]:
    """The statements one search runs (FTS5's internal ones, reported with a leading --, left out)."""
    with sqlite_activity() as activity:
        store.search(scope, np.ones(DIMENSIONS, dtype=np.float32), query, SearchParams())
    return [s for s in activity.statements if not s.startswith("--")]


def test_cached_scopes_stay_within_the_byte_bound_and_evicted_scopes_still_answer(store):
    rng = np.random.default_rng(0)
    users = [Scope(user_id=f"user{u}") for u in range(30)]
    for scope in users:
        store.insert(_records(scope, [f"{scope.user_id} likes item{i}" for i in range(10)]), _vectors(rng, 10))
    for scope in users:
        hits = store.search(scope, _vectors(rng, 1)[0], "likes", SearchParams())
        assert {h.memory.scope for h in hits} == {scope} and len(hits) == 10
        assert store.scope_cache.nbytes <= store.scope_cache.max_bytes
    assert 1 < len(store.scope_cache) < len(users)  # older users were dropped, not kept without limit
    first = store.search(users[0], _vectors(rng, 1)[0], "item3", SearchParams(limit=1))
    assert first[0].memory.text == "user0 likes item3"  # reloaded after eviction


def test_a_scope_over_the_bound_is_still_searched(tmp_path):
    store = SQLiteVectorStore(tmp_path / "vectors.sqlite3", cache_bytes=1)
    scope = Scope(user_id="big")
    store.insert(_records(scope, [f"note {i}" for i in range(50)]), _vectors(np.random.default_rng(1), 50))
    assert len(store.search(scope, np.ones(DIMENSIONS, dtype=np.float32), "note", SearchParams(limit=50))) == 50
    assert len(store.scope_cache) == 1
    store.close()


def test_a_small_scope_search_runs_a_bounded_number_of_sql_statements(store, tmp_path):
    scope = Scope(user_id="alice")
    texts = [f"alice visited the museum number {i}" for i in range(40)] + ["alice adopted a dog"]
    store.insert(_records(scope, texts), _vectors(np.random.default_rng(2), len(texts)))
    reopened = SQLiteVectorStore(tmp_path / "vectors.sqlite3", cache_bytes=20_000)  # nothing cached yet
    cold = _statements(reopened, scope, "which dog did alice adopt")
    warm = _statements(reopened, scope, "museum visits")
    reopened.close()
    assert len(cold) <= 3  # data_version, the scope's size, its rows
    assert len(warm) == 1  # data_version: the hits' rows are the scope's cached rows
    assert not any("memory_fts" in s for s in cold + warm)


def test_the_insert_that_creates_a_scope_caches_it_and_its_first_search_loads_nothing(tmp_path):
    rng = np.random.default_rng(4)
    scope, team = Scope(user_id="carol"), Scope(user_id="carol", agent_id="planner")
    texts = [f"carol planted tree number {i}" for i in range(30)] + ["carol repaired the bicycle"]
    vectors, query = _vectors(rng, len(texts)), _vectors(rng, 1)[0]
    writer = SQLiteVectorStore(tmp_path / "vectors.sqlite3", synchronous="NORMAL")
    writer.insert(_records(scope, texts[:20]) + _records(team, texts[20:]), vectors)
    assert [s for s in (scope, team) if writer.scope_cache.get(s) is None] == []
    assert len(writer.scope_cache.get(scope).index) == len(texts) and len(writer.scope_cache.get(team).index) == 11
    reader = SQLiteVectorStore(tmp_path / "vectors.sqlite3")
    for searched in (scope, team):
        executed = _statements(writer, searched, "bicycle repair")
        assert len(executed) == 1 and "data_version" in executed[0]  # nothing loaded, hits from the cached rows
        cached = writer.search(searched, query, "bicycle repair", SearchParams())
        loaded = reader.search(searched, query, "bicycle repair", SearchParams())
        assert [(h.memory.id, h.score) for h in cached] == [(h.memory.id, h.score) for h in loaded]
    writer.insert(_records(scope, ["carol sold the bicycle"]), _vectors(rng, 1))  # an existing scope: appended, not replaced
    assert len(writer.scope_cache.get(scope).index) == len(texts) + 1
    reader.close()
    writer.close()


def _loads(store: SQLiteVectorStore, scope: Scope, rng: np.random.Generator) -> int:
    """Searches the scope; 1 if that loaded it from the table, else 0."""
    with sqlite_activity() as activity:
        store.search(scope, _vectors(rng, 1)[0], "note", SearchParams())
    return sum("count(*)" in statement for statement in activity.statements)


def _users_with_room_for(path, count: int, room: float, rng: np.random.Generator) -> tuple[list[Scope], SQLiteVectorStore]:
    """`count` users of 10 memories written, then the store reopened with a cache of `room` users."""
    users = [Scope(user_id=f"user{u}") for u in range(count)]
    writer = SQLiteVectorStore(path, synchronous="NORMAL")
    for scope in users:
        writer.insert(_records(scope, [f"{scope.user_id} note {i}" for i in range(10)]), _vectors(rng, 10))
    one_scope = writer.scope_cache.get(users[0]).nbytes
    writer.close()
    return users, SQLiteVectorStore(path, cache_bytes=int(one_scope * room))


def test_searching_more_users_in_turn_than_fit_reloads_only_a_few_per_round(tmp_path):
    """Plain LRU would drop each user just before its next search (every search a load); scopes
    that do not fit go in on probation, so a round reloads a few times as many users as do not fit."""
    rng = np.random.default_rng(9)
    users, store = _users_with_room_for(tmp_path / "vectors.sqlite3", 30, 25.5, rng)
    assert sum(_loads(store, scope, rng) for scope in users) == 30  # the first round loads everyone
    for _ in range(5):
        assert sum(_loads(store, scope, rng) for scope in users) <= 15  # 5 do not fit: 3 loads each at most
        assert store.scope_cache.nbytes <= store.scope_cache.max_bytes and len(store.scope_cache) >= 24
    store.close()


def test_a_user_searched_twice_joins_a_full_cache(tmp_path):
    rng = np.random.default_rng(10)
    users, store = _users_with_room_for(tmp_path / "vectors.sqlite3", 6, 3.5, rng)
    for scope in users[:3] * 2:
        _loads(store, scope, rng)
    newcomer = users[3]
    assert _loads(store, newcomer, rng) == 1
    _loads(store, users[4], rng)  # another user's first search takes the newcomer's place
    assert _loads(store, newcomer, rng) == 1  # missed twice: kept now
    assert _loads(store, newcomer, rng) == 0
    assert sum(store.scope_cache.peek(scope) is not None for scope in users[:3]) == 2  # the least recently used left
    store.close()


def test_a_bulk_import_of_new_scopes_does_not_push_out_the_searched_ones(tmp_path):
    store = SQLiteVectorStore(tmp_path / "vectors.sqlite3", synchronous="NORMAL", cache_bytes=40_000)
    rng = np.random.default_rng(6)
    searched = Scope(user_id="active")
    store.insert(_records(searched, [f"active note {i}" for i in range(10)]), _vectors(rng, 10))
    store.search(searched, _vectors(rng, 1)[0], "note", SearchParams())
    imported = [Scope(user_id=f"imported{u}") for u in range(40)]
    for scope in imported:
        store.insert(_records(scope, [f"{scope.user_id} note {i}" for i in range(10)]), _vectors(rng, 10))
        assert store.scope_cache.nbytes <= store.scope_cache.max_bytes
    cached = [scope for scope in imported if store.scope_cache.get(scope) is not None]
    assert store.scope_cache.get(searched) is not None
    assert 0 < len(cached) < len(imported) and cached == imported[: len(cached)]  # the first that fitted, not the latest
    last = imported[-1]
    assert {h.memory.scope for h in store.search(last, _vectors(rng, 1)[0], "note", SearchParams())} == {last}
    store.close()


def test_a_write_only_import_keeps_its_written_scopes_within_the_byte_bound(tmp_path):
    store = SQLiteVectorStore(tmp_path / "vectors.sqlite3", synchronous="NORMAL", cache_bytes=50_000)
    rng = np.random.default_rng(5)
    big = Scope(user_id="importer")
    for batch in range(20):
        store.insert(_records(big, [f"imported note {batch}-{i}" for i in range(50)]), _vectors(rng, 50))
        assert store.scope_cache.nbytes <= store.scope_cache.max_bytes
    assert len(store.search(big, _vectors(rng, 1)[0], "note", SearchParams(limit=1000, candidates=1000))) == 1000
    store.close()


def test_keyword_statistics_follow_writes_to_a_cached_scope(store):
    scope = Scope(user_id="bob")
    rng = np.random.default_rng(3)
    store.insert(_records(scope, ["bob plays chess", "bob cooks pasta"]), _vectors(rng, 2))
    keyword_only = SearchParams(dense_weight=0.0, context=False)
    assert store.search(scope, _vectors(rng, 1)[0], "violin", keyword_only) == []
    [violin] = _records(scope, ["bob bought a violin"])
    store.insert([violin], _vectors(rng, 1))
    assert [h.memory.text for h in store.search(scope, _vectors(rng, 1)[0], "violin", keyword_only)] == ["bob bought a violin"]
    store.replace(violin.model_copy(update={"text": "bob sold his cello"}))
    assert store.search(scope, _vectors(rng, 1)[0], "violin", keyword_only) == []
    store.delete([violin.id])
    assert store.search(scope, _vectors(rng, 1)[0], "cello", keyword_only) == []


def _stored_fields(hits: list) -> dict[str, tuple]:
    """Each hit's memory as stored and its keyword evidence, by id. Not its rank or similarity: a
    cached matrix holds rows in another order than a fresh load, which moves ties and the last bits
    of float32 dot products."""
    return {h.memory.id: (h.memory.model_dump(exclude={"score"}), h.keyword_score, h.keyword_rank is not None) for h in hits}


@settings(max_examples=60, deadline=None)
@given(
    operations=st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.integers(1, 4), st.sampled_from([None, "planner"])),
            st.tuples(st.just("update"), st.integers(0, 30), st.sampled_from(["a new violin", "ends", None])),
            st.tuples(st.just("delete"), st.integers(0, 30)),
            st.tuples(st.just("delete_scope"), st.sampled_from(["planner", "other"])),
            st.tuples(st.just("search"), st.sampled_from(["violin note", "ends", "cello 3"])),
        ),
        max_size=18,
    )
)
def test_hits_from_a_cached_small_scope_are_the_stored_rows_after_any_writes(tmp_path_factory, operations):
    """A small scope's cached rows (hits are built from them) and keyword statistics (extended when the
    scope only grew, rebuilt when rows changed or moved) follow inserts, updates of text, metadata
    and validity, deletes and scope purges: every search of the writer returns what a store that
    reads everything from the table returns, field for field."""
    path = tmp_path_factory.mktemp("cached") / "vectors.sqlite3"
    writer = SQLiteVectorStore(path, synchronous="OFF")
    rng = np.random.default_rng(7)
    user, team = Scope(user_id="dana"), Scope(user_id="dana", agent_id="planner")
    held: list[MemoryRecord] = []
    query = _vectors(rng, 1)[0]
    for step, (kind, *arguments) in enumerate(operations + [("search", "violin note")]):
        if kind == "add":
            count, agent = arguments
            records = _records(team if agent else user, [f"cello {step} note {i}" for i in range(count)])
            writer.insert(records, _vectors(rng, count))
            held += records
        elif kind == "update" and held:
            at, change = arguments
            old = held[at % len(held)]
            fields = {"metadata": {"step": step}} if change is None else {"text": change}
            if change == "ends":
                fields["valid_to"] = utc_now()
            new = old.model_copy(update=fields)
            writer.replace(new, _vectors(rng, 1)[0] if change == "ends" else None)
            held[at % len(held)] = new
        elif kind == "delete" and held:
            writer.delete([held.pop(arguments[0] % len(held)).id])
        elif kind == "delete_scope":
            purged = team if arguments[0] == "planner" else Scope(user_id="other")
            writer.delete_scope(purged)
            held = [r for r in held if not purged.matches(r.scope)]
        elif kind == "search":
            reader = SQLiteVectorStore(path)
            for scope in (user, team):
                params = SearchParams(limit=40, candidates=40)  # every memory of the scope is a hit
                assert _stored_fields(writer.search(scope, query, arguments[0], params)) == _stored_fields(
                    reader.search(scope, query, arguments[0], params)
                )
            reader.close()
    writer.close()


def test_a_scope_that_outgrows_the_small_bound_drops_its_rows_and_reads_them_again_when_small(store, tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "KEYWORD_SCAN_MAX_ROWS", 5)
    scope = Scope(user_id="erin")
    rng = np.random.default_rng(8)
    first = _records(scope, [f"erin kept diary page {i}" for i in range(4)])
    store.insert(first, _vectors(rng, 4))
    assert len(store.scope_cache.get(scope).small.rows) == 4
    more = _records(scope, [f"erin wrote letter {i}" for i in range(3)])
    store.insert(more, _vectors(rng, 3))
    assert store.scope_cache.get(scope).small is None  # 7 rows: ranked by FTS5, hits read from the table
    hits = store.search(scope, _vectors(rng, 1)[0], "letter", SearchParams(limit=10))
    assert {h.memory.text for h in hits} == {r.text for r in first + more}
    store.delete([r.id for r in more])
    hits = store.search(scope, _vectors(rng, 1)[0], "diary", SearchParams(limit=10))
    assert {h.memory.text for h in hits} == {r.text for r in first}
    assert set(store.scope_cache.get(scope).small.rows) == _rowids(tmp_path / "vectors.sqlite3", first)


def _rowids(path, records: list[MemoryRecord]) -> set[int]:
    with closing(sqlite3.connect(path)) as conn:
        ids = [r.id for r in records]
        return {r for r, in conn.execute(f"SELECT rowid FROM memories WHERE id IN ({', '.join('?' * len(ids))})", ids)}


# A scope's first terms are scanned, later ones read from its vocabulary: each test runs both ways.
_SCANNED_OR_VOCABULARY = pytest.mark.parametrize(
    "vocabulary_after", [scope_keywords.VOCABULARY_AFTER_TERMS, 0], ids=["scanned", "vocabulary"]
)


@_SCANNED_OR_VOCABULARY
def test_extended_keyword_statistics_equal_those_built_at_once(monkeypatch, vocabulary_after):
    monkeypatch.setattr(scope_keywords, "VOCABULARY_AFTER_TERMS", vocabulary_after)
    texts = TEXTS + ["Visiting the dog café again", "", "allergy season"]
    terms = ["visited", "dog", "café", "allergy", "again", "über"]
    for cut in range(len(texts) + 1):
        base = ScopeKeywords(texts[:cut])
        base.occurrences("visit")  # with a vocabulary, it is built now and extended below
        grown, whole, first = base.extended(texts[cut:]), ScopeKeywords(texts), ScopeKeywords(texts[:cut])
        assert len(grown) == len(whole)
        for term in terms:
            assert [a.tolist() for a in grown.occurrences(term)] == [a.tolist() for a in whole.occurrences(term)]
            # the statistics it was extended from are as they were (a search may still be reading them)
            assert [a.tolist() for a in base.occurrences(term)] == [a.tolist() for a in first.occurrences(term)]
        allowed = np.ones(len(texts), dtype=bool)
        assert grown.ranking(["dog", "visited", "allergy"], allowed, 5) == whole.ranking(["dog", "visited", "allergy"], allowed, 5)


TEXTS = [
    "Alice visited Visiting visitors; revisit_x",
    "dogs and a dog-walker, but not dogmatic",
    "café Über ﬁnal straße_öl",
    "xvisit visiting",
    "",
    "allergies: allergic to an allergy",
]


@_SCANNED_OR_VOCABULARY
@pytest.mark.parametrize("term", ["visited", "dog", "café", "über", "allergy", "straße", "visit", "final", "revisit"])
def test_in_memory_occurrences_are_the_memories_keyword_coverage_finds(monkeypatch, vocabulary_after, term):
    monkeypatch.setattr(scope_keywords, "VOCABULARY_AFTER_TERMS", vocabulary_after)
    keywords = ScopeKeywords(TEXTS)
    documents, _ = keywords.occurrences(term)
    assert documents.tolist() == [i for i, t in enumerate(TEXTS) if term_matches(term, t.lower())]
    [found] = term_evidence([(term, len(documents))], dict(enumerate(TEXTS)))
    assert found.found == documents.tolist()


@st.composite
def _texts_around(draw, term: str) -> list[str]:
    """Texts made of the term's root with 0-4 letters before or after it, other words and separators."""
    root = word_root(term)
    piece = st.one_of(
        st.builds(lambda before, after: before + root + after, st.text("xé_1", max_size=2), st.text("aoé_1", max_size=4)),
        st.text("abdoé_1", min_size=1, max_size=6),
        st.sampled_from([" ", "-", "'", "\n", ". ", "\u2014", "\u2019", "\u00a0"]),  # and non-ASCII separators
    )
    return draw(st.lists(st.lists(piece, max_size=12).map("".join), max_size=6))


@_SCANNED_OR_VOCABULARY
@settings(max_examples=400, deadline=None)
@given(data=st.data(), term=st.from_regex(r"[abdo][abdoé1ß_]{1,7}", fullmatch=True))
def test_term_occurrences_and_frequencies_are_the_patterns_matches(vocabulary_after, data, term):
    """The in-memory scan and the vocabulary find exactly what `term_pattern` matches in each text
    (short and long roots)."""
    assume(keyword_terms(term) == [term])
    texts = data.draw(_texts_around(term))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scope_keywords, "VOCABULARY_AFTER_TERMS", vocabulary_after)
        documents, frequency = ScopeKeywords(texts).occurrences(term)
    expected = [(i, len(term_pattern(term).findall(t.lower()))) for i, t in enumerate(texts)]
    assert list(zip(documents.tolist(), frequency.tolist())) == [(i, float(n)) for i, n in expected if n]


def test_the_array_relevance_equals_relevance_bit_for_bit():
    rng = np.random.default_rng(4)
    similarity, keyword, graph = rng.uniform(-0.3, 1.2, size=(3, 500))
    context = np.where(rng.random(500) < 0.5, -np.inf, rng.uniform(0, 1, 500))
    miss = miss_array(similarity, keyword, graph)
    arrays = (1.0 - with_context(miss, context)).tolist()
    scalars = [
        relevance(s, k, g, None if c == -np.inf else c) for s, k, g, c in zip(similarity, keyword, graph, context)
    ]
    assert arrays == scalars
    assert (1.0 - miss).tolist() == [relevance(s, k, g) for s, k, g in zip(similarity, keyword, graph)]


def test_array_fusion_equals_rrf_ranking_bit_for_bit():
    rng = np.random.default_rng(5)
    rankings = [
        (rng.permutation(200)[:50].tolist(), 1.0),
        (rng.permutation(200)[:30].tolist(), 0.7),
        ([], 1.0),
        (rng.permutation(200)[:10].tolist(), 0.0),  # a ranker turned off contributes nothing
    ]
    positions, fused = fused_array(200, rankings, 60)
    expected = rrf_ranking(rankings, 60)
    assert positions.tolist() == list(expected)
    assert fused[positions].tolist() == list(expected.values())


def test_a_big_scope_counts_a_frequent_term_only_up_to_keyword_max_docs(store, monkeypatch):
    """Past `keyword_max_docs` a term is left out of the keyword ranker, so FTS5 stops counting there."""
    monkeypatch.setattr(sqlite_backend, "KEYWORD_SCAN_MAX_ROWS", 0)  # take the FTS5 path of big scopes
    scope = Scope(user_id="bob")
    texts = [f"bob tuned the violin number {i}" for i in range(12)] + ["bob bought a cello", "bob sold the cello"]
    texts += [f"bob walked the dog on day {i}" for i in range(12)]  # violin stays under half the scope
    store.insert(_records(scope, texts), _vectors(np.random.default_rng(3), len(texts)))
    keyword_only = SearchParams(limit=20, dense_weight=0.0, keyword_max_docs=3, context=False)
    hits = store.search(scope, _vectors(np.random.default_rng(4), 1)[0], "violin cello", keyword_only)
    assert sorted(h.memory.text for h in hits) == ["bob bought a cello", "bob sold the cello"]
    counts = store.scope_cache.get(scope).index.term_counts
    assert counts["violin"] == (4, 3, None) and counts["cello"] == (2, 3, 2)  # counted to 4, not to 12
    wider = SearchParams(limit=20, dense_weight=0.0, keyword_max_docs=20, context=False)
    assert len(store.search(scope, _vectors(np.random.default_rng(4), 1)[0], "violin", wider)) == 12
    assert counts["violin"] == (12, 20, 12)  # a larger bound counts again


def test_a_big_scope_ranked_without_the_scope_join_gets_the_joined_ranking(store, tmp_path, monkeypatch):
    """Terms with few matches in the whole table are ranked without joining the scope's token;
    the result must be what the joined query gives: only the scope's rows, in BM25 order."""
    monkeypatch.setattr(sqlite_backend, "KEYWORD_SCAN_MAX_ROWS", 0)
    rng = np.random.default_rng(6)
    alice, bob = Scope(user_id="alice"), Scope(user_id="bob")
    alice_texts = [f"alice kept a parrot {'and a parrot ' * (i % 3)}cage {i}" for i in range(8)] + ["alice saw a tiger"]
    alice_texts += [f"alice walked by the river {i}" for i in range(20)]
    bob_texts = [f"bob kept a parrot {i}" for i in range(6)] + [f"bob saw a tiger {i}" for i in range(30)]
    store.insert(_records(alice, alice_texts), _vectors(rng, len(alice_texts)))
    store.insert(_records(bob, bob_texts), _vectors(rng, len(bob_texts)))

    def joined(query_terms: str) -> list[str]:
        tokens = " ".join(sqlite_backend.scope_tokens(alice))
        with closing(sqlite3.connect(tmp_path / "vectors.sqlite3")) as conn:
            rows = conn.execute(
                "SELECT m.text FROM memory_fts f JOIN memories m ON m.rowid = f.rowid WHERE memory_fts MATCH ? "
                "ORDER BY bm25(memory_fts, 1.0, 0.0)",
                (f"{{text}}: ({query_terms}) AND {{scope}}: ({tokens})",),
            ).fetchall()
        return [r[0] for r in rows]

    keyword_only = SearchParams(limit=50, candidates=50, dense_weight=0.0, keyword_max_docs=20, context=False)
    query = _vectors(rng, 1)[0]
    parrot = [h.memory.text for h in store.search(alice, query, "parrot", keyword_only)]
    counts = store.scope_cache.get(alice).index.term_counts
    assert counts["parrot"] == (8, 20, 14)  # 14 matches in the table: ranked without the join
    assert parrot == joined("parrot")
    tiger = [h.memory.text for h in store.search(alice, query, "tiger", keyword_only)]
    assert counts["tiger"] == (1, 20, None)  # 31 in the table: alice's count came from the joined query
    assert tiger == joined("tiger") == ["alice saw a tiger"]
    river = SearchParams(limit=50, candidates=50, dense_weight=0.0, keyword_max_docs=5, context=False)
    assert store.search(alice, query, "river", river) == []  # 20 of alice's rows: over the bound, left out
    assert counts["river"] == (6, 5, None)  # its first 6 table matches were all alice's: no join needed


@settings(max_examples=200, deadline=None)
@given(
    operations=st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.lists(st.integers(0, 40), min_size=1, max_size=8, unique=True)),
            st.tuples(st.just("remove"), st.integers(0, 40)),
        ),
        max_size=25,
    )
)
def test_adjacent_rows_stay_each_others_neighbours_through_adds_and_removes(operations):
    """The neighbour pointers search uses for context are what looking up rowid - 1 and + 1 gives,
    after any mix of batch adds (in any rowid order, next to rows already held) and removals (which
    move the last row into the gap)."""
    index = DenseIndex(2, capacity=4)
    held: set[int] = set()
    for kind, argument in operations:
        if kind == "add":
            rowids = [r for r in argument if r not in held]
            if rowids:
                count = len(rowids)
                index.add(np.array(rowids, dtype=np.int64), np.ones((count, 2), np.float32), np.zeros(count), np.zeros(count))
                held.update(rowids)
        else:
            index.remove(argument)
            held.discard(argument)
        before, after = index.adjacent()
        rowids = index.rowid_at(np.arange(len(index))).tolist()
        assert sorted(rowids) == sorted(held)
        expected_before = [-1 if p is None else p for p in index.positions([r - 1 for r in rowids])]
        expected_after = [-1 if p is None else p for p in index.positions([r + 1 for r in rowids])]
        assert before.tolist() == expected_before and after.tolist() == expected_after
