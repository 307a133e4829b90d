"""Contract suite for the key-value tier protocol, run against every key-value backend."""

import threading

import pytest

from langmem_plugin.tiers.keyvalue import KeyValueStore

from .backends import KV_BACKENDS


@pytest.fixture(params=sorted(KV_BACKENDS))
def kv(request, tmp_path):
    store = KV_BACKENDS[request.param](tmp_path, request)
    yield store
    store.close()


def test_protocol_is_implemented(kv):
    assert isinstance(kv, KeyValueStore)


def test_put_get_delete(kv):
    kv.put_many("profiles", {"a": {"name": "Ana"}, "b": [1, 2], "c": b"\x00\x01"})
    assert kv.get("profiles", "a") == {"name": "Ana"}
    assert kv.get_many("profiles", ["a", "b", "c", "missing"]) == {"a": {"name": "Ana"}, "b": [1, 2], "c": b"\x00\x01"}
    assert kv.get("other", "a") is None
    kv.delete_many("profiles", ["a", "missing"])
    assert kv.get("profiles", "a") is None


def test_append_is_atomic_under_threads(kv):
    def writer(worker: int) -> None:
        for i in range(50):
            kv.append("history", {"log": [f"{worker}-{i}"]})

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = kv.get("history", "log")
    assert sorted(log) == sorted(f"{w}-{i}" for w in range(4) for i in range(50))


def test_keys_by_prefix(kv):
    kv.put_many("scope_memories", {"user_id=a\x1f1": 1, "user_id=a\x1f2": 1, "user_id=ab\x1f3": 1})
    assert sorted(kv.keys("scope_memories", "user_id=a\x1f")) == ["user_id=a\x1f1", "user_id=a\x1f2"]
    assert len(kv.keys("scope_memories")) == 3
    assert kv.keys("empty_namespace", "x") == []


def test_append_many_keys_and_clear(kv):
    kv.append("history", {"x": [1], "y": [2, 3]})
    kv.append("history", {"x": [4]})
    assert kv.get_many("history", ["x", "y"]) == {"x": [1, 4], "y": [2, 3]}
    kv.clear()
    assert kv.get("history", "x") is None


def test_append_skips_items_already_present(kv):
    """A journal replay may append events that were already logged: they must not repeat."""
    kv.append("history", {"x": [{"event": "ADD", "at": 1}]})
    kv.append("history", {"x": [{"event": "ADD", "at": 1}, {"event": "UPDATE", "at": 2}]})
    assert kv.get("history", "x") == [{"event": "ADD", "at": 1}, {"event": "UPDATE", "at": 2}]
