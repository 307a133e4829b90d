"""DELETE decisions: a manager answering a request to forget retires memories and stores nothing.
A decision that needs a target and names none is refused before anything is written."""

from __future__ import annotations

import pytest

from langmem_plugin import EventType, LangMemError, Memory
from langmem_plugin.managers.base import Decision, Neighbour
from langmem_plugin.records import ConversationMessage, Fact, Scope

from .helpers import HashingEmbeddings


class ScriptedManager:
    """Facts and decisions given in advance; records what reconcile was shown."""

    name = "scripted"

    def __init__(self, facts: list[tuple[str, bool]], decide):
        self.facts = facts
        self.decide = decide
        self.shown: list[list[Neighbour]] = []

    def extract_facts(self, messages: list[ConversationMessage], scope: Scope) -> list[Fact]:
        source = messages[0].source()
        return [Fact(text=text, sources=[source], forget=forget) for text, forget in self.facts]

    def reconcile(self, facts, neighbours, scope):
        self.shown = neighbours
        return [self.decide(fact, candidates) for fact, candidates in zip(facts, neighbours)]

    def extract_relations(self, facts, scope):
        return []


def _memory(tmp_path, manager) -> Memory:
    return Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings(), manager=manager)


def test_a_delete_decision_retires_its_targets_and_stores_nothing(tmp_path):
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings()) as seed:
        jazz = seed.add("Alice loves jazz.", user_id="alice", infer=False)[0].memory
        phone = seed.add("Alice's phone number is 555-0100.", user_id="alice", infer=False)[0].memory
        kept = seed.add("Alice lives in Porto.", user_id="alice", infer=False)[0].memory

    def forget_jazz_and_phone(fact, candidates):
        by_text = {n.memory.text: n.memory for n in candidates}
        return Decision(EventType.DELETE, target=by_text["Alice loves jazz."], also_delete=[by_text["Alice's phone number is 555-0100."]])

    manager = ScriptedManager([("Alice loves jazz.", True)], forget_jazz_and_phone)
    with _memory(tmp_path, manager) as memory:
        operations = memory.add("Forget that I love jazz and my phone number.", user_id="alice")
        assert [(op.event, op.memory.id) for op in operations] == [(EventType.DELETE, jazz.id), (EventType.DELETE, phone.id)]
        assert [m.id for m in memory.get_all(user_id="alice")] == [kept.id]
        events = memory.history(jazz.id, user_id="alice")
        assert [e.event for e in events] == [EventType.ADD, EventType.DELETE]
        assert events[-1].actor == "scripted" and events[-1].old_text == "Alice loves jazz."
        assert "Forget" not in " ".join(m.text for m in memory.get_all(user_id="alice", include_invalidated=True))


def test_a_forget_fact_is_never_a_duplicate_nor_stored_whatever_the_manager_answers(tmp_path):
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings()) as seed:
        jazz = seed.add("Alice loves jazz.", user_id="alice", infer=False)[0].memory

    manager = ScriptedManager([("Alice loves jazz.", True)], lambda fact, candidates: Decision(EventType.ADD))
    with _memory(tmp_path, manager) as memory:
        assert memory.add("Forget that I love jazz.", user_id="alice") == []
        # the exact-text shortcut did not answer NOOP: the manager was asked, with the memory shown
        assert [n.memory.id for n in manager.shown[0]][:1] == [jazz.id]
        assert [m.id for m in memory.get_all(user_id="alice")] == [jazz.id]


def test_a_fact_whose_target_an_earlier_fact_retired_is_added_on_its_own(tmp_path):
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings()) as seed:
        jazz = seed.add("Alice loves jazz.", user_id="alice", infer=False)[0].memory

    def decide(fact, candidates):
        target = next(n.memory for n in candidates if n.memory.id == jazz.id)
        return Decision(EventType.DELETE, target=target) if fact.forget else Decision(EventType.UPDATE, target=target)

    manager = ScriptedManager([("Alice loves jazz.", True), ("Alice loves jazz and blues.", False)], decide)
    with _memory(tmp_path, manager) as memory:
        operations = memory.add("Forget the jazz. I love jazz and blues.", user_id="alice")
        assert [op.event for op in operations] == [EventType.DELETE, EventType.ADD]
        assert operations[1].memory.id != jazz.id
        assert [m.text for m in memory.get_all(user_id="alice")] == ["Alice loves jazz and blues."]


@pytest.mark.parametrize("event", [EventType.NOOP, EventType.UPDATE])
def test_a_decision_that_needs_a_target_and_names_none_is_refused_before_any_write(tmp_path, event):
    def decide(fact, candidates):
        return Decision(event) if "jazz" in fact.text else Decision(EventType.ADD)

    manager = ScriptedManager([("Alice lives in Porto.", False), ("Alice loves jazz.", False)], decide)
    with _memory(tmp_path, manager) as memory:
        with pytest.raises(LangMemError, match=f"scripted answered {event.value} without a target"):
            memory.add("I live in Porto and I love jazz.", user_id="alice")
        assert memory.get_all(user_id="alice", include_invalidated=True) == []
