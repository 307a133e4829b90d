"""Servers that die mid-stream and come back: Redis (key-value tier), Neo4j (graph), Weaviate (vector).

While a server is down, every public operation of `Memory` and `AsyncMemory` either answers (it
does not need that server) or raises `BackendError` naming the server and its address, and
opening a `Memory` raises the same. When the server is back on its address (same data), the same
`Memory` objects work again without being reopened. A writer keeps adding throughout and, like a
client, retries an add that failed with the same arguments until it is stored: every add ends up
stored exactly once, with one history event and (Neo4j) its graph relations once. A kill at a
precise point inside an add, after part of its write is stored, is retried the same way.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest

from langmem_plugin import AsyncMemory, BackendError, EventType, Memory
from langmem_plugin.pipeline import audit
from langmem_plugin.pipeline.audit import journal_keys
from langmem_plugin.records import Scope
from langmem_plugin.tiers.graph.neo4j_backend import Neo4jGraphStore
from langmem_plugin.tiers.vector import weaviate_backend

from .helpers import HashingEmbeddings
from .servers import Neo4jServer, RedisServer, WeaviateNode, start_weaviate

NAMES = ["Rui", "Ines", "Tiago", "Marta", "Joana"]
TOWNS = ["Porto", "Braga", "Faro", "Evora", "Coimbra", "Sintra"]
WRITES = 24
KILL_AFTER = 6


def said(i: int) -> str:
    return f"I met {NAMES[i % 5]} in {TOWNS[i % 6]} on day {i}."


def remembered(i: int) -> str:
    """The text of add number i once stored: every third is inferred by the offline manager."""
    return f"Ana met {NAMES[i % 5]} in {TOWNS[i % 6]} on day {i}." if i % 3 == 0 else f"Delivery note {i}: parcel {i} reached depot {i % 4}."


def add_number(memory: Memory, i: int):
    if i % 3 == 0:
        return memory.add({"role": "user", "name": "Ana", "content": said(i)}, user_id="ana")
    return memory.add(f"Delivery note {i}: parcel {i} reached depot {i % 4}.", user_id="ana", infer=False)


class Writer(threading.Thread):
    """Adds `WRITES` statements one by one and retries each add that raised BackendError, with the
    same arguments, until it is stored. Any other error stops it and is kept in `unexpected`."""

    def __init__(self, memory: Memory):
        super().__init__(daemon=True)
        self.memory = memory
        self.acknowledged = 0
        self.failures: list[str] = []
        self.unexpected: list[BaseException] = []

    def run(self) -> None:
        for i in range(WRITES):
            while True:
                try:
                    add_number(self.memory, i)
                    break
                except BackendError as exc:
                    self.failures.append(str(exc))
                    time.sleep(0.05)
                except BaseException as exc:  # noqa: BLE001 - reported by the test
                    self.unexpected.append(exc)
                    return
            self.acknowledged += 1

    def wait_for(self, count: int, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while self.acknowledged < count and not self.unexpected:
            assert time.monotonic() < deadline, f"the writer acknowledged {self.acknowledged} adds in {seconds}s"
            time.sleep(0.02)
        assert not self.unexpected, self.unexpected


VICTIMS = ("get", "update", "delete", "history")  # operations on a memory of their own


def operations(victims: dict[str, str], doomed: str, probe: str) -> dict[str, Callable[[Any], Any]]:
    """Every public operation, each on data of its own (some change it when half their tiers work)."""
    return {
        "add": lambda m: m.add("I keep bees", user_id=probe, infer=False),
        "add(infer=True)": lambda m: m.add("I keep bees in Leiria", user_id=probe),
        "search": lambda m: m.search("parcel depot", user_id="keeper"),
        "get": lambda m: m.get(victims["get"]),
        "get_all": lambda m: m.get_all(user_id="keeper"),
        "update": lambda m: m.update(victims["update"], "I keep wasps now"),
        "delete": lambda m: m.delete(victims["delete"]),
        "delete_all": lambda m: m.delete_all(user_id=doomed),
        "history": lambda m: m.history(victims["history"]),
        "related": lambda m: m.related(["Ana"], user_id="keeper"),
        "get_profile": lambda m: m.get_profile(user_id="keeper"),
        "set_profile": lambda m: m.set_profile({"plan": "pro"}, user_id=probe),
    }


def outcome(facade, operation: Callable[[Any], Any], address: str) -> str:
    """'ok', or 'BackendError' naming the server and its address; anything else propagates."""
    try:
        result = operation(facade)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
        return "ok"
    except BackendError as exc:
        assert address in str(exc), str(exc)
        return "BackendError"


def seed(memory: Memory) -> dict[str, tuple[dict[str, str], str, str]]:
    """Data for the operations of each facade: a keeper user, victim memories, a doomed user and a
    probe user to add to (each facade its own: a fact the other added would be a NOOP)."""
    memory.add("Parcel 900 reached depot 1.", user_id="keeper", infer=False)
    memory.add({"role": "user", "name": "Ana", "content": "I met Rui in Porto."}, user_id="keeper")
    memory.set_profile({"city": "Porto"}, user_id="keeper")
    targets = {}
    for facade in ("sync", "async"):
        texts = [f"The {facade} {name} victim keeps bees" for name in VICTIMS]
        victims = {name: op.memory.id for name, op in zip(VICTIMS, memory.add(texts, user_id="victims", infer=False))}
        doomed = f"doomed-{facade}"
        memory.add(f"{facade} data to delete", user_id=doomed, infer=False)
        targets[facade] = (victims, doomed, f"probe-{facade}")
    return targets


def check_down(memory: Memory, async_memory: AsyncMemory, targets, open_config: dict, address: str, needs_server: set[str]) -> None:
    """Every operation of both facades at once (a client library may retry for a minute before
    it gives up), then opening a Memory."""
    calls = {
        (facade, name): operation
        for facade, instance in (("sync", memory), ("async", async_memory))
        for name, operation in operations(*targets[facade]).items()
    }
    instances = {"sync": memory, "async": async_memory}
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {key: pool.submit(outcome, instances[key[0]], operation, address) for key, operation in calls.items()}
        found = {key: future.result() for key, future in futures.items()}
    expected = {key: "BackendError" if key[1] in needs_server else "ok" for key in calls}
    assert found == expected
    with pytest.raises(BackendError, match=address):
        Memory(open_config, embeddings=HashingEmbeddings())


def check_each_add_stored_once(memory: Memory, relations: bool) -> None:
    records = memory.get_all(user_id="ana", limit=1000)
    assert sorted(r.text for r in records) == sorted(remembered(i) for i in range(WRITES))
    for record in records:
        assert [e.event for e in memory.history(record.id)] == [EventType.ADD], record.text
    if relations:
        hood = memory.related(["Ana"], user_id="ana")
        per_memory = Counter(r.memory_id for r in hood.relations)
        inferred = {r.id for r in records if r.text.startswith("Ana met")}
        assert set(per_memory) == inferred and set(per_memory.values()) == {2}  # MET person, MET_..._IN town


def check_works_again(memory: Memory, async_memory: AsyncMemory) -> None:
    record = memory.add("Parcel 901 reached depot 2.", user_id="keeper", infer=False)[0].memory
    assert memory.search("parcel 901", user_id="keeper")[0].memory.id == record.id
    assert [e.event for e in memory.history(record.id)] == [EventType.ADD]
    assert memory.get_profile(user_id="keeper") == {"city": "Porto"}
    assert memory.related(["Ana"], user_id="keeper").relations
    hits = asyncio.run(async_memory.search("parcel 900", user_id="keeper"))
    assert hits[0].memory.text == "Parcel 900 reached depot 1."


def run_down_mid_stream(config: dict, server, address: str, needs_server: set[str], *, relations: bool) -> list[str]:
    """Writer running, server killed after KILL_AFTER adds, every operation checked while it is
    down, server restarted, writer finished; returns the writer's failures."""
    memory = Memory(config, embeddings=HashingEmbeddings())
    async_memory = AsyncMemory(config, embeddings=HashingEmbeddings())
    try:
        targets = seed(memory)
        writer = Writer(memory)
        writer.start()
        writer.wait_for(KILL_AFTER)
        server.kill()
        check_down(memory, async_memory, targets, {**config, "path": config["path"] + "-other"}, address, needs_server)
        server.start()
        writer.wait_for(WRITES, seconds=300)
        writer.join(timeout=30)
        check_works_again(memory, async_memory)
        check_each_add_stored_once(memory, relations)
        return writer.failures
    finally:
        asyncio.run(async_memory.aclose())
        memory.close()


def reopened_without_journal(config: dict, monkeypatch) -> Memory:
    """The store reopened with every journal entry settled (no other writer is at work)."""
    monkeypatch.setattr(audit, "IN_FLIGHT_SECONDS", 0.0)
    memory = Memory(config, embeddings=HashingEmbeddings())
    assert journal_keys(memory.services) == []
    return memory


# -- Redis ----------------------------------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis", persistent=True)
    server.directory.mkdir()
    server.start()
    yield server
    server.stop()


def redis_config(tmp_path, server: RedisServer) -> dict:
    return {"path": str(tmp_path / "m"), "kv": {"backend": "redis", "url": server.url, "prefix": uuid.uuid4().hex}}


def test_redis_down_mid_stream(tmp_path, redis_server):
    needs_redis = {"add", "add(infer=True)", "search", "update", "delete", "delete_all", "history", "get_profile", "set_profile"}
    failures = run_down_mid_stream(
        redis_config(tmp_path, redis_server), redis_server, f"Redis at 127.0.0.1:{redis_server.port}", needs_redis, relations=True
    )
    assert failures  # the writer met the dead server


def test_redis_killed_between_the_vector_write_and_the_history(tmp_path, redis_server, monkeypatch):
    config = redis_config(tmp_path, redis_server)
    messages = [{"role": "user", "content": f"Invoice {i} was paid"} for i in range(30)]
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        insert = memory.services.vector.insert

        def insert_then_lose_redis(records, vectors):
            insert(records, vectors)
            redis_server.kill()

        monkeypatch.setattr(memory.services.vector, "insert", insert_then_lose_redis)
        with pytest.raises(BackendError, match=f"Redis at 127.0.0.1:{redis_server.port}"):
            memory.add(messages, user_id="u", infer=False)
        monkeypatch.undo()
        assert len(memory.get_all(user_id="u", limit=100)) == 30  # stored, without history
        redis_server.start()
        operations = memory.add(messages, user_id="u", infer=False)  # the client's retry
        assert [op.event for op in operations] == [EventType.ADD] * 30
        assert len(memory.get_all(user_id="u", limit=100)) == 30
        for record in memory.get_all(user_id="u", limit=100):
            assert [e.event for e in memory.history(record.id)] == [EventType.ADD]
    with reopened_without_journal(config, monkeypatch) as memory:
        assert sorted(r.text for r in memory.get_all(user_id="u", limit=100)) == sorted(m["content"] for m in messages)


# -- Neo4j ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def neo4j_process(tmp_path_factory):
    server = Neo4jServer(tmp_path_factory.mktemp("neo4j-dies"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def neo4j_server(neo4j_process):
    """The module's Neo4j (started once: it takes seconds), its graph empty for each test."""
    if neo4j_process.process.poll() is not None:  # a test that failed while it was down
        neo4j_process.start()
    graph = Neo4jGraphStore(neo4j_process.uri)
    graph.reset()
    graph.close()
    return neo4j_process


def neo4j_config(tmp_path, server: Neo4jServer) -> dict:
    return {"path": str(tmp_path / "m"), "graph": {"backend": "neo4j", "uri": server.uri, "retry_seconds": 1.0}}


def test_neo4j_down_mid_stream(tmp_path, neo4j_server):
    needs_neo4j = {"add(infer=True)", "search", "update", "delete", "delete_all", "related"}
    failures = run_down_mid_stream(
        neo4j_config(tmp_path, neo4j_server), neo4j_server, f"Neo4j at 127.0.0.1:{neo4j_server.port}", needs_neo4j, relations=True
    )
    assert failures


def test_neo4j_killed_before_the_relations_of_an_add(tmp_path, neo4j_server, monkeypatch):
    config = neo4j_config(tmp_path, neo4j_server)
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        add_relations = memory.services.graph.add_relations

        def lose_neo4j_first(scope, mentions):
            neo4j_server.kill()
            return add_relations(scope, mentions)

        monkeypatch.setattr(memory.services.graph, "add_relations", lose_neo4j_first)
        statement = {"role": "user", "name": "Ana", "content": said(3)}
        with pytest.raises(BackendError, match=f"Neo4j at 127.0.0.1:{neo4j_server.port}"):
            memory.add(statement, user_id="ana")
        monkeypatch.undo()
        neo4j_server.start()
        operations = memory.add(statement, user_id="ana")  # the client's retry
        assert [op.event for op in operations] == [EventType.NOOP]  # stored by the failed try
        record = operations[0].memory
        assert [r.id for r in memory.get_all(user_id="ana")] == [record.id]
        assert [e.event for e in memory.history(record.id)] == [EventType.ADD]
        relations = memory.related(["Ana"], user_id="ana").relations
        assert sorted(r.relation for r in relations) == ["MET", "MET_MARTA_IN"] and {r.memory_id for r in relations} == {record.id}
        memory.add(statement, user_id="ana")  # said again: a NOOP that adds no relation
        assert len(memory.related(["Ana"], user_id="ana").relations) == 2


# -- Weaviate -------------------------------------------------------------------------------


@pytest.fixture
def weaviate_server(tmp_path):
    yield from start_weaviate(tmp_path / "weaviate")


class RestartingNode:
    """kill / start as the other servers have them: a started node is ready for queries."""

    def __init__(self, node: WeaviateNode):
        self.node = node

    def kill(self) -> None:
        self.node.kill()

    def start(self) -> None:
        self.node.start()
        self.node.wait_ready()


def weaviate_config(tmp_path, node: WeaviateNode) -> dict:
    collection = "M" + uuid.uuid4().hex[:12]
    return {"path": str(tmp_path / "m"), "vector": {"backend": "weaviate", "url": node.url, "grpc_port": node.grpc_port, "collection": collection}}


def test_weaviate_down_mid_stream(tmp_path, weaviate_server):
    needs_weaviate = {"add", "add(infer=True)", "search", "get", "get_all", "update", "delete", "delete_all"}
    failures = run_down_mid_stream(
        weaviate_config(tmp_path, weaviate_server),
        RestartingNode(weaviate_server),
        f"Weaviate at 127.0.0.1:{weaviate_server.http_port}",
        needs_weaviate,
        relations=True,
    )
    assert failures


def test_weaviate_killed_after_the_first_page_of_a_batch(tmp_path, weaviate_server, monkeypatch):
    config = weaviate_config(tmp_path, weaviate_server)
    page = weaviate_backend.PAGE
    messages = [{"role": "user", "content": f"Sensor {i} read {i % 7} degrees"} for i in range(page + 300)]
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        store = memory.services.vector
        insert_pages = weaviate_backend.insert_pages

        def first_page_then_die(handle, objects):
            insert_pages(handle, objects[:page])
            weaviate_server.kill()
            insert_pages(handle, objects[page:])

        monkeypatch.setattr(weaviate_backend, "insert_pages", first_page_then_die)
        with pytest.raises(BackendError, match=f"Weaviate at 127.0.0.1:{weaviate_server.http_port}"):
            memory.add(messages, user_id="u", infer=False)
        monkeypatch.undo()
        RestartingNode(weaviate_server).start()
        assert store.count(Scope(user_id="u")) == page  # the first page was stored
        operations = memory.add(messages, user_id="u", infer=False)  # the client's retry
        assert [op.event for op in operations] == [EventType.ADD] * len(messages)
        stored = memory.get_all(user_id="u", limit=1000)
        assert sorted(r.text for r in stored) == sorted(m["content"] for m in messages)
        assert {len(memory.history(r.id)) for r in stored} == {1}
    with reopened_without_journal(config, monkeypatch) as memory:
        assert len(memory.get_all(user_id="u", limit=1000)) == len(messages)


def test_weaviate_back_without_its_data_is_not_read_as_empty(tmp_path, weaviate_server):
    """A fresh server on the same address (data directory lost): the open Memory does not
    recreate its collection, and every read raises BackendError rather than answering empty."""
    config = weaviate_config(tmp_path, weaviate_server)
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        record = memory.add("Parcel 77 reached depot 3.", user_id="u", infer=False)[0].memory
        weaviate_server.stop()
        weaviate_server.data_dir = tmp_path / "fresh"
        RestartingNode(weaviate_server).start()
        for read in (
            lambda: memory.get(record.id),
            lambda: memory.search("parcel", user_id="u"),
            lambda: memory.get_all(user_id="u"),
        ):
            with pytest.raises(BackendError, match="could not find class"):
                read()
