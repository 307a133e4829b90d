"""MemoryStore (LangGraph BaseStore on our tiers) next to LangGraph's InMemoryStore, case by case."""

import pytest
from langgraph.store.base import GetOp, PutOp
from langgraph.store.memory import InMemoryStore

from langmem_plugin import Memory
from langmem_plugin.errors import InvalidInputError
from langmem_plugin.integrations.store import MemoryStore

from .helpers import HashingEmbeddings

EMBEDDINGS = HashingEmbeddings()


@pytest.fixture
def stores(tmp_path):
    memory = Memory({"path": str(tmp_path / "store")}, embeddings=EMBEDDINGS)
    reference = InMemoryStore(index={"dims": EMBEDDINGS.dimensions, "embed": EMBEDDINGS, "fields": ["text"]})
    yield MemoryStore(memory, index_fields=["text"]), reference
    memory.close()


def both(stores, method, *args, **kwargs):
    ours, theirs = stores
    return getattr(ours, method)(*args, **kwargs), getattr(theirs, method)(*args, **kwargs)


def plain(items):
    return sorted((tuple(i.namespace), i.key, tuple(sorted(i.value.items()))) for i in items)


def seed(stores):
    data = [
        (("users", "ana", "memories"), "m1", {"text": "Ana likes green tea", "kind": "food", "stars": 5}),
        (("users", "ana", "memories"), "m2", {"text": "Ana plays the cello", "kind": "music", "stars": 3}),
        (("users", "ana", "prefs"), "p1", {"text": "Ana prefers short answers", "kind": "style", "stars": 4}),
        (("users", "bob", "memories"), "m1", {"text": "Bob likes black coffee", "kind": "food", "stars": 2}),
    ]
    for namespace, key, value in data:
        both(stores, "put", namespace, key, value)


def test_put_get_overwrite_delete(stores):
    seed(stores)
    ours, theirs = both(stores, "get", ("users", "ana", "memories"), "m1")
    assert ours.value == theirs.value and ours.key == theirs.key and ours.namespace == theirs.namespace
    both(stores, "put", ("users", "ana", "memories"), "m1", {"text": "Ana likes oolong", "kind": "food", "stars": 4})
    ours, theirs = both(stores, "get", ("users", "ana", "memories"), "m1")
    assert ours.value == theirs.value == {"text": "Ana likes oolong", "kind": "food", "stars": 4}
    assert ours.updated_at >= ours.created_at
    both(stores, "delete", ("users", "ana", "memories"), "m1")
    assert both(stores, "get", ("users", "ana", "memories"), "m1") == (None, None)
    assert both(stores, "get", ("nobody",), "x") == (None, None)


def test_search_by_prefix_and_filter(stores):
    seed(stores)
    for prefix, filters in [
        (("users",), None),
        (("users", "ana"), None),
        (("users", "ana", "memories"), {"kind": "food"}),
        (("users",), {"stars": {"$gte": 4}}),
        (("users",), {"kind": {"$ne": "food"}}),
        (("nobody",), None),
    ]:
        ours, theirs = both(stores, "search", prefix, filter=filters, limit=10)
        assert plain(ours) == plain(theirs), (prefix, filters)


def test_semantic_search_ranks_like_the_reference(stores):
    seed(stores)
    ours, theirs = both(stores, "search", ("users", "ana"), query="green tea", limit=2)
    assert [i.key for i in ours][0] == [i.key for i in theirs][0] == "m1"
    assert ours[0].score == pytest.approx(theirs[0].score, abs=1e-5)
    assert all(i.namespace[:2] == ("users", "ana") for i in ours)


def test_pagination(stores):
    for i in range(6):
        both(stores, "put", ("docs",), f"k{i}", {"text": f"document number {i}"})
    ours_all = stores[0].search(("docs",), limit=10)
    pages = stores[0].search(("docs",), limit=2, offset=2)
    assert [i.key for i in pages] == [i.key for i in ours_all[2:4]]


def test_list_namespaces(stores):
    seed(stores)
    for kwargs in [
        {},
        {"prefix": ("users", "ana")},
        {"suffix": ("memories",)},
        {"prefix": ("users", "*", "memories")},
        {"max_depth": 2},
        {"limit": 1, "offset": 1},
    ]:
        ours, theirs = both(stores, "list_namespaces", **kwargs)
        assert sorted(ours) == sorted(theirs), kwargs
    both(stores, "delete", ("users", "ana", "prefs"), "p1")
    ours, theirs = both(stores, "list_namespaces")
    assert sorted(ours) == sorted(theirs)


async def test_async_api(stores):
    ours, _ = stores
    await ours.aput(("a",), "k", {"text": "async works"})
    assert (await ours.aget(("a",), "k")).value == {"text": "async works"}
    assert [i.key for i in await ours.asearch(("a",), query="async")] == ["k"]


def test_bad_values_and_operations(stores):
    ours = stores[0]
    with pytest.raises(InvalidInputError):
        ours.batch([PutOp(("a",), "k", ["not", "a", "dict"])])
    with pytest.raises(InvalidInputError):
        ours.batch([GetOp((), "k")])
    with pytest.raises(InvalidInputError):
        ours.batch([object()])
