"""delete_all, plain or purge, is journaled: wherever a crash stops it, the next open finishes
it, so a user is whole or gone, never half; and delete_alls of several threads and processes at
once all complete.

The victim holds data in every place a purge must empty: memories with graph relations, an
update and a deletion (history), profiles of three nested scopes, a cached query embedding,
cached LLM answers, the bytes of a photo it shared (attachments), and items of the LangGraph
store adapter (whose namespace list names the user). The victim's id is the scope of that store namespace (so that one purge reaches the
adapter's entries too), full of separators.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langmem_plugin import AsyncMemory, Memory, MemoryNotFoundError, StoreBusyError
from langmem_plugin.namespaces import ATTACHMENTS, EMBEDDINGS, LLM_ANSWERS, SCOPE_INDEX
from langmem_plugin.integrations.store import MemoryStore
from langmem_plugin.pipeline.store_namespaces import namespace_scope
from langmem_plugin.pipeline.forget import DELETING, DELETION_LOCK, indexed_memories, scope_keyed_entries
from langmem_plugin.records import Scope
from langmem_plugin.testing.inspect import stored_bytes
from langmem_plugin.tiers.keyvalue.redis_backend import LOCK_LEASE_SECONDS, RedisKeyValueStore
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore
from langmem_plugin.tiers.vector.sqlite_backend import scope_tokens

from .helpers import HashingEmbeddings, processes_at_once

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = ("memories", "Quillibrand|user_id=v/%2F é")
U = namespace_scope(NAMESPACE)
V = "user-mw3pd"
U_WORDS = ["Quillibrand", "Zorblaxton", "Vextrapolis", "Snorkelwimp", "Plonkwhistle", "Glimmerquonk"]
V_WORDS = ["Frobisher", "Gnarlbury"]
U_SCOPES = (
    {"user_id": U},
    {"user_id": U, "agent_id": "bot7"},
    {"user_id": U, "agent_id": "bot7", "run_id": "r-qv7xk"},
)


# -- the victim, the bystander, and what "whole" and "gone" mean ------------------------------------


def _scripted_llm() -> GenericFakeChatModel:
    """One answer, one add into an empty store: the extraction, whose fact carries its graph relation
    (a second call would raise StopIteration)."""
    owns = {"source": "Quillibrand", "relation": "owns", "target": "Plonkwhistle"}
    fact = {"text": "Quillibrand owns a Plonkwhistle", "source_message_ids": ["m1"], "relations": [owns]}
    answers = [{"facts": [fact]}]
    return GenericFakeChatModel(messages=iter(AIMessage(json.dumps(a)) for a in answers))


def photo(comment: str) -> str:
    """A real PNG (Pillow) whose text chunk holds `comment`, base64-encoded: its bytes carry a marker."""
    info = PngInfo()
    info.add_text("Comment", comment)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (90, 60, 30)).save(buffer, "PNG", pnginfo=info)
    return base64.b64encode(buffer.getvalue()).decode()


def _share(memory: Memory, text: str, name: str, image: str, **scope) -> str:
    content = [{"type": "text", "text": text}, {"type": "image", "base64": image, "mime_type": "image/png"}]
    return memory.add({"role": "user", "name": name, "content": content}, infer=False, **scope)[0].memory.id


def _say(memory: Memory, text: str, name: str, **scope) -> str:
    return memory.add({"role": "user", "name": name, "content": text}, **scope)[0].memory.id


def fill(config: dict, bulk: int = 0) -> list[str]:
    """The victim's data in every tier, the bystander's beside it; returns the victim's memory ids."""
    with Memory(config, embeddings=HashingEmbeddings(), llm=_scripted_llm()) as memory:
        message = {"role": "user", "name": "Quillibrand", "content": "I own a Plonkwhistle.", "id": "m1"}
        ids = [memory.add(message, user_id=U, agent_id="bot7")[0].memory.id]
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        store = MemoryStore(memory)
        store.put(NAMESPACE, "pet", {"content": "Quillibrand keeps a Snorkelwimp"})
        store.put(("memories", "mw3pd"), "home", {"content": "Frobisher lives in Gnarlbury"})
        ids.append(memory.get_all(user_id=U, filters={"store_key": "pet"})[0].id)
        lives = _say(memory, "I live in Zorblaxton.", "Quillibrand", user_id=U)
        works = _say(memory, "I work at Vextrapolis Corp.", "Quillibrand", user_id=U, agent_id="bot7")
        memory.update(lives, "Quillibrand lives in Zorblaxton Heights.", user_id=U)
        memory.delete(works, user_id=U)
        ids.append(
            _share(memory, "My pet.", "Quillibrand", photo("Glimmerquonk"), user_id=U, agent_id="bot7")
        )
        ids += [lives, works]
        for scope in U_SCOPES:
            memory.set_profile({"nickname": "Quillibrand"}, **scope)
        memory.search("Where is the Plonkwhistle?", user_id=U)
        for start in range(0, bulk, 500):
            texts = [f"Quillibrand note {i} about Zorblaxton" for i in range(start, min(bulk, start + 500))]
            ids += [
                op.memory.id
                for op in memory.add(texts, user_id=U, agent_id="bot7", run_id="r-qv7xk", infer=False)
            ]
            memory.add(
                [f"Frobisher note {i} about Gnarlbury" for i in range(start, min(bulk, start + 500))],
                user_id=V,
                infer=False,
            )
        _say(memory, "I live in Gnarlbury.", "Frobisher", user_id=V, agent_id="bot7")
        _share(memory, "My garden.", "Frobisher", photo("Frobisher Gnarlbury"), user_id=V)
        memory.set_profile({"nickname": "Frobisher"}, user_id=V, agent_id="bot7")
    return ids


def victim_state(memory: Memory, ids: list[str]) -> dict:
    """Everything of the victim readable through any tier."""
    services, scope = memory.services, Scope(user_id=U)
    histories = {}
    for memory_id in ids:
        try:
            histories[memory_id] = [e.event.value for e in memory.history(memory_id)]
        except MemoryNotFoundError:
            pass
    return {
        "memories": sorted(r.id for r in memory.get_all(user_id=U, include_invalidated=True, limit=1000)),
        "history": histories,
        "scope index": sorted(indexed_memories(services, scope)),
        "profiles": [memory.get_profile(**s) for s in U_SCOPES if memory.get_profile(**s)],
        "graph": sorted(e.name for e in memory.related(["Quillibrand"], user_id=U).entities),
        "cached embeddings": len(scope_keyed_entries(services, EMBEDDINGS, scope)),
        "cached llm answers": len(scope_keyed_entries(services, LLM_ANSWERS, scope)),
        "attachments": len(scope_keyed_entries(services, ATTACHMENTS, scope)),
        "store": [item.key for item in [MemoryStore(memory).get(NAMESPACE, "pet")] if item is not None],
        "store namespaces": [ns for ns in MemoryStore(memory).list_namespaces() if ns == NAMESPACE],
    }


GONE = {
    "memories": [],
    "history": {},
    "scope index": [],
    "profiles": [],
    "graph": [],
    "cached embeddings": 0,
    "cached llm answers": 0,
    "attachments": 0,
    "store": [],
    "store namespaces": [],
}


def bystander_state(memory: Memory) -> dict:
    return {
        "memories": sorted(r.text for r in memory.get_all(user_id=V, limit=1000)),
        "profile": memory.get_profile(user_id=V, agent_id="bot7"),
        "graph": sorted(e.name for e in memory.related(["Frobisher"], user_id=V).entities),
        "store": [item.value for item in MemoryStore(memory).search(("memories", "mw3pd"))],
    }


def victim_bytes_left(memory: Memory, ids: list[str]) -> set[tuple[str, str]]:
    markers = [*U_WORDS, *(w.lower()[:7] for w in U_WORDS), *ids, *scope_tokens(Scope(user_id=U))]
    stored = stored_bytes(memory.config)
    assert all(w.encode() in b"".join(stored.values()) for w in V_WORDS)  # the scan does see stored text
    return {(name, marker) for name, data in stored.items() for marker in markers if marker.encode() in data}


def test_fill_puts_the_victim_in_every_place(tmp_path):
    """The states compared below are not vacuous: every part of the victim's state is filled."""
    config = {"path": str(tmp_path / "m")}
    ids = fill(config)
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        state = victim_state(memory, ids)
        assert all(state[part] for part in GONE), state
        assert state["history"][ids[-1]] == ["ADD", "DELETE"]
        assert "Glimmerquonk" in {
            marker for _, marker in victim_bytes_left(memory, ids)
        }  # the scan sees the photo
        assert memory.delete_all(user_id=U, purge=True) == 4
        assert victim_state(memory, ids) == GONE
        assert victim_bytes_left(memory, ids) == set()


def test_a_purge_of_thousands_of_memories_leaves_no_byte_in_rebalanced_pages(tmp_path):
    """Thousands of memories written in batches beside another user's make SQLite rebalance
    pages, whose unused space keeps copies of cells (tests/test_scope_safety.py); the purge
    rewrites every file, so the scan finds none of the victim's."""
    config = {"path": str(tmp_path / "m")}
    ids = fill(config, bulk=3000)
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        bystander = bystander_state(memory)
        assert memory.delete_all(user_id=U, purge=True) == 3004
        assert victim_state(memory, ids) == GONE
        assert bystander_state(memory) == bystander
        assert victim_bytes_left(memory, ids) == set()


# -- a crash after every write of a delete_all, on every backend -------------------------------------


class SimulatedCrash(BaseException):
    """Stops a call where a SIGKILL could: no handler of the library catches a BaseException."""


class CrashAfter:
    """Counts the writes a delete_all makes to the tiers and raises SimulatedCrash right after the n-th."""

    WRITES = frozenset({"delete_scope", "erase_deleted", "put_many", "delete_many", "append"})

    def __init__(self, n: int | None):
        self.n, self.count, self.counting = n, 0, False

    def wrap(self, memory: Memory) -> None:
        services = memory.services
        for tier in ("vector", "graph", "kv"):
            setattr(services, tier, self._tier(getattr(services, tier)))

    def _tier(self, tier):
        crash = self

        class Counted:
            def __getattr__(self, name):
                attribute = getattr(tier, name)
                if name not in CrashAfter.WRITES:
                    return attribute

                def write(*args, **kwargs):
                    result = attribute(*args, **kwargs)
                    if crash.counting:
                        crash.count += 1
                        if crash.count == crash.n:
                            crash.counting = False
                            raise SimulatedCrash(f"after write {crash.count} ({name})")
                    return result

                return write

        return Counted()


def _stack_config(stack: str, request, directory: Path) -> dict:
    config: dict = {"path": str(directory)}
    if stack == "redis+neo4j":
        config["kv"] = {
            "backend": "redis",
            "url": request.getfixturevalue("redis_url"),
            "prefix": f"t{uuid.uuid4().hex[:12]}",
        }
        config["graph"] = {"backend": "neo4j", "uri": request.getfixturevalue("neo4j_uri")}
    elif stack.startswith("weaviate"):
        node = request.getfixturevalue("weaviate_node")
        config["vector"] = {
            "backend": "weaviate",
            "url": node.url,
            "grpc_port": node.grpc_port,
            "collection": "F" + uuid.uuid4().hex[:12],
            "multi_tenancy": stack == "weaviate-tenants",
        }
        config["kv"] = {
            "backend": "redis",
            "url": request.getfixturevalue("redis_url"),
            "prefix": f"t{uuid.uuid4().hex[:12]}",
        }
    return config


def _fresh_store(stack: str, request, directory: Path, bulk: int = 0) -> tuple[dict, list[str], dict]:
    config = _stack_config(stack, request, directory)
    if stack == "redis+neo4j":
        with Memory(config, embeddings=HashingEmbeddings()) as memory:
            memory.services.graph.reset()  # one Neo4j server for the session
    ids = fill(config, bulk)
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        return config, ids, bystander_state(memory)


def _crash_delete_all(config: dict, n: int | None, purge: bool) -> int:
    """Run delete_all of the victim, crashing right after its n-th write (None: never); the
    number of writes it made."""
    crash = CrashAfter(n)
    memory = Memory(config, embeddings=HashingEmbeddings())
    crash.wrap(memory)
    crash.counting = True
    try:
        memory.delete_all(user_id=U, purge=purge)
        assert n is None, f"delete_all made fewer than {n} writes"
    except SimulatedCrash:
        pass
    finally:
        crash.counting = False
        memory.close()
    return crash.count


@pytest.mark.parametrize("stack", ["embedded", "redis+neo4j", "weaviate", "weaviate-tenants"])
def test_a_purge_cut_short_after_any_write_is_finished_by_the_next_open(stack, request, tmp_path):
    config, ids, bystander = _fresh_store(stack, request, tmp_path / "dry")
    writes = _crash_delete_all(config, None, purge=True)
    assert writes >= 8
    for n in range(1, writes + 1):
        config, ids, bystander = _fresh_store(stack, request, tmp_path / f"crash{n}")
        assert _crash_delete_all(config, n, purge=True) == n
        with Memory(config, embeddings=HashingEmbeddings()) as reopened:
            assert victim_state(reopened, ids) == GONE, f"crash after write {n} of {writes}"
            assert bystander_state(reopened) == bystander
            assert victim_bytes_left(reopened, ids) == set(), f"crash after write {n} of {writes}"
            assert reopened.services.kv.keys(SCOPE_INDEX, DELETING) == []


@pytest.mark.parametrize("stack", ["embedded", "redis+neo4j", "weaviate-tenants"])
def test_a_plain_delete_all_cut_short_is_finished_with_one_delete_event_per_memory(stack, request, tmp_path):
    config, ids, _ = _fresh_store(stack, request, tmp_path / "dry")
    writes = _crash_delete_all(config, None, purge=False)
    for n in range(1, writes + 1):
        config, ids, bystander = _fresh_store(stack, request, tmp_path / f"crash{n}")
        with Memory(config, embeddings=HashingEmbeddings()) as memory:
            before = victim_state(memory, ids)
        _crash_delete_all(config, n, purge=False)
        with Memory(config, embeddings=HashingEmbeddings()) as reopened:
            after = victim_state(reopened, ids)
            assert after["memories"] == [] and after["graph"] == [] and after["store"] == [], (
                f"crash after write {n}"
            )
            live = set(before["memories"])
            assert after["history"] == {
                memory_id: events + ["DELETE"] if memory_id in live else events
                for memory_id, events in before["history"].items()
            }, f"crash after write {n} of {writes}"
            assert after["profiles"] == before["profiles"]  # a plain delete_all keeps them
            assert bystander_state(reopened) == bystander
            assert reopened.services.kv.keys(SCOPE_INDEX, DELETING) == []


def test_an_open_leaves_an_interrupted_purge_to_the_live_holder_of_the_lock(tmp_path):
    """While a live process holds the deletion lock, an open waits for it a bounded time and
    leaves the journal to it (the holder carried out what it found when it took the lock)."""
    config = {"path": str(tmp_path / "m"), "delete_all_wait_seconds": 0.3}
    ids = fill(config)
    _crash_delete_all(config, 3, purge=True)
    holder = SQLiteKeyValueStore(tmp_path / "m" / "kv")  # opening a Memory would finish the purge
    try:
        with holder.lock(DELETION_LOCK, 1):
            started = time.monotonic()
            with Memory(config, embeddings=HashingEmbeddings()) as opened:
                assert 0.3 <= time.monotonic() - started < 10
                assert opened.services.kv.keys(SCOPE_INDEX, DELETING)  # left to the holder
    finally:
        holder.close()
    with Memory(config, embeddings=HashingEmbeddings()) as reopened:
        assert victim_state(reopened, ids) == GONE


# -- SIGKILL at random moments of a purge ---------------------------------------------------------

TRIALS = 24
# The victim's user id is a store namespace's, which only `namespace_scope` can make: a child is
# given the namespace, as JSON, and makes it itself.
PURGE_CHILD = """
import json, sys, time
from langmem_plugin import Memory
from langmem_plugin.pipeline.store_namespaces import namespace_scope
from tests.helpers import HashingEmbeddings

config, user = {"path": sys.argv[1]}, namespace_scope(tuple(json.loads(sys.argv[2])))
memory = Memory(config, embeddings=HashingEmbeddings())
print("ready", flush=True)
started = time.perf_counter()
memory.delete_all(user_id=user, purge=True)
print("done", time.perf_counter() - started, flush=True)
memory.close()
"""


def _start_purge(path: Path) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", PURGE_CHILD, str(path), json.dumps(NAMESPACE)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "ready"
    return child


def _left_by_the_kill(path: Path) -> str:
    """What the killed purge left in its journal, read without opening (which would finish it)."""
    kv = SQLiteKeyValueStore(path / "kv")
    try:
        entries = list(kv.get_many(SCOPE_INDEX, kv.keys(SCOPE_INDEX, DELETING)).values())
    finally:
        kv.close()
    if not entries:
        return "no entry"
    return "erasing" if "scope" not in entries[0] else "deleting"


def _kill_once_journaled(child: subprocess.Popen, kv) -> str:
    """SIGKILL the child as soon as its purge's journal entry is in the key-value tier `kv` (read
    directly: opening a Memory would wait for the purge); its output."""
    deadline = time.monotonic() + 120
    while not kv.keys(SCOPE_INDEX, DELETING):
        assert child.poll() is None, "the purge ended before its journal entry was seen"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    os.kill(child.pid, signal.SIGKILL)
    return child.communicate(timeout=30)[0]


@pytest.mark.slow
def test_sigkill_at_random_moments_of_a_purge_leaves_the_user_whole_or_gone(tmp_path):
    template = tmp_path / "template"
    ids = fill({"path": str(template)}, bulk=600)
    with Memory({"path": str(template)}, embeddings=HashingEmbeddings()) as memory:
        whole, bystander = victim_state(memory, ids), bystander_state(memory)
    calibration = tmp_path / "calibration"
    shutil.copytree(template, calibration)
    child = _start_purge(calibration)
    seconds = float(child.communicate(timeout=300)[0].split()[1])
    rng = random.Random(22)
    outcomes: Counter = Counter()
    for trial in range(TRIALS):
        path = tmp_path / f"trial{trial}"
        shutil.copytree(template, path)
        child = _start_purge(path)
        time.sleep(rng.uniform(0, seconds * 1.2))
        os.kill(child.pid, signal.SIGKILL)
        output, _ = child.communicate(timeout=60)
        left = "finished" if "done" in output else _left_by_the_kill(path)
        with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as reopened:
            state = victim_state(reopened, ids)
            assert state in (whole, GONE), f"trial {trial} ({left}): half a user: {state}"
            assert bystander_state(reopened) == bystander
            if state == GONE:
                assert victim_bytes_left(reopened, ids) == set(), f"trial {trial} ({left})"
            outcomes[left, "whole" if state == whole else "gone"] += 1
        shutil.rmtree(path)
    print(f"purge {seconds * 1000:.0f} ms; kills: {dict(outcomes)}")
    # the kills did land inside purges, before their entry too
    assert outcomes["deleting", "gone"] + outcomes["erasing", "gone"] >= 3


@pytest.mark.slow
def test_cli_forget_killed_mid_purge_is_finished_by_the_next_cli_call(tmp_path):
    """`langmem-plugin forget` SIGKILLed as soon as its journal entry is written; the next command
    (any: here `list` of another user) finishes the purge."""
    path = tmp_path / "m"
    ids = fill({"path": str(path)}, bulk=1500)
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        bystander = bystander_state(memory)
    cli = [sys.executable, "-m", "langmem_plugin", "--path", str(path)]
    child = subprocess.Popen(
        [*cli, "forget", "--namespace", *NAMESPACE, "--yes"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    kv = SQLiteKeyValueStore(path / "kv")
    try:
        assert "forgot" not in _kill_once_journaled(child, kv)
    finally:
        kv.close()
    assert _left_by_the_kill(path) in ("deleting", "erasing")
    listed = subprocess.run(
        [*cli, "list", "--user-id", V], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert listed.returncode == 0 and "Frobisher lives in Gnarlbury." in listed.stdout
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as reopened:
        assert victim_state(reopened, ids) == GONE
        assert bystander_state(reopened) == bystander
        assert victim_bytes_left(reopened, ids) == set()


# -- delete_alls at once --------------------------------------------------------------------------

PROCESSES, THREADS, ROUNDS = 4, 4, 3


def _purger(path: str, worker: int, barrier, failures) -> None:
    with Memory({"path": path}, embeddings=HashingEmbeddings()) as memory:
        barrier.wait()
        errors = []

        def thread(t: int) -> None:
            for i in range(ROUNDS):
                user = f"u{(worker + t + i) % 3}"  # the same users in every process, and different ones
                try:
                    memory.add(f"{user} note {worker}.{t}.{i} Quillibrand", user_id=user, infer=False)
                    memory.set_profile({"seen": i}, user_id=user)
                    memory.delete_all(user_id=user, purge=(t + i) % 2 == 0)
                except Exception as exc:  # noqa: BLE001 - counted: the test expects none
                    errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=thread, args=(t,)) for t in range(THREADS)]
        for started in threads:
            started.start()
        for started in threads:
            started.join()
    failures.put(errors)


@pytest.mark.slow
def test_delete_alls_from_several_processes_and_threads_at_once_all_complete(tmp_path):
    path = str(tmp_path / "shared")
    with Memory({"path": path}, embeddings=HashingEmbeddings()) as memory:
        memory.add("Frobisher lives in Gnarlbury", user_id=V, infer=False)
    failures = processes_at_once(_purger, [(path, w) for w in range(PROCESSES)], timeout=600)
    assert [error for errors in failures for error in errors] == []
    with Memory({"path": path}, embeddings=HashingEmbeddings()) as memory:
        assert [r.text for r in memory.get_all(user_id=V)] == ["Frobisher lives in Gnarlbury"]
        assert memory.services.kv.keys(SCOPE_INDEX, DELETING) == []


def test_async_purges_at_once_all_complete_and_delete_each_memory_once(tmp_path):
    async def scenario() -> None:
        async with AsyncMemory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
            await memory.add("Frobisher lives in Gnarlbury", user_id=V, infer=False)

            async def add_then_purge(i: int) -> int:
                user = f"u{i % 3}"
                await memory.add(f"{user} note {i}", user_id=user, infer=False)
                return await memory.delete_all(user_id=user, purge=True)

            counts = await asyncio.gather(*(add_then_purge(i) for i in range(12)))
            assert sum(counts) == 12  # every add precedes the last purge of its user
            assert [r.text for r in await memory.get_all(user_id=V)] == ["Frobisher lives in Gnarlbury"]
            for user in ("u0", "u1", "u2"):
                assert await memory.get_all(user_id=user) == []

    asyncio.run(scenario())


def test_a_delete_all_waits_for_the_lock_a_bounded_time_then_raises_a_typed_error(tmp_path):
    config = {"path": str(tmp_path / "m"), "delete_all_wait_seconds": 0.3}
    with (
        Memory(config, embeddings=HashingEmbeddings()) as memory,
        Memory(config, embeddings=HashingEmbeddings()) as other,
    ):
        memory_id = memory.add("Quillibrand lives in Zorblaxton", user_id=U, infer=False)[0].memory.id
        with other.services.kv.lock(DELETION_LOCK, 1):
            started = time.monotonic()
            with pytest.raises(StoreBusyError, match="delete_all lock"):
                memory.delete_all(user_id=U, purge=True)
            assert 0.3 <= time.monotonic() - started < 5
        assert memory.get(memory_id).text == "Quillibrand lives in Zorblaxton"  # nothing was deleted
        assert memory.delete_all(user_id=U, purge=True) == 1


# -- a process that dies holding a server lock ------------------------------------------------------

HOLDER_CHILD = """
import json, sys
from langmem_plugin import Memory
from langmem_plugin.pipeline.store_namespaces import namespace_scope
from tests.helpers import HashingEmbeddings

memory = Memory(json.loads(sys.argv[1]), embeddings=HashingEmbeddings())
print("ready", flush=True)
memory.delete_all(user_id=namespace_scope(tuple(json.loads(sys.argv[2]))), purge=True)
print("done", flush=True)
"""


@pytest.mark.slow
def test_sigkill_of_a_purge_holding_the_redis_lock_is_finished_by_the_next_open(request, tmp_path):
    """The lock of a process that died holding it runs out within its lease; the next open waits
    for it and finishes the purge (Redis key-value tier, Neo4j graph)."""
    config, ids, bystander = _fresh_store("redis+neo4j", request, tmp_path / "m", bulk=1000)
    kv = RedisKeyValueStore(config["kv"]["url"], prefix=config["kv"]["prefix"])
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", HOLDER_CHILD, json.dumps(config), json.dumps(NAMESPACE)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout.readline().strip() == "ready"
        assert "done" not in _kill_once_journaled(child, kv)
        assert kv.keys(SCOPE_INDEX, DELETING)  # killed inside the purge
    finally:
        kv.close()
    started = time.monotonic()
    with Memory(config, embeddings=HashingEmbeddings()) as reopened:
        assert time.monotonic() - started < LOCK_LEASE_SECONDS + 30
        assert victim_state(reopened, ids) == GONE
        assert bystander_state(reopened) == bystander
        assert victim_bytes_left(reopened, ids) == set()
