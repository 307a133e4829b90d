"""The seed's calls as written: update(statement, user_id=...) corrects what is remembered,
delete(description, user_id=...) retires what a description clearly matches; the id forms and
Mem0's keywords (update(memory_id=..., data=...)) keep working, sync and async."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from langmem_plugin import (
    AsyncMemory,
    CrossUserDeleteError,
    EventType,
    InvalidInputError,
    Memory,
    MemoryNotFoundError,
    MissingScopeError,
    NoClearMatchError,
)
from langmem_plugin.operations import DESCRIPTION_MARGIN, DESCRIPTION_MATCH
from langmem_plugin.managers.base import Decision
from langmem_plugin.records import Fact

from .helpers import HashingEmbeddings

SEED_STATEMENT = "User now works at Google (previously at Microsoft)"
SEED_DESCRIPTION = "Outdated preference for Python 2.x"


class ScriptedManager:
    """Facts and decisions given in advance; counts the calls and keeps what each one saw."""

    name = "scripted"

    def __init__(self, facts: list[str], decide):
        self.facts = facts
        self.decide = decide
        self.extracted: list[list[str]] = []  # the messages' text of each extract_facts call
        self.reconciled: list[
            list[tuple[str, list[str]]]
        ] = []  # (fact, neighbour texts) of each reconcile call

    def extract_facts(self, messages, scope):
        self.extracted.append([m.content for m in messages])
        return [Fact(text=text, sources=[messages[0].source()]) for text in self.facts]

    def reconcile(self, facts, neighbours, scope):
        self.reconciled.append(
            [(f.text, [n.memory.text for n in candidates]) for f, candidates in zip(facts, neighbours)]
        )
        return [self.decide(fact, candidates) for fact, candidates in zip(facts, neighbours)]

    def extract_relations(self, facts, scope):
        return []


def _seeded(tmp_path, texts: list[str], user_id: str = "u", embeddings=None) -> dict[str, str]:
    with Memory({"path": str(tmp_path / "mem")}, embeddings=embeddings or HashingEmbeddings()) as seed:
        return {op.memory.text: op.memory.id for op in seed.add(texts, user_id=user_id, infer=False)}


# -- update(statement, user_id=...) ----------------------------------------------------------


def test_update_with_a_statement_asks_the_manager_once_and_returns_its_operations(tmp_path):
    ids = _seeded(tmp_path, ["User works at Microsoft.", "User likes tea."])

    def supersede(fact, candidates):
        microsoft = next(n.memory for n in candidates if n.memory.text == "User works at Microsoft.")
        return Decision(EventType.ADD, also_invalidate=[microsoft])

    manager = ScriptedManager(["User works at Google."], supersede)
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings(), manager=manager) as memory:
        operations = memory.update(SEED_STATEMENT, user_id="u")
        assert [(op.event, op.memory.text) for op in operations] == [
            (EventType.INVALIDATE, "User works at Microsoft."),
            (EventType.ADD, "User works at Google."),
        ]
        assert manager.extracted == [[SEED_STATEMENT]]  # one extraction, of the statement as said
        assert len(manager.reconciled) == 1 and manager.reconciled[0][0][0] == "User works at Google."
        assert "User works at Microsoft." in manager.reconciled[0][0][1]  # the contradicted memory was shown
        assert [m.text for m in memory.get_all(user_id="u")] == ["User works at Google.", "User likes tea."]
        assert memory.history(ids["User works at Microsoft."])[-1].event is EventType.INVALIDATE


def test_a_statement_is_never_dropped_as_a_duplicate_of_older_words(tmp_path):
    ids = _seeded(tmp_path, ["User works for Google as an engineer."])
    manager = ScriptedManager(
        ["User works at Google."],
        lambda fact, candidates: Decision(EventType.NOOP, target=candidates[0].memory),
    )
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings(), manager=manager) as memory:
        operations = memory.update("User works at Google.", user_id="u")
        assert [(op.event, op.memory.id, op.memory.text, op.previous_text) for op in operations] == [
            (
                EventType.UPDATE,
                ids["User works for Google as an engineer."],
                "User works at Google.",
                "User works for Google as an engineer.",
            )
        ]
        # the same words again are already known: nothing to rewrite
        again = memory.update("User works at Google.", user_id="u")
        assert [op.event for op in again] == [EventType.NOOP]
        assert [e.event for e in memory.history(ids["User works for Google as an engineer."])] == [
            EventType.ADD,
            EventType.UPDATE,
        ]


def test_a_plain_add_still_drops_the_near_duplicate(tmp_path):
    """The correction rule belongs to update(statement) only: add() keeps the manager's NOOP."""
    _seeded(tmp_path, ["User works for Google as an engineer."])
    manager = ScriptedManager(
        ["User works at Google."],
        lambda fact, candidates: Decision(EventType.NOOP, target=candidates[0].memory),
    )
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings(), manager=manager) as memory:
        assert [op.event for op in memory.add("User works at Google.", user_id="u")] == [EventType.NOOP]


def test_a_statement_without_facts_changes_nothing_and_says_so(tmp_path):
    _seeded(tmp_path, ["User likes tea."])
    manager = ScriptedManager([], lambda fact, candidates: Decision(EventType.ADD))
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings(), manager=manager) as memory:
        with pytest.raises(InvalidInputError, match="found no fact"):
            memory.update("ok thanks", user_id="u")
        assert manager.reconciled == [] and [m.text for m in memory.get_all(user_id="u")] == [
            "User likes tea."
        ]


def test_the_offline_manager_corrects_a_slot_it_understands(memory):
    porto = memory.add("Alice lives in Porto.", user_id="alice", infer=False)[0].memory
    operations = memory.update("Alice lives in Lisbon.", user_id="alice")
    assert [(op.event, op.memory.text) for op in operations] == [
        (EventType.INVALIDATE, "Alice lives in Porto."),
        (EventType.ADD, "Alice lives in Lisbon."),
    ]
    assert [m.text for m in memory.get_all(user_id="alice")] == ["Alice lives in Lisbon."]
    assert memory.get(porto.id).valid_to is not None  # still queryable in the past
    assert [h.memory.text for h in memory.search("Where does Alice live?", user_id="alice", limit=1)] == [
        "Alice lives in Lisbon."
    ]


def test_the_seed_statement_with_the_offline_manager(memory):
    memory.add("I work at Microsoft.", user_id="u")
    operations = memory.update(SEED_STATEMENT, user_id="u")
    assert {(op.event, op.memory.text) for op in operations} == {
        (EventType.INVALIDATE, "U works at Microsoft."),
        (EventType.ADD, "U now works at Google (previously at Microsoft)."),
    }
    assert [m.text for m in memory.get_all(user_id="u")] == ["U now works at Google (previously at Microsoft)."]


def test_statements_need_a_scope_and_ids_need_text(fast_memory):
    record = fast_memory.add("User likes tea.", user_id="u", infer=False)[0].memory
    with pytest.raises(MissingScopeError, match="update\\(statement\\)"):
        fast_memory.update(SEED_STATEMENT)
    with pytest.raises(InvalidInputError, match="no new text"):
        fast_memory.update(record.id, user_id="u")
    with pytest.raises(InvalidInputError, match="once"):
        fast_memory.update(record.id, "a", data="b")
    with pytest.raises(InvalidInputError):
        fast_memory.update(user_id="u")
    assert [m.text for m in fast_memory.get_all(user_id="u")] == ["User likes tea."]


def test_the_id_forms_and_mem0_keywords_keep_working(fast_memory):
    record = fast_memory.add("User likes tea.", user_id="u", infer=False)[0].memory
    assert (
        fast_memory.update(memory_id=record.id, data="User likes green tea.").text == "User likes green tea."
    )
    assert fast_memory.update(record.id, "User likes black tea.", user_id="u").text == "User likes black tea."
    assert fast_memory.update(memory_id=record.id, text="User likes oolong.").text == "User likes oolong."
    with pytest.raises(MemoryNotFoundError):
        fast_memory.update(record.id, "User likes coffee.", user_id="someone-else")
    removed = fast_memory.delete(memory_id=record.id)
    assert removed.id == record.id and fast_memory.get_all(user_id="u") == []
    with pytest.raises(MemoryNotFoundError):
        fast_memory.delete(record.id)
    with pytest.raises(MemoryNotFoundError):
        fast_memory.delete(str(uuid.uuid4()))


# -- delete(description, user_id=...) --------------------------------------------------------

PYTHON_MEMORIES = [
    "U prefers Python 2.x for scripting.",
    "U loves Python 3 type hints.",
    "U lives in Lisbon.",
    "U works at Google.",
    "U has a dog named Miso.",
    "U is allergic to peanuts.",
]


def test_delete_with_a_description_retires_what_it_clearly_matches(tmp_path, minilm):
    ids = _seeded(tmp_path, PYTHON_MEMORIES, embeddings=minilm)
    _seeded(tmp_path, ["V prefers Python 2.x for scripting."], user_id="v", embeddings=minilm)
    with Memory({"path": str(tmp_path / "mem")}, embeddings=minilm) as memory:
        removed = memory.delete(SEED_DESCRIPTION, user_id="u")
        assert [r.id for r in removed] == [ids["U prefers Python 2.x for scripting."]]
        assert removed[0].score >= DESCRIPTION_MATCH
        assert sorted(m.text for m in memory.get_all(user_id="u")) == sorted(PYTHON_MEMORIES[1:])
        assert [m.text for m in memory.get_all(user_id="v")] == [
            "V prefers Python 2.x for scripting."
        ]  # another user's twin stays
        events = memory.history(removed[0].id, user_id="u")
        assert [e.event for e in events] == [EventType.ADD, EventType.DELETE] and events[-1].actor == "api"


@pytest.mark.parametrize("description", ["something about cooking", "U", "programming languages"])
def test_a_vague_description_deletes_nothing_and_names_the_closest(tmp_path, minilm, description):
    _seeded(tmp_path, PYTHON_MEMORIES, embeddings=minilm)
    with Memory({"path": str(tmp_path / "mem")}, embeddings=minilm) as memory:
        with pytest.raises(NoClearMatchError, match="nothing was deleted") as raised:
            memory.delete(description, user_id="u")
        assert raised.value.candidates and all(c.memory.scope.user_id == "u" for c in raised.value.candidates)
        assert raised.value.candidates[0].memory.text in str(raised.value)
        best = raised.value.candidates[0].score
        runner_up = raised.value.candidates[1].score if len(raised.value.candidates) > 1 else 0.0
        assert best < DESCRIPTION_MATCH or best - runner_up < DESCRIPTION_MARGIN
        assert len(memory.get_all(user_id="u")) == len(PYTHON_MEMORIES)


def test_a_description_needs_a_scope_and_spans_one_user(tmp_path):
    ids = _seeded(tmp_path, ["A note about the garden shed."], user_id="alice")
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings()) as memory:
        memory.add("A note about the garden shed.", user_id="bob", agent_id="bot", infer=False)
        memory.add("A note about the garden shed.", user_id="carol", agent_id="bot", infer=False)
        with pytest.raises(MissingScopeError, match="not a memory id"):
            memory.delete("the garden shed note")
        with pytest.raises(CrossUserDeleteError):
            memory.delete("A note about the garden shed.", agent_id="bot")
        assert len(memory.get_all(agent_id="bot")) == 2
        assert [r.id for r in memory.delete("A note about the garden shed.", user_id="alice")] == list(
            ids.values()
        )


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=TEXT, texts=st.lists(TEXT.filter(str.strip), min_size=1, max_size=6))
def test_deleting_by_description_only_ever_touches_its_scope(tmp_path_factory, description, texts):
    """Any description: either the memories it returns are gone (all of the scope, all scoring at
    least DESCRIPTION_MATCH and clear of the rest), or a typed error left everything in place."""
    path = tmp_path_factory.mktemp("prop")
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        mine = {op.memory.id for op in memory.add(texts, user_id="me", infer=False)}
        theirs = {op.memory.id for op in memory.add(texts, user_id="them", infer=False)}
        try:
            removed = memory.delete(description, user_id="me")
        except (InvalidInputError, NoClearMatchError):
            removed = []
        if isinstance(removed, list):
            assert {r.id for r in removed} <= mine and all(r.score >= DESCRIPTION_MATCH for r in removed)
        left = {m.id for m in memory.get_all(user_id="me")}
        assert left == mine - {r.id for r in (removed if isinstance(removed, list) else [removed])}
        assert {m.id for m in memory.get_all(user_id="them")} == theirs


async def test_async_memory_has_both_forms(tmp_path, minilm):
    _seeded(tmp_path, ["Alice lives in Porto.", *PYTHON_MEMORIES], user_id="alice", embeddings=minilm)
    memory = AsyncMemory({"path": str(tmp_path / "mem")}, embeddings=minilm)
    try:
        operations = await memory.update("Alice lives in Lisbon.", user_id="alice")
        assert [op.event for op in operations] == [EventType.INVALIDATE, EventType.ADD]
        removed = await memory.delete(SEED_DESCRIPTION, user_id="alice")
        assert [r.text for r in removed] == ["U prefers Python 2.x for scripting."]
        target = operations[1].memory
        assert (
            await memory.update(memory_id=target.id, data="Alice lives in Faro.")
        ).text == "Alice lives in Faro."
        assert (await memory.delete(target.id)).id == target.id
        with pytest.raises(NoClearMatchError):
            await memory.delete("something about cooking", user_id="alice")
    finally:
        await memory.aclose()
