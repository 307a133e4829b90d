"""A store whose tiers disagree (a file truncated, deleted or swapped) refuses to open instead
of serving an empty tier next to surviving history and profiles."""

import shutil
import sqlite3
import uuid
from contextlib import closing

import pytest

from langmem_plugin import EventType, Memory
from langmem_plugin.errors import ConfigurationError, StoreCorruptedError
from langmem_plugin.manifest import FORMAT_VERSION, _parts

from .helpers import HashingEmbeddings

PARTS = ["vectors.sqlite3", "graph.sqlite3", "kv/history/cache.db", "kv/scope_memories/cache.db", "kv/profiles/cache.db"]


def _open(path, **config) -> Memory:
    return Memory({"path": str(path), **config}, embeddings=HashingEmbeddings())


def _fill(path, **config) -> str:
    with _open(path, **config) as memory:
        memory.set_profile({"city": "Oslo"}, user_id="u")
        return memory.add("I keep bees in the garden", user_id="u", infer=False)[0].memory.id


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_a_tier_that_lost_its_file_is_detected(tmp_path, part, damage):
    path = tmp_path / "m"
    _fill(path)
    target = path / part
    assert target.exists()
    if damage == "truncate":
        target.write_bytes(b"")
    else:
        target.unlink()
    with pytest.raises(StoreCorruptedError, match=part.replace(".", r"\.").split("/cache")[0]):
        _open(path)


def test_a_tier_file_from_another_store_is_detected(tmp_path):
    _fill(tmp_path / "a")
    _fill(tmp_path / "b")
    shutil.copy(tmp_path / "b" / "vectors.sqlite3", tmp_path / "a" / "vectors.sqlite3")
    with pytest.raises(StoreCorruptedError, match="different stores"):
        _open(tmp_path / "a")


def test_healthy_store_reopens_and_reset_keeps_it_consistent(tmp_path):
    path = tmp_path / "m"
    memory_id = _fill(path)
    with _open(path) as memory:
        assert [e.event for e in memory.history(memory_id)] == [EventType.ADD]
        memory.reset()
    with _open(path) as memory:
        assert memory.get_all(user_id="u") == []
        memory.add("a fresh start", user_id="u", infer=False)
    with _open(path) as memory:
        assert len(memory.get_all(user_id="u")) == 1


def test_graph_enabled_later_joins_the_store(tmp_path):
    path = tmp_path / "m"
    _fill(path, graph={"enabled": False})
    assert not (path / "graph.sqlite3").exists()
    _fill(path)  # the graph tier appears: it is new, not lost
    (path / "graph.sqlite3").write_bytes(b"")
    with pytest.raises(StoreCorruptedError, match="graph"):
        _open(path)


def test_store_from_before_manifests_is_adopted(tmp_path):
    path = tmp_path / "m"
    memory_id = _fill(path)
    for database in ("vectors.sqlite3", "graph.sqlite3"):  # drop every manifest, as an older version wrote none
        with closing(sqlite3.connect(path / database)) as conn, conn:
            conn.execute("DELETE FROM meta WHERE key = 'manifest'")
    for namespace in ("history", "scope_memories", "profiles"):
        with closing(sqlite3.connect(path / "kv" / namespace / "cache.db")) as conn, conn:
            conn.execute("DELETE FROM meta WHERE key = 'manifest'")

    with _open(path) as memory:
        assert memory.get(memory_id).text == "I keep bees in the garden"
    (path / "vectors.sqlite3").write_bytes(b"")
    with pytest.raises(StoreCorruptedError, match="vectors"):
        _open(path)


def test_with_redis_the_local_tiers_still_check_each_other(tmp_path, redis_url):
    redis = {"kv": {"backend": "redis", "url": redis_url, "prefix": uuid.uuid4().hex}}
    path = tmp_path / "m"
    _fill(path, **redis)
    (path / "vectors.sqlite3").write_bytes(b"")
    with pytest.raises(StoreCorruptedError, match="vectors"):
        _open(path, **redis)
    # another memory directory on the same Redis prefix is a store of its own, not a damaged one
    _fill(tmp_path / "other", **redis)


def _manifests(memory: Memory) -> list[dict]:
    return [part.read() for part in _parts(memory.services).values()]


def test_a_format_1_store_is_restamped_and_a_newer_format_is_refused(tmp_path):
    """Format 2 files the scope index in runs, which format-1 readers would skip on purge: opening
    a format-1 store restamps every part (its entries stay valid), so those readers refuse it."""
    path = tmp_path / "m"
    memory_id = _fill(path)
    with _open(path) as memory:  # as an earlier version left it
        for part in _parts(memory.services).values():
            part.set({**part.read(), "format": 1})
    with _open(path) as memory:
        assert {m["format"] for m in _manifests(memory)} == {FORMAT_VERSION} == {2}
        assert [e.event for e in memory.history(memory_id)] == [EventType.ADD]
        for part in _parts(memory.services).values():
            part.set({**part.read(), "format": FORMAT_VERSION + 1})
    with pytest.raises(ConfigurationError, match="upgrade langmem-plugin"):
        _open(path)
