"""Expiry: `add(expires_at= / ttl=)`, `set_expiry`, and expired memories hidden at once from every read."""

import asyncio
import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings, strategies as st
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from langmem_plugin import AsyncMemory, Memory
from langmem_plugin.errors import InvalidExpiryError, MemoryNotFoundError
from langmem_plugin.integrations.recall import recall
from langmem_plugin.integrations.tools import create_memory_tools
from langmem_plugin.pipeline.expiry import MAX_TTL, check_expiry
from langmem_plugin.records import Scope
from langmem_plugin.tiers.vector import weaviate_backend
from langmem_plugin.transfer import export_document, plan_import, run_import

from .helpers import HashingEmbeddings, expire_now
from .test_tools import ToolCallingFake, _call
from .test_weaviate_memory import weaviate_config

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SHORT = 0.6  # seconds a memory lives in the tests that wait for it to expire


@pytest.fixture
def memory(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as opened:
        yield opened


def test_expiry_given_as_ttl_datetime_iso_or_naive_utc_is_stored_and_shown(memory):
    before = datetime.now(UTC)
    by_ttl = memory.add("ttl seconds", user_id="u", infer=False, ttl=3600)[0].memory
    by_delta = memory.add("ttl delta", user_id="u", infer=False, ttl=timedelta(days=2))[0].memory
    moment = datetime(2999, 1, 2, 3, 4, 5, tzinfo=UTC)
    by_date = memory.add("a date", user_id="u", infer=False, expires_at=moment)[0].memory
    by_iso = memory.add("an iso", user_id="u", infer=False, expires_at="2999-01-02T03:04:05+00:00")[0].memory
    naive_moment = datetime(2999, 1, 2, 3, 4, 5)  # noqa: DTZ001 - a naive datetime is read as UTC
    naive = memory.add("naive", user_id="u", infer=False, expires_at=naive_moment)[0].memory
    assert (
        before + timedelta(seconds=3600)
        <= memory.get(by_ttl.id).expires_at
        <= datetime.now(UTC) + timedelta(hours=1)
    )
    assert memory.get(by_delta.id).expires_at - memory.get(by_delta.id).created_at == timedelta(days=2)
    assert {memory.get(m.id).expires_at for m in (by_date, by_iso, naive)} == {moment}
    assert memory.get(by_date.id).to_dict()["expires_at"] == "2999-01-02T03:04:05Z"
    assert memory.add("forever", user_id="u", infer=False)[0].memory.expires_at is None


@pytest.mark.parametrize(
    "given",
    [
        {"ttl": 0},
        {"ttl": -5},
        {"ttl": float("inf")},
        {"ttl": True},
        {"ttl": "3600"},
        {"ttl": timedelta(0)},
        {"expires_at": "2001-01-01"},
        {"expires_at": "not a date"},
        {"expires_at": 4102444800},  # epoch seconds: ambiguous next to ttl seconds, refused
        {"expires_at": datetime(2999, 1, 1, tzinfo=UTC), "ttl": 60},
    ],
)
def test_bad_expiry_is_refused_before_anything_is_written(memory, given):
    with pytest.raises(InvalidExpiryError):
        memory.add("never stored", user_id="u", infer=False, **given)
    assert memory.get_all(user_id="u", include_expired=True) == []


def test_an_expired_memory_disappears_from_every_read_at_once(memory):
    doomed = memory.add("The user's locker code is 4417", user_id="u", infer=False)[0].memory
    kept = memory.add("The user's favourite colour is green", user_id="u", infer=False)[0].memory
    assert {h.memory.id for h in memory.search("locker code", user_id="u")} == {doomed.id, kept.id}
    expire_now(memory, doomed.id)
    assert [h.memory.id for h in memory.search("locker code", user_id="u")] == [kept.id]
    assert [r.id for r in memory.get_all(user_id="u")] == [kept.id]
    with pytest.raises(MemoryNotFoundError):
        memory.get(doomed.id)
    assert memory.get(doomed.id, include_expired=True).text == doomed.text
    assert doomed.id in {h.memory.id for h in memory.search("locker code", user_id="u", include_expired=True)}
    assert len(memory.get_all(user_id="u", include_expired=True)) == 2
    block = recall(
        memory, [HumanMessage("what is my locker code?")], {"user_id": "u"}, limit=5, max_tokens=500
    )
    assert block is None or "4417" not in block
    script = iter([_call("search_memory", {"query": "locker code 4417"}, "c1"), AIMessage("done")])
    agent = create_agent(ToolCallingFake(messages=script), create_memory_tools(memory))
    result = agent.invoke(
        {"messages": [HumanMessage("my locker code?")]}, config={"configurable": {"user_id": "u"}}
    )
    [found] = [m.content for m in result["messages"] if isinstance(m, ToolMessage)]
    assert "green" in found and "4417" not in found
    # the same text said again is a new memory, not a duplicate of the expired one
    again = memory.add("The user's locker code is 4417", user_id="u", infer=False)[0]
    assert again.event.value == "ADD" and memory.get(again.memory.id).expires_at is None


def test_async_facade_hides_expired_memories_too(tmp_path):
    async def scenario():
        async with AsyncMemory({"path": str(tmp_path / "a")}, embeddings=HashingEmbeddings()) as memory:
            doomed = (await memory.add("short lived fact", user_id="u", infer=False, ttl=SHORT))[0].memory
            await asyncio.sleep(SHORT + 0.1)
            assert await memory.search("short lived fact", user_id="u") == []
            assert await memory.get_all(user_id="u") == []
            with pytest.raises(MemoryNotFoundError):
                await memory.get(doomed.id)
            assert (await memory.get(doomed.id, include_expired=True)).id == doomed.id
            kept = (await memory.add("kept fact", user_id="u", infer=False))[0].memory
            assert await memory.set_expiry([kept.id], ttl=60) == [kept.id]
            assert (await memory.get(kept.id)).expires_at is not None

    asyncio.run(scenario())


def test_set_expiry_sets_clears_and_checks_every_id_first(memory):
    ids = [memory.add(f"fact number {i}", user_id="u", infer=False)[0].memory.id for i in range(3)]
    other = memory.add("someone else's", user_id="v", infer=False)[0].memory.id
    assert memory.set_expiry(ids, ttl=timedelta(hours=1), user_id="u") == ids
    assert all(memory.get(i).expires_at is not None for i in ids)
    history_before = [len(memory.history(i)) for i in ids]
    assert memory.set_expiry(ids[0]) == [ids[0]]  # neither expires_at nor ttl: never expires
    assert memory.get(ids[0]).expires_at is None
    for bad in ([ids[1], "no-such-id"], [ids[1], other]):
        with pytest.raises(MemoryNotFoundError):
            memory.set_expiry(bad, ttl=5, user_id="u")
    assert memory.get(other).expires_at is None and memory.get(ids[1]).expires_at is not None
    with pytest.raises(InvalidExpiryError):
        memory.set_expiry(ids, expires_at="1999-01-01")
    assert [len(memory.history(i)) for i in ids] == history_before  # no event: only the expiry changed
    assert memory.set_expiry([]) == []


def test_an_expired_memory_cannot_be_revived_by_set_expiry(memory):
    doomed = memory.add("gone soon", user_id="u", infer=False, ttl=SHORT)[0].memory
    time.sleep(SHORT + 0.1)
    with pytest.raises(MemoryNotFoundError):
        memory.set_expiry(doomed.id)


def test_export_and_import_carry_the_expiry(memory, tmp_path):
    moment = datetime(2999, 5, 6, tzinfo=UTC)
    memory.add("expires one day", user_id="u", infer=False, expires_at=moment)
    memory.add("stays", user_id="u", infer=False)
    document = export_document(memory, Scope(user_id="u"), include_invalidated=False)
    assert {m["memory"]: m["expires_at"] for m in document["memories"]} == {
        "expires one day": "2999-05-06T00:00:00Z",
        "stays": None,
    }
    document["memories"].append(
        {**document["memories"][0], "memory": "long gone", "expires_at": "2001-01-01T00:00:00Z"}
    )
    with Memory({"path": str(tmp_path / "copy")}, embeddings=HashingEmbeddings()) as copy:
        for item in document["memories"]:
            item.pop("user_id")
        plan = plan_import(json.loads(json.dumps(document)), 50)
        summary = run_import(copy, plan, Scope(user_id="w"), infer=False)
        assert summary.skipped_expired == 1
        assert {r.text: r.expires_at for r in copy.get_all(user_id="w")} == {
            "expires one day": moment,
            "stays": None,
        }


@settings(max_examples=300, deadline=None)
@given(
    expires_at=st.none()
    | st.datetimes(timezones=st.none() | st.just(UTC))
    | st.text(max_size=40)
    | st.integers()
    | st.floats(),
    ttl=st.none()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.timedeltas()
    | st.text(max_size=5)
    | st.booleans(),
)
def test_any_expiry_input_gives_a_future_moment_or_a_typed_error(expires_at, ttl):
    try:
        moment = check_expiry(expires_at, ttl, NOW)
    except InvalidExpiryError:
        return
    if expires_at is None and ttl is None:
        assert moment is None
        return
    assert moment is not None and moment.tzinfo is not None and moment > NOW
    assert (expires_at is None) != (ttl is None)
    if ttl is not None:
        assert moment - NOW <= MAX_TTL


@pytest.mark.parametrize("multi_tenancy", [False, True], ids=["filtered", "tenants"])
def test_weaviate_stores_expiry_and_hides_expired_memories(tmp_path, weaviate_node, multi_tenancy):
    config = weaviate_config(tmp_path, weaviate_node, multi_tenancy=multi_tenancy)
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        doomed = memory.add("temporary door code 9931", user_id="ana", infer=False, ttl=3600)[0].memory
        kept = memory.add("permanent door colour red", user_id="ana", infer=False)[0].memory
        assert memory.get(doomed.id).expires_at == doomed.expires_at
        assert memory.set_expiry([kept.id], ttl=3600) == [kept.id]
        expire_now(memory, doomed.id)
        assert [h.memory.id for h in memory.search("door code", user_id="ana")] == [kept.id]
        assert [r.id for r in memory.get_all(user_id="ana")] == [kept.id]
        assert memory.get(kept.id).expires_at is not None
        assert len(memory.get_all(user_id="ana", include_expired=True)) == 2
        assert memory.sweep() == 1
        assert [r.id for r in memory.get_all(user_id="ana", include_expired=True)] == [kept.id]
        with pytest.raises(MemoryNotFoundError):
            memory.history(doomed.id)


@pytest.mark.parametrize("multi_tenancy", [False, True], ids=["filtered", "tenants"])
def test_a_weaviate_collection_from_before_expiry_keeps_serving_its_memories(
    tmp_path, weaviate_node, multi_tenancy, monkeypatch
):
    """A collection created without the `expires_at` property gains it, set to never on every object."""
    config = weaviate_config(tmp_path, weaviate_node, multi_tenancy=multi_tenancy)
    with monkeypatch.context() as old_schema:
        old_schema.setattr(
            weaviate_backend, "NUMBER_PROPERTIES", ("created_at", "updated_at", "valid_from", "valid_to")
        )
        original = weaviate_backend.to_properties
        old_schema.setattr(
            weaviate_backend,
            "to_properties",
            lambda r: {k: v for k, v in original(r).items() if k != "expires_at"},
        )
        old_schema.setattr(weaviate_backend.WeaviateVectorStore, "_add_expiry_property", lambda self: None)
        with Memory(config, embeddings=HashingEmbeddings()) as before:
            old = before.add("written before expiry existed", user_id="ana", infer=False)[0].memory
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        assert [r.id for r in memory.get_all(user_id="ana")] == [old.id]
        assert [h.memory.id for h in memory.search("written before", user_id="ana")] == [old.id]
        assert memory.get(old.id).expires_at is None


def test_a_sqlite_store_from_before_expiry_gains_the_column_and_keeps_its_memories(tmp_path):
    path = tmp_path / "old"
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        old = memory.add("written before expiry existed", user_id="ana", infer=False)[0].memory
    files = [f for f in path.iterdir() if f.suffix == ".sqlite3" and "vector" in f.name]
    with sqlite3.connect(files[0]) as conn:  # the schema as it was: no expiry column, no index
        conn.execute("DROP INDEX memories_expiry")
        conn.execute("ALTER TABLE memories DROP COLUMN expires_at")
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        assert [h.memory.id for h in memory.search("written before", user_id="ana")] == [old.id]
        assert memory.set_expiry(old.id, ttl=60) == [old.id]
        assert memory.get(old.id).expires_at is not None
