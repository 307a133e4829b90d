"""The deterministic fallback manager: extraction, first person, dates, reconciliation, time."""

from datetime import datetime, timezone

import pytest

from langmem_plugin import EventType
from langmem_plugin.pipeline.grammar import clauses, resolve_first_person
from langmem_plugin.pipeline.offline_manager import slot_of
from langmem_plugin.pipeline.temporal import anchor_relative_dates

MONDAY = datetime(2024, 4, 22, 18, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "phrase, expected",
    [
        ("I ran yesterday", "I ran on 21 April 2024"),
        ("the day before yesterday", "on 20 April 2024"),
        ("I fly tomorrow", "I fly on 23 April 2024"),
        ("last week", "in the week of 15 April 2024"),
        ("next week", "in the week of 29 April 2024"),
        ("last weekend", "on the weekend of 20 April 2024"),
        ("last month", "in March 2024"),
        ("next month", "in May 2024"),
        ("last year", "in 2023"),
        ("3 days ago", "on 19 April 2024"),
        ("two weeks ago", "in the week of 8 April 2024"),
        ("a month ago", "in March 2024"),
        ("last Friday", "on Friday 19 April 2024"),
        ("next Monday", "on Monday 29 April 2024"),
        ("this morning", "on the morning of 22 April 2024"),
        ("In January 2020 nothing changes", "In January 2020 nothing changes"),
    ],
)
def test_relative_dates_are_anchored_to_the_message_time(phrase, expected):
    assert anchor_relative_dates(phrase, MONDAY) == expected


def test_relative_dates_cross_year_boundary():
    assert anchor_relative_dates("last month", datetime(2024, 1, 10)) == "in December 2023"


@pytest.mark.parametrize(
    "sentence, expected",
    [
        ("I love sushi", "Ana loves sushi"),
        ("I'm a nurse", "Ana is a nurse"),
        ("I have two cats", "Ana has two cats"),
        ("I really enjoy my job", "Ana really enjoys Ana's job"),
        ("I went to Rome with my sister", "Ana went to Rome with Ana's sister"),
        ("I can swim", "Ana can swim"),
        ("I watch films", "Ana watches films"),
        ("I study at night", "Ana studies at night"),
        ("I don't eat meat", "Ana does not eat meat"),
        ("Tom gave me a book", "Tom gave Ana a book"),
    ],
)
def test_first_person_resolved_to_speaker(sentence, expected):
    assert resolve_first_person(sentence, "Ana") == expected


def test_clauses_split_facts_but_keep_short_subjects():
    assert clauses("I live in Porto and I love surfing. Miso and I went hiking.") == [
        "I live in Porto",
        "I love surfing.",
        "Miso and I went hiking.",
    ]


def test_slots_identify_single_valued_attributes():
    assert slot_of("Ana lives in Porto.") == slot_of("Ana moved to Lisbon.") == "ana|lives in"
    assert slot_of("Ana's favourite colour is red.") == "ana|favorite colour"
    assert slot_of("Ana loves surfing.") is None


def _say(memory, text, when, user="ana"):
    return memory.add({"role": "user", "content": text, "name": "Ana", "timestamp": when}, user_id=user)


def test_greetings_questions_and_requests_are_not_memories(memory):
    assert _say(memory, "Hi! Thanks so much. Can you help me? Please be brief.", "2024-01-01T10:00:00Z") == []
    assert memory.get_all(user_id="ana") == []


def test_assistant_messages_are_not_extracted(memory):
    ops = memory.add(
        [{"role": "assistant", "content": "I am an AI model who loves helping."}, {"role": "user", "content": "I own a kayak."}],
        user_id="ana",
    )
    assert [op.memory.text for op in ops] == ["Ana owns a kayak."]


def test_duplicate_is_a_noop_that_keeps_provenance(memory):
    first = _say(memory, "I love surfing.", "2024-01-01T10:00:00Z")[0].memory
    again = _say(memory, "I love surfing!", "2024-02-01T10:00:00Z")
    assert [op.event for op in again] == [EventType.NOOP]
    assert again[0].memory.id == first.id
    assert len(memory.get(first.id).sources) == 2
    assert len(memory.get_all(user_id="ana")) == 1
    assert [e.event for e in memory.history(first.id)] == [EventType.ADD]


def test_refinement_updates_in_place(memory):
    first = _say(memory, "I love surfing.", "2024-01-01T10:00:00Z")[0].memory
    ops = _say(memory, "I love surfing in Peniche.", "2024-02-01T10:00:00Z")
    assert [(op.event, op.memory.id, op.previous_text) for op in ops] == [(EventType.UPDATE, first.id, "Ana loves surfing.")]
    assert memory.get(first.id).text == "Ana loves surfing in Peniche."


def test_contradiction_invalidates_with_time_and_keeps_history(memory):
    porto = _say(memory, "I live in Porto.", "2024-01-01T10:00:00Z")[0].memory
    ops = _say(memory, "I moved to Lisbon last week.", "2024-03-10T10:00:00Z")
    assert [op.event for op in ops] == [EventType.INVALIDATE, EventType.ADD]
    closed = memory.get(porto.id)
    assert closed.valid_to == datetime(2024, 3, 10, 10, tzinfo=timezone.utc)
    assert [r.text for r in memory.get_all(user_id="ana")] == ["Ana moved to Lisbon in the week of 26 February 2024."]
    assert len(memory.get_all(user_id="ana", include_invalidated=True)) == 2
    assert memory.search("where does Ana live", user_id="ana", as_of="2024-02-01T00:00:00Z")[0].memory.id == porto.id
    assert all(h.memory.id != porto.id for h in memory.search("where does Ana live", user_id="ana"))
    assert [e.event for e in memory.history(porto.id)] == [EventType.ADD, EventType.INVALIDATE]
    lisbon_graph = memory.related(["Ana"], user_id="ana")
    assert {e.name for e in lisbon_graph.entities} == {"Ana", "Lisbon"}
    porto_graph = memory.related(["Ana"], user_id="ana", as_of="2024-02-01T00:00:00Z")
    assert {e.name for e in porto_graph.entities} == {"Ana", "Porto"}


def test_out_of_order_old_fact_does_not_override_newer_one(memory):
    _say(memory, "I live in Lisbon.", "2024-03-01T10:00:00Z")
    ops = _say(memory, "I live in Porto.", "2023-06-01T10:00:00Z")
    assert [op.event for op in ops] == [EventType.ADD]
    assert ops[0].memory.valid_to == datetime(2024, 3, 1, 10, tzinfo=timezone.utc)
    assert [r.text for r in memory.get_all(user_id="ana")] == ["Ana lives in Lisbon."]


def test_unnamed_message_speaks_as_the_scope_user(memory):
    """No name on the message: the user id is the speaker ("alice" -> "Alice"), a given name wins."""
    assert [op.memory.text for op in memory.add("I love green curry.", user_id="alice")] == ["Alice loves green curry."]
    named = memory.add({"role": "user", "content": "I love dark roast.", "name": "Al"}, user_id="alice")
    assert [op.memory.text for op in named] == ["Al loves dark roast."]
    assert [op.memory.text for op in memory.add("I love tea.", agent_id="bot")] == ["User loves tea."]
