"""Nested metadata and dotted filter keys: what is accepted, how a key with a dot is named, and
the SQL filter (SQLite backend) agreeing with the Python one (Weaviate, grants) on any key."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from langmem_plugin import Memory, Scope
from langmem_plugin.config import LimitsConfig
from langmem_plugin.errors import InputTooLargeError, InvalidFilterError, InvalidMetadataError
from langmem_plugin.filters import compile_filters, filter_key, filter_path, matches_filters
from langmem_plugin.pipeline.validation import check_metadata
from langmem_plugin.transfer import export_document, plan_import, run_import

from .helpers import HashingEmbeddings

LIMITS = LimitsConfig()
# Every character a metadata key may hold: anything printable but '"' and '\'.
keys = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'), min_size=1, max_size=12
)
scalars = st.one_of(
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
)
documents = st.recursive(
    st.one_of(st.none(), scalars),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=12,
)


def leaves(value, path=()):
    """Every (path, scalar) reachable through objects only (lists are not addressable)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, (*path, key))
    elif path and not isinstance(value, list) and value is not None:
        yield path, value


@given(st.lists(keys, min_size=1, max_size=5))
def test_filter_key_names_exactly_the_keys_it_was_built_from(path):
    assert filter_path(filter_key(*path)) == tuple(path)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, documents, min_size=1, max_size=4), st.data())
def test_sql_and_python_filters_agree_on_any_nested_metadata(metadata, data):
    metadata = check_metadata(LIMITS, metadata)
    stored = json.dumps(metadata, ensure_ascii=False)
    found = list(leaves(metadata))
    if found:
        path, value = data.draw(st.sampled_from(found))
        assert matches_filters(metadata, {filter_key(*path): value})
    else:
        path, value = (data.draw(keys),), data.draw(scalars)
    operator = data.draw(st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"]))
    expected = [value] if operator in ("$in", "$nin") else value
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE memories (metadata TEXT)")
    db.execute("INSERT INTO memories VALUES (?)", (stored,))
    # the leaf itself, and the outermost key of its path (an object unless the path has one key)
    for condition in (
        {filter_key(*path): {operator: expected}},
        {filter_key(*path[:1]): {operator: expected}},
    ):
        sql, params = compile_filters(condition)
        in_sql = db.execute(f"SELECT count(*) FROM memories WHERE {sql}", params).fetchone()[0]
        assert bool(in_sql) == matches_filters(metadata, condition), (condition, metadata)
    db.close()


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"order": {"items": {1, 2}}}, InvalidMetadataError),  # a set is not JSON
        ({"order": {"at": b"bytes"}}, InvalidMetadataError),
        ({"order": {7: "x"}}, InvalidMetadataError),  # object keys are strings
        ({"order": {'say "hi"': 1}}, InvalidMetadataError),
        ({"order": {"back\\slash": 1}}, InvalidMetadataError),
        ({"order": {"tab\tkey": 1}}, InvalidMetadataError),
        ({"order": {"": 1}}, InvalidMetadataError),
        ({"k" * 65: 1}, InvalidMetadataError),
        ({"order": [1.5, float("nan")]}, InvalidMetadataError),
        ({"order": {"id": 2**64}}, InvalidMetadataError),
        ({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}, InvalidMetadataError),  # 9 levels
        ({"notes": ["x" * 40_000, "y" * 40_000]}, InputTooLargeError),
        ({"note": "\ud800"}, InvalidMetadataError),
        ({"note": ["a\x00b"]}, InvalidMetadataError),  # SQLite's JSON functions end a string at NUL
    ],
)
def test_non_json_or_unbounded_metadata_is_refused_before_anything_is_written(tmp_path, metadata, error):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        with pytest.raises(error):
            memory.add("I like tea.", user_id="alice", metadata=metadata, infer=False)
        assert memory.get_all(user_id="alice") == []


def test_eight_levels_are_accepted_and_the_bounds_are_configurable(tmp_path):
    eight = {"a": {"b": {"c": {"d": {"e": {"f": {"g": [1]}}}}}}}
    assert check_metadata(LIMITS, eight) == eight
    tight = LimitsConfig(max_metadata_depth=2, max_metadata_bytes=20)
    with pytest.raises(InvalidMetadataError, match="2 levels"):
        check_metadata(tight, {"a": {"b": {"c": 1}}})
    with pytest.raises(InputTooLargeError, match="max_metadata_bytes"):
        check_metadata(tight, {"a": "x" * 20})
    assert check_metadata(LIMITS, {"t": ("x", 1)}) == {"t": ["x", 1]}


@pytest.mark.parametrize("key", ["a..b", ".a", "a.", "a\\b", 'a"b', "a.\x00", "." * 40, 7])
def test_malformed_filter_keys_are_typed_errors(tmp_path, key):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        with pytest.raises(InvalidFilterError):
            memory.search("tea", user_id="alice", filters={key: 1})
        with pytest.raises(InvalidFilterError):
            memory.get_all(user_id="alice", filters={key: 1})


ORDER = {
    "order": {"id": 17, "total": 899, "currency": "EUR", "items": ["kayak", "paddle"]},
    "v1.2": {"ok": True},
}


def test_nested_metadata_round_trips_through_memory_search_and_export(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        memory.add("I ordered a kayak.", user_id="alice", metadata=ORDER, infer=False)
        memory.add(
            "I ordered a tent.", user_id="alice", metadata={"order": {"id": 18, "total": 120}}, infer=False
        )
        memory.add("I ordered a kayak too.", user_id="bob", metadata=ORDER, infer=False)
        [record] = memory.get_all(user_id="alice", filters={"order.total": {"$gt": 500}})
        assert record.text == "I ordered a kayak." and record.metadata == ORDER
        assert record.to_dict()["metadata"] == ORDER
        hits = memory.search("ordered", user_id="alice", filters={filter_key("v1.2", "ok"): True})
        assert [h.memory.text for h in hits] == ["I ordered a kayak."]
        assert [r.text for r in memory.get_all(user_id="alice", filters={"order.id": {"$in": [18]}})] == [
            "I ordered a tent."
        ]
        updated = memory.update(
            record.id, "I ordered a red kayak.", metadata={"order": {"id": 17, "paid": True}}
        )
        assert updated.metadata == {"order": {"id": 17, "paid": True}}
        document = export_document(memory, Scope(user_id="alice"), include_invalidated=False)
    with Memory({"path": str(tmp_path / "copy")}, embeddings=HashingEmbeddings()) as copy:
        run_import(copy, plan_import(document, 20), Scope(user_id="carol"), infer=False)
        [paid] = copy.get_all(user_id="carol", filters={"order.paid": True})
        assert paid.text == "I ordered a red kayak." and paid.metadata == {"order": {"id": 17, "paid": True}}


def test_rest_clients_send_nested_metadata_and_dotted_filters(fast_memory, served):
    import httpx

    from .serving import bearer, make_key

    key = make_key(fast_memory, "shop", "read,write", user_id="alice")
    with httpx.Client(base_url=served, headers=bearer(key), timeout=60) as api:
        added = api.post(
            "/v1/memories",
            json={"messages": "I ordered a kayak.", "metadata": ORDER, "infer": False},
        )
        assert added.status_code == 200, added.text
        api.post("/v1/memories", json={"messages": "I ordered a tent.", "infer": False})
        listed = api.get("/v1/memories", params={"filters": json.dumps({"order.currency": "EUR"})}).json()
        assert [(m["memory"], m["metadata"]) for m in listed["results"]] == [("I ordered a kayak.", ORDER)]
        body = {"query": "ordered", "filters": {"order.items": "kayak"}}  # a list is not a scalar
        assert api.post("/v1/memories/search", json=body).json()["results"] == []
        bad = api.post("/v1/memories/search", json={"query": "x", "filters": {"order..id": 1}})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "InvalidFilterError"
