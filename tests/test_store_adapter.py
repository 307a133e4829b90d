"""MemoryStore (LangGraph BaseStore on our tiers) next to LangGraph's InMemoryStore, case by case."""

import asyncio
import json

import pytest
from blockbuster import blockbuster_ctx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.store.base import GetOp, PutOp
from langgraph.store.memory import InMemoryStore

from langmem_plugin import AsyncMemory, Memory, Scope, operations
from langmem_plugin.errors import (
    ConfigurationError,
    ForbiddenScopeError,
    InvalidInputError,
    InvalidScopeError,
)
from langmem_plugin.integrations.store import MAX_VALUE_DEPTH, MemoryStore, namespace_scope
from langmem_plugin.integrations.tools import create_memory_tools

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


def test_index_false_items_are_stored_but_never_ranked(stores):
    both(stores, "put", ("n",), "ranked", {"text": "green tea is calming"})
    both(stores, "put", ("n",), "hidden", {"text": "green tea is calming too"}, index=False)
    ours, theirs = both(stores, "search", ("n",), query="green tea", limit=5)
    assert [(i.key, i.score is None) for i in ours] == [(i.key, i.score is None) for i in theirs] == [("ranked", False), ("hidden", True)]
    ours, theirs = both(stores, "search", ("n",), query="green tea", limit=1)
    assert [i.key for i in ours] == [i.key for i in theirs] == ["ranked"]
    assert stores[0].get(("n",), "hidden").value == {"text": "green tea is calming too"}
    record = stores[0].memory.get_all(user_id=namespace_scope(("n",)), filters={"store_key": "hidden"})[0]
    assert record.metadata["store_indexed"] is False


def test_per_put_index_paths_override_the_store_fields(stores):
    both(stores, "put", ("n",), "a", {"text": "about cats", "title": "violin lessons"}, index=["title"])
    both(stores, "put", ("n",), "b", {"text": "violin lessons", "title": "about cats"})
    for query in ("violin lessons", "about cats"):
        ours, theirs = both(stores, "search", ("n",), query=query, limit=1)
        assert [i.key for i in ours] == [i.key for i in theirs], query


NESTED_FIELDS = ["key1.nested", "key2[0]", "arr[*].text", "key3[-1].deep.leaf"]
NESTED = {
    "n1": {"key1": {"nested": "sailing boats"}, "key2": ["x"], "arr": [], "other": "jazz piano"},
    "n2": {"key1": {}, "key2": ["mountain hiking", "jazz piano"], "arr": []},
    "n3": {"arr": [{"text": "baking bread"}, {"text": "chess openings"}], "other": "sailing boats"},
    "n4": {"key3": [{"deep": {"leaf": "no"}}, {"deep": {"leaf": "quantum physics"}}]},
}


@pytest.fixture
def nested_stores(tmp_path):
    memory = Memory({"path": str(tmp_path / "nested")}, embeddings=EMBEDDINGS)
    reference = InMemoryStore(index={"dims": EMBEDDINGS.dimensions, "embed": EMBEDDINGS, "fields": NESTED_FIELDS})
    yield MemoryStore(memory, index_fields=NESTED_FIELDS), reference
    memory.close()


def test_nested_index_paths_like_langgraph(nested_stores):
    for key, value in NESTED.items():
        both(nested_stores, "put", ("n",), key, value)
    for query, expected in [("sailing boats", "n1"), ("mountain hiking", "n2"), ("chess openings", "n3"), ("quantum physics", "n4")]:
        ours, theirs = both(nested_stores, "search", ("n",), query=query, limit=1)
        assert [i.key for i in ours] == [i.key for i in theirs] == [expected], query
        assert ours[0].score == pytest.approx(theirs[0].score, abs=1e-5), query  # the best single text, not the joined ones
    records = nested_stores[0].memory.get_all(user_id=namespace_scope(("n",)))
    texts = {r.metadata["store_key"]: r.text for r in records}
    assert texts == {"n1": "sailing boats\nx", "n2": "mountain hiking", "n3": "baking bread\nchess openings", "n4": "quantum physics"}


async def test_concurrent_puts_of_one_key_leave_one_item(stores):
    async def run(store):
        await asyncio.gather(*(store.aput(("race",), "k", {"text": f"version {i}"}) for i in range(20)))
        items = await store.asearch(("race",), limit=50)
        await asyncio.gather(store.adelete(("race",), "k"), *(store.aput(("race",), "k", {"text": "again"}) for _ in range(3)))
        await store.adelete(("race",), "k")
        return items, await store.aget(("race",), "k"), await store.asearch(("race",), limit=50)

    (ours, ours_after, ours_left), (theirs, theirs_after, theirs_left) = [await run(store) for store in stores]
    assert len(ours) == len(theirs) == 1 and ours[0].value["text"].startswith("version ")
    assert ours_after is None and theirs_after is None and ours_left == theirs_left == []
    assert len(stores[0].memory.get_all(user_id=namespace_scope(("race",)), include_invalidated=True)) == 0


def test_index_config_and_embeddings_attributes(stores):
    ours, theirs = stores
    assert ours.embeddings is EMBEDDINGS and theirs.embeddings is EMBEDDINGS
    assert ours.index_config["dims"] == theirs.index_config["dims"] == EMBEDDINGS.dimensions
    assert ours.index_config["fields"] == theirs.index_config["fields"] == ["text"]


@pytest.mark.parametrize(
    "value, text",
    [
        ({"content": "Ana prefers tea"}, "Ana prefers tea"),  # LangMem's manage_memory tool
        ({"kind": "Memory", "content": {"content": "Ana prefers tea"}}, "Ana prefers tea"),  # create_memory_store_manager
        ({"text": "Ana prefers tea", "tags": ["x"]}, "Ana prefers tea"),
        ({"name": "Ana", "age": 30}, '{"age": 30, "name": "Ana"}'),  # no text field: the whole value
    ],
)
def test_default_text_is_the_value_text_not_its_json(tmp_path, value, text):
    with Memory({"path": str(tmp_path / "d")}, embeddings=EMBEDDINGS) as memory:
        MemoryStore(memory).put(("d",), "k", value)
        assert memory.get_all(user_id=namespace_scope(("d",)))[0].text == text


def test_filters_reach_nested_fields_by_dotted_key(stores):
    ours = stores[0]
    ours.put(("docs",), "hyphen", {"access-level": "public", "user": {"access-level": "nested", "rank": 3}})
    ours.put(("docs",), "dotted", {"user.access-level": "top", "user": {"rank": 1}})
    assert [i.key for i in ours.search(("docs",), filter={"user.access-level": "nested"})] == ["hyphen"]
    assert [i.key for i in ours.search(("docs",), filter={"user.rank": {"$gte": 2}})] == ["hyphen"]
    assert [i.key for i in ours.search(("docs",), filter={"access-level": "public"})] == ["hyphen"]
    assert ours.search(("docs",), filter={"user.missing": "x"}) == []


def test_items_stored_before_the_indexed_flag_are_still_found(stores):
    ours = stores[0]
    value = {"text": "legacy green tea"}
    metadata = {"store_key": "old", "store_value": json.dumps(value)}  # what earlier versions wrote
    message = [{"role": "user", "content": value["text"], "id": "old"}]
    ours.memory.add(message, user_id=namespace_scope(("legacy",)), metadata=metadata, infer=False)
    ours.memory.services.kv.put_many("store_namespaces", {json.dumps(["legacy"]): 1})
    assert [(i.key, i.score is not None) for i in ours.search(("legacy",), query="green tea")] == [("old", True)]
    assert ours.get(("legacy",), "old").value == value


# -- namespaces and user ids live apart ----------------------------------------------------------

BOB_NAMESPACE = ("users", "bob")
NAMESPACE_SPELLINGS = ['ns:["users", "bob"]', 'ns:["users","bob"]', 'ns:["users", "bob"] ', "ns:", "ns:[]"]


@pytest.fixture
def bob_vault(tmp_path):
    memory = Memory({"path": str(tmp_path / "vault")}, embeddings=EMBEDDINGS)
    MemoryStore(memory).put(BOB_NAMESPACE, "k", {"content": "bob vault 4417"})
    yield memory
    memory.close()


@pytest.mark.parametrize("user_id", NAMESPACE_SPELLINGS)
def test_a_user_id_cannot_name_a_store_namespace(bob_vault, user_id):
    with pytest.raises(ForbiddenScopeError, match="reserved"):
        bob_vault.search("vault", user_id=user_id)
    with pytest.raises(ForbiddenScopeError):
        bob_vault.add("I am bob now", user_id=user_id, infer=False)
    assert [r.text for r in bob_vault.get_all(user_id=namespace_scope(BOB_NAMESPACE))] == ["bob vault 4417"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    user_id=st.one_of(
        st.sampled_from(NAMESPACE_SPELLINGS),
        st.text(min_size=1, max_size=30),
        st.text().map(lambda t: "ns:" + t),
    )
)
def test_no_string_id_reaches_a_namespace(bob_vault, user_id):
    try:
        hits = bob_vault.search("bob vault 4417", user_id=user_id, limit=10)
    except InvalidScopeError:  # ForbiddenScopeError included
        return
    assert all("4417" not in h.memory.text for h in hits)


def test_the_agent_tools_cannot_reach_a_namespace_either(bob_vault):
    from langchain.agents import create_agent
    from langchain_core.messages import HumanMessage

    from .helpers import RecordingChatModel, tool_call

    model = RecordingChatModel([tool_call("search_memory", {"query": "vault"}, "s1")])
    agent = create_agent(model, create_memory_tools(bob_vault))
    with pytest.raises(ForbiddenScopeError):
        config = {"configurable": {"user_id": 'ns:["users", "bob"]'}}
        agent.invoke({"messages": [HumanMessage("my vault code?")]}, config=config)


def test_a_store_written_by_earlier_versions_keeps_working(tmp_path):
    """Earlier versions wrote namespaces under the same `ns:` + JSON user id, as plain strings;
    the adapter reads and changes them as its own."""
    path = str(tmp_path / "earlier")
    assert namespace_scope(("users", "ana")) == 'ns:["users", "ana"]'
    with Memory({"path": path}, embeddings=EMBEDDINGS) as memory:
        value = {"text": "Ana likes green tea"}
        metadata = {"store_key": "tea", "store_value": json.dumps(value), "store_indexed": True}
        message = [{"role": "user", "content": value["text"], "id": "tea"}]
        earlier = Scope(user_id='ns:["users", "ana"]')  # a plain string, as written then
        operations.add(memory.services, message, earlier, metadata, False)
        memory.services.kv.put_many("store_namespaces", {json.dumps(["users", "ana"]): 1})
    with Memory({"path": path}, embeddings=EMBEDDINGS) as memory:
        store = MemoryStore(memory, index_fields=["text"])
        assert store.get(("users", "ana"), "tea").value == value
        assert [i.key for i in store.search(("users",), query="green tea")] == ["tea"]
        store.put(("users", "ana"), "tea", {"text": "Ana likes oolong"})
        records = memory.get_all(user_id=namespace_scope(("users", "ana")))
        assert [r.text for r in records] == ["Ana likes oolong"]


# -- values are checked before anything is written -----------------------------------------------


def nested(depth: int, make=lambda inner: {"a": inner}) -> dict:
    value: object = "leaf"
    for _ in range(depth):
        value = make(value)
    return {"a": value}


HOSTILE_VALUES = {
    "10,000 deep": nested(10_000),
    "10,000 deep list": nested(10_000, lambda inner: [inner]),
    "101 deep": nested(100),
    "bytes": {"text": "ok", "blob": b"\x00\x01"},
    "set": {"tags": {"a", "b"}},
    "object": {"when": object()},
    "nan": {"score": float("nan")},
    "infinity": {"score": float("inf")},
    "int key": {1: "one"},
    "lone surrogate": {"text": "bad \ud800 text"},
    "surrogate key": {"\udfff": "x"},
}


@pytest.mark.parametrize("name", HOSTILE_VALUES)
def test_a_value_that_is_not_json_is_refused_before_any_write(stores, name):
    ours = stores[0]
    good = PutOp(("docs",), "fine", {"text": "a fine document"})
    with pytest.raises(InvalidInputError):
        ours.batch([good, PutOp(("docs",), "bad", HOSTILE_VALUES[name])])
    assert ours.search(("docs",)) == [] and ours.list_namespaces() == []  # not even the good put of the batch


def test_values_up_to_the_depth_limit_are_stored(stores):
    deepest = nested(MAX_VALUE_DEPTH - 1)
    stores[0].put(("docs",), "deep", deepest)
    assert stores[0].get(("docs",), "deep").value == deepest


async def test_async_puts_are_checked_the_same_way(stores):
    with pytest.raises(InvalidInputError):
        await stores[0].aput(("docs",), "bad", nested(10_000))
    with pytest.raises(InvalidInputError):
        await stores[0].aput(("docs",), "bad", {"blob": b"x"})
    assert await stores[0].asearch(("docs",)) == []


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
bad_leaves = st.one_of(
    st.binary(min_size=1), st.just(float("nan")), st.sets(st.integers(), min_size=1), st.just("\ud83d")
)
maybe_bad = st.recursive(
    json_leaves | bad_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.dictionaries(st.text(max_size=5), maybe_bad, max_size=4))
def test_every_value_is_stored_whole_or_refused_whole(stores, value):
    ours = stores[0]
    ours.delete(("p",), "k")
    try:
        json.dumps(value, allow_nan=False)
        is_json = not any(0xD800 <= ord(c) <= 0xDFFF for text in _strings(value) for c in text)
    except (TypeError, ValueError):
        is_json = False
    if is_json:
        ours.put(("p",), "k", value)
        assert ours.get(("p",), "k").value == value
    else:
        with pytest.raises(InvalidInputError):
            ours.put(("p",), "k", value)
        assert ours.get(("p",), "k") is None


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield key
            yield from _strings(child)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child)


# -- either facade ---------------------------------------------------------------------------------


async def test_the_async_api_runs_natively_on_an_async_memory(tmp_path):
    memory = AsyncMemory({"path": str(tmp_path / "async")}, embeddings=EMBEDDINGS)
    reference = InMemoryStore(index={"dims": EMBEDDINGS.dimensions, "embed": EMBEDDINGS, "fields": ["text"]})
    ours = MemoryStore(memory, index_fields=["text"])
    stores = (ours, reference)
    try:
        with blockbuster_ctx():
            for store in stores:
                await store.aput(("users", "ana"), "m1", {"text": "Ana likes green tea", "stars": 5})
                await store.aput(("users", "ana"), "m2", {"text": "Ana plays the cello", "stars": 3})
                await store.aput(("users", "bob"), "m1", {"text": "Bob likes black coffee", "stars": 2})
            got = [await store.aget(("users", "ana"), "m1") for store in stores]
            assert got[0].value == got[1].value
            ranked = [await s.asearch(("users", "ana"), query="green tea", limit=1) for s in stores]
            assert [i.key for i in ranked[0]] == [i.key for i in ranked[1]] == ["m1"]
            stars = {"stars": {"$gte": 3}}
            filtered = [await store.asearch(("users",), filter=stars) for store in stores]
            assert plain(filtered[0]) == plain(filtered[1])
            assert sorted(await ours.alist_namespaces()) == sorted(await reference.alist_namespaces())
            await asyncio.gather(*(ours.aput(("race",), "k", {"text": f"version {i}"}) for i in range(10)))
            assert len(await ours.asearch(("race",))) == 1
            await ours.adelete(("users", "ana"), "m1")
            assert await ours.aget(("users", "ana"), "m1") is None
        with pytest.raises(ConfigurationError, match="AsyncMemory"):
            ours.get(("users", "ana"), "m2")
    finally:
        await memory.aclose()
