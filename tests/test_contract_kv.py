"""The key-value tier's contract (langmem_plugin.testing), run against every key-value backend,
and what the built-in backends promise beyond it (locks across processes, diskcache's files)."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from langmem_plugin.errors import StoreBusyError
from langmem_plugin.testing import KeyValueStoreContract
from langmem_plugin.tiers.keyvalue import redis_backend
from langmem_plugin.tiers.keyvalue.diskcache_backend import DiskCacheKeyValueStore
from langmem_plugin.tiers.keyvalue.redis_backend import RedisKeyValueStore

from .backends import KV_BACKENDS


@pytest.fixture(params=sorted(KV_BACKENDS))
def kv(request, tmp_path):
    store = KV_BACKENDS[request.param](tmp_path, request)
    yield store
    store.close()


class TestKeyValueContract(KeyValueStoreContract):
    @pytest.fixture
    def kv(self, kv):
        return kv


def test_lock_is_kept_past_its_lease_while_held(kv, monkeypatch):
    monkeypatch.setattr(redis_backend, "LOCK_LEASE_SECONDS", 0.3)
    with kv.lock("delete_all", 1):
        time.sleep(1.0)
        with pytest.raises(StoreBusyError):
            with kv.lock("delete_all", 0.1):
                pass


LOCK_HOLDER = """
import sys, time
from langmem_plugin.tiers.keyvalue import redis_backend
from langmem_plugin.tiers.keyvalue.diskcache_backend import DiskCacheKeyValueStore

redis_backend.LOCK_LEASE_SECONDS = 1.0
kind, where, prefix = sys.argv[1:4]
if kind == "diskcache":
    kv = DiskCacheKeyValueStore(where)
else:
    kv = redis_backend.RedisKeyValueStore(where, prefix=prefix)
with kv.lock("delete_all", 10):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("kind", sorted(KV_BACKENDS))
def test_lock_of_a_process_killed_holding_it_is_released(kind, request, tmp_path):
    """On disk at once (the kernel drops the flock), on Redis when its lease (1 s here) runs out."""
    if kind == "redis":
        where, prefix = request.getfixturevalue("redis_url"), f"t{uuid.uuid4().hex[:12]}"
        kv = RedisKeyValueStore(where, prefix=prefix)
    else:
        where, prefix = str(tmp_path / "kv"), ""
        kv = DiskCacheKeyValueStore(where)
    request.addfinalizer(kv.close)
    root = Path(__file__).resolve().parent.parent
    argv = [sys.executable, "-c", LOCK_HOLDER, kind, where, prefix]
    holder = subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(StoreBusyError):
        with kv.lock("delete_all", 0.1):
            pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    started = time.monotonic()
    with kv.lock("delete_all", 30):
        assert time.monotonic() - started < 5


def _indexes(directory) -> set[str]:
    import sqlite3

    with sqlite3.connect(directory / "cache.db") as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_a_namespace_from_the_default_eviction_policy_drops_its_store_time_index_and_keeps_its_entries(
    tmp_path,
):
    """Nothing here is evicted: the store-time index that diskcache's default policy keeps on
    every insert goes, in old namespaces too, and their entries stay readable and writable."""
    import diskcache

    old = diskcache.Cache(str(tmp_path / "history"))  # as earlier versions created it
    old.set("m-old", [{"event": "ADD"}])
    old.close()
    assert "Cache_store_time" in _indexes(tmp_path / "history")
    store = DiskCacheKeyValueStore(tmp_path)
    try:
        store.append("history", {"m-old": [{"event": "UPDATE"}], "m-new": [{"event": "ADD"}]})
        assert store.get("history", "m-old") == [{"event": "ADD"}, {"event": "UPDATE"}]
        assert store.get_many("history", ["m-new"]) == {"m-new": [{"event": "ADD"}]}
        store.put_many("fresh", {"k": 1})
    finally:
        store.close()
    assert "Cache_store_time" not in _indexes(tmp_path / "history")
    assert "Cache_store_time" not in _indexes(tmp_path / "fresh")


def test_large_values_stay_in_the_database_file_and_earlier_value_files_still_read(tmp_path):
    """A value over diskcache's 32 KiB default (a batch's journal entry) is kept in SQLite,
    written and fsynced with its transaction; one that an earlier version put in a file of its
    own is still read, replaced and deleted."""
    import diskcache

    old = diskcache.Cache(str(tmp_path / "journal"))  # as earlier versions created it
    old.set("filed", {"text": "x" * 100_000})
    old.close()
    assert any(p.suffix == ".val" for p in (tmp_path / "journal").rglob("*"))
    store = DiskCacheKeyValueStore(tmp_path)
    try:
        assert store.get_many("journal", ["filed"]) == {"filed": {"text": "x" * 100_000}}
        store.put_many("journal", {"big": {"text": "y" * 100_000}}, remove=["filed"])
        store.append("history", {"m": [{"text": "z" * 100_000}]})
        assert store.get("journal", "big") == {"text": "y" * 100_000}
        assert store.get("history", "m") == [{"text": "z" * 100_000}]
    finally:
        store.close()
    assert not any(p.suffix == ".val" for p in tmp_path.rglob("*"))
