"""The sweeper: `sweep()` erases expired memories as a purge erases (raw-file scan), survives a
crash, never double-erases across processes, runs in the background, and applies the retention
policy (scope kind, metadata category, maximum age) to new and existing memories."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from langmem_plugin import AsyncMemory, Memory, MemoryNotFoundError
from langmem_plugin.config import MemoryConfig, RetentionConfig
from langmem_plugin.pipeline.expiry import retained_until
from langmem_plugin.pipeline.forget import indexed_memories
from langmem_plugin.records import Scope, utc_now
from langmem_plugin.testing.inspect import stored_bytes

from .helpers import HashingEmbeddings, expire_now, processes_at_once
from .test_cli_and_config import cli

SHORT = 0.6  # seconds a memory lives in the tests that wait for it to expire
U, V = "user-sw33p", "user-k33p"
U_WORDS = ["Quillibrand", "Zorblaxton", "Vextrapolis", "Plonkwhistle"]
V_WORDS = ["Frobisher", "Gnarlbury"]


def _open(path: Path, stack: str, request, prefix: str, **config) -> Memory:
    settings_: dict = {"path": str(path), **config}
    if stack == "redis+neo4j":
        settings_["kv"] = {"backend": "redis", "url": request.getfixturevalue("redis_url"), "prefix": prefix}
        settings_["graph"] = {"backend": "neo4j", "uri": request.getfixturevalue("neo4j_uri")}
    return Memory(settings_, embeddings=HashingEmbeddings())


@pytest.fixture(params=["embedded", "redis+neo4j"])
def stack(request, tmp_path):
    memory = _open(tmp_path / "m", request.param, request, f"t{uuid.uuid4().hex[:12]}")
    if request.param == "redis+neo4j":
        memory.services.graph.reset()  # one Neo4j server for the session
    yield memory
    memory.close()


def say(memory: Memory, text: str, name: str, **scope) -> str:
    return memory.add({"role": "user", "name": name, "content": text}, **scope)[0].memory.id


def _u_markers(memory_ids: list[str]) -> list[str]:
    stems = [word.lower()[:7] for word in U_WORDS]  # the FTS index holds lower-cased, stemmed words
    return [*U_WORDS, *stems, *memory_ids]


def test_sweep_erases_expired_memories_leaving_no_byte(stack):
    said = {"role": "user", "name": "Quillibrand", "content": "I live in Zorblaxton."}
    lives = stack.add(said, user_id=U)[0].memory.id
    stack.update(lives, "Quillibrand lives in Vextrapolis.")  # the old text stays in its history
    stack.search("Where is the Plonkwhistle?", user_id=U)  # the query's embedding is cached
    kept_u = stack.add("The user owns a red bicycle.", user_id=U, infer=False)[0].memory.id
    kept_v = say(stack, "I live in Gnarlbury.", "Frobisher", user_id=V)
    assert stack.related(["Quillibrand"], user_id=U).relations  # the graph holds its relations
    expire_now(stack, lives)
    assert [r.id for r in stack.get_all(user_id=U)] == [kept_u]  # hidden before any sweep
    assert stack.sweep() == 1
    assert stack.sweep() == 0
    with pytest.raises(MemoryNotFoundError):
        stack.history(lives)
    with pytest.raises(MemoryNotFoundError):
        stack.get(lives, include_expired=True)
    assert stack.related(["Quillibrand"], user_id=U).relations == []
    assert set(indexed_memories(stack.services, Scope(user_id=U))) == {kept_u}  # the index keeps the rest
    assert stack.history(kept_u)[0].new_text == "The user owns a red bicycle."
    assert [h.memory.id for h in stack.search("Gnarlbury", user_id=V)] == [kept_v]
    stored = stored_bytes(stack.config)
    left = {(name, m) for name, data in stored.items() for m in _u_markers([lives]) if m.encode() in data}
    assert left == set()
    everything = b"".join(stored.values())
    assert all(word.encode() in everything for word in V_WORDS)  # the scan does see stored text


def test_async_sweep(tmp_path):
    async def scenario():
        async with AsyncMemory({"path": str(tmp_path / "a")}, embeddings=HashingEmbeddings()) as memory:
            await memory.add("short lived", user_id="u", infer=False, ttl=SHORT)
            await memory.add("long lived", user_id="u", infer=False)
            await asyncio.sleep(SHORT + 0.1)
            assert await memory.sweep() == 1
            assert [r.text for r in await memory.get_all(user_id="u", include_expired=True)] == ["long lived"]

    asyncio.run(scenario())


@pytest.mark.parametrize(("tier", "step"), [("graph", "delete_memory_relations"), ("kv", "erase_deleted")])
def test_a_sweep_cut_short_by_a_crash_is_finished_by_the_next_open(tmp_path, monkeypatch, tier, step):
    path = tmp_path / "crash"
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        doomed = memory.add("Zorblaxton is the secret word.", user_id=U, infer=False, ttl=SHORT)[0].memory.id
        memory.add("Gnarlbury stays.", user_id=V, infer=False)
        time.sleep(SHORT + 0.1)
        with monkeypatch.context() as crash:
            crash.setattr(getattr(memory.services, tier), step, _die)
            with pytest.raises(SystemExit):
                memory.sweep()
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        with pytest.raises(MemoryNotFoundError):
            memory.history(doomed)
        assert memory.sweep() == 0
        stored = b"".join(stored_bytes(memory.config).values())
        assert b"Zorblaxton" not in stored and b"Gnarlbury" in stored


def _die(*args) -> None:
    raise SystemExit(9)  # the process stops here, as if killed


def _sweeper(path: str, barrier, results) -> None:
    config = {"path": path, "retention": {"sweep_batch": 100}}  # batches that the processes contend for
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        barrier.wait()
        results.put(memory.sweep())


def test_processes_sweeping_one_store_erase_each_memory_once(tmp_path):
    path = str(tmp_path / "shared")
    with Memory({"path": path}, embeddings=HashingEmbeddings()) as memory:
        memory.add([f"expiring note {i}" for i in range(1200)], user_id="u", infer=False, ttl=2)
        memory.add([f"kept note {i}" for i in range(50)], user_id="u", infer=False)
        time.sleep(2.1)
    assert sum(processes_at_once(_sweeper, [(path,)] * 4)) == 1200
    with Memory({"path": path}, embeddings=HashingEmbeddings()) as memory:
        left = memory.get_all(user_id="u", limit=1000, include_expired=True)
        assert sorted(r.text for r in left) == sorted(f"kept note {i}" for i in range(50))


def test_the_background_sweeper_erases_and_stops_on_close(tmp_path):
    config = {"path": str(tmp_path / "bg"), "retention": {"sweep_interval_seconds": 0.2}}
    memory = Memory(config, embeddings=HashingEmbeddings())
    doomed = memory.add("background note", user_id="u", infer=False, ttl=SHORT)[0].memory.id
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            memory.history(doomed)
        except MemoryNotFoundError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the background sweeper did not erase the expired memory")
    assert [t.name for t in threading.enumerate()].count("langmem-sweeper") == 1
    memory.close()
    assert "langmem-sweeper" not in [t.name for t in threading.enumerate()]


# -- retention policies ---------------------------------------------------------------------------


def test_retention_sets_the_expiry_at_write_time_and_caps_a_longer_one(tmp_path):
    retention = {"run": "P7D", "metadata": {"category": {"health": 30 * 86400}}, "max_age": "P365D"}
    with Memory(
        {"path": str(tmp_path / "r"), "retention": retention}, embeddings=HashingEmbeddings()
    ) as memory:
        run = memory.add("run note", user_id="u", run_id="r1", infer=False, ttl=timedelta(days=30))[0].memory
        assert run.expires_at - run.created_at == timedelta(days=7)
        short = memory.add("short run note", user_id="u", run_id="r1", infer=False, ttl=60)[0].memory
        assert short.expires_at - short.created_at == timedelta(seconds=60)  # a sooner one stays
        health = memory.add("health note", user_id="u", infer=False, metadata={"category": "health"})[
            0
        ].memory
        assert health.expires_at - health.created_at == timedelta(days=30)
        plain = memory.add("plain note", user_id="u", infer=False)[0].memory
        assert plain.expires_at - plain.created_at == timedelta(days=365)
        assert memory.get(plain.id).expires_at == plain.expires_at
        memory.set_expiry(plain.id)  # cleared, the policy still bounds it
        assert memory.get(plain.id).expires_at - plain.created_at == timedelta(days=365)


@pytest.mark.parametrize(
    ("retention", "erased"),
    [
        ({"run": 1}, {"run note"}),
        ({"agent": 1}, {"agent note"}),
        ({"user": 1}, {"user note", "health note"}),
        ({"metadata": {"category": {"health": 1}}}, {"health note"}),
        ({"max_age": 1}, {"run note", "agent note", "user note", "health note"}),
        ({"run": "P1D"}, set()),
    ],
)
def test_the_sweeper_applies_a_new_policy_to_existing_memories(tmp_path, retention, erased):
    path = str(tmp_path / "p")
    with Memory({"path": path}, embeddings=HashingEmbeddings()) as memory:
        memory.add("run note", user_id="u", agent_id="a", run_id="r", infer=False)
        memory.add("agent note", user_id="u", agent_id="a", infer=False)
        memory.add("user note", user_id="u", infer=False)
        memory.add("health note", user_id="u", infer=False, metadata={"category": "health"})
    time.sleep(1.1)
    with Memory({"path": path, "retention": retention}, embeddings=HashingEmbeddings()) as memory:
        everything = {r.text for r in memory.get_all(user_id="u", include_expired=True)}
        assert memory.sweep() == len(erased)
        left = {r.text for r in memory.get_all(user_id="u", include_expired=True)}
        assert left == everything - erased


def test_retention_from_environment_variables(tmp_path):
    environ = {
        "LANGMEM_PATH": str(tmp_path / "env"),
        "LANGMEM_RETENTION__RUN": "P7D",
        "LANGMEM_RETENTION__METADATA__CATEGORY__HEALTH": "2592000",
        "LANGMEM_RETENTION__SWEEP_INTERVAL_SECONDS": "3600",
    }
    config = MemoryConfig.from_env(environ)
    assert config.retention.run == timedelta(days=7)
    assert config.retention.metadata == {"category": {"health": timedelta(days=30)}}
    assert config.retention.sweep_interval_seconds == 3600


PERIODS = st.none() | st.integers(min_value=1, max_value=10**8).map(lambda s: timedelta(seconds=s))


@settings(max_examples=200, deadline=None)
@given(
    user=PERIODS,
    agent=PERIODS,
    run=PERIODS,
    max_age=PERIODS,
    health=PERIODS,
    scope=st.sampled_from([Scope(user_id="u"), Scope(user_id="u", agent_id="a"), Scope(run_id="r")]),
    category=st.sampled_from(["health", "sport", None]),
    given_ttl=PERIODS,
)
def test_the_expiry_is_the_earliest_bound_that_applies(
    user, agent, run, max_age, health, scope, category, given_ttl
):
    retention = RetentionConfig(
        user=user,
        agent=agent,
        run=run,
        max_age=max_age,
        metadata={"category": {"health": health}} if health else {},
    )
    created = utc_now()
    metadata = {} if category is None else {"category": category}
    given_expiry = None if given_ttl is None else created + given_ttl
    expiry = retained_until(retention, scope, metadata, created, given_expiry)
    bounds = [{"user": user, "agent": agent, "run": run}[scope.kind], max_age]
    bounds.append(health if category == "health" else None)
    ends = [created + b for b in bounds if b is not None] + ([given_expiry] if given_expiry else [])
    assert expiry == (min(ends) if ends else None)


def test_cli_add_with_a_ttl_and_sweep(tmp_path):
    store = tmp_path / "cli"
    added = cli("add", "The gate code is 4417.", "--user-id", "ann", "--no-infer", "--ttl", "1", store=store)
    assert added.stdout.startswith("ADD")
    refused = cli(
        "add", "x", "--user-id", "ann", "--no-infer", "--expires-at", "2001-01-01", store=store, check=False
    )
    assert refused.returncode == 2 and "not in the future" in refused.stderr
    time.sleep(1.1)
    assert "4417" not in cli("list", "--user-id", "ann", store=store).stdout
    assert json.loads(cli("--json", "sweep", store=store).stdout) == {"erased": 1}
    assert "erased 0 expired memories" in cli("sweep", store=store).stdout
