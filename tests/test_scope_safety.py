"""Scope safety through the whole Memory API, on the embedded tiers and on the server backends
(Redis key-value + Neo4j graph): colliding scope ids, complete forgetting, by-id scope checks,
bulk deletes across users."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings

from langmem_plugin import AsyncMemory, CrossUserDeleteError, Memory, MemoryNotFoundError, StoreBusyError
from langmem_plugin.cli import main
from langmem_plugin.pipeline import audit
from langmem_plugin.pipeline.audit import scope_index_prefixes
from langmem_plugin.pipeline.forget import indexed_memories
from langmem_plugin.records import Scope
from langmem_plugin.testing.inspect import stored_bytes
from langmem_plugin.testing.scopes import scopes
from langmem_plugin.tiers.sqlite_common import (
    BUSY_TIMEOUT_MS,
    open_sqlite,
    rewrite_without_deleted,
    truncate_wal,
    write_transaction,
)
from langmem_plugin.tiers.vector.sqlite_backend import scope_tokens

from .helpers import HashingEmbeddings

STACKS = ["embedded", "redis+neo4j"]


def _open(path: Path, stack: str, request, prefix: str) -> Memory:
    config: dict = {"path": str(path)}
    if stack == "redis+neo4j":
        config["kv"] = {"backend": "redis", "url": request.getfixturevalue("redis_url"), "prefix": prefix}
        config["graph"] = {"backend": "neo4j", "uri": request.getfixturevalue("neo4j_uri")}
    memory = Memory(config, embeddings=HashingEmbeddings())
    if stack == "redis+neo4j":
        memory.services.graph.reset()  # one Neo4j server for the session
    return memory


@pytest.fixture(params=STACKS)
def stack(request, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:12]}"
    memory = _open(tmp_path / "m", request.param, request, prefix)
    yield memory
    memory.close()


def say(memory: Memory, text: str, name: str, **scope) -> str:
    """Add one message with inference (so the graph gets relations); the id of the memory it made."""
    return memory.add({"role": "user", "name": name, "content": text}, **scope)[0].memory.id


# -- item 1: scope ids full of separators ------------------------------------------------------


def test_reported_profile_collision(stack):
    stack.set_profile({"secret": "victim's"}, user_id="victim", run_id="r1")
    assert stack.get_profile(run_id="r1|user_id=victim") == {}
    stack.set_profile({"secret": "intruder's"}, run_id="r1|user_id=victim")
    assert stack.get_profile(user_id="victim", run_id="r1") == {"secret": "victim's"}


def test_reported_graph_collision(stack):
    victim = say(stack, "Ana works at Acme.", "Ana", user_id="victim", run_id="r1")
    intruder = say(stack, "Ana works at Globex.", "Ana", run_id="r1|user_id=victim")
    assert {e.name for e in stack.related(["Ana"], user_id="victim", run_id="r1").entities} == {"Ana", "Acme"}
    stack.delete_all(user_id="victim", purge=True)
    hood = stack.related(["Ana"], run_id="r1|user_id=victim")
    assert [r.memory_id for r in hood.relations] == [intruder]
    assert stack.get(intruder).text == "Ana works at Globex."
    with pytest.raises(MemoryNotFoundError):
        stack.get(victim)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=scopes(), second=scopes())
def test_one_scope_never_reads_or_deletes_another(stack, first, second):
    """Scope B sees or deletes A's memory, relations, history and profile exactly when B's ids are
    a subset of A's (unspecified ids match anything); never through a collision of their keys."""
    assume(first != second)
    stack.reset()
    ids_a, ids_b = first.as_filter(), second.as_filter()
    memory_a = say(stack, "Ana works at Acme.", "Ana", **ids_a)
    stack.set_profile({"owner": "a"}, **ids_a)
    stack.set_profile({"owner": "b"}, **ids_b)
    assert stack.get_profile(**ids_b) == {"owner": "b"}
    visible = second.matches(first)
    assert any(r.id == memory_a for r in stack.get_all(**ids_b)) == visible
    if not visible:
        with pytest.raises(MemoryNotFoundError):
            stack.get(memory_a, **ids_b)
    stack.delete_all(**ids_b, purge=True, across_users=True)
    assert (stack.get_profile(**ids_a) == {}) == visible
    assert ([r.id for r in stack.get_all(**ids_a)] == []) == visible
    assert (stack.related(["Ana"], **ids_a).relations == []) == visible
    if visible:
        with pytest.raises(MemoryNotFoundError):
            stack.history(memory_a)
    else:
        assert stack.history(memory_a, **ids_a)[0].new_text == "Ana works at Acme."


# -- item 3: a purge leaves no trace in any tier -----------------------------------------------

U, U_RUN, V = "user-qv7xk", "run-qv7xk-42", "user-mw3pd"
U_WORDS = ["Quillibrand", "Zorblaxton", "Vextrapolis", "Snorkelwimp", "Plonkwhistle"]
V_WORDS = ["Frobisher", "Gnarlbury"]


def _fill(memory: Memory) -> list[str]:
    """U's memories in three nested scopes (with graph relations, an update, a deletion, profiles
    and a query) beside V's under the same agent; returns U's memory ids."""
    lives = say(memory, "I live in Zorblaxton.", "Quillibrand", user_id=U)
    works = say(memory, "I work at Vextrapolis Corp.", "Quillibrand", user_id=U, agent_id="bot7")
    secret = memory.add("Quillibrand keeps a Snorkelwimp.", user_id=U, agent_id="bot7", run_id=U_RUN, infer=False)[0].memory.id
    memory.update(lives, "Quillibrand lives in Zorblaxton Heights.", user_id=U)
    memory.delete(secret, user_id=U)
    for scope in ({"user_id": U}, {"user_id": U, "agent_id": "bot7"}, {"user_id": U, "agent_id": "bot7", "run_id": U_RUN}):
        memory.set_profile({"nickname": "Quillibrand"}, **scope)
    memory.search("Where is the Plonkwhistle?", user_id=U, agent_id="bot7")
    say(memory, "I live in Gnarlbury.", "Frobisher", user_id=V, agent_id="bot7")
    memory.set_profile({"nickname": "Frobisher"}, user_id=V, agent_id="bot7")
    return [lives, works, secret]


def _u_markers(memory_ids: list[str]) -> list[str]:
    stems = [word.lower()[:7] for word in U_WORDS]  # the FTS index holds lower-cased, stemmed words
    return [U, U_RUN, *U_WORDS, *stems, *memory_ids, *scope_tokens(Scope(user_id=U)), *scope_tokens(Scope(run_id=U_RUN))]


def _assert_v_intact(memory: Memory) -> None:
    assert memory.get_profile(user_id=V, agent_id="bot7") == {"nickname": "Frobisher"}
    hits = memory.search("Gnarlbury", user_id=V, agent_id="bot7")
    assert [h.memory.text for h in hits] == ["Frobisher lives in Gnarlbury."]
    assert memory.history(hits[0].memory.id, user_id=V)[0].new_text == "Frobisher lives in Gnarlbury."
    assert {e.name for e in memory.related(["Frobisher"], user_id=V).entities} == {"Frobisher", "Gnarlbury"}


def test_purge_leaves_no_byte_of_the_user_in_any_tier(stack):
    u_ids = _fill(stack)
    assert stack.delete_all(user_id=U, purge=True) == 2
    for scope in ({"user_id": U}, {"user_id": U, "agent_id": "bot7"}, {"user_id": U, "agent_id": "bot7", "run_id": U_RUN}):
        assert stack.get_profile(**scope) == {}
    for memory_id in u_ids:
        with pytest.raises(MemoryNotFoundError):
            stack.history(memory_id)
    _assert_v_intact(stack)
    stored = stored_bytes(stack.config)
    markers = _u_markers(u_ids)
    left = {(name, marker) for name, data in stored.items() for marker in markers if marker.encode() in data}
    assert left == set()
    everything = b"".join(stored.values())
    assert all(word.encode() in everything for word in V_WORDS)  # the scan does see stored text


def _format_1_scope_index(added: dict) -> dict:
    """The scope index as stores of format 1 hold it: one key per (scope id, memory), valued by the scope key."""
    return {prefix + memory_id: scope.key() for scope, ids in added.items() for memory_id in ids for prefix in scope_index_prefixes(scope)}


def test_purge_of_a_store_holding_both_scope_index_shapes_leaves_nothing(stack, monkeypatch):
    """Memories filed one key each by an earlier version and in runs by this one: a purge finds
    and erases both, sub-scopes included, and leaves the other user's alone."""
    with monkeypatch.context() as earlier_version:
        earlier_version.setattr(audit, "scope_index_entries", _format_1_scope_index)
        old = [op.memory.id for op in stack.add(["Quillibrand saw a Snorkelwimp.", "Zorblaxton is cold."], user_id=U, infer=False)]
        old += [op.memory.id for op in stack.add(["Plonkwhistle day."], user_id=U, agent_id="bot7", run_id=U_RUN, infer=False)]
        stack.add(["Frobisher lives in Gnarlbury."], user_id=V, agent_id="bot7", infer=False)
    new = [op.memory.id for op in stack.add(["Vextrapolis Corp hired Quillibrand.", "Snorkelwimp food."], user_id=U, agent_id="bot7", infer=False)]
    new += [op.memory.id for op in stack.add(["Zorblaxton again."], user_id=U, infer=False)]
    stack.set_profile({"nickname": "Frobisher"}, user_id=V, agent_id="bot7")
    stack.delete(old[0], user_id=U)  # deleted before the purge: found through the index alone
    under_u = scope_index_prefixes(Scope(user_id=U))[0]
    shapes = stack.services.kv.get_many("scope_memories", stack.services.kv.keys("scope_memories", under_u))
    assert {type(value) for value in shapes.values()} == {str, dict}
    assert set(indexed_memories(stack.services, Scope(user_id=U))) == set(old + new)
    assert stack.delete_all(user_id=U, purge=True) == 5
    assert indexed_memories(stack.services, Scope(user_id=U)) == {}
    assert stack.services.kv.keys("scope_memories", under_u) == []
    assert stack.search("Gnarlbury", user_id=V, agent_id="bot7")[0].memory.text == "Frobisher lives in Gnarlbury."
    stored = stored_bytes(stack.config)
    left = {(name, marker) for name, data in stored.items() for marker in _u_markers(old + new) if marker.encode() in data}
    assert left == set()
    assert b"Gnarlbury" in b"".join(stored.values())


def test_purge_survives_reopening(tmp_path, request):
    """What a purge erased stays erased for a process that opens the store afterwards."""
    with _open(tmp_path / "m", "embedded", request, "") as memory:
        u_ids = _fill(memory)
        memory.delete_all(user_id=U, purge=True)
    with _open(tmp_path / "m", "embedded", request, "") as reopened:
        _assert_v_intact(reopened)
        assert reopened.get_profile(user_id=U, agent_id="bot7") == {}
        with pytest.raises(MemoryNotFoundError):
            reopened.get(u_ids[1])


# -- by-id operations take an optional scope ---------------------------------------------------


def test_by_id_operations_check_the_scope_when_given(stack):
    memory_id = stack.add("Alice likes tea.", user_id="alice", agent_id="bot", infer=False)[0].memory.id
    with pytest.raises(MemoryNotFoundError) as missing:
        stack.get("no-such-id", user_id="bob")
    for call in (
        lambda: stack.get(memory_id, user_id="bob"),
        lambda: stack.get(memory_id, user_id="alice", run_id="r9"),
        lambda: stack.history(memory_id, user_id="bob"),
        lambda: stack.update(memory_id, "Bob was here.", user_id="bob"),
        lambda: stack.delete(memory_id, agent_id="other-bot"),
    ):
        with pytest.raises(MemoryNotFoundError) as refused:
            call()
        assert str(refused.value) == str(missing.value).replace("no-such-id", memory_id)  # never "exists elsewhere"
    assert stack.get(memory_id).text == "Alice likes tea."  # untouched by the refused calls
    assert stack.get(memory_id, agent_id="bot").text == "Alice likes tea."
    assert stack.update(memory_id, "Alice likes green tea.", user_id="alice").text == "Alice likes green tea."
    assert [e.event.value for e in stack.history(memory_id, user_id="alice", agent_id="bot")] == ["ADD", "UPDATE"]
    stack.delete(memory_id, user_id="alice")
    assert [e.event.value for e in stack.history(memory_id, user_id="alice")] == ["ADD", "UPDATE", "DELETE"]


def test_async_by_id_operations_check_the_scope(tmp_path):
    async def scenario() -> None:
        async with AsyncMemory({"path": str(tmp_path / "a")}, embeddings=HashingEmbeddings()) as memory:
            memory_id = (await memory.add("Alice likes tea.", user_id="alice", infer=False))[0].memory.id
            for call in (memory.get, memory.history, memory.delete):
                with pytest.raises(MemoryNotFoundError):
                    await call(memory_id, user_id="bob")
            with pytest.raises(MemoryNotFoundError):
                await memory.update(memory_id, "x", user_id="bob")
            assert (await memory.get(memory_id, user_id="alice")).text == "Alice likes tea."
            with pytest.raises(CrossUserDeleteError):
                await _two_users_one_agent(memory)
            assert await memory.delete_all(agent_id="bot", across_users=True) == 2

    asyncio.run(scenario())


async def _two_users_one_agent(memory: AsyncMemory) -> None:
    await memory.add("Alice likes tea.", user_id="alice", agent_id="bot", infer=False)
    await memory.add("Bob likes coffee.", user_id="bob", agent_id="bot", infer=False)
    await memory.delete_all(agent_id="bot")


# -- bulk deletes across users are explicit ----------------------------------------------------


def test_delete_all_across_users_needs_the_flag(stack):
    stack.add("Alice likes tea.", user_id="alice", agent_id="bot", infer=False)
    stack.add("Bob likes coffee.", user_id="bob", agent_id="bot", infer=False)
    stack.add("The bot speaks French.", agent_id="bot", infer=False)
    # unspecified ids match anything: the agent's search spans every user of the agent
    assert {h.memory.scope.user_id for h in stack.search("likes", agent_id="bot")} == {"alice", "bob", None}
    with pytest.raises(CrossUserDeleteError, match="3 users"):
        stack.delete_all(agent_id="bot")
    with pytest.raises(CrossUserDeleteError):
        stack.delete_all(agent_id="bot", purge=True)
    assert len(stack.get_all(agent_id="bot")) == 3  # nothing was deleted
    assert stack.delete_all(user_id="alice", agent_id="bot") == 1  # one user: no flag needed
    assert stack.delete_all(agent_id="bot", across_users=True) == 2
    assert stack.get_all(agent_id="bot") == []


def test_purge_across_users_counts_profiles_and_history(stack):
    """A purge also erases profiles and past memories' history, so those owners count too."""
    stack.set_profile({"plan": "pro"}, user_id="alice", agent_id="bot")
    memory_id = stack.add("Bob likes coffee.", user_id="bob", agent_id="bot", infer=False)[0].memory.id
    stack.delete(memory_id)
    assert stack.delete_all(agent_id="bot") == 0  # nothing live: a plain delete touches no user
    with pytest.raises(CrossUserDeleteError, match="2 users"):
        stack.delete_all(agent_id="bot", purge=True)
    stack.delete_all(agent_id="bot", purge=True, across_users=True)
    assert stack.get_profile(user_id="alice", agent_id="bot") == {}
    with pytest.raises(MemoryNotFoundError):
        stack.history(memory_id)


def test_cli_scope_checks(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LANGMEM_PATH", str(tmp_path / "cli"))
    with Memory({"path": str(tmp_path / "cli")}, embeddings=HashingEmbeddings()) as memory:
        memory_id = memory.add("Alice likes tea.", user_id="alice", agent_id="bot", infer=False)[0].memory.id
        memory.add("Bob likes coffee.", user_id="bob", agent_id="bot", infer=False)
    assert main(["--path", str(tmp_path / "cli"), "history", memory_id, "--user-id", "bob"]) == 2
    assert "no memory with id" in capsys.readouterr().err
    assert main(["--path", str(tmp_path / "cli"), "forget", "--agent-id", "bot", "--yes"]) == 2
    assert "across_users" in capsys.readouterr().err
    assert main(["--path", str(tmp_path / "cli"), "--json", "forget", "--agent-id", "bot", "--across-users", "--yes"]) == 0
    assert '"deleted": 2' in capsys.readouterr().out


@pytest.mark.parametrize("seed", [5, 6])
def test_a_rewritten_file_keeps_no_copy_of_deleted_keys_that_rebalanced_pages_held(tmp_path, seed):
    """secure_delete zeroes deleted cells, but a page rebuilt by B-tree rebalancing keeps old
    bytes in its unused space: with these seeds one deleted key survives there (the file scan
    sees it), which rewriting the file removes while every live row stays."""
    path = tmp_path / "x.sqlite3"
    conn = open_sqlite(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, owner TEXT NOT NULL)")
    rng = random.Random(seed)
    keys: dict[str, list[str]] = {"victim": [], "other": []}
    for batch in range(12):  # memory ids of two users, written in alternate batches
        owner = "victim" if batch % 2 == 0 else "other"
        batch_keys = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(500)]
        keys[owner] += batch_keys
        with write_transaction(conn):
            conn.executemany("INSERT INTO t (k, owner) VALUES (?, ?)", [(k, owner) for k in batch_keys])
    with write_transaction(conn):
        conn.execute("DELETE FROM t WHERE owner = 'victim'")
    truncate_wal(conn)
    data = path.read_bytes()
    assert any(k.encode() in data for k in keys["victim"])  # left in a rebalanced page's unused space
    rewrite_without_deleted(conn)
    data = path.read_bytes()
    assert [k for k in keys["victim"] if k.encode() in data] == []
    assert all(k.encode() in data for k in keys["other"])


def test_a_wal_that_cannot_be_emptied_is_an_error_not_a_silent_trace(tmp_path):
    """A reader outlasting the wait keeps old pages in the WAL: the purge must say so."""
    writer, reader = open_sqlite(tmp_path / "x.sqlite3"), open_sqlite(tmp_path / "x.sqlite3")
    writer.execute("CREATE TABLE t (x)")
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM t").fetchall()
    writer.execute("INSERT INTO t VALUES ('secret')")
    started = time.monotonic()
    with pytest.raises(StoreBusyError, match="write-ahead log"):
        truncate_wal(writer, wait_seconds=0.3)
    assert 0.3 <= time.monotonic() - started < 5
    # the connection's own busy timeout is restored
    assert writer.execute("PRAGMA busy_timeout").fetchone() == (BUSY_TIMEOUT_MS,)
    reader.execute("COMMIT")
    truncate_wal(writer)
    assert (tmp_path / "x.sqlite3-wal").stat().st_size == 0


def test_a_wal_busy_with_another_checkpoint_is_emptied_once_that_one_ends(tmp_path):
    """SQLite answers a checkpoint at once, without its busy timeout, while another connection
    checkpoints the same log (a writer's automatic checkpoint, another purge): it is tried again."""
    path = tmp_path / "x.sqlite3"
    writer = open_sqlite(path)
    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("INSERT INTO t VALUES ('secret')")
    # a checkpoint that holds the log: blocked by a reader, it waits in its busy handler
    reader = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM t").fetchall()
    writer.execute("INSERT INTO t VALUES ('more')")
    other.execute("PRAGMA busy_timeout = 400")
    holding = threading.Thread(target=lambda: other.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
    holding.start()
    time.sleep(0.1)
    threading.Timer(0.2, lambda: reader.execute("COMMIT")).start()
    truncate_wal(writer, wait_seconds=10)
    holding.join()
    assert path.with_name("x.sqlite3-wal").stat().st_size == 0
