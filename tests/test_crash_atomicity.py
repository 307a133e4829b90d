"""SIGKILL at any moment while adding: every acknowledged memory survives, is searchable by
keyword and by vector, and has its history; nothing is stored without its history.
The write journal behind it is checked on every key-value backend."""

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from langmem_plugin import EventType, Memory, MemoryNotFoundError
from langmem_plugin.namespaces import LEGACY_JOURNAL, SCOPE_INDEX
from langmem_plugin.pipeline.audit import API_ACTOR, IN_FLIGHT_SECONDS, JOURNAL_PREFIX, history_event, journal_keys
from langmem_plugin.pipeline.ingest import new_record
from langmem_plugin.records import Scope, utc_now
from langmem_plugin.tiers.vector.base import SearchParams

from .helpers import HashingEmbeddings

TRIALS = 12
DIMENSIONS = 256
ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import sys
from langmem_plugin import Memory
from tests.helpers import HashingEmbeddings

path, trial = sys.argv[1], int(sys.argv[2])
memory = Memory({"path": path}, embeddings=HashingEmbeddings(%d))
print("ready", flush=True)
for i in range(100000):
    texts = [f"trial {trial} fact {i} codeword t{trial}x{i}"]
    if i %% 3 == 0:  # batches too: several memories acknowledged by one call
        texts.append(f"trial {trial} fact {i} second codeword t{trial}y{i}")
    operations = memory.add([{"role": "user", "content": t} for t in texts], user_id="crash", infer=False)
    for operation in operations:
        print(operation.memory.id, operation.memory.text, sep="\\t", flush=True)
""" % DIMENSIONS


def _run_and_kill(path: Path, trial: int, rng: random.Random) -> dict[str, str]:
    """Start a writer, SIGKILL it at a random moment, return what it acknowledged (id -> text)."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(trial)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0.05, 0.8))
    os.kill(child.pid, signal.SIGKILL)
    output, _ = child.communicate(timeout=30)
    acknowledged = {}
    for line in output.splitlines():
        if line.count("\t") == 1:  # a line cut by the kill was never acknowledged
            memory_id, text = line.split("\t")
            acknowledged[memory_id] = text
    return acknowledged


def _search_ids(memory: Memory, text: str, dense: bool) -> list[str]:
    params = SearchParams(limit=10, dense_weight=1.0 if dense else 0.0, keyword_weight=0.0 if dense else 1.0, graph_weight=0.0)
    vector = memory.services.embedder.embed([text], Scope(user_id="crash"))[0]
    return [h.memory.id for h in memory.services.vector.search(Scope(user_id="crash"), vector, text, params)]


@pytest.mark.slow
def test_sigkill_while_adding_loses_nothing_acknowledged(tmp_path):
    path = tmp_path / "crash"
    rng = random.Random(9)
    acknowledged: dict[str, str] = {}
    for trial in range(TRIALS):
        acknowledged.update(_run_and_kill(path, trial, rng))
    assert len(acknowledged) > TRIALS  # the writers did get work done before each kill
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings(DIMENSIONS)) as memory:
        for memory_id, text in acknowledged.items():
            assert memory.get(memory_id).text == text
            assert [e.event for e in memory.history(memory_id)] == [EventType.ADD]
            codeword = text.rsplit(" ", 1)[1]
            assert memory_id in _search_ids(memory, codeword, dense=False), f"keyword search misses {text!r}"
            assert memory_id in _search_ids(memory, text, dense=True), f"vector search misses {text!r}"
        stored = memory.get_all(user_id="crash", limit=1000)
        unaudited = []
        for record in stored:
            try:
                memory.history(record.id)
            except MemoryNotFoundError:
                unaudited.append(record.text)
        assert unaudited == []
        # the scope index knows every stored memory: a purge leaves no history behind
        memory.delete_all(user_id="crash", purge=True)
        for record in stored:
            with pytest.raises(MemoryNotFoundError):
                memory.history(record.id)


# -- the journal, settled on open, on every key-value backend ---------------------------------


@pytest.fixture(params=["sqlite", "redis"])
def memory_config(request, tmp_path):
    config = {"path": str(tmp_path / "m")}
    if request.param == "redis":
        config["kv"] = {"backend": "redis", "url": request.getfixturevalue("redis_url"), "prefix": uuid.uuid4().hex}
    return config


def _crash_after_vector_write(memory: Memory, text: str) -> str:
    """What a SIGKILL between the vector commit and the history append leaves behind."""
    record = new_record(str(uuid.uuid4()), text, Scope(user_id="u"), {}, [], utc_now())
    event = history_event(EventType.ADD, record, API_ACTOR, None, text, record.created_at)
    memory.services.kv.put_many(SCOPE_INDEX, {JOURNAL_PREFIX + "k1": {"written_at": time.time(), "events": [event.model_dump(mode="json")]}})
    memory.services.vector.insert([record], memory.services.embedder.embed([text], record.scope))
    return record.id


def test_reopen_logs_a_committed_write_whose_history_was_lost(memory_config):
    with Memory(memory_config, embeddings=HashingEmbeddings()) as memory:
        memory_id = _crash_after_vector_write(memory, "I keep bees")
        with pytest.raises(MemoryNotFoundError):
            memory.history(memory_id)
    with Memory(memory_config, embeddings=HashingEmbeddings()) as memory:
        assert [e.event for e in memory.history(memory_id)] == [EventType.ADD]
        assert journal_keys(memory.services) == []
        memory.delete_all(user_id="u", purge=True)  # found through the scope index
        with pytest.raises(MemoryNotFoundError):
            memory.history(memory_id)


def test_uncommitted_write_is_dropped_once_no_longer_in_flight(memory_config):
    with Memory(memory_config, embeddings=HashingEmbeddings()) as memory:
        record = new_record(str(uuid.uuid4()), "I never got stored", Scope(user_id="u"), {}, [], utc_now())
        event = history_event(EventType.ADD, record, API_ACTOR, None, record.text, record.created_at)
        entry = {"written_at": time.time(), "events": [event.model_dump(mode="json")]}
        memory.services.kv.put_many(SCOPE_INDEX, {JOURNAL_PREFIX + "k1": entry})
    with Memory(memory_config, embeddings=HashingEmbeddings()) as memory:
        assert journal_keys(memory.services) == [JOURNAL_PREFIX + "k1"]  # maybe another process is still writing it
        memory.services.kv.put_many(SCOPE_INDEX, {JOURNAL_PREFIX + "k1": {**entry, "written_at": time.time() - IN_FLIGHT_SECONDS - 1}})
    with Memory(memory_config, embeddings=HashingEmbeddings()) as memory:
        assert journal_keys(memory.services) == []
        with pytest.raises(MemoryNotFoundError):
            memory.history(record.id)


def test_replayed_events_are_not_duplicated(memory_config):
    with Memory(memory_config, embeddings=HashingEmbeddings()) as memory:
        record = memory.add("I like chess", user_id="u", infer=False)[0].memory
        updated = memory.update(record.id, "I like go")
        event = memory.history(record.id)[-1]
        memory.services.kv.put_many(SCOPE_INDEX, {JOURNAL_PREFIX + "k1": {"written_at": time.time(), "events": [event.model_dump(mode="json")]}})
    with Memory(memory_config, embeddings=HashingEmbeddings()) as memory:
        assert [e.event for e in memory.history(updated.id)] == [EventType.ADD, EventType.UPDATE]
        assert journal_keys(memory.services) == []


def test_purge_erases_the_scope_journal_entries(memory_config):
    with Memory(memory_config, embeddings=HashingEmbeddings()) as memory:
        mine = new_record(str(uuid.uuid4()), "my secret plan", Scope(user_id="u", agent_id="bot"), {}, [], utc_now())
        theirs = new_record(str(uuid.uuid4()), "their plan", Scope(user_id="v"), {}, [], utc_now())
        for key, record in (("mine", mine), ("theirs", theirs)):
            event = history_event(EventType.ADD, record, API_ACTOR, None, record.text, record.created_at)
            memory.services.kv.put_many(SCOPE_INDEX, {JOURNAL_PREFIX + key: {"written_at": time.time(), "events": [event.model_dump(mode="json")]}})
        memory.delete_all(user_id="u", purge=True)
        assert journal_keys(memory.services) == [JOURNAL_PREFIX + "theirs"]


def test_journal_entries_of_a_format_1_store_are_settled_and_purged(memory_config):
    """Stores of format 1 kept the journal in a namespace of its own: what a crash left there is
    logged on open, and a purge erases it."""
    with Memory(memory_config, embeddings=HashingEmbeddings()) as memory:
        record = new_record(str(uuid.uuid4()), "I keep bees", Scope(user_id="u"), {}, [], utc_now())
        event = history_event(EventType.ADD, record, API_ACTOR, None, record.text, record.created_at)
        memory.services.kv.put_many(LEGACY_JOURNAL, {"k1": {"written_at": time.time(), "events": [event.model_dump(mode="json")]}})
        memory.services.vector.insert([record], memory.services.embedder.embed([record.text], record.scope))
        pending = new_record(str(uuid.uuid4()), "my secret plan", Scope(user_id="u"), {}, [], utc_now())
        event = history_event(EventType.ADD, pending, API_ACTOR, None, pending.text, pending.created_at)
        memory.services.kv.put_many(LEGACY_JOURNAL, {"k2": {"written_at": time.time(), "events": [event.model_dump(mode="json")]}})
    with Memory(memory_config, embeddings=HashingEmbeddings()) as memory:
        assert [e.event for e in memory.history(record.id)] == [EventType.ADD]
        assert memory.services.kv.keys(LEGACY_JOURNAL) == ["k2"]  # maybe still in flight
        memory.delete_all(user_id="u", purge=True)
        assert memory.services.kv.keys(LEGACY_JOURNAL) == []
        with pytest.raises(MemoryNotFoundError):
            memory.history(record.id)


def test_a_dropped_write_takes_its_scope_index_entries_along(memory_config):
    """The scope index files a write's memories with its journal entry, before the vector write:
    when the write never reached the vector tier, settling drops both."""
    from langmem_plugin.pipeline.audit import scope_index_entries
    from langmem_plugin.pipeline.forget import indexed_memories

    with Memory(memory_config, embeddings=HashingEmbeddings()) as memory:
        kept = memory.add("I keep bees", user_id="u", infer=False)[0].memory.id
        record = new_record(str(uuid.uuid4()), "I never got stored", Scope(user_id="u"), {}, [], utc_now())
        event = history_event(EventType.ADD, record, API_ACTOR, None, record.text, record.created_at)
        entry = {"written_at": time.time() - IN_FLIGHT_SECONDS - 1, "events": [event.model_dump(mode="json")]}
        memory.services.kv.put_many(SCOPE_INDEX, {JOURNAL_PREFIX + "k1": entry, **scope_index_entries({record.scope: [record.id]})})
        assert set(indexed_memories(memory.services, Scope(user_id="u"))) == {kept, record.id}
    with Memory(memory_config, embeddings=HashingEmbeddings()) as memory:
        assert journal_keys(memory.services) == []
        assert set(indexed_memories(memory.services, Scope(user_id="u"))) == {kept}
        assert [e.event for e in memory.history(kept)] == [EventType.ADD]
