"""Stores whose key-value tier the diskcache backend wrote open under the SQLite key-value store:
every entry reads back, their namespaces are moved in place at the first open, a crash at any
moment of the move loses nothing, and a purge afterwards leaves no byte behind."""

import json
import signal
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import diskcache
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langmem_plugin import Memory
from langmem_plugin.tiers.keyvalue import diskcache_layout
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore

from .data.make_diskcache_store import SCOPES, read_back
from langmem_plugin.testing.inspect import stored_bytes

from .helpers import HashingEmbeddings, processes_at_once

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "data" / "diskcache_store.tar.gz"
# How the diskcache backend opened its namespaces (values up to 512 MiB in the file, no eviction),
# and diskcache's defaults, as earlier versions did (values over 32 KiB in files of their own).
BACKEND_SETTINGS = {"size_limit": 2**40, "eviction_policy": "none", "disk_min_file_size": 512 * 2**20}
DEFAULT_SETTINGS: dict = {}


def _tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _value_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and p.suffix == ".val"]


def _write_diskcache(directory: Path, entries: dict, settings: dict, manifest: dict | None = None) -> None:
    """A namespace as diskcache writes it, through its public API."""
    cache = diskcache.Cache(str(directory), **settings)
    for key, value in entries.items():
        cache.set(key, value)
    if manifest is not None:
        cache.set(diskcache_layout.MANIFEST_KEY, manifest)
    cache.close()


# -- a store written by the last version with the diskcache backend (frozen fixture) ----------------


@pytest.fixture
def old_store(tmp_path) -> tuple[Path, dict]:
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / "store", json.loads((tmp_path / "expected.json").read_text())


def test_a_store_the_diskcache_backend_wrote_reads_back_whole(old_store):
    path, expected = old_store
    namespaces = sorted(p.name for p in (path / "kv").iterdir() if p.is_dir())
    assert "Cache" in _tables(path / "kv" / "history" / "cache.db")
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        assert read_back(memory) == expected
    for namespace in namespaces:  # each moved in place: only the store's own tables are left
        assert _tables(path / "kv" / namespace / "cache.db") == {"entries", "meta"}, namespace
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:  # and stays readable
        assert read_back(memory) == expected
        assert (
            memory.search("where does Ana work", user_id="ana")[0].memory.text == "Ana works at Google now."
        )


def test_a_moved_store_takes_writes_and_a_purge_leaves_nothing_of_the_user(old_store):
    path, expected = old_store
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        added = memory.add("I keep a blue kayak at the lake", user_id="ana", infer=False)[0].memory
        memory.update(added.id, "I keep a red kayak at the lake")
        assert [e.event.value for e in memory.history(added.id)] == ["ADD", "UPDATE"]
        ana = memory.get_all(user_id="ana", limit=1000, include_invalidated=True)
        assert memory.delete_all(user_id="ana", purge=True) == len(ana)
        assert (
            memory.get_all(user_id="ana", include_invalidated=True) == []
            and memory.get_profile(user_id="ana") == {}
        )
        left = {
            name
            for name, data in stored_bytes(memory.config).items()
            for word in ("Lisbon", "tomatoes", "kayak")
            if word.encode() in data
        }
        assert left == set()
        bo = SCOPES["bo_helper"]
        assert sorted(r.text for r in memory.get_all(**bo)) == expected["memories"]["bo_helper"]
        assert memory.get_profile(**bo) == expected["profiles"]["bo_helper"]
        assert any("München".encode() in data for data in stored_bytes(memory.config).values())


# -- any entries, as diskcache wrote them -----------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# keys as the store accepts them (tests/test_contract_kv.py: one with NUL is refused)
_keys = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=12
)
_values = st.one_of(_json.filter(lambda value: value is not None), st.binary(max_size=64))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.dictionaries(_keys, _values, max_size=12), layout=st.sampled_from(["backend", "default"]))
def test_any_entries_diskcache_wrote_read_back_after_the_move(entries, layout):
    large = {"events": [{"text": "x" * 40_000}]}  # a value file under diskcache's default settings
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        manifest = {"format": 2, "store_id": "s", "parts": ["kv/history"]}
        written = {**entries, "large": large}
        _write_diskcache(
            root / "history", written, BACKEND_SETTINGS if layout == "backend" else DEFAULT_SETTINGS, manifest
        )
        assert bool(_value_files(root)) == (layout == "default")
        store = SQLiteKeyValueStore(root)
        try:
            assert store.get_many("history", list(written) + ["missing"]) == written
            assert sorted(store.keys("history")) == sorted(written)
            assert store.read_manifest("history") == manifest
            store.put_many("history", {"large": [large]})  # and the moved entries take writes
            store.append("history", {"large": [{"event": "DELETE"}]})
            assert store.get("history", "large") == [large, {"event": "DELETE"}]
        finally:
            store.close()
        assert _tables(root / "history" / "cache.db") == {"entries", "meta"}
        assert _value_files(root) == [] and [p for p in (root / "history").iterdir() if p.is_dir()] == []


# -- a crash at any moment of the move ---------------------------------------------------------------

MOVER = """
import os, signal, sys
from contextlib import contextmanager
from langmem_plugin.tiers.keyvalue import diskcache_layout
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore

where, moment, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
reading = diskcache_layout.entries

def die():
    os.kill(os.getpid(), signal.SIGKILL)

@contextmanager
def dying_entries(directory):
    with reading(directory) as legacy:
        def entries():
            for n, item in enumerate(legacy):
                if n == after:
                    die()
                yield item
            die()  # every entry written, the old tables not dropped yet
        yield entries()

if moment == "reading":
    diskcache_layout.entries = dying_entries
else:
    diskcache_layout.remove_value_files = lambda directory: die()
SQLiteKeyValueStore(where).get("history", "k0")
"""

ENTRIES = {f"k{i}": [{"event": "ADD", "n": i, "text": f"memory {i}"}] for i in range(2500)} | {
    f"big{i}": {"text": str(i) * 40_000} for i in range(3)
}


@pytest.mark.parametrize(
    "moment, after",
    [("reading", 0), ("reading", 1500), ("reading", len(ENTRIES) + 1), ("removing value files", 0)],
)
def test_a_move_killed_at_any_moment_loses_nothing(tmp_path, moment, after):
    """Killed while its entries are written (before the first, after a statement's worth of them,
    after all of them) the move left the old layout whole; killed after its commit, the value
    files it had not removed yet. The next open finishes it and every entry reads back."""
    _write_diskcache(
        tmp_path / "history", ENTRIES, DEFAULT_SETTINGS, {"format": 2, "store_id": "s", "parts": []}
    )
    child = subprocess.run(
        [sys.executable, "-c", MOVER, str(tmp_path), moment, str(after)], cwd=ROOT, timeout=300
    )
    assert child.returncode == -signal.SIGKILL
    database = tmp_path / "history" / "cache.db"
    if moment == "reading":
        assert "Cache" in _tables(database)
    else:
        assert _tables(database) == {"entries", "meta"} and _value_files(tmp_path)
    store = SQLiteKeyValueStore(tmp_path)
    try:
        assert store.get_many("history", list(ENTRIES)) == ENTRIES
        assert len(store.keys("history")) == len(ENTRIES)
        assert store.read_manifest("history") == {"format": 2, "store_id": "s", "parts": []}
    finally:
        store.close()
    assert _tables(database) == {"entries", "meta"} and _value_files(tmp_path) == []


def _open_and_read(directory: str, barrier, results) -> None:
    barrier.wait()
    store = SQLiteKeyValueStore(directory)
    try:
        results.put(store.get_many("history", list(ENTRIES)) == ENTRIES)
    finally:
        store.close()


def test_processes_opening_an_old_namespace_at_once_all_read_it_whole(tmp_path):
    _write_diskcache(tmp_path / "history", ENTRIES, DEFAULT_SETTINGS)
    assert processes_at_once(_open_and_read, [(str(tmp_path),)] * 3) == [True, True, True]
    assert _tables(tmp_path / "history" / "cache.db") == {"entries", "meta"} and _value_files(tmp_path) == []
