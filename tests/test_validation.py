"""Every bad input gets a typed error, and nothing is stored when a call is rejected."""

import math

import pytest

from langmem_plugin import (
    DimensionMismatchError,
    EmptyContentError,
    InputTooLargeError,
    InvalidFilterError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidScopeError,
    Memory,
    MissingScopeError,
)

from .helpers import HashingEmbeddings


@pytest.mark.parametrize(
    "messages",
    ["", "   ", [], [{"role": "user", "content": ""}], [{"role": "assistant", "content": ""}]],
)
def test_empty_content(fast_memory, messages):
    with pytest.raises(EmptyContentError):
        fast_memory.add(messages, user_id="u")


@pytest.mark.parametrize(
    "messages, message",
    [
        ([{"content": "x", "role": "wizard"}], "unknown role"),
        ([{"role": "user"}], "'content'"),
        ([42], "expected str"),
        ([{"role": "user", "content": 42}], "content must be text"),
        ([{"role": "user", "content": "hi there all", "timestamp": "yesterday-ish"}], "ISO-8601"),
    ],
)
def test_malformed_messages(fast_memory, messages, message):
    with pytest.raises(InvalidInputError, match=message):
        fast_memory.add(messages, user_id="u")
    assert fast_memory.get_all(user_id="u") == []


def test_missing_and_invalid_scope(fast_memory):
    with pytest.raises(MissingScopeError):
        fast_memory.add("a fact", infer=False)
    with pytest.raises(MissingScopeError):
        fast_memory.search("a fact")
    with pytest.raises(MissingScopeError):
        fast_memory.get_all()
    for bad in ("", "  ", 7, "a\x00b", "x" * 1000):
        with pytest.raises(InvalidScopeError):
            fast_memory.add("a fact", user_id=bad, infer=False)


@pytest.mark.parametrize(
    "metadata",
    ["not a dict", {1: "int key"}, {"nested": {"a": object()}}, {"list": [1, {2}]}, {"obj": object()}, {"nan": math.nan}, {'bad "key"': 1}, {"tab\tkey": 1}],
)
def test_invalid_metadata(fast_memory, metadata):
    with pytest.raises(InvalidMetadataError):
        fast_memory.add("a fact worth keeping", user_id="u", metadata=metadata, infer=False)
    assert fast_memory.get_all(user_id="u") == []


def test_huge_inputs_are_rejected_not_truncated(tmp_path):
    with Memory({"path": str(tmp_path / "m"), "limits": {"max_text_chars": 100, "max_messages": 3}}, embeddings=HashingEmbeddings()) as memory:
        with pytest.raises(InputTooLargeError):
            memory.add("x" * 101, user_id="u", infer=False)
        with pytest.raises(InputTooLargeError):
            memory.add(["one", "two", "three", "four"], user_id="u", infer=False)
        with pytest.raises(InputTooLargeError):
            memory.search("q" * 101, user_id="u")
        assert memory.get_all(user_id="u") == []


def test_bad_search_arguments(fast_memory):
    fast_memory.add("a fact", user_id="u", infer=False)
    for limit in (0, -1, 10**9, 2.5, True):
        with pytest.raises(InvalidInputError):
            fast_memory.search("fact", user_id="u", limit=limit)
    for threshold in (1.5, -2, "high"):
        with pytest.raises(InvalidInputError):
            fast_memory.search("fact", user_id="u", threshold=threshold)
    for filters in ({"k": {"$regex": "x"}}, {"bad..key": 1}, {"k": {"$in": []}}, {"k": [1]}, "topic=x"):
        with pytest.raises(InvalidFilterError):
            fast_memory.search("fact", user_id="u", filters=filters)
    with pytest.raises(EmptyContentError):
        fast_memory.search("  ", user_id="u")


def test_bad_ids_and_update_text(fast_memory):
    record = fast_memory.add("a fact", user_id="u", infer=False)[0].memory
    for bad in ("", None, 5):
        with pytest.raises(InvalidInputError):
            fast_memory.get(bad)
    with pytest.raises(EmptyContentError):
        fast_memory.update(record.id, "   ")
    assert fast_memory.get(record.id).text == "a fact"


def test_wrong_vector_dimension_is_detected_on_reopen(tmp_path):
    path = str(tmp_path / "dims")
    with Memory({"path": path}, embeddings=HashingEmbeddings(64)) as memory:
        memory.add("a fact", user_id="u", infer=False)
    with Memory({"path": path}, embeddings=HashingEmbeddings(32)) as memory:
        with pytest.raises(DimensionMismatchError):
            memory.add("another fact", user_id="u", infer=False)
        with pytest.raises(DimensionMismatchError):
            memory.search("fact", user_id="u")
        assert [r.text for r in memory.get_all(user_id="u")] == ["a fact"]


def test_bad_graph_arguments(fast_memory):
    with pytest.raises(InvalidInputError):
        fast_memory.related(["x"], user_id="u", hops=3)
    with pytest.raises(InvalidInputError):
        fast_memory.related([1, 2], user_id="u")
