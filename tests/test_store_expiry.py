"""MemoryStore's TTL is the memory's expiry: what LangGraph's TTL tests (test_store_ttl.py) do not
check. An item's TTL is its memory's `expires_at`; refresh on read moves it; an expired item is
gone at once and no read revives it; a put over an expired item writes a new one; the sweep
erases like a purge (no byte of the value left in the files); a bad TTL
is a typed error before anything of the batch is written; the LangGraph API server's factory
reads langgraph.json's `ttl`."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from blockbuster import blockbuster_ctx
from hypothesis import HealthCheck, given, settings, strategies as st
from langgraph.store.base import PutOp

from langmem_plugin import AsyncMemory, Memory
from langmem_plugin.errors import ConfigurationError, InvalidExpiryError
from langmem_plugin.integrations.store import (
    AsyncMemoryStore,
    MemoryStore,
    langgraph_store,
    namespace_scope,
)

from .helpers import HashingEmbeddings

EMBEDDINGS = HashingEmbeddings()
NS = ("notes", "ana")
SECRET = "the locker code is 80417"


@pytest.fixture
def memory(tmp_path):
    with Memory({"path": str(tmp_path / "memory")}, embeddings=EMBEDDINGS) as instance:
        yield instance


def records(memory: Memory, namespace=NS, **kwargs):
    return memory.get_all(user_id=namespace_scope(namespace), include_expired=True, **kwargs)


BLINK = 0.1 / 60  # a TTL of a tenth of a second, in LangGraph's minutes


def put_expired(store, key: str, value: dict) -> None:
    """Put an item whose TTL has passed by the time this returns."""
    store.put(NS, key, value, ttl=BLINK)
    time.sleep(0.2)


def test_an_item_ttl_is_its_memory_expiry(memory):
    store = MemoryStore(memory, ttl={"default_ttl": 10})
    before = datetime.now(UTC)
    store.put(NS, "short", {"text": "tea"}, ttl=1)
    store.put(NS, "default", {"text": "coffee"})
    store.put(NS, "forever", {"text": "water"}, ttl=None)
    expiry = {r.metadata["store_key"]: r.expires_at for r in records(memory)}
    assert before + timedelta(minutes=1) <= expiry["short"] <= datetime.now(UTC) + timedelta(minutes=1)
    assert before + timedelta(minutes=10) <= expiry["default"] <= datetime.now(UTC) + timedelta(minutes=10)
    assert expiry["forever"] is None
    store.put(NS, "short", {"text": "green tea"}, ttl=None)  # a put without a TTL ends the expiry
    store.put(NS, "forever", {"text": "still water"}, ttl=2)
    expiry = {r.metadata["store_key"]: r.expires_at for r in records(memory)}
    assert expiry["short"] is None and expiry["forever"] > datetime.now(UTC) + timedelta(minutes=1.9)


def test_refresh_on_read_moves_the_expiry_and_refresh_ttl_false_does_not(memory):
    store = MemoryStore(memory, ttl={"default_ttl": 1, "refresh_on_read": True})
    store.put(NS, "a", {"text": "tea"})
    first = records(memory)[0].expires_at
    time.sleep(0.05)
    store.get(NS, "a", refresh_ttl=False)
    store.search(NS, refresh_ttl=False)
    assert records(memory)[0].expires_at == first
    store.get(NS, "a")
    refreshed = records(memory)[0].expires_at
    assert refreshed > first
    time.sleep(0.05)
    store.search(NS, query="tea")
    assert records(memory)[0].expires_at > refreshed
    later = records(memory)[0].expires_at
    for config in ({"refresh_on_read": False}, {"default_ttl": 1}):  # off, or not turned on (SqliteStore)
        MemoryStore(memory, ttl=config).get(NS, "a", refresh_ttl=True)
        MemoryStore(memory, ttl=config).search(NS, refresh_ttl=True)
        assert records(memory)[0].expires_at == later


@pytest.mark.parametrize("omit_expired", [None, False, True])
def test_an_expired_item_is_gone_at_once_and_no_read_brings_it_back(memory, omit_expired):
    """The memory's expiry hides at once: an expired item is never served, as LangGraph's
    `omit_expired=True` says, and a refreshing read does not restart its TTL."""
    config = {"default_ttl": 1} if omit_expired is None else {"default_ttl": 1, "omit_expired": omit_expired}
    store = MemoryStore(memory, ttl=config)
    store.put(NS, "live", {"text": "tea too"})
    put_expired(store, "gone", {"text": "tea"})
    assert store.get(NS, "gone", refresh_ttl=True) is None
    assert [i.key for i in store.search(NS, refresh_ttl=True)] == ["live"]
    assert [i.key for i in store.search(NS, query="tea", refresh_ttl=True)] == ["live"]
    store.delete(NS, "gone")  # nothing to delete: the sweep erases it
    gone = records(memory, filters={"store_key": "gone"})[0]
    assert gone.expires_at < datetime.now(UTC)  # not refreshed back to life
    assert store.sweep_ttl() == 1
    assert records(memory, filters={"store_key": "gone"}) == []


def test_a_put_over_an_expired_item_writes_a_new_one_and_the_sweep_erases_the_old(memory):
    store = MemoryStore(memory, ttl={"default_ttl": 1})
    put_expired(store, "a", {"text": "old"})
    store.put(NS, "a", {"text": "new"})
    assert [i.value for i in store.search(NS)] == [{"text": "new"}]
    assert store.sweep_ttl() == 1
    assert [r.text for r in records(memory)] == ["new"]
    assert store.get(NS, "a").value == {"text": "new"}


def test_the_sweep_erases_the_value_from_every_file(tmp_path):
    path = tmp_path / "memory"
    with Memory({"path": str(path)}, embeddings=EMBEDDINGS) as memory:
        store = MemoryStore(memory, ttl={"default_ttl": 1})
        store.put(NS, "locker", {"text": SECRET})
        store.put(NS, "kept", {"text": "the bike is blue"}, ttl=None)
        put_expired(store, "locker", {"text": f"{SECRET}, really"})  # an update: history holds the first
        assert store.sweep_ttl() == 1
        assert store.get(NS, "locker") is None and store.get(NS, "kept") is not None
    leftovers = [p for p in path.rglob("*") if p.is_file() and b"80417" in p.read_bytes()]
    assert leftovers == []


bad_ttls = st.one_of(
    st.floats(max_value=0),
    st.floats(min_value=5e-324, max_value=1e-9),  # rounds to no time
    st.floats(min_value=1e12),  # beyond the memory's longest TTL (overflows a timedelta)
    st.just(float("nan")),
    st.just(float("inf")),
    st.text(max_size=5),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ttl=bad_ttls)
def test_a_bad_ttl_is_refused_before_anything_of_the_batch_is_written(memory, ttl):
    store = MemoryStore(memory)
    with pytest.raises(InvalidExpiryError):
        store.batch([PutOp(NS, "first", {"text": "tea"}), PutOp(NS, "second", {"text": "coffee"}, ttl=ttl)])
    assert records(memory) == []


@pytest.mark.parametrize(
    "config",
    [
        {"default_ttl": -1},
        {"default_ttl": 1e-300},
        {"default_ttl": "5"},
        {"sweep_interval_minutes": 0},
        {"refresh_on_read": "yes"},
        {"default_tll": 5},
        ["default_ttl", 5],
    ],
)
def test_a_bad_ttl_config_is_refused(memory, config):
    with pytest.raises(InvalidExpiryError):
        MemoryStore(memory, ttl=config)


def test_a_sync_store_over_an_async_memory_says_to_use_the_async_store(tmp_path):
    memory = AsyncMemory({"path": str(tmp_path / "memory")}, embeddings=EMBEDDINGS)
    try:
        with pytest.raises(ConfigurationError):
            MemoryStore(memory, ttl={"default_ttl": 1}).sweep_ttl()
    finally:
        asyncio.run(memory.aclose())


async def test_the_async_store_and_its_sweeper_never_block_the_event_loop(tmp_path):
    async with AsyncMemory({"path": str(tmp_path / "memory")}, embeddings=EMBEDDINGS) as memory:
        store = AsyncMemoryStore(memory, ttl={"default_ttl": 1 / 60, "sweep_interval_minutes": 0.5 / 60})
        with blockbuster_ctx():
            await store.start_ttl_sweeper()
            await store.aput(NS, "a", {"text": "tea"}, ttl=None)
            await store.aput(NS, "b", {"text": "coffee"}, ttl=None)
            found = await store.asearch(NS, query="tea", refresh_ttl=False)
            assert found[0].key == "a"
            await store.aput(NS, "a", {"text": "tea"})  # the default TTL starts once the search is done
            await asyncio.sleep(2)
            assert await store.aget(NS, "a") is None
            assert await store.aget(NS, "b") is not None
            assert await store.stop_ttl_sweeper(timeout=5)


async def test_the_server_factory_reads_the_ttl_of_langgraph_json(tmp_path, monkeypatch):
    monkeypatch.setenv("LANGMEM_PATH", str(tmp_path / "memory"))
    ttl = {"default_ttl": 30, "refresh_on_read": False, "sweep_interval_minutes": 1}
    monkeypatch.setenv("LANGGRAPH_STORE", json.dumps({"path": "x", "ttl": ttl}))
    async with langgraph_store() as store:
        assert store.ttl_config == ttl and store.supports_ttl
        sweeper = await store.start_ttl_sweeper()  # the one the factory started
        assert not sweeper.done()
    assert sweeper.done()
    monkeypatch.setenv("LANGGRAPH_STORE", json.dumps({"path": "x", "ttl": {"default_ttl": "soon"}}))
    with pytest.raises(InvalidExpiryError):
        async with langgraph_store():
            pass
    monkeypatch.setenv("LANGGRAPH_STORE", "{not json")
    with pytest.raises(ConfigurationError):
        async with langgraph_store():
            pass
