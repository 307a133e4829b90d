"""Fast unit tests of the Weaviate backend's query building (no server needed)."""

import re
from datetime import datetime, timedelta, timezone

import pytest

from langmem_plugin.errors import BackendError, InvalidFilterError, MissingScopeError
from langmem_plugin.records import MemoryRecord, Scope, SourceRef, content_hash
from langmem_plugin.tiers.vector.relevance import rrf_ranking
from langmem_plugin.tiers.vector.weaviate_backend import (
    OPEN,
    WeaviateVectorStore,
    _metadata_matches,
    combine,
    from_properties,
    object_uuid,
    scope_filter,
    tenant_name,
    to_properties,
    validity_filter,
)

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def conditions(filter_):
    """(target, operator, value) triples of a filter tree."""
    if hasattr(filter_, "filters"):
        return [c for f in filter_.filters for c in conditions(f)]
    return [(filter_.target, filter_.operator.value, filter_.value)]


def record(**changes) -> MemoryRecord:
    base = MemoryRecord(
        id="m-1",
        text="Ana likes tea",
        scope=Scope(user_id="ana", run_id="r1"),
        metadata={"topic": "food", "stars": 4},
        created_at=T0,
        updated_at=T0,
        valid_from=T0,
        hash=content_hash("Ana likes tea"),
        sources=[SourceRef(message_id="x", turn_id="t", role="user", timestamp=T0)],
    )
    return base.model_copy(update=changes)


def test_scope_filter_has_every_given_id():
    assert conditions(scope_filter(Scope(user_id="ana", run_id="r1"), False)) == [("user_id", "Equal", "ana"), ("run_id", "Equal", "r1")]
    with pytest.raises(MissingScopeError):
        scope_filter(Scope(), False)


def test_multi_tenancy_needs_user_id_and_still_filters_on_it():
    assert conditions(scope_filter(Scope(user_id="ana"), True)) == [("user_id", "Equal", "ana")]
    assert conditions(scope_filter(Scope(user_id="ana", agent_id="bot"), True)) == [("user_id", "Equal", "ana"), ("agent_id", "Equal", "bot")]
    with pytest.raises(MissingScopeError):
        scope_filter(Scope(agent_id="bot"), True)


@pytest.mark.parametrize("user_id", ["Ana", "ana maria", "ana-1", "x" * 65, "é", "h-" + "0" * 62, "a|b", "../etc"])
def test_tenant_names_are_valid_and_distinct_for_any_user_id(user_id):
    name = tenant_name(user_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name)
    assert name.startswith("h-") and name != tenant_name(user_id.lower() + "x")
    assert tenant_name("ana") == "ana" and tenant_name("ana_1") == "ana_1"  # simple ids stay readable
    assert tenant_name("Ana") != tenant_name("ana")  # case never merges two users


def test_validity_filters():
    assert conditions(validity_filter(None)) == [("valid_to", "GreaterThanEqual", OPEN)]
    moment = T0 + timedelta(days=3)
    assert conditions(validity_filter(moment)) == [
        ("valid_from", "LessThanEqual", moment.timestamp()),
        ("valid_to", "GreaterThan", moment.timestamp()),
    ]
    both = combine(scope_filter(Scope(user_id="ana"), False), validity_filter(None), None)
    assert conditions(both) == [("user_id", "Equal", "ana"), ("valid_to", "GreaterThanEqual", OPEN)]
    assert combine(None, None) is None


def test_properties_round_trip_with_open_and_closed_validity():
    open_record = record()
    properties = to_properties(open_record)
    assert properties["valid_to"] == OPEN and properties["agent_id"] == ""
    assert from_properties(properties) == open_record
    closed = record(valid_to=T0 + timedelta(days=1))
    assert from_properties(to_properties(closed)) == closed


def test_object_ids_are_deterministic_per_memory():
    assert object_uuid("m-1") == object_uuid("m-1") != object_uuid("m-2")


def test_metadata_filters_match_the_sql_semantics():
    item = record()
    assert _metadata_matches(item, {"topic": "food", "stars": {"$gte": 4}})
    assert not _metadata_matches(item, {"stars": {"$lt": 4}})
    assert _metadata_matches(item, {"topic": {"$in": ["food", "travel"]}})
    # as SQL's json_extract: a missing key has no value, so no condition on it holds, $ne included
    assert not _metadata_matches(item, {"topic": {"$in": ["food", "travel"]}, "missing": {"$ne": "x"}})
    assert not _metadata_matches(item, {"topic": {"$nin": ["food"]}})
    assert not _metadata_matches(item, {"topic": {"$gt": 3}})  # incomparable types never match
    with pytest.raises(InvalidFilterError):
        _metadata_matches(item, {"topic": {"$regex": "f.*"}})


def test_unreachable_server_is_a_typed_error():
    with pytest.raises(BackendError, match="cannot connect to Weaviate at 127.0.0.1:1"):
        WeaviateVectorStore("http://127.0.0.1:1")


def test_rank_fusion_weights_each_ranker():
    fused = rrf_ranking([(["a", "b"], 1.0), (["b"], 2.0), (["c"], 0.0)], k=60)
    assert fused == {"a": 1 / 61, "b": 1 / 62 + 2 / 61}  # a zero-weight ranker contributes nothing
