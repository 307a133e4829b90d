"""A backend written outside the package: it passes the published contract suite, a `Memory`
runs on it passed as an instance or registered by name, and the caller keeps what it passed."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping

import pytest

from langmem_plugin import AsyncMemory, ConfigurationError, Memory, MemoryConfig, Scope, StoreBusyError
from langmem_plugin.backends import backend_names, register_backend, unregister_backend
from langmem_plugin.testing import KeyValueStoreContract
from langmem_plugin.tiers import Capabilities, KeyValueStore
from langmem_plugin.tiers.graph.sqlite_backend import SQLiteGraphStore
from langmem_plugin.tiers.vector.sqlite_backend import SQLiteVectorStore

from .helpers import HashingEmbeddings

ANA = Scope(user_id="ana")


class DictKeyValueStore:
    """A key-value tier in a dict, for one process: what a user might write for tests or a cache."""

    capabilities = Capabilities()

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        self.closed = False
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, namespace: str, key: str) -> Any | None:
        return self.data.get(namespace, {}).get(key)

    def get_many(self, namespace: str, keys: Iterable[str]) -> dict[str, Any]:
        stored = self.data.get(namespace, {})
        return {key: stored[key] for key in keys if key in stored}

    def put_many(self, namespace: str, items: Mapping[str, Any], remove: Iterable[str] = ()) -> None:
        with self._guard:
            stored = self.data.setdefault(namespace, {})
            for key in remove:
                stored.pop(key, None)
            stored.update(items)

    def delete_many(self, namespace: str, keys: Iterable[str]) -> None:
        with self._guard:
            stored = self.data.get(namespace, {})
            for key in keys:
                stored.pop(key, None)

    def append(self, namespace: str, entries: Mapping[str, list[Any]]) -> None:
        with self._guard:
            stored = self.data.setdefault(namespace, {})
            for key, items in entries.items():
                merged = list(stored.get(key, []))
                for item in items:
                    if item not in merged:
                        merged.append(item)
                stored[key] = merged

    def keys(self, namespace: str, prefix: str = "") -> list[str]:
        return [key for key in self.data.get(namespace, {}) if key.startswith(prefix)]

    @contextmanager
    def lock(self, name: str, wait_seconds: float) -> Iterator[None]:
        with self._guard:
            held = self._locks.setdefault(name, threading.Lock())
        if not held.acquire(timeout=wait_seconds):
            raise StoreBusyError(f"lock {name!r} is held")
        try:
            yield
        finally:
            held.release()

    def erase_deleted(self) -> None:
        """Nothing to overwrite: deleted values are gone from the dict."""

    def clear(self) -> None:
        with self._guard:
            self.data.clear()

    def close(self) -> None:
        self.closed = True


class TestDictKeyValueStoreContract(KeyValueStoreContract):
    @pytest.fixture
    def kv(self):
        store = DictKeyValueStore()
        yield store
        store.close()


def test_a_memory_runs_on_instances_the_caller_passes_and_leaves_them_open(tmp_path):
    vector = SQLiteVectorStore(tmp_path / "own" / "vectors.sqlite3")
    graph = SQLiteGraphStore(tmp_path / "own" / "graph.sqlite3")
    kv = DictKeyValueStore()
    config = {"path": str(tmp_path / "mem")}
    with Memory(config, embeddings=HashingEmbeddings(), vector=vector, graph=graph, kv=kv) as memory:
        assert (memory.services.vector, memory.services.graph, memory.services.kv) == (vector, graph, kv)
        memory.add("I'm vegan. I live in Lisbon.", user_id="ana")
        memory.set_profile({"diet": "vegan"}, user_id="ana")
        assert {hit.memory.text for hit in memory.search("where does Ana live", user_id="ana")} >= {
            "Ana lives in Lisbon."
        }
        assert vector.count(ANA) == len(memory.get_all(user_id="ana")) > 0
        assert kv.keys("history") and kv.keys("profiles")  # the audit log and profile went to the dict
        assert memory.related(["Ana"], user_id="ana").relations  # the graph passed in holds the relations
        assert memory.delete_all(user_id="ana", purge=True) > 0
        assert vector.count(ANA) == 0 and not kv.keys("history") and not kv.keys("profiles")
    assert not kv.closed
    with Memory(config, embeddings=HashingEmbeddings(), vector=vector, graph=graph, kv=kv) as again:
        again.add("I work at Acme.", user_id="ana", infer=False)  # the instances still serve a second memory
        assert [r.text for r in again.get_all(user_id="ana")] == ["I work at Acme."]
    assert vector.count(ANA) == 1  # closing the memory left the caller's vector store open
    vector.close()
    graph.close()


async def test_an_async_memory_runs_on_a_passed_key_value_store(tmp_path):
    kv = DictKeyValueStore()
    memory = AsyncMemory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings(), kv=kv)
    try:
        await memory.add("I'm allergic to peanuts.", user_id="ana")
        assert [hit.memory.text for hit in await memory.search("allergies", user_id="ana")]
        assert kv.keys("history")
    finally:
        await memory.aclose()
    assert not kv.closed


def test_a_registered_backend_is_named_in_the_config(tmp_path):
    opened: list[DictKeyValueStore] = []

    def open_dict(config: MemoryConfig, root) -> DictKeyValueStore:
        opened.append(DictKeyValueStore())
        return opened[-1]

    register_backend("kv", "dict", open_dict)
    try:
        assert "dict" in backend_names("kv")
        with pytest.raises(ConfigurationError, match="registered already"):
            register_backend("kv", "dict", open_dict)
        with Memory(
            {"path": str(tmp_path / "mem"), "kv": {"backend": "dict"}}, embeddings=HashingEmbeddings()
        ) as memory:
            memory.add("I like jazz.", user_id="ana", infer=False)
            assert memory.services.kv is opened[0] and opened[0].keys("history")
        assert opened[0].closed  # a backend the memory opened is closed with it
    finally:
        unregister_backend("kv", "dict")
    with pytest.raises(
        ConfigurationError, match="unknown kv backend 'dict': registered backends are diskcache, redis"
    ):
        MemoryConfig.from_dict({"kv": {"backend": "dict"}})


@pytest.mark.parametrize("tier", ["vector", "graph", "kv"])
def test_an_instance_without_the_protocol_is_refused_before_anything_is_written(tmp_path, tier):
    class Incomplete:
        capabilities = Capabilities()

        def get(self, namespace, key):
            return None

    with pytest.raises(ConfigurationError, match=f"{tier}=Incomplete does not implement"):
        Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings(), **{tier: Incomplete()})
    assert not (tmp_path / "mem").exists()


def test_a_key_value_store_without_capabilities_is_refused(tmp_path):
    class Undeclared(DictKeyValueStore):
        @property
        def capabilities(self):
            raise AttributeError("capabilities")

    assert not isinstance(Undeclared(), KeyValueStore)
    with pytest.raises(ConfigurationError, match="capabilities"):
        Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings(), kv=Undeclared())
