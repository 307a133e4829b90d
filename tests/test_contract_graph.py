"""Contract suite for the graph tier protocol, run against every graph backend."""

from datetime import datetime, timedelta, timezone

import pytest

from langmem_plugin.errors import MissingScopeError
from langmem_plugin.records import Scope
from langmem_plugin.tiers.graph import EntityMention, GraphStore, RelationMention

from .backends import GRAPH_BACKENDS

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
ALICE = Scope(user_id="alice")


@pytest.fixture(params=sorted(GRAPH_BACKENDS))
def graph(request, tmp_path):
    store = GRAPH_BACKENDS[request.param](tmp_path, request)
    yield store
    store.close()


def rel(source: str, label: str, target: str, memory_id: str = "m1", days: int = 0) -> RelationMention:
    return RelationMention(EntityMention(source, "person"), label, EntityMention(target), memory_id, T0 + timedelta(days=days))


def names(neighbourhood) -> set[str]:
    return {e.name for e in neighbourhood.entities}


def test_protocol_is_implemented(graph):
    assert isinstance(graph, GraphStore)


def test_entities_are_matched_by_normalised_name(graph):
    graph.add_relations(ALICE, [rel("Alice", "works at", "Acme"), rel("alice ", "lives in", "Lisbon")])
    hood = graph.neighbourhood(ALICE, ["ALICE"])
    assert names(hood) == {"Alice", "Acme", "Lisbon"}
    assert sorted(r.relation for r in hood.relations) == ["LIVES_IN", "WORKS_AT"]


def test_hops(graph):
    graph.add_relations(ALICE, [rel("Alice", "knows", "Bob"), rel("Bob", "works at", "Acme"), rel("Acme", "based in", "Oslo")])
    assert names(graph.neighbourhood(ALICE, ["Alice"], hops=1)) == {"Alice", "Bob"}
    assert names(graph.neighbourhood(ALICE, ["Alice"], hops=2)) == {"Alice", "Bob", "Acme"}
    assert graph.neighbourhood(ALICE, ["Nobody"]).entities == []


def test_scope_isolation(graph):
    graph.add_relations(ALICE, [rel("Alice", "knows", "Bob")])
    graph.add_relations(Scope(user_id="carol"), [rel("Carol", "knows", "Bob")])
    assert names(graph.neighbourhood(ALICE, ["Bob"])) == {"Alice", "Bob"}
    with pytest.raises(MissingScopeError):
        graph.neighbourhood(Scope(), ["Bob"])


def test_invalidation_keeps_relations_queryable_in_the_past(graph):
    graph.add_relations(ALICE, [rel("Alice", "lives in", "Porto", memory_id="old")])
    closed = graph.invalidate_memory_relations(["old"], T0 + timedelta(days=10))
    assert [r.valid_to for r in closed] == [T0 + timedelta(days=10)]
    graph.add_relations(ALICE, [rel("Alice", "lives in", "Lisbon", memory_id="new", days=10)])
    assert names(graph.neighbourhood(ALICE, ["Alice"])) == {"Alice", "Lisbon"}
    assert names(graph.neighbourhood(ALICE, ["Alice"], as_of=T0 + timedelta(days=5))) == {"Alice", "Porto"}


def test_delete_memory_relations_and_scope(graph):
    graph.add_relations(ALICE, [rel("Alice", "knows", "Bob", memory_id="m1"), rel("Alice", "knows", "Dan", memory_id="m2")])
    graph.delete_memory_relations(["m1"])
    assert names(graph.neighbourhood(ALICE, ["Alice"])) == {"Alice", "Dan"}
    assert graph.neighbourhood(ALICE, ["Bob"]).entities == []
    graph.delete_scope(ALICE)
    assert graph.neighbourhood(ALICE, ["Alice"]).entities == []


def test_reset(graph):
    graph.add_relations(ALICE, [rel("Alice", "knows", "Bob")])
    graph.reset()
    assert graph.neighbourhood(ALICE, ["Alice"]).entities == []


def test_entities_lists_exactly_the_scope(graph):
    graph.add_relations(ALICE, [rel("Alice", "knows", "Bob")])
    graph.add_relations(Scope(user_id="alice", run_id="r1"), [rel("Alice", "visited", "Rome")])
    assert [e.name for e in graph.entities(ALICE)] == ["Alice", "Bob"]
    assert [e.type for e in graph.entities(ALICE)] == ["person", "entity"]


def test_concurrent_writers_share_entities(graph):
    import threading

    def writer(worker: int) -> None:
        for i in range(10):
            graph.add_relations(ALICE, [rel("Alice", "knows", f"Friend {worker}-{i}", memory_id=f"m{worker}-{i}")])

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    hood = graph.neighbourhood(ALICE, ["Alice"])
    assert len(hood.relations) == 40 and [e.name for e in hood.entities].count("Alice") == 1
