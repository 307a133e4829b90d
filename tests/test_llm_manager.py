"""The LLM memory manager with scripted langchain-core fake chat models.

GenericFakeChatModel answers from a fixed script and raises StopIteration if called once more
than scripted, so every test also proves how many model calls the pipeline made.
"""

import json
from datetime import datetime, timezone

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langmem_plugin import AsyncMemory, EventType, Memory
from langmem_plugin.managers.llm.structured import LLMCallError, LLMOutputError, parse_json_object

from .helpers import HashingEmbeddings


class PromptRecorder(BaseCallbackHandler):
    def __init__(self):
        self.calls: list[list] = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.calls.append(messages[0])


def scripted(*replies) -> tuple[GenericFakeChatModel, PromptRecorder]:
    recorder = PromptRecorder()
    model = GenericFakeChatModel(
        messages=iter(AIMessage(r if isinstance(r, str) else json.dumps(r)) for r in replies), callbacks=[recorder]
    )
    return model, recorder


def facts(*items) -> dict:
    return {"facts": [{"text": text, "source_message_ids": ids, **extra} for text, ids, *rest in items for extra in [rest[0] if rest else {}]]}


def graph(*relations) -> dict:
    return {"entities": [], "relations": [{"source": s, "relation": r, "target": t} for s, r, t in relations]}


def message(text, mid="m1", when="2024-04-22T18:40:00Z"):
    return {"role": "user", "name": "Alice", "content": text, "id": mid, "timestamp": when}


@pytest.fixture
def make_memory(tmp_path):
    opened = []

    def factory(model, settings=None, **llm_config):
        config = {"path": str(tmp_path / "llm"), "llm": {"parallel_calls": 1, **llm_config}, **(settings or {})}
        memory = Memory(config, embeddings=HashingEmbeddings(), llm=model)
        opened.append(memory)
        return memory

    yield factory
    for memory in opened:
        memory.close()


def test_add_extracts_facts_with_provenance_and_graph(make_memory):
    model, recorder = scripted(
        facts(("Alice lives in Paris", ["m1"]), ("Alice works at Acme", ["m1", "m2"])),
        graph(("Alice", "lives in", "Paris")),
        graph(("Alice", "works at", "Acme")),
    )
    memory = make_memory(model)
    ops = memory.add([message("I live in Paris."), message("I work at Acme.", "m2")], user_id="alice")
    assert [(op.event, op.memory.text) for op in ops] == [(EventType.ADD, "Alice lives in Paris"), (EventType.ADD, "Alice works at Acme")]
    assert [s.message_id for s in ops[1].memory.sources] == ["m1", "m2"]
    assert ops[0].memory.valid_from == datetime(2024, 4, 22, 18, 40, tzinfo=timezone.utc)
    assert memory.history(ops[0].memory.id)[0].actor == "llm:GenericFakeChatModel"
    relations = memory.related(["Alice"], user_id="alice").relations
    assert sorted(r.relation for r in relations) == ["LIVES_IN", "WORKS_AT"]
    system, user = recorder.calls[0]
    assert "I live in Paris." not in system.content and "[id=m1] [2024-04-22 18:40] Alice: I live in Paris." in user.content


def _seed(make_memory):
    """Store 'Alice lives in Paris' (said 10 January) with a first model; tests reopen with their own."""
    model, _ = scripted(facts(("Alice lives in Paris", ["m0"])), graph(("Alice", "lives in", "Paris")))
    return make_memory(model).add(message("I live in Paris.", "m0", "2024-01-10T09:00:00Z"), user_id="alice")[0].memory


def test_update_refines_existing_memory(make_memory):
    seeded = _seed(make_memory)
    model, recorder = scripted(
        facts(("Alice lives in Paris, in the Marais", ["m1"])),
        {"decisions": [{"fact_index": 0, "action": "UPDATE", "memory_id": 0, "text": "Alice lives in the Marais in Paris"}]},
        graph(("Alice", "lives in", "Marais")),
    )
    memory = make_memory(model)
    ops = memory.add(message("I live in the Marais."), user_id="alice")
    assert [(op.event, op.memory.id, op.previous_text) for op in ops] == [(EventType.UPDATE, seeded.id, "Alice lives in Paris")]
    assert memory.get(seeded.id).text == "Alice lives in the Marais in Paris"
    reconcile_prompt = recorder.calls[1][1].content
    assert "0: Alice lives in Paris" in reconcile_prompt and seeded.id not in reconcile_prompt  # integer ids, never UUIDs
    assert [e.event for e in memory.history(seeded.id)] == [EventType.ADD, EventType.UPDATE]


def test_invalidate_keeps_old_memory_queryable_in_the_past(make_memory):
    seeded = _seed(make_memory)
    model, _ = scripted(
        facts(("Alice moved to Berlin", ["m1"])),
        {"decisions": [{"fact_index": 0, "action": "INVALIDATE", "memory_id": 0}]},
        graph(("Alice", "lives in", "Berlin")),
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
    model, _ = scripted(facts(("Alice is a Paris resident", ["m1"])), {"decisions": [{"fact_index": 0, "action": "NOOP", "memory_id": 0}]})
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
        {"decisions": [{"fact_index": 0, "action": "UPDATE", "memory_id": 7, "text": "x"}]},
        {"decisions": [{"fact_index": 0, "action": "UPDATE", "memory_id": 0, "text": "Alice lives in Paris near the river"}]},
        graph(),
    )
    memory = make_memory(model)
    ops = memory.add(message("I live near the river."), user_id="alice")
    assert [(op.event, op.memory.id) for op in ops] == [(EventType.UPDATE, seeded.id)]
    feedback = recorder.calls[2][-1].content
    assert "invalid" in feedback and "memory ids 0..0" in feedback


def test_hallucinated_ids_every_time_raise_and_store_nothing(make_memory):
    seeded = _seed(make_memory)
    bad = {"decisions": [{"fact_index": 0, "action": "INVALIDATE", "memory_id": 42}]}
    model, _ = scripted(facts(("Alice moved to Rome", ["m1"])), bad, bad, bad)
    memory = make_memory(model)
    with pytest.raises(LLMOutputError, match="after 3 attempts"):
        memory.add(message("I moved to Rome."), user_id="alice")
    assert [r.id for r in memory.get_all(user_id="alice", include_invalidated=True)] == [seeded.id]
    assert memory.get(seeded.id).valid_to is None


def test_fenced_or_wrapped_json_is_parsed(make_memory):
    wrapped = "Sure! Here you go:\n```json\n" + json.dumps(facts(("Alice plays chess", ["m1"]))) + "\n```\nAnything else?"
    model, _ = scripted(wrapped, "```" + json.dumps(graph(("Alice", "plays", "chess"))) + "```")
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


def test_failure_in_graph_extraction_leaves_nothing_partial(make_memory):
    model, _ = scripted(facts(("Alice adopted a cat", ["m1"])), "oops", '{"entities": "x"}', '{"relations": [{"source": ""}]}')
    memory = make_memory(model)
    with pytest.raises(LLMOutputError):
        memory.add(message("I adopted a cat."), user_id="alice")
    assert memory.get_all(user_id="alice") == []
    assert memory.related(["Alice"], user_id="alice").entities == []


def test_unknown_source_ids_and_bad_dates_are_retried(make_memory):
    model, recorder = scripted(
        facts(("Alice ran a marathon", ["m9"])),
        facts(("Alice ran a marathon on 21 April 2024", ["m1"], {"date": "last Sunday"})),
        facts(("Alice ran a marathon on 21 April 2024", ["m1"], {"date": "2024-04-21"})),
        graph(),
    )
    ops = make_memory(model).add(message("I ran a marathon yesterday."), user_id="alice")
    assert ops[0].memory.text == "Alice ran a marathon on 21 April 2024"
    assert "unknown message ids ['m9']" in recorder.calls[1][-1].content
    assert "not YYYY-MM-DD" in recorder.calls[2][-1].content


def test_answers_are_cached_in_the_key_value_tier(tmp_path):
    path = str(tmp_path / "cache")
    model, _ = scripted(facts(("Alice owns a kayak", ["m1"])), graph(("Alice", "owns", "kayak")))
    with Memory({"path": path, "llm": {"parallel_calls": 1}}, embeddings=HashingEmbeddings(), llm=model) as memory:
        memory.add(message("I own a kayak."), user_id="alice")
        memory.delete_all(user_id="alice")
    replay, recorder = scripted()  # any model call would raise StopIteration
    with Memory({"path": path}, embeddings=HashingEmbeddings(), llm=replay) as memory:
        ops = memory.add(message("I own a kayak."), user_id="alice")
    assert [op.memory.text for op in ops] == ["Alice owns a kayak"] and recorder.calls == []


def test_cached_answers_belong_to_their_scope_and_a_purge_erases_them(tmp_path):
    config = {"path": str(tmp_path / "cache"), "llm": {"parallel_calls": 1}}
    model, _ = scripted(facts(("Alice owns a kayak", ["m1"])), graph(("Alice", "owns", "kayak")))
    with Memory(config, embeddings=HashingEmbeddings(), llm=model) as memory:
        memory.add(message("I own a kayak."), user_id="alice", agent_id="coach")
    other, recorder = scripted(facts(("Alice owns a kayak", ["m1"])), graph(("Alice", "owns", "kayak")))
    with Memory(config, embeddings=HashingEmbeddings(), llm=other) as memory:
        memory.add(message("I own a kayak."), user_id="bob")  # same prompt, another scope: asked again
        assert len(recorder.calls) == 2
        cached = memory.services.kv.keys("llm_responses")
        assert len(cached) == 4
        memory.delete_all(user_id="alice", purge=True)
        assert sorted(memory.services.kv.keys("llm_responses")) == sorted(k for k in cached if k.startswith("user_id=bob/"))


def test_custom_prompts_and_procedural_memory_for_agents(make_memory):
    model, recorder = scripted(facts(("Answer in French", ["m1"])), graph())
    memory = make_memory(model, custom_extraction="Never store health data.")
    memory.add(message("Please always answer in French."), agent_id="tutor")
    system = recorder.calls[0][0].content
    assert "procedural memories" in system and system.endswith("Never store health data.")


async def test_async_memory_uses_the_llm_manager(tmp_path):
    model, _ = scripted(facts(("Alice likes jazz", ["m1"])), graph())
    memory = AsyncMemory({"path": str(tmp_path / "async"), "llm": {"parallel_calls": 1}}, embeddings=HashingEmbeddings(), llm=model)
    ops = await memory.add(message("I like jazz."), user_id="alice")
    assert [op.memory.text for op in ops] == ["Alice likes jazz"]
    await memory.aclose()


def test_parse_json_object():
    assert parse_json_object('text {"a": {"b": 1}} more') == {"a": {"b": 1}}
    assert parse_json_object('[1] then {"x": 2}') == {"x": 2}
    with pytest.raises(ValueError):
        parse_json_object("no json here")


def test_a_fact_citing_no_message_keeps_the_whole_call_as_provenance(make_memory):
    model, _ = scripted({"facts": [{"text": "Alice sails", "source_message_ids": []}]}, graph())
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
    first, _ = scripted(facts(("Alice works at Acme Corp", ["m1"])), graph(("Alice", "works at", "Acme Corp")))
    make_memory(first).add(message("I work at Acme Corp."), user_id="alice")
    second, _ = scripted(
        facts(("Acme is hiring", ["m2"])),
        {"decisions": [{"fact_index": 0, "action": "ADD"}]},
        graph(("alice", "recommends", "Acme")),
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
        graph(),
        graph(),
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
        facts(("Alice lives in Paris near the Louvre", ["m1"]), ("Alice lives in Paris with two cats", ["m1"])),
        {
            "decisions": [
                {"fact_index": 0, "action": "UPDATE", "memory_id": 0, "text": "Alice lives in Paris near the Louvre"},
                {"fact_index": 1, "action": "UPDATE", "memory_id": 0, "text": "Alice lives in Paris with cats"},
            ]
        },
        graph(),
        graph(),
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
        {
            "decisions": [
                {"fact_index": 0, "action": "ADD"},
                {"fact_index": 1, "action": "UPDATE", "memory_id": 0, "text": "Alice lives in Paris and cycles around it"},
            ]
        },
        graph(),
        graph(),
    )
    ops = make_memory(model).add(message("I own a bike and ride it around Paris."), user_id="alice")
    assert [(op.event, op.memory.id == seeded.id) for op in ops] == [(EventType.ADD, False), (EventType.UPDATE, True)]


def test_unnamed_user_message_is_labelled_with_the_scope_user(make_memory):
    model, recorder = scripted(facts(("Alice loves green curry", ["m1"])), graph())
    memory = make_memory(model)
    memory.add({"role": "user", "content": "I love green curry.", "id": "m1"}, user_id="alice")
    conversation = recorder.calls[0][-1].content
    assert "Alice: I love green curry." in conversation and "user: I love" not in conversation
