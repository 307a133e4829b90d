"""The LLM memory manager with scripted langchain-core fake chat models.

GenericFakeChatModel answers from a fixed script and raises StopIteration if called once more
than scripted, so every test also proves how many model calls the pipeline made. A scripted
reply may be a function of the prompt (the memory ids a reconciliation lists are known only
when it is asked).
"""

import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langmem_plugin import AsyncMemory, EventType, Memory
from langmem_plugin.managers.base import Neighbour
from langmem_plugin.managers.llm.manager import LLMMemoryManager
from langmem_plugin.managers.llm.structured import LLMCallError, LLMOutputError, parse_json_object
from langmem_plugin.pipeline.ingest import new_record
from langmem_plugin.records import Fact, Scope, SourceRef

from .helpers import HashingEmbeddings


class PromptRecorder(BaseCallbackHandler):
    def __init__(self):
        self.calls: list[list] = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.calls.append(messages[0])


def scripted(*replies) -> tuple[GenericFakeChatModel, PromptRecorder]:
    """A model answering `replies` in order; a callable reply gets the text of the call's first user
    message, retries included (the callbacks see a call before the model answers it)."""
    recorder = PromptRecorder()

    def answers():
        for reply in replies:
            reply = reply(recorder.calls[-1][1].content) if callable(reply) else reply
            yield AIMessage(reply if isinstance(reply, str) else json.dumps(reply))

    return GenericFakeChatModel(messages=answers(), callbacks=[recorder]), recorder


def listed(prompt: str) -> dict[str, int]:
    """The existing memories a reconciliation prompt lists: text -> the integer id shown."""
    listing = prompt.split("Existing memories:\n", 1)[1].split("\n\n", 1)[0]
    return {
        line.split(": ", 1)[1].rsplit(" (since ", 1)[0]: int(line.split(":", 1)[0])
        for line in listing.splitlines()
    }


def deciding(*items):
    """A reconciliation reply naming memories by text: (action, [memory texts][, merged text]) per fact."""
    return lambda prompt: decisions(
        *((action, [listed(prompt)[t] for t in texts], *rest) for action, texts, *rest in items)
    )


def facts(*items) -> dict:
    """An extraction answer: (text, message ids[, extra fields such as date, forget or relations])."""
    return {
        "facts": [
            {"text": text, "source_message_ids": ids, **(rest[0] if rest else {})}
            for text, ids, *rest in items
        ]
    }


def stated(*triples) -> list[dict]:
    return [{"source": s, "relation": r, "target": t} for s, r, t in triples]


def graph(*triples) -> dict:
    """The answer of the one graph call `Memory.update` makes for its new text."""
    return {"relations": stated(*triples)}


def decisions(*items) -> dict:
    """A reconciliation answer: (action, memory ids[, merged text]) per fact, in fact order."""
    return {
        "decisions": [
            {"fact_index": index, "action": action, "memory_ids": ids, **({"text": rest[0]} if rest else {})}
            for index, (action, ids, *rest) in enumerate(items)
        ]
    }


def message(text, mid="m1", when="2024-04-22T18:40:00Z"):
    return {"role": "user", "name": "Alice", "content": text, "id": mid, "timestamp": when}


@pytest.fixture
def make_memory(tmp_path):
    opened = []

    def factory(model, settings=None, **llm_config):
        config = {"path": str(tmp_path / "llm"), "llm": llm_config, **(settings or {})}
        memory = Memory(config, embeddings=HashingEmbeddings(), llm=model)
        opened.append(memory)
        return memory

    yield factory
    for memory in opened:
        memory.close()


def test_add_extracts_facts_with_provenance_and_graph(make_memory):
    model, recorder = scripted(
        facts(
            ("Alice lives in Paris", ["m1"], {"relations": stated(("Alice", "lives in", "Paris"))}),
            ("Alice works at Acme", ["m1", "m2"], {"relations": stated(("Alice", "works at", "Acme"))}),
        )
    )
    memory = make_memory(model)
    ops = memory.add([message("I live in Paris."), message("I work at Acme.", "m2")], user_id="alice")
    assert [(op.event, op.memory.text) for op in ops] == [(EventType.ADD, "Alice lives in Paris"), (EventType.ADD, "Alice works at Acme")]
    assert [s.message_id for s in ops[1].memory.sources] == ["m1", "m2"]
    assert ops[0].memory.valid_from == datetime(2024, 4, 22, 18, 40, tzinfo=timezone.utc)
    assert memory.history(ops[0].memory.id)[0].actor == "llm:GenericFakeChatModel"
    relations = memory.related(["Alice"], user_id="alice").relations
    assert sorted(r.relation for r in relations) == ["LIVES_IN", "WORKS_AT"]
    assert (
        len(recorder.calls) == 1
    )  # nothing stored yet: no reconciliation, and the graph came with the facts
    system, user = recorder.calls[0]
    assert "I live in Paris." not in system.content and "[id=m1] [2024-04-22 18:40] Alice: I live in Paris." in user.content
    assert '"items": {"enum": ["m1", "m2"], "type": "string"}' in user.content  # only shown ids can be cited


def _seed(make_memory):
    """Store 'Alice lives in Paris' (said 10 January) with a first model; tests reopen with their own."""
    model, _ = scripted(
        facts(("Alice lives in Paris", ["m0"], {"relations": stated(("Alice", "lives in", "Paris"))}))
    )
    return make_memory(model).add(message("I live in Paris.", "m0", "2024-01-10T09:00:00Z"), user_id="alice")[0].memory


def test_update_refines_existing_memory(make_memory):
    seeded = _seed(make_memory)
    model, recorder = scripted(
        facts(
            (
                "Alice lives in Paris, in the Marais",
                ["m1"],
                {"relations": stated(("Alice", "lives in", "Marais"))},
            )
        ),
        decisions(("UPDATE", [0], "Alice lives in the Marais in Paris")),
    )
    memory = make_memory(model)
    ops = memory.add(message("I live in the Marais."), user_id="alice")
    assert [(op.event, op.memory.id, op.previous_text) for op in ops] == [(EventType.UPDATE, seeded.id, "Alice lives in Paris")]
    assert memory.get(seeded.id).text == "Alice lives in the Marais in Paris"
    reconcile_prompt = recorder.calls[1][1].content
    assert "0: Alice lives in Paris" in reconcile_prompt and seeded.id not in reconcile_prompt  # integer ids, never UUIDs
    assert '"items": {"const": 0, "type": "integer"}' in reconcile_prompt  # only listed memories can be named
    assert [e.event for e in memory.history(seeded.id)] == [EventType.ADD, EventType.UPDATE]


def test_invalidate_keeps_old_memory_queryable_in_the_past(make_memory):
    seeded = _seed(make_memory)
    model, _ = scripted(
        facts(("Alice moved to Berlin", ["m1"], {"relations": stated(("Alice", "lives in", "Berlin"))})),
        decisions(("INVALIDATE", [0])),
    )
    memory = make_memory(model)
    ops = memory.add(message("I moved to Berlin."), user_id="alice")
    assert [op.event for op in ops] == [EventType.INVALIDATE, EventType.ADD]
    assert memory.get(seeded.id).valid_to == datetime(2024, 4, 22, 18, 40, tzinfo=timezone.utc)
    assert [r.text for r in memory.get_all(user_id="alice")] == ["Alice moved to Berlin"]
    past = memory.search("where does alice live", user_id="alice", as_of="2024-02-01T00:00:00Z")
    assert [h.memory.id for h in past] == [seeded.id]
    # graph contradiction: the Paris relation is closed at the time Berlin was said
    assert {e.name for e in memory.related(["Alice"], user_id="alice").entities} == {"Alice", "Berlin"}
    assert {e.name for e in memory.related(["Alice"], user_id="alice", as_of="2024-02-01T00:00:00Z").entities} == {"Alice", "Paris"}
    assert [e.event for e in memory.history(seeded.id)] == [EventType.ADD, EventType.INVALIDATE]


def test_noop_stores_nothing_new_and_merges_provenance(make_memory):
    seeded = _seed(make_memory)
    model, _ = scripted(facts(("Alice is a Paris resident", ["m1"])), decisions(("NOOP", [0])))
    memory = make_memory(model)
    ops = memory.add(message("Paris is home."), user_id="alice")
    assert [(op.event, op.memory.id) for op in ops] == [(EventType.NOOP, seeded.id)]
    assert len(memory.get_all(user_id="alice")) == 1
    assert [s.message_id for s in memory.get(seeded.id).sources] == ["m0", "m1"]


def test_identical_fact_is_a_noop_without_any_reconcile_call(make_memory):
    seeded = _seed(make_memory)
    model, recorder = scripted(facts(("Alice lives in Paris.", ["m1"])))  # only the extraction is scripted
    memory = make_memory(model)
    ops = memory.add(message("As I said, I live in Paris."), user_id="alice")
    assert [(op.event, op.memory.id) for op in ops] == [(EventType.NOOP, seeded.id)]
    assert len(recorder.calls) == 1
    assert memory.get(seeded.id).valid_to is None  # re-adding is never a delete


def test_hallucinated_memory_id_is_rejected_and_retried(make_memory):
    seeded = _seed(make_memory)
    model, recorder = scripted(
        facts(("Alice lives in Paris near the river", ["m1"])),
        decisions(("UPDATE", [7], "x")),
        decisions(("UPDATE", [0], "Alice lives in Paris near the river")),
    )
    memory = make_memory(model)
    ops = memory.add(message("I live near the river."), user_id="alice")
    assert [(op.event, op.memory.id) for op in ops] == [(EventType.UPDATE, seeded.id)]
    feedback = recorder.calls[2][-1].content
    assert feedback.startswith("That answer is invalid: decisions.0.memory_ids.0: Input should be 0\n")


def test_hallucinated_ids_every_time_raise_and_store_nothing(make_memory):
    seeded = _seed(make_memory)
    bad = decisions(("INVALIDATE", [42]))
    model, _ = scripted(facts(("Alice moved to Rome", ["m1"])), bad, bad, bad)
    memory = make_memory(model)
    with pytest.raises(LLMOutputError, match="after 3 attempts"):
        memory.add(message("I moved to Rome."), user_id="alice")
    assert [r.id for r in memory.get_all(user_id="alice", include_invalidated=True)] == [seeded.id]
    assert memory.get(seeded.id).valid_to is None


def test_fenced_or_wrapped_json_is_parsed(make_memory):
    wrapped = "Sure! Here you go:\n```json\n" + json.dumps(facts(("Alice plays chess", ["m1"]))) + "\n```\nAnything else?"
    model, _ = scripted(wrapped)
    ops = make_memory(model).add(message("I play chess."), user_id="alice")
    assert [op.memory.text for op in ops] == ["Alice plays chess"]


def test_malformed_json_is_never_silently_no_facts(make_memory):
    model, recorder = scripted("I could not find anything {not json", '{"facts": "wrong type"}', "")
    memory = make_memory(model)
    with pytest.raises(LLMOutputError):
        memory.add(message("I love sailing."), user_id="alice")
    assert memory.get_all(user_id="alice") == []
    assert len(recorder.calls) == 3


def test_empty_fact_list_is_a_valid_answer(make_memory):
    model, _ = scripted({"facts": []})
    assert make_memory(model).add(message("Hi!"), user_id="alice") == []


def test_failure_in_reconciliation_leaves_nothing_partial(make_memory):
    seeded = _seed(make_memory)
    extracted = facts(("Alice adopted a cat", ["m1"], {"relations": stated(("Alice", "adopted", "cat"))}))
    model, _ = scripted(
        extracted, "oops", '{"decisions": "x"}', decisions(("UPDATE", [0]))
    )  # UPDATE without text
    memory = make_memory(model)
    with pytest.raises(LLMOutputError, match="UPDATE needs the merged text"):
        memory.add(message("I adopted a cat."), user_id="alice")
    assert [r.id for r in memory.get_all(user_id="alice", include_invalidated=True)] == [seeded.id]
    assert {e.name for e in memory.related(["Alice"], user_id="alice").entities} == {"Alice", "Paris"}


def test_an_incomplete_relation_is_retried_and_then_nothing_is_stored(make_memory):
    half = facts(
        (
            "Alice adopted a cat",
            ["m1"],
            {"relations": [{"source": "Alice", "relation": " ", "target": "cat"}]},
        )
    )
    model, recorder = scripted(half, half, half)
    memory = make_memory(model)
    with pytest.raises(LLMOutputError, match="every relation needs a source, a relation and a target"):
        memory.add(message("I adopted a cat."), user_id="alice")
    assert len(recorder.calls) == 3 and memory.get_all(user_id="alice") == []


def test_unknown_source_ids_and_bad_dates_are_retried(make_memory):
    model, recorder = scripted(
        facts(("Alice ran a marathon", ["m9"])),
        facts(("Alice ran a marathon on 21 April 2024", ["m1"], {"date": "last Sunday"})),
        facts(("Alice ran a marathon on 21 April 2024", ["m1"], {"date": "2024-02-30"})),
        facts(("Alice ran a marathon on 21 April 2024", ["m1"], {"date": "2024-04-21"})),
    )
    ops = make_memory(model, retries=3).add(message("I ran a marathon yesterday."), user_id="alice")
    assert ops[0].memory.text == "Alice ran a marathon on 21 April 2024"
    assert "facts.0.source_message_ids.0: Input should be 'm1'" in recorder.calls[1][-1].content
    assert "facts.0.date: String should match pattern" in recorder.calls[2][-1].content
    assert "fact 0 has date '2024-02-30', no calendar date" in recorder.calls[3][-1].content


def test_answers_are_cached_in_the_key_value_tier(tmp_path):
    path = str(tmp_path / "cache")
    model, _ = scripted(facts(("Alice owns a kayak", ["m1"])))
    with Memory({"path": path}, embeddings=HashingEmbeddings(), llm=model) as memory:
        memory.add(message("I own a kayak."), user_id="alice")
        memory.delete_all(user_id="alice")
    replay, recorder = scripted()  # any model call would raise StopIteration
    with Memory({"path": path}, embeddings=HashingEmbeddings(), llm=replay) as memory:
        ops = memory.add(message("I own a kayak."), user_id="alice")
    assert [op.memory.text for op in ops] == ["Alice owns a kayak"] and recorder.calls == []


def test_cached_answers_belong_to_their_scope_and_a_purge_erases_them(tmp_path):
    config = {"path": str(tmp_path / "cache")}
    model, _ = scripted(facts(("Alice owns a kayak", ["m1"])))
    with Memory(config, embeddings=HashingEmbeddings(), llm=model) as memory:
        memory.add(message("I own a kayak."), user_id="alice", agent_id="coach")
    other, recorder = scripted(facts(("Alice owns a kayak", ["m1"])))
    with Memory(config, embeddings=HashingEmbeddings(), llm=other) as memory:
        memory.add(message("I own a kayak."), user_id="bob")  # same prompt, another scope: asked again
        assert len(recorder.calls) == 1
        cached = memory.services.kv.keys("llm_responses")
        assert len(cached) == 2
        memory.delete_all(user_id="alice", purge=True)
        assert sorted(memory.services.kv.keys("llm_responses")) == sorted(k for k in cached if k.startswith("user_id=bob/"))


def test_custom_prompts_and_procedural_memory_for_agents(make_memory):
    model, recorder = scripted(facts(("Answer in French", ["m1"])))
    memory = make_memory(model, custom_extraction="Never store health data.")
    memory.add(message("Please always answer in French."), agent_id="tutor")
    system = recorder.calls[0][0].content
    assert "procedural memories" in system and system.endswith("Never store health data.")


async def test_async_memory_uses_the_llm_manager(tmp_path):
    model, _ = scripted(facts(("Alice likes jazz", ["m1"])))
    memory = AsyncMemory({"path": str(tmp_path / "async")}, embeddings=HashingEmbeddings(), llm=model)
    ops = await memory.add(message("I like jazz."), user_id="alice")
    assert [op.memory.text for op in ops] == ["Alice likes jazz"]
    await memory.aclose()


def test_parse_json_object():
    assert parse_json_object('text {"a": {"b": 1}} more') == {"a": {"b": 1}}
    assert parse_json_object('[1] then {"x": 2}') == {"x": 2}
    with pytest.raises(ValueError):
        parse_json_object("no json here")


def test_a_fact_citing_no_message_keeps_the_whole_call_as_provenance(make_memory):
    model, _ = scripted({"facts": [{"text": "Alice sails", "source_message_ids": []}]})
    ops = make_memory(model).add([message("I sail.", "a"), message("Every weekend.", "b")], user_id="alice")
    assert [s.message_id for s in ops[0].memory.sources] == ["a", "b"]


class BrokenModel(GenericFakeChatModel):
    def _generate(self, *args, **kwargs):
        raise ConnectionError("server unreachable")


def test_transport_failures_are_typed_and_store_nothing(make_memory):
    memory = make_memory(BrokenModel(messages=iter([])))
    with pytest.raises(LLMCallError, match="server unreachable"):
        memory.add(message("I sail."), user_id="alice")
    assert memory.get_all(user_id="alice") == []


def test_new_mentions_are_matched_to_known_entities(make_memory):
    first, _ = scripted(
        facts(("Alice works at Acme Corp", ["m1"], {"relations": stated(("Alice", "works at", "Acme Corp"))}))
    )
    make_memory(first).add(message("I work at Acme Corp."), user_id="alice")
    second, _ = scripted(
        facts(("Acme is hiring", ["m2"], {"relations": stated(("alice", "recommends", "Acme"))})),
        decisions(("ADD", [])),
    )
    # bag-of-words test vectors: cos("acme", "acme corp") = 0.71
    memory = make_memory(second, {"manager": {"entity_match_threshold": 0.7}})
    memory.add(message("Acme is hiring.", "m2"), user_id="alice")
    hood = memory.related(["Alice"], user_id="alice")
    assert sorted(e.name for e in hood.entities) == ["Acme Corp", "Alice"]
    assert sorted(r.relation for r in hood.relations) == ["RECOMMENDS", "WORKS_AT"]


def test_event_dates_are_stored_and_filterable(make_memory):
    model, _ = scripted(
        facts(("Alice ran a marathon on 21 April 2024", ["m1"], {"date": "2024-04-21"}), ("Alice likes tea", ["m1"])),
    )
    memory = make_memory(model)
    ops = memory.add(message("I ran a marathon yesterday. I like tea."), user_id="alice", metadata={"source": "chat"})
    assert ops[0].memory.metadata == {"event_date": "2024-04-21", "source": "chat"}
    assert ops[1].memory.metadata == {"source": "chat"}
    april = memory.get_all(user_id="alice", filters={"event_date": {"$gte": "2024-04-01", "$lt": "2024-05-01"}})
    assert [r.text for r in april] == ["Alice ran a marathon on 21 April 2024"]


def test_two_updates_of_one_memory_in_a_batch_keep_both_facts(make_memory):
    seeded = _seed(make_memory)
    model, _ = scripted(
        facts(
            ("Alice lives in Paris near the Louvre", ["m1"]), ("Alice lives in Paris with two cats", ["m1"])
        ),
        decisions(
            ("UPDATE", [0], "Alice lives in Paris near the Louvre"),
            ("UPDATE", [0], "Alice lives in Paris with cats"),
        ),
    )
    ops = make_memory(model).add(message("I live near the Louvre with my two cats."), user_id="alice")
    assert [(op.event, op.memory.text) for op in ops] == [
        (EventType.UPDATE, "Alice lives in Paris near the Louvre"),
        (EventType.ADD, "Alice lives in Paris with two cats"),
    ]
    assert ops[0].memory.id == seeded.id and ops[1].memory.id != seeded.id


def test_a_fact_may_target_a_memory_retrieved_for_another_fact(make_memory):
    seeded = _seed(make_memory)
    model, _ = scripted(
        facts(("Alice owns a bike", ["m1"]), ("Alice rides it around Paris", ["m1"])),
        decisions(("ADD", []), ("UPDATE", [0], "Alice lives in Paris and cycles around it")),
    )
    ops = make_memory(model).add(message("I own a bike and ride it around Paris."), user_id="alice")
    assert [(op.event, op.memory.id == seeded.id) for op in ops] == [(EventType.ADD, False), (EventType.UPDATE, True)]


def test_unnamed_user_message_is_labelled_with_the_scope_user(make_memory):
    model, recorder = scripted(facts(("Alice loves green curry", ["m1"])))
    memory = make_memory(model)
    memory.add({"role": "user", "content": "I love green curry.", "id": "m1"}, user_id="alice")
    conversation = recorder.calls[0][-1].content
    assert "Alice: I love green curry." in conversation and "user: I love" not in conversation


# -- calls per add, the forget action, retractions, other people's facts ------------------------


@settings(max_examples=15, deadline=None)
@given(count=st.integers(1, 12), stored=st.booleans())
def test_an_add_costs_two_calls_whatever_the_number_of_facts_and_one_with_nothing_stored(
    tmp_path_factory, count, stored
):
    path = str(tmp_path_factory.mktemp("calls"))
    if stored:
        with Memory({"path": path}, embeddings=HashingEmbeddings(), llm=scripted()[0]) as memory:
            memory.add(message("Alice lives in Paris.", "m0"), user_id="alice", infer=False)
    extracted = facts(
        *(
            (f"Alice collects item {i}", ["m1"], {"relations": stated(("Alice", "collects", f"item {i}"))})
            for i in range(count)
        )
    )
    model, recorder = scripted(extracted, *([decisions(*[("ADD", [])] * count)] if stored else []))
    with Memory({"path": path}, embeddings=HashingEmbeddings(), llm=model) as memory:
        operations = memory.add(message("I collect things."), user_id="alice")
        assert [op.event for op in operations] == [EventType.ADD] * count
        assert len(recorder.calls) == (2 if stored else 1)  # extraction (+ reconciliation): no call per fact
        assert (
            len(memory.related(["Alice"], user_id="alice").relations) == count
        )  # relations came with the facts
    if stored:
        reconciliation = recorder.calls[1][1].content
        assert (
            "0: Alice lives in Paris." in reconciliation
            and f"{count - 1}: Alice collects item {count - 1}" in reconciliation
        )


def _store(make_memory, *texts):
    """Alice's memories, stored verbatim (no model call); each test reopens with its own model."""
    memory = make_memory(scripted()[0])
    return [
        memory.add(message(t, f"s{i}", "2024-01-10T09:00:00Z"), user_id="alice", infer=False)[0].memory
        for i, t in enumerate(texts)
    ]


def test_a_request_to_forget_retires_the_memories_it_names_and_stores_nothing(make_memory):
    jazz, concerts, phone, porto = _store(
        make_memory,
        "Alice loves jazz.",
        "Alice goes to jazz concerts.",
        "Alice's phone number is 555-0100.",
        "Alice lives in Porto.",
    )
    model, recorder = scripted(
        facts(
            (
                "what Alice said about jazz",
                ["m1"],
                {"forget": True, "relations": stated(("Alice", "loves", "jazz"))},
            ),
            ("Alice's phone number", ["m1"], {"forget": True}),
        ),
        deciding(
            ("DELETE", ["Alice loves jazz.", "Alice goes to jazz concerts."]),
            ("DELETE", ["Alice's phone number is 555-0100."]),
        ),
    )
    memory = make_memory(model)
    operations = memory.add(
        message("Please delete what I said about jazz, and forget my phone number."), user_id="alice"
    )
    assert [(op.event, op.memory.id) for op in operations] == [
        (EventType.DELETE, jazz.id),
        (EventType.DELETE, concerts.id),
        (EventType.DELETE, phone.id),
    ]
    assert [m.id for m in memory.get_all(user_id="alice", include_invalidated=True)] == [porto.id]
    events = memory.history(jazz.id)
    assert [e.event for e in events] == [EventType.ADD, EventType.DELETE] and events[
        -1
    ].actor == "llm:GenericFakeChatModel"
    assert (
        memory.related(["Alice"], user_id="alice").relations == []
    )  # a request's relations are never stored
    assert len(recorder.calls) == 2
    extraction_rules, reconciliation_rules = recorder.calls[0][0].content, recorder.calls[1][0].content
    assert '"forget": true' in extraction_rules and "never stored" in extraction_rules
    assert "DELETE: only for a fact marked FORGET" in reconciliation_rules
    assert (
        "New facts:\n0: FORGET what Alice said about jazz (said 2024-04-22)\n1: FORGET Alice's phone number"
        in (recorder.calls[1][1].content)
    )


def test_a_request_to_forget_with_nothing_stored_costs_one_call_and_stores_nothing(make_memory):
    model, recorder = scripted(
        facts(("Alice loves jazz", ["m1"], {"forget": True}), ("Alice lives in Porto", ["m1"]))
    )
    operations = make_memory(model).add(message("Forget that I love jazz. I live in Porto."), user_id="alice")
    assert [(op.event, op.memory.text) for op in operations] == [(EventType.ADD, "Alice lives in Porto")]
    assert len(recorder.calls) == 1


def test_delete_answers_requests_to_forget_and_only_them(make_memory):
    (jazz,) = _store(make_memory, "Alice loves jazz.")
    model, recorder = scripted(
        facts(("Alice loves jazz", ["m1"], {"forget": True}), ("Alice loves the blues", ["m1"])),
        deciding(("NOOP", ["Alice loves jazz."]), ("ADD", [])),
        deciding(("DELETE", ["Alice loves jazz."]), ("DELETE", ["Alice loves jazz."])),
        deciding(("DELETE", ["Alice loves jazz."]), ("ADD", [])),
    )
    memory = make_memory(model)
    operations = memory.add(message("Forget the jazz; I love the blues."), user_id="alice")
    assert [(op.event, op.memory.text) for op in operations] == [
        (EventType.DELETE, "Alice loves jazz."),
        (EventType.ADD, "Alice loves the blues"),
    ]
    assert "fact 0 is a FORGET request: answer DELETE" in recorder.calls[2][-1].content
    assert (
        "fact 1: DELETE answers FORGET requests only; a contradiction is INVALIDATE"
        in recorder.calls[3][-1].content
    )
    assert len(recorder.calls) == 4


def test_a_retraction_invalidates_every_memory_it_contradicts(make_memory):
    meat, steak, porto = _store(
        make_memory, "Alice eats meat.", "Alice's favourite dish is steak.", "Alice lives in Porto."
    )
    model, recorder = scripted(
        facts(("Alice no longer eats meat", ["m1"])),
        deciding(("INVALIDATE", ["Alice eats meat.", "Alice's favourite dish is steak."])),
    )
    memory = make_memory(model)
    operations = memory.add(message("I don't eat meat anymore."), user_id="alice")
    assert [(op.event, op.memory.text) for op in operations] == [
        (EventType.INVALIDATE, "Alice eats meat."),
        (EventType.INVALIDATE, "Alice's favourite dish is steak."),
        (EventType.ADD, "Alice no longer eats meat"),
    ]
    said = datetime(2024, 4, 22, 18, 40, tzinfo=timezone.utc)
    assert memory.get(meat.id).valid_to == said and memory.get(steak.id).valid_to == said
    assert sorted(m.text for m in memory.get_all(user_id="alice")) == [
        "Alice lives in Porto.",
        "Alice no longer eats meat",
    ]
    assert '"no longer", "not ... anymore", "stopped", "quit"' in recorder.calls[1][0].content
    assert '"I don\'t eat meat anymore" ->\n"Alice no longer eats meat"' in recorder.calls[0][0].content


def test_another_persons_fact_is_stored_beside_the_speakers_own(make_memory):
    (porto,) = _store(make_memory, "Alice lives in Porto.")
    model, recorder = scripted(
        facts(
            (
                "Alice's sister lives in Rome",
                ["m1"],
                {"relations": stated(("Alice's sister", "lives in", "Rome"))},
            )
        ),
        deciding(("ADD", [])),
    )
    memory = make_memory(model)
    operations = memory.add(message("My sister lives in Rome."), user_id="alice")
    assert [(op.event, op.memory.text) for op in operations] == [
        (EventType.ADD, "Alice's sister lives in Rome")
    ]
    assert memory.get(porto.id).valid_to is None
    assert (
        "A fact about another person (a relative, a friend) never updates, invalidates"
        in recorder.calls[1][0].content
    )
    assert "names that person as its subject" in recorder.calls[0][0].content


def test_entity_types_come_with_the_extracted_relations(make_memory):
    relation = {
        "source": "Alice",
        "source_type": "person",
        "relation": "works at",
        "target": "Acme",
        "target_type": "organisation",
    }
    model, _ = scripted(facts(("Alice works at Acme", ["m1"], {"relations": [relation]})))
    memory = make_memory(model)
    memory.add(message("I work at Acme."), user_id="alice")
    assert {(e.name, e.type) for e in memory.related(["Alice"], user_id="alice").entities} == {
        ("Alice", "person"),
        ("Acme", "organisation"),
    }


def test_update_costs_one_call_for_the_relations_of_its_new_text(make_memory):
    seeded = _seed(make_memory)
    model, recorder = scripted(graph(("Alice", "lives in", "Lisbon")))
    memory = make_memory(model)
    memory.update(seeded.id, "Alice lives in Lisbon", user_id="alice")
    assert len(recorder.calls) == 1 and recorder.calls[0][1].content.startswith("Fact: Alice lives in Lisbon")
    assert {e.name for e in memory.related(["Alice"], user_id="alice").entities} == {"Alice", "Lisbon"}


def test_update_without_a_graph_costs_no_call(make_memory):
    seeded = _seed(make_memory)
    memory = make_memory(scripted()[0], {"graph": {"enabled": False}})
    assert memory.update(seeded.id, "Alice lives in Lisbon", user_id="alice").text == "Alice lives in Lisbon"


_SAID = SourceRef(
    message_id="m1",
    turn_id="m1",
    role="user",
    name="Alice",
    timestamp=datetime(2024, 4, 22, tzinfo=timezone.utc),
)
_EXISTING = [
    new_record(f"memory-{i}", f"Alice knows thing {i}", Scope(user_id="alice"), {}, [_SAID], _SAID.timestamp)
    for i in range(3)
]
_ANY_DECISION = st.fixed_dictionaries(
    {
        "fact_index": st.integers(-1, 3),
        "action": st.sampled_from(["ADD", "UPDATE", "INVALIDATE", "NOOP", "DELETE"]),
        "memory_ids": st.lists(st.integers(-1, 3), max_size=3),
        "text": st.sampled_from([None, "", "merged text"]),
    }
)


def _reconcile(forget: list[bool], answer: dict):
    """One reconciliation of facts (a request to forget where `forget` says so) against `_EXISTING`."""
    model, recorder = scripted(answer)
    manager = LLMMemoryManager(model, retries=0, structured_output="prompt")
    facts = [Fact(text=f"new fact {i}", sources=[_SAID], forget=f) for i, f in enumerate(forget)]
    neighbours = [[Neighbour(m, 0.9) for m in _EXISTING] for _ in facts]
    return manager.reconcile(facts, neighbours, Scope(user_id="alice")), recorder


@settings(max_examples=100, deadline=None)
@given(forget=st.lists(st.booleans(), min_size=1, max_size=3), answer=st.lists(_ANY_DECISION, max_size=4))
def test_whatever_the_model_answers_decisions_keep_the_protocol_or_nothing_is_decided(forget, answer):
    try:
        decided, recorder = _reconcile(forget, {"decisions": answer})
    except LLMOutputError:
        return  # one typed error: nothing was decided, so nothing is written
    assert len(decided) == len(forget)
    for decision, is_request in zip(decided, forget):
        assert (
            decision.event is EventType.DELETE
        ) == is_request  # the forget action and requests go together
        assert all(target in _EXISTING for target in decision.targets())
        if decision.event in (EventType.UPDATE, EventType.NOOP):
            assert decision.target is not None and not decision.also_invalidate and not decision.also_delete
        if decision.event is EventType.UPDATE:
            assert decision.text.strip()


@st.composite
def _valid_answers(draw):
    """Facts, and a reconciliation of them that follows every rule, with what each decision must become."""
    forget = draw(st.lists(st.booleans(), min_size=1, max_size=3))
    answer, expected = [], []
    for index, is_request in enumerate(forget):
        action = "DELETE" if is_request else draw(st.sampled_from(["ADD", "UPDATE", "INVALIDATE", "NOOP"]))
        fewest, most = {
            "ADD": (0, 0),
            "UPDATE": (1, 1),
            "NOOP": (1, 1),
            "INVALIDATE": (1, 3),
            "DELETE": (0, 3),
        }[action]
        ids = draw(st.lists(st.integers(0, 2), min_size=fewest, max_size=most, unique=True))
        answer.append(
            {
                "fact_index": index,
                "action": action,
                "memory_ids": ids,
                "text": "merged" if action == "UPDATE" else None,
            }
        )
        expected.append((action, [_EXISTING[i] for i in ids]))
    order = draw(st.permutations(range(len(answer))))
    return forget, [answer[i] for i in order], expected


@settings(max_examples=100, deadline=None)
@given(case=_valid_answers())
def test_a_valid_reconciliation_is_taken_as_given_in_one_call(case):
    forget, answer, expected = case
    decided, recorder = _reconcile(forget, {"decisions": answer})
    assert len(recorder.calls) == 1
    for decision, (action, targets) in zip(decided, expected):
        if action == "INVALIDATE":
            assert (decision.event, decision.also_invalidate) == (EventType.ADD, targets)
        else:
            assert (decision.event, decision.targets()) == (EventType(action), targets)
