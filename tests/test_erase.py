"""Retire vs erase: `delete(id, purge=True)` erases one memory (no byte left), through the facade
(sync and async), the CLI (`delete --purge`, `forget`, both confirmed unless --yes), REST and MCP."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from langmem_plugin import AsyncMemory, Memory, MemoryNotFoundError
from langmem_plugin.pipeline.forget import indexed_memories
from langmem_plugin.records import Scope
from langmem_plugin.testing.inspect import stored_bytes

from .helpers import HashingEmbeddings
from .serving import bearer, make_key, mcp_session
from .test_cli_and_config import cli

SECRET = ["Xylophragm", "Quorbelline"]


def _open(path, stack: str, request) -> Memory:
    config: dict = {"path": str(path)}
    if stack == "redis+neo4j":
        prefix = f"t{uuid.uuid4().hex[:12]}"
        config["kv"] = {"backend": "redis", "url": request.getfixturevalue("redis_url"), "prefix": prefix}
        config["graph"] = {"backend": "neo4j", "uri": request.getfixturevalue("neo4j_uri")}
    memory = Memory(config, embeddings=HashingEmbeddings())
    if stack == "redis+neo4j":
        memory.services.graph.reset()
    return memory


@pytest.fixture(params=["embedded", "redis+neo4j"])
def stack(request, tmp_path):
    memory = _open(tmp_path / "m", request.param, request)
    yield memory
    memory.close()


def _left(memory: Memory, markers: list[str]) -> set[tuple[str, str]]:
    stored = stored_bytes(memory.config)
    return {(name, m) for name, data in stored.items() for m in markers if m.encode() in data}


def test_delete_with_purge_erases_one_memory_and_leaves_the_rest(stack):
    said = {"role": "user", "name": "Xylophragm", "content": "My password is in Quorbelline."}
    doomed = stack.add(said, user_id="ann")[0].memory
    stack.update(doomed.id, "Xylophragm keeps the password in Quorbelline Vault.")
    kept = stack.add("Ann likes green tea.", user_id="ann", infer=False)[0].memory
    stack.search("Where is Xylophragm's password?", user_id="ann")
    assert stack.related(["Xylophragm"], user_id="ann").relations
    erased = stack.delete(doomed.id, user_id="ann", purge=True)
    assert erased.id == doomed.id and "Quorbelline" in erased.text
    for read in (stack.get, stack.history):
        with pytest.raises(MemoryNotFoundError):
            read(doomed.id)
    assert stack.related(["Xylophragm"], user_id="ann").relations == []
    assert [r.id for r in stack.get_all(user_id="ann")] == [kept.id]
    assert set(indexed_memories(stack.services, Scope(user_id="ann"))) == {kept.id}
    assert _left(stack, [*SECRET, doomed.id]) == set()
    assert b"green tea" in b"".join(stored_bytes(stack.config).values())


def test_a_plain_delete_retires_and_a_later_purge_erases_its_history(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        memory_id = memory.add("The alarm code is Xylophragm.", user_id="ann", infer=False)[0].memory.id
        memory.delete(memory_id)
        assert memory.history(memory_id)[-1].event.value == "DELETE"  # retired: the text stays
        assert b"Xylophragm" in b"".join(stored_bytes(memory.config).values())
        erased = memory.delete(memory_id, purge=True)
        assert erased.text == "The alarm code is Xylophragm."
        with pytest.raises(MemoryNotFoundError):
            memory.history(memory_id)
        assert _left(memory, ["Xylophragm", memory_id]) == set()
        with pytest.raises(MemoryNotFoundError):
            memory.delete(memory_id, purge=True)


def test_purge_by_description_and_the_scope_check(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        mine = memory.add("The locker code is Quorbelline 4417.", user_id="ann", infer=False)[0].memory
        theirs = memory.add("Bob's locker code is 9931.", user_id="bob", infer=False)[0].memory
        with pytest.raises(MemoryNotFoundError):
            memory.delete(theirs.id, user_id="ann", purge=True)
        assert [r.id for r in memory.delete("the Quorbelline locker code", user_id="ann", purge=True)] == [
            mine.id
        ]
        with pytest.raises(MemoryNotFoundError):
            memory.history(mine.id)
        assert memory.history(theirs.id)[0].new_text == "Bob's locker code is 9931."
        with pytest.raises(ValueError):
            memory.delete(theirs.id, purge="yes")


def test_async_delete_with_purge(tmp_path):
    async def scenario():
        async with AsyncMemory({"path": str(tmp_path / "a")}, embeddings=HashingEmbeddings()) as memory:
            memory_id = (await memory.add("Quorbelline secret", user_id="ann", infer=False))[0].memory.id
            await memory.delete(memory_id, purge=True)
            with pytest.raises(MemoryNotFoundError):
                await memory.history(memory_id)

    asyncio.run(scenario())


# -- the command line ---------------------------------------------------------------------------


def _seed(store) -> str:
    with Memory({"path": str(store)}, embeddings=HashingEmbeddings()) as memory:
        memory.add("Ann's bike is a red Gazelle from 2015.", user_id="ann", infer=False)
        return memory.add("Ann's safe code is Xylophragm.", user_id="ann", infer=False)[0].memory.id


def _texts(store) -> list[str]:
    with Memory({"path": str(store)}, embeddings=HashingEmbeddings()) as memory:
        return sorted(r.text for r in memory.get_all(user_id="ann"))


def test_cli_forget_asks_first_and_erases_only_on_yes(tmp_path):
    store = tmp_path / "cli"
    _seed(store)
    declined = cli("forget", "--user-id", "ann", store=store, stdin="n\n", check=False)
    assert declined.returncode == 2 and "not confirmed" in declined.stderr
    assert "erase every memory, history and profile of user_id='ann'" in declined.stderr
    assert len(_texts(store)) == 2
    silent = cli("forget", "--user-id", "ann", store=store, stdin="", check=False)  # no answer: no
    assert silent.returncode == 2 and len(_texts(store)) == 2
    confirmed = cli("forget", "--user-id", "ann", store=store, stdin="y\n")
    assert "forgot 2 memories" in confirmed.stdout and _texts(store) == []
    _seed(store)
    assert "forgot 2 memories" in cli("forget", "--user-id", "ann", "--yes", store=store, stdin="").stdout


def test_cli_delete_purge_asks_first_and_erases_one_memory(tmp_path):
    store = tmp_path / "cli"
    memory_id = _seed(store)
    declined = cli("delete", memory_id, "--purge", store=store, stdin="no\n", check=False)
    assert declined.returncode == 2 and len(_texts(store)) == 2
    erased = cli("delete", memory_id, "--purge", store=store, stdin="yes\n")
    assert erased.stdout.startswith("ERASE")
    assert _texts(store) == ["Ann's bike is a red Gazelle from 2015."]
    history = cli("history", memory_id, store=store, check=False)
    assert history.returncode == 2 and "no memory with id" in history.stderr
    with Memory({"path": str(store)}, embeddings=HashingEmbeddings()) as memory:
        assert b"Xylophragm" not in b"".join(stored_bytes(memory.config).values())


# -- the server ---------------------------------------------------------------------------------


def test_rest_delete_with_purge_needs_the_forget_right_and_erases(fast_memory, served):
    writer = make_key(fast_memory, "ann-writer", "read,write", user_id="ann")
    admin = make_key(fast_memory, "ann-admin", "read,write,forget", user_id="ann")
    memory_id = fast_memory.add("Ann's word is Quorbelline.", user_id="ann", infer=False)[0].memory.id
    with httpx.Client(base_url=served, headers=bearer(writer), timeout=60) as api:
        refused = api.delete(f"/v1/memories/{memory_id}", params={"purge": "true"})
        assert refused.status_code == 403, refused.text
    assert fast_memory.get(memory_id).text == "Ann's word is Quorbelline."
    with httpx.Client(base_url=served, headers=bearer(admin), timeout=60) as api:
        erased = api.delete(f"/v1/memories/{memory_id}", params={"purge": "true"})
        assert erased.status_code == 200, erased.text
        assert erased.json()["id"] == memory_id and erased.json()["purged"] is True
        assert api.get(f"/v1/memories/{memory_id}/history").status_code == 404
    with pytest.raises(MemoryNotFoundError):
        fast_memory.history(memory_id)


async def test_mcp_delete_memory_with_purge_erases(fast_memory, served):
    key = make_key(fast_memory, "ann-app", "read,write,forget", user_id="ann")
    memory_id = fast_memory.add("Ann's word is Quorbelline.", user_id="ann", infer=False)[0].memory.id
    async with mcp_session(served, key) as mcp:
        result = await mcp.call_tool("delete_memory", {"memory_id": memory_id, "purge": True})
        assert not result.isError, result.content
    with pytest.raises(MemoryNotFoundError):
        fast_memory.history(memory_id)
