"""The key-value tier's contract (langmem_plugin.testing), run against every key-value backend,
and what the built-in backends promise beyond it (locks across processes)."""

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
from langmem_plugin.tiers.keyvalue.redis_backend import RedisKeyValueStore
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore

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

    def refuses_key(self, kv, key: str) -> bool:
        # the embedded store's batch reads could not find a key holding NUL: it refuses one
        backend = getattr(kv, "inner", kv)  # an encrypting tier stores through its backend
        return isinstance(backend, SQLiteKeyValueStore) and "\x00" in key


def test_lock_is_kept_past_its_lease_while_held(kv, monkeypatch):
    monkeypatch.setattr(redis_backend, "LOCK_LEASE_SECONDS", 0.3)
    with kv.lock("delete_all", 1):
        time.sleep(1.0)
        with pytest.raises(StoreBusyError), kv.lock("delete_all", 0.1):
            pass


def test_a_redis_lock_whose_lease_ran_out_is_left_without_an_error(tmp_path, request):
    """The lease ran out while the holder could not reach Redis: leaving the block finds nothing
    to release, which is no error, and the lock is free."""
    kv = KV_BACKENDS["redis"](tmp_path, request)
    try:
        with kv.lock("delete_all", 1):
            kv._client.delete(kv._key("locks", "delete_all"))
        with kv.lock("delete_all", 0.1):
            pass
    finally:
        kv.close()


LOCK_HOLDER = """
import sys, time
from langmem_plugin.tiers.keyvalue import redis_backend
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore

redis_backend.LOCK_LEASE_SECONDS = 1.0
kind, where, prefix = sys.argv[1:4]
if kind == "sqlite":
    kv = SQLiteKeyValueStore(where)
else:
    kv = redis_backend.RedisKeyValueStore(where, prefix=prefix)
with kv.lock("delete_all", 10):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_lock_of_a_process_killed_holding_it_is_released(kind, request, tmp_path):
    """On disk at once (the kernel drops the flock), on Redis when its lease (1 s here) runs out."""
    if kind == "redis":
        where, prefix = request.getfixturevalue("redis_url"), f"t{uuid.uuid4().hex[:12]}"
        kv = RedisKeyValueStore(where, prefix=prefix)
    else:
        where, prefix = str(tmp_path / "kv"), ""
        kv = SQLiteKeyValueStore(where)
    request.addfinalizer(kv.close)
    root = Path(__file__).resolve().parent.parent
    argv = [sys.executable, "-c", LOCK_HOLDER, kind, where, prefix]
    holder = subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(StoreBusyError), kv.lock("delete_all", 0.1):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    started = time.monotonic()
    with kv.lock("delete_all", 30):
        assert time.monotonic() - started < 5
