"""Every public method of Memory, on the embedded tiers with the real offline embedder."""

from datetime import datetime, timezone

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langmem_plugin import EventType, Memory, MemoryNotFoundError, MissingScopeError


def test_add_verbatim_keeps_one_memory_per_message_with_provenance(memory):
    ops = memory.add(
        [
            {"role": "user", "content": "I bought a red bicycle.", "id": "m1", "turn_id": "D1:1", "timestamp": "2023-05-08T10:00:00Z"},
            {"role": "assistant", "content": "Nice choice!", "id": "m2", "turn_id": "D1:2", "timestamp": "2023-05-08T10:00:05Z"},
        ],
        user_id="alice",
        infer=False,
        metadata={"session": 1},
    )
    assert [op.event for op in ops] == [EventType.ADD, EventType.ADD]
    first = ops[0].memory
    assert first.text == "I bought a red bicycle."
    assert first.metadata == {"session": 1}
    assert first.sources[0].message_id == "m1" and first.sources[0].turn_id == "D1:1"
    assert first.sources[0].timestamp == datetime(2023, 5, 8, 10, tzinfo=timezone.utc)
    assert first.valid_from == first.sources[0].timestamp
    assert ops[1].memory.sources[0].role == "assistant"
    assert {r.id for r in memory.get_all(user_id="alice")} == {op.memory.id for op in ops}


def test_add_accepts_langchain_messages_and_plain_strings(memory):
    ops = memory.add([HumanMessage("I play the cello.", id="h1", name="Ana"), AIMessage("Lovely.")], user_id="ana", infer=False)
    assert ops[0].memory.sources[0].name == "Ana"
    assert ops[0].memory.sources[0].message_id == "h1"
    assert memory.add("I speak Portuguese.", user_id="ana", infer=False)[0].memory.text == "I speak Portuguese."


def test_infer_extracts_facts_and_records_history(memory):
    ops = memory.add({"role": "user", "content": "Hello! I live in Porto. What time is it?", "name": "Ana"}, user_id="ana")
    assert [(op.event, op.memory.text) for op in ops] == [(EventType.ADD, "Ana lives in Porto.")]
    events = memory.history(ops[0].memory.id)
    assert [(e.event, e.new_text, e.actor) for e in events] == [(EventType.ADD, "Ana lives in Porto.", "offline-manager")]


def test_search_ranks_relevant_memory_first(memory):
    memory.add(
        ["I adopted a beagle named Biscuit.", "I work as a nurse in Leeds.", "My favourite food is ramen."],
        user_id="u",
        infer=False,
    )
    hits = memory.search("What is my dog called?", user_id="u", limit=2)
    assert hits[0].memory.text == "I adopted a beagle named Biscuit."
    assert len(hits) == 2 and hits[0].score >= hits[1].score
    assert hits[0].dense_rank == 1


def test_search_threshold_and_filters(memory):
    memory.add("I love jazz music.", user_id="u", infer=False, metadata={"topic": "music", "year": 2021})
    memory.add("I love hiking.", user_id="u", infer=False, metadata={"topic": "outdoors", "year": 2023})
    assert [h.memory.text for h in memory.search("music", user_id="u", filters={"topic": "music"})] == ["I love jazz music."]
    assert [h.memory.text for h in memory.search("hobby", user_id="u", filters={"year": {"$gte": 2022}})] == ["I love hiking."]
    assert memory.search("quantum chromodynamics lecture", user_id="u", threshold=0.9) == []
    listed = memory.get_all(user_id="u", filters={"topic": {"$in": ["music", "outdoors"]}})
    assert len(listed) == 2


def test_get_update_delete_and_history(memory):
    record = memory.add("I drive a Toyota.", user_id="u", infer=False)[0].memory
    assert memory.get(record.id).text == "I drive a Toyota."
    updated = memory.update(record.id, "I drive a Honda.", metadata={"source": "correction"})
    assert updated.text == "I drive a Honda." and updated.metadata == {"source": "correction"}
    assert memory.search("car brand", user_id="u")[0].memory.text == "I drive a Honda."
    memory.delete(record.id)
    with pytest.raises(MemoryNotFoundError):
        memory.get(record.id)
    events = memory.history(record.id)
    assert [e.event for e in events] == [EventType.ADD, EventType.UPDATE, EventType.DELETE]
    assert (events[1].old_text, events[1].new_text) == ("I drive a Toyota.", "I drive a Honda.")
    assert events[2].old_text == "I drive a Honda."


def test_unknown_ids_raise_typed_errors(memory):
    unknown = "00000000-0000-4000-8000-000000000000"
    for call in (memory.get, memory.delete, memory.history, lambda i: memory.update(i, "text")):
        with pytest.raises(MemoryNotFoundError):
            call(unknown)
    for call in (memory.get, memory.history, lambda i: memory.update(i, "text")):
        with pytest.raises(MemoryNotFoundError):
            call("no-such-id")
    with pytest.raises(MissingScopeError):  # not an id: a description, which needs a scope
        memory.delete("no-such-id")


def test_delete_all_is_scoped_and_logged(memory):
    memory.add(["a fact about alice one", "a fact about alice two"], user_id="alice", infer=False)
    bob = memory.add("a fact about bob", user_id="bob", infer=False)[0].memory
    alice_ids = [r.id for r in memory.get_all(user_id="alice")]
    assert memory.delete_all(user_id="alice") == 2
    assert memory.get_all(user_id="alice") == []
    assert memory.get(bob.id).text == "a fact about bob"
    assert memory.history(alice_ids[0])[-1].event == EventType.DELETE


def test_delete_all_purge_forgets_history_and_profile(memory):
    record = memory.add("a secret", user_id="alice", agent_id="bot", infer=False)[0].memory
    kept = memory.add("bob's fact", user_id="bob", infer=False)[0].memory
    memory.set_profile({"name": "Alice"}, user_id="alice")
    memory.delete_all(user_id="alice", purge=True)
    with pytest.raises(MemoryNotFoundError):
        memory.history(record.id)
    assert memory.get_profile(user_id="alice") == {}
    assert memory.history(kept.id)[0].event == EventType.ADD


def test_agent_and_run_scopes_are_hard_filters(memory):
    memory.add("run one note", user_id="u", run_id="r1", infer=False)
    memory.add("run two note", user_id="u", run_id="r2", infer=False)
    memory.add("agent note", agent_id="planner", infer=False)
    assert [r.text for r in memory.get_all(user_id="u", run_id="r1")] == ["run one note"]
    assert {r.text for r in memory.get_all(user_id="u")} == {"run one note", "run two note"}
    assert [h.memory.text for h in memory.search("note", agent_id="planner")] == ["agent note"]


def test_profiles_merge_and_remove_keys(memory):
    assert memory.set_profile({"name": "Ana", "city": "Porto"}, user_id="ana") == {"name": "Ana", "city": "Porto"}
    assert memory.set_profile({"city": None, "age": 31}, user_id="ana") == {"name": "Ana", "age": 31}
    assert memory.get_profile(user_id="ana") == {"name": "Ana", "age": 31}
    assert memory.get_profile(user_id="someone-else") == {}


def test_related_walks_the_graph(memory):
    memory.add({"role": "user", "content": "I work at Acme Corp in Lisbon.", "name": "Rui"}, user_id="rui")
    one_hop = memory.related(["Rui"], user_id="rui")
    names = {e.name for e in one_hop.entities}
    assert {"Rui", "Acme Corp", "Lisbon"} <= names
    assert {r.relation for r in one_hop.relations} >= {"WORKS_AT"}
    assert memory.related(["Rui"], user_id="someone-else").entities == []


def test_reset_empties_every_tier(memory):
    record = memory.add("I like tea.", user_id="u", infer=False)[0].memory
    memory.set_profile({"k": "v"}, user_id="u")
    memory.reset()
    assert memory.get_all(user_id="u") == []
    assert memory.get_profile(user_id="u") == {}
    with pytest.raises(MemoryNotFoundError):
        memory.history(record.id)


def test_persistence_across_reopen(tmp_path, minilm):
    path = str(tmp_path / "persist")
    with Memory({"path": path}, embeddings=minilm) as first:
        record = first.add("I was born in Oslo.", user_id="u", infer=False)[0].memory
        first.set_profile({"lang": "no"}, user_id="u")
    with Memory({"path": path}, embeddings=minilm) as second:
        assert second.get(record.id).text == "I was born in Oslo."
        assert second.search("birthplace", user_id="u")[0].memory.id == record.id
        assert second.history(record.id)[0].event == EventType.ADD
        assert second.get_profile(user_id="u") == {"lang": "no"}


def test_graph_links_join_search_results(memory):
    memory.add({"role": "user", "content": "I work at Acme Corp.", "name": "Rui"}, user_id="rui")
    memory.add({"role": "user", "content": "I enjoy long walks on the beach.", "name": "Rui"}, user_id="rui")
    hits = memory.search("Who is at Acme Corp?", user_id="rui")
    linked = [h for h in hits if h.graph_rank is not None]
    assert [h.memory.text for h in linked] == ["Rui works at Acme Corp."]
    assert hits[0].memory.text == "Rui works at Acme Corp."
    assert all(h.graph_rank is None for h in memory.search("Who is at Acme Corp?", user_id="someone-else"))
