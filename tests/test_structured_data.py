"""Structured data (dicts, lists of records, JSON text) becomes readable facts that keep the
original JSON on the memory; offline deterministic, and as JSON text for an LLM manager."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st
from langchain_core.messages import HumanMessage

from langmem_plugin import AsyncMemory, EventType, Memory
from langmem_plugin.errors import InputTooLargeError, InvalidMetadataError
from langmem_plugin.pipeline.structured import record_fact

from .helpers import HashingEmbeddings
from .test_llm_manager import facts, make_memory, scripted  # noqa: F401 (make_memory: a fixture)

ORDER = {"order": 17, "items": ["kayak", "paddle"], "total": 899, "currency": "EUR"}


@pytest.fixture
def memory(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as instance:
        yield instance


def stored(memory, user_id):
    return sorted(
        (r.text, json.dumps(r.metadata.get("data"), sort_keys=True)) for r in memory.get_all(user_id=user_id)
    )


def test_a_record_reads_as_one_sentence_with_every_value():
    assert record_fact(ORDER, "Alice") == "Alice's order 17: items kayak, paddle; total 899; currency EUR."
    pet = {"name": "Biscuit", "species": "beagle", "vaccinated": True, "toys": [], "vet": {"city": "Lyon"}}
    assert record_fact(pet, "Bob") == "Bob's Biscuit: species beagle; vaccinated yes; vet (city Lyon)."
    assert record_fact({"tags": ["a", "b"]}, "Bob") == "Bob's data: tags a, b."
    assert record_fact(["a", 2, 3.5], "Bob") == "Bob's data: a, 2, 3.5."


json_scalars = st.one_of(st.integers(-(10**9), 10**9), st.booleans(), st.text(min_size=1, max_size=8))
json_records = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.recursive(
        st.one_of(st.none(), json_scalars),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=3)
        ),
        max_leaves=8,
    ),
    min_size=1,
    max_size=5,
)


def scalar_leaves(value):
    if isinstance(value, dict):
        for child in value.values():
            yield from scalar_leaves(child)
    elif isinstance(value, list):
        for child in value:
            yield from scalar_leaves(child)
    elif value is not None:
        yield value


@given(json_records)
def test_every_value_of_any_record_is_in_its_fact_and_the_wording_is_stable(record):
    fact = record_fact(record, "Alice")
    assert fact == record_fact(json.loads(json.dumps(record)), "Alice")
    for leaf in scalar_leaves(record):
        assert ({True: "yes", False: "no"}[leaf] if isinstance(leaf, bool) else str(leaf)) in fact


def test_a_dict_is_stored_as_its_fact_with_the_json_on_the_memory(memory):
    [op] = memory.add(ORDER, user_id="alice")
    assert (
        op.event == EventType.ADD
        and op.memory.text == "Alice's order 17: items kayak, paddle; total 899; currency EUR."
    )
    assert op.memory.metadata == {"data": ORDER} and op.memory.to_dict()["metadata"]["data"] == ORDER
    [again] = memory.add(dict(ORDER), user_id="alice")  # the same record is one memory
    assert again.event == EventType.NOOP and again.memory.id == op.memory.id
    [hit] = memory.search("kayak order", user_id="alice", filters={"data.total": {"$gt": 500}})
    assert hit.memory.id == op.memory.id


def test_message_content_as_dict_or_records_and_json_text_are_stored(memory):
    conversation = [
        {"role": "user", "content": "I placed two orders."},
        {"role": "user", "content": [{"order": 1, "total": 5}, {"order": 2, "total": 7}], "id": "m2"},
        {"role": "user", "content": {"name": "Biscuit", "species": "beagle"}},
    ]
    memory.add(conversation, user_id="bob", metadata={"channel": "chat"})
    memory.add('[{"city": "Lyon", "from": 2019}, "likes cheese"]', user_id="bob")
    memory.add(HumanMessage(content=[{"plan": "gold", "seats": 3}]), user_id="bob")
    texts = {r.text: r.metadata for r in memory.get_all(user_id="bob")}
    assert texts == {
        "Bob placed two orders.": {"channel": "chat"},
        "Bob's order 1: total 5.": {"channel": "chat", "data": {"order": 1, "total": 5}},
        "Bob's order 2: total 7.": {"channel": "chat", "data": {"order": 2, "total": 7}},
        "Bob's Biscuit: species beagle.": {
            "channel": "chat",
            "data": {"name": "Biscuit", "species": "beagle"},
        },
        "Bob's city Lyon: from 2019.": {"data": {"city": "Lyon", "from": 2019}},
        "Bob's data: likes cheese.": {"data": ["likes cheese"]},
        "Bob's plan gold: seats 3.": {"data": {"plan": "gold", "seats": 3}},
    }
    [record] = [r for r in memory.get_all(user_id="bob") if r.text.startswith("Bob's order 1")]
    assert record.sources[0].message_id == "m2:0"


def test_json_text_without_inference_stays_verbatim_and_other_text_is_text(memory):
    [op] = memory.add('{"order": 3}', user_id="carol", infer=False)
    assert op.memory.text == '{"order": 3}' and op.memory.metadata == {}
    assert memory.add("[1] is a footnote, not JSON", user_id="carol", infer=False)[0].memory.metadata == {}


@pytest.mark.parametrize(
    ("data", "metadata", "error"),
    [
        ({'say "hi"': 1}, None, InvalidMetadataError),  # a key no metadata may hold
        (ORDER, {"data": "mine"}, InvalidMetadataError),  # `data` is the structured data's key
        ({"notes": "x" * 30_000}, None, InputTooLargeError),
    ],
)
def test_data_that_cannot_be_kept_is_refused_before_the_conversation_is_written(
    memory, data, metadata, error
):
    with pytest.raises(error):
        memory.add(
            [{"role": "user", "content": "I love tea."}, {"role": "user", "content": data}],
            user_id="dan",
            metadata=metadata,
        )
    assert memory.get_all(user_id="dan") == []


def test_the_privacy_policy_applies_to_the_data_too(tmp_path):
    config = {"path": str(tmp_path / "p"), "privacy": {"pii": {"email": "redact"}}}
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        [op] = memory.add({"contact": "erin@example.com", "plan": "gold"}, user_id="erin")
    assert "erin@example.com" not in op.memory.text and "erin@example.com" not in json.dumps(
        op.memory.metadata
    )


async def test_async_add_takes_data(tmp_path):
    async with AsyncMemory({"path": str(tmp_path / "a")}, embeddings=HashingEmbeddings()) as memory:
        [op] = await memory.add({"order": 9, "total": 12}, user_id="alice")
    assert op.memory.text == "Alice's order 9: total 12." and op.memory.metadata == {
        "data": {"order": 9, "total": 12}
    }


def test_an_llm_manager_reads_the_json_as_text_and_its_facts_keep_the_data(make_memory):  # noqa: F811
    model, recorder = scripted(facts(("Alice ordered a kayak and a paddle for 899 EUR", ["m1"])))
    memory = make_memory(model)
    ops = memory.add({"role": "user", "name": "Alice", "content": ORDER, "id": "m1"}, user_id="alice")
    assert [(op.event, op.memory.text, op.memory.metadata) for op in ops] == [
        (EventType.ADD, "Alice ordered a kayak and a paddle for 899 EUR", {"data": ORDER})
    ]
    assert len(recorder.calls) == 1
    user_prompt = recorder.calls[0][1].content
    assert json.dumps(ORDER, ensure_ascii=False) in user_prompt and "[id=m1]" in user_prompt
