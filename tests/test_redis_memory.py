"""The whole Memory API with its key-value tier on a real Redis server (started by the fixture)."""

import uuid

import pytest

from langmem_plugin import BackendError, EventType, Memory, MemoryNotFoundError

from .helpers import HashingEmbeddings


@pytest.fixture
def redis_memory(tmp_path, redis_url):
    config = {"path": str(tmp_path / "m"), "kv": {"backend": "redis", "url": redis_url, "prefix": uuid.uuid4().hex}}
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        yield memory


def test_history_profiles_and_purge_live_in_redis(redis_memory):
    record = redis_memory.add("I drive a Toyota.", user_id="u", infer=False)[0].memory
    redis_memory.update(record.id, "I drive a Honda.")
    assert [e.event for e in redis_memory.history(record.id)] == [EventType.ADD, EventType.UPDATE]
    redis_memory.set_profile({"city": "Oslo"}, user_id="u")
    assert redis_memory.get_profile(user_id="u") == {"city": "Oslo"}
    redis_memory.delete_all(user_id="u", purge=True)
    with pytest.raises(MemoryNotFoundError):
        redis_memory.history(record.id)
    assert redis_memory.get_profile(user_id="u") == {}


def test_two_memories_share_one_redis_per_prefix(tmp_path, redis_url):
    prefix = uuid.uuid4().hex
    config = {"kv": {"backend": "redis", "url": redis_url, "prefix": prefix}}
    with Memory({**config, "path": str(tmp_path / "a")}, embeddings=HashingEmbeddings()) as first:
        first.set_profile({"plan": "pro"}, user_id="u")
    with Memory({**config, "path": str(tmp_path / "b")}, embeddings=HashingEmbeddings()) as second:
        assert second.get_profile(user_id="u") == {"plan": "pro"}  # another app server sees it
    other = {"kv": {"backend": "redis", "url": redis_url, "prefix": uuid.uuid4().hex}, "path": str(tmp_path / "c")}
    with Memory(other, embeddings=HashingEmbeddings()) as third:
        assert third.get_profile(user_id="u") == {}


def test_unreachable_redis_is_a_typed_error(tmp_path):
    with pytest.raises(BackendError, match="cannot connect to Redis at 127.0.0.1:1"):
        Memory({"path": str(tmp_path / "x"), "kv": {"backend": "redis", "url": "redis://127.0.0.1:1/0"}}, embeddings=HashingEmbeddings())
