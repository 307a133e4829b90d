"""A failed add retried with the same arguments stores each memory exactly once.

A tier fails at any write of the call, before the write takes effect (the server is gone) or
after it (the write committed and the answer was lost); the caller retries with the same
arguments and must end with the store one successful call would have made: the same memories,
each once, each with its history once, the same graph relations, nothing left in the journal.
The same runs against real servers that are killed and restarted: tests/test_dead_servers.py.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage

from langmem_plugin import BackendError, EventType, Memory
from langmem_plugin.pipeline import audit
from langmem_plugin.pipeline.audit import journal_keys
from langmem_plugin.pipeline.forget import indexed_memories
from langmem_plugin.records import Scope

from .helpers import HashingEmbeddings

WRITES = {
    "kv": ("put_many", "append", "delete_many"),
    "vector": ("insert", "replace", "delete"),
    "graph": ("add_relations", "invalidate_memory_relations", "delete_memory_relations"),
}


class FailingWrite:
    """Makes the `fail_at`-th write of any tier raise BackendError, before it takes effect or
    after (committed, answer lost); every other write goes through. `writes` counts them all."""

    def __init__(self, memory: Memory, monkeypatch, fail_at: int, after: bool):
        self.fail_at, self.after, self.writes = fail_at, after, 0
        for tier, names in WRITES.items():
            store = getattr(memory.services, tier)
            for name in names if store is not None else ():
                monkeypatch.setattr(store, name, self._failing(getattr(store, name)))

    def _failing(self, method):
        def write(*args, **kwargs):
            self.writes += 1
            failing = self.writes == self.fail_at
            if failing and not self.after:
                raise BackendError("the server went away before the write")
            result = method(*args, **kwargs)
            if failing:
                raise BackendError("the server went away after the write, before answering")
            return result

        return write


def _config(path, graph: bool = False) -> dict:
    return {"path": str(path), "graph": {"enabled": graph}}


def _add_until_it_succeeds(memory: Memory, messages, **arguments):
    """What a client does: call, and on a BackendError call again with the same arguments."""
    failures = 0
    while True:
        try:
            return memory.add(messages, **arguments), failures
        except BackendError:
            failures += 1
            assert failures < 3


def _store(path, user_id: str = "u", graph: bool = False) -> dict:
    """Texts of the memories, each with its events, and the graph's relations: what a client sees.
    Read after reopening with every journal entry old enough to settle."""
    with Memory(_config(path, graph), embeddings=HashingEmbeddings()) as memory:
        records = memory.get_all(user_id=user_id, limit=1000, include_invalidated=True)
        state = {
            "memories": sorted((r.text, r.valid_to is None, tuple(e.event for e in memory.history(r.id))) for r in records),
            "journal": journal_keys(memory.services),
            "unindexed": {r.id for r in records} - set(indexed_memories(memory.services, Scope(user_id=user_id))),
        }
        if graph:
            names = sorted({e.name for e in memory.services.graph.entities(Scope(user_id=user_id))})
            for key, as_of in (("relations", None), ("relations in April", "2024-04-01T00:00:00Z")):
                hood = memory.related(names, user_id=user_id, as_of=as_of)
                by_id = {e.id: e.name for e in hood.entities}
                state[key] = sorted((by_id[r.source_id], r.relation, by_id[r.target_id], r.valid_to is None) for r in hood.relations)
    return state


@pytest.fixture
def settle_at_once(monkeypatch):
    """Journal entries are settled on open whatever their age (no writer of another process is at work)."""
    monkeypatch.setattr(audit, "IN_FLIGHT_SECONDS", 0.0)


message_lists = st.lists(
    st.tuples(st.sampled_from(["tea", "maps", "rain", "jazz", "bikes"]), st.integers(0, 3), st.booleans()),
    min_size=1,
    max_size=6,
)


def _messages(spec) -> list[dict]:
    """Messages from (word, number, with_id): messages with an id of their own and without, repeats included."""
    return [
        {"role": "user", "content": f"I like {word} number {n}", **({"id": f"msg-{word}-{n}"} if with_id else {})}
        for word, n, with_id in spec
    ]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=message_lists, fail_at=st.integers(1, 6), after=st.booleans())
@example(spec=[("tea", 1, False), ("tea", 1, False)], fail_at=2, after=True)  # committed, answer lost
@example(spec=[("maps", 2, True), ("rain", 0, False)], fail_at=3, after=False)  # history append lost
def test_a_verbatim_add_retried_after_any_failed_write_stores_each_message_once(
    tmp_path_factory, monkeypatch, settle_at_once, spec, fail_at, after
):
    messages = _messages(spec)
    reference, faulty = tmp_path_factory.mktemp("reference"), tmp_path_factory.mktemp("faulty")
    with Memory(_config(reference), embeddings=HashingEmbeddings()) as memory:
        memory.add(messages, user_id="u", infer=False)
    with monkeypatch.context() as patch, Memory(_config(faulty), embeddings=HashingEmbeddings()) as memory:
        failing = FailingWrite(memory, patch, fail_at, after)
        operations, failures = _add_until_it_succeeds(memory, messages, user_id="u", infer=False)
        assert failures == (1 if fail_at <= failing.writes else 0)
        assert [op.memory.text for op in operations] == [m["content"] for m in messages]
        stored = {r.id for r in memory.get_all(user_id="u", limit=1000)}
        assert {op.memory.id for op in operations} == stored
    expected = _store(reference)
    assert _store(faulty) == expected
    # each message with an id of its own once; each message without one is a statement of its own
    assert len(expected["memories"]) == len({(m["content"], m.get("id")) for m in messages if "id" in m}) + sum(
        "id" not in m for m in messages
    )
    assert all(events == (EventType.ADD,) for _, _, events in expected["memories"])
    assert expected["journal"] == [] and expected["unindexed"] == set()


CONVERSATION = [
    {"role": "user", "name": "Ana", "content": "I live in Lisbon and I work at Acme Corp.", "timestamp": "2024-03-01T10:00:00Z"},
    {"role": "user", "name": "Ana", "content": "My brother Rui plays the cello.", "timestamp": "2024-03-01T10:01:00Z"},
    {"role": "user", "name": "Ana", "content": "I work at Acme Corp on the robotics team.", "timestamp": "2024-06-10T09:00:00Z"},
    {"role": "user", "name": "Ana", "content": "I live in Porto now.", "timestamp": "2024-06-10T09:01:00Z"},
]


def _inferred_call(path, monkeypatch, fail_at: int, after: bool) -> tuple[int, int]:
    """A memory of the first message, then the rest in one call that fails at write `fail_at`
    (never with 0) and is retried; (failures, writes of the tiers)."""
    with monkeypatch.context() as patch, Memory(_config(path, graph=True), embeddings=HashingEmbeddings()) as memory:
        memory.add(CONVERSATION[:1], user_id="ana")  # an earlier memory for the call to supersede
        failing = FailingWrite(memory, patch, fail_at, after)
        _, failures = _add_until_it_succeeds(memory, CONVERSATION[1:], user_id="ana")
        return failures, failing.writes


@pytest.mark.parametrize("after", [False, True], ids=["before-write", "after-write"])
def test_an_inferred_add_retried_after_any_failed_write_converges_to_one_call(tmp_path, monkeypatch, settle_at_once, after):
    """infer=True with the graph tier: the retry stores each fact once and completes its relations,
    whichever write failed (memories, history, journal, invalidation or graph relations)."""
    _, writes = _inferred_call(tmp_path / "reference", monkeypatch, 0, after)
    expected = _store(tmp_path / "reference", "ana", graph=True)
    # the call adds, updates and invalidates memories, and writes to every tier
    assert {events for _, _, events in expected["memories"]} == {
        (EventType.ADD,), (EventType.ADD, EventType.UPDATE), (EventType.ADD, EventType.INVALIDATE)
    }
    assert writes >= 10 and expected["relations"] != expected["relations in April"] != []
    for fail_at in range(1, writes + 1):
        failures, _ = _inferred_call(tmp_path / f"fail-{fail_at}", monkeypatch, fail_at, after)
        assert failures == 1
        assert _store(tmp_path / f"fail-{fail_at}", "ana", graph=True) == expected, f"write {fail_at} failed"


def test_the_same_text_said_again_after_a_successful_call_is_a_new_statement(tmp_path):
    with Memory(_config(tmp_path / "m"), embeddings=HashingEmbeddings()) as memory:
        first = memory.add("I bought a kayak", user_id="u", infer=False)[0]
        second = memory.add("I bought a kayak", user_id="u", infer=False)[0]
        assert first.memory.id != second.memory.id and len(memory.get_all(user_id="u")) == 2
        fact = memory.add("I bought a canoe", user_id="v")[0]
        again = memory.add("I bought a canoe", user_id="v")[0]  # the same fact, said a second time
        assert again.event is EventType.NOOP and again.memory.id == fact.memory.id
        assert len(again.memory.sources) == 2  # a new source for the existing memory


def test_a_retry_with_other_arguments_is_a_call_of_its_own(tmp_path, monkeypatch):
    with Memory(_config(tmp_path / "m"), embeddings=HashingEmbeddings()) as memory:
        with monkeypatch.context() as patch:
            FailingWrite(memory, patch, fail_at=2, after=True)  # the vector insert commits, then fails
            with pytest.raises(BackendError):
                memory.add("I bought a kayak", user_id="u", infer=False, metadata={"channel": "web"})
        memory.add("I bought a kayak", user_id="u", infer=False, metadata={"channel": "app"})
        assert sorted(r.metadata["channel"] for r in memory.get_all(user_id="u")) == ["app", "web"]


def test_langchain_messages_sent_again_are_the_same_memories_and_an_edit_is_new(tmp_path):
    """A client that sends its whole conversation on every turn, as LangGraph state holds it."""
    conversation = [HumanMessage("I grow tomatoes", id="h1"), AIMessage("Nice! Which kind?", id="a1")]
    with Memory(_config(tmp_path / "m"), embeddings=HashingEmbeddings()) as memory:
        first = memory.add(conversation, user_id="u", infer=False)
        conversation += [HumanMessage("Cherry tomatoes, mostly", id="h2")]
        second = memory.add(conversation, user_id="u", infer=False)
        assert [op.event for op in second] == [EventType.NOOP, EventType.NOOP, EventType.ADD]
        assert [op.memory.id for op in second[:2]] == [op.memory.id for op in first]
        edited = memory.add([HumanMessage("I grow tomatoes and beans", id="h1")], user_id="u", infer=False)[0]
        assert edited.event is EventType.ADD and len(memory.get_all(user_id="u")) == 4
        repeated = memory.add([HumanMessage("Hello again", id="h3"), HumanMessage("Hello again", id="h3")], user_id="u", infer=False)
        assert [op.event for op in repeated] == [EventType.ADD, EventType.NOOP]
        assert repeated[0].memory.id == repeated[1].memory.id
        assert [e.event for e in memory.history(repeated[0].memory.id)] == [EventType.ADD]


def test_a_retry_from_another_process_is_recognised_by_message_ids(tmp_path, monkeypatch, settle_at_once):
    """The process that failed is gone (its kept call with it): a new one retries the same messages."""
    messages = [{"role": "user", "content": f"Shipment {i} left Rotterdam", "id": f"evt-{i}"} for i in range(5)]
    with monkeypatch.context() as patch:
        crashed = Memory(_config(tmp_path / "m"), embeddings=HashingEmbeddings())
        FailingWrite(crashed, patch, fail_at=3, after=False)  # the insert committed, the history append failed
        with pytest.raises(BackendError):
            crashed.add(messages, user_id="u", infer=False)
        crashed.services.close()  # as a crash leaves it: the journal entry stays
    with Memory(_config(tmp_path / "m"), embeddings=HashingEmbeddings()) as memory:
        operations = memory.add(messages, user_id="u", infer=False)
        assert [op.event for op in operations] == [EventType.NOOP] * 5
    state = _store(tmp_path / "m")
    assert [(text, events) for text, _, events in state["memories"]] == [(m["content"], (EventType.ADD,)) for m in messages]
    assert state["journal"] == [] and state["unindexed"] == set()
