"""The graph tier's contract (langmem_plugin.tiers.GraphStore), for any backend.

Subclass `GraphStoreContract` in a test module and define the `graph` fixture: an empty,
opened backend, closed when the test ends.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings

from ..errors import MissingScopeError
from ..records import Scope
from ..tiers.graph import EntityMention, GraphStore, RelationMention
from .scopes import scopes

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ALICE = Scope(user_id="alice")


def rel(source: str, label: str, target: str, memory_id: str = "m1", days: int = 0) -> RelationMention:
    return RelationMention(
        EntityMention(source, "person"), label, EntityMention(target), memory_id, T0 + timedelta(days=days)
    )


def names(neighbourhood) -> set[str]:
    return {e.name for e in neighbourhood.entities}


class GraphStoreContract:
    @pytest.fixture
    def graph(self) -> GraphStore:
        raise NotImplementedError("define the graph fixture: an empty, opened graph backend")

    def test_protocol_is_implemented(self, graph):
        assert isinstance(graph, GraphStore)

    def test_entities_are_matched_by_normalised_name(self, graph):
        graph.add_relations(ALICE, [rel("Alice", "works at", "Acme"), rel("alice ", "lives in", "Lisbon")])
        hood = graph.neighbourhood(ALICE, ["ALICE"])
        assert names(hood) == {"Alice", "Acme", "Lisbon"}
        assert sorted(r.relation for r in hood.relations) == ["LIVES_IN", "WORKS_AT"]

    def test_hops(self, graph):
        graph.add_relations(
            ALICE,
            [rel("Alice", "knows", "Bob"), rel("Bob", "works at", "Acme"), rel("Acme", "based in", "Oslo")],
        )
        assert names(graph.neighbourhood(ALICE, ["Alice"], hops=1)) == {"Alice", "Bob"}
        assert names(graph.neighbourhood(ALICE, ["Alice"], hops=2)) == {"Alice", "Bob", "Acme"}
        assert graph.neighbourhood(ALICE, ["Nobody"]).entities == []

    def test_scope_isolation(self, graph):
        graph.add_relations(ALICE, [rel("Alice", "knows", "Bob")])
        graph.add_relations(Scope(user_id="carol"), [rel("Carol", "knows", "Bob")])
        assert names(graph.neighbourhood(ALICE, ["Bob"])) == {"Alice", "Bob"}
        with pytest.raises(MissingScopeError):
            graph.neighbourhood(Scope(), ["Bob"])

    def test_invalidation_keeps_relations_queryable_in_the_past(self, graph):
        graph.add_relations(ALICE, [rel("Alice", "lives in", "Porto", memory_id="old")])
        closed = graph.invalidate_memory_relations(["old"], T0 + timedelta(days=10))
        assert [r.valid_to for r in closed] == [T0 + timedelta(days=10)]
        graph.add_relations(ALICE, [rel("Alice", "lives in", "Lisbon", memory_id="new", days=10)])
        assert names(graph.neighbourhood(ALICE, ["Alice"])) == {"Alice", "Lisbon"}
        assert names(graph.neighbourhood(ALICE, ["Alice"], as_of=T0 + timedelta(days=5))) == {
            "Alice",
            "Porto",
        }

    def test_delete_memory_relations_and_scope(self, graph):
        graph.add_relations(
            ALICE,
            [rel("Alice", "knows", "Bob", memory_id="m1"), rel("Alice", "knows", "Dan", memory_id="m2")],
        )
        graph.delete_memory_relations(["m1"])
        assert names(graph.neighbourhood(ALICE, ["Alice"])) == {"Alice", "Dan"}
        assert graph.neighbourhood(ALICE, ["Bob"]).entities == []
        graph.delete_scope(ALICE)
        assert graph.neighbourhood(ALICE, ["Alice"]).entities == []

    def test_reset(self, graph):
        graph.add_relations(ALICE, [rel("Alice", "knows", "Bob")])
        graph.reset()
        assert graph.neighbourhood(ALICE, ["Alice"]).entities == []

    def test_entities_lists_exactly_the_scope(self, graph):
        graph.add_relations(ALICE, [rel("Alice", "knows", "Bob")])
        graph.add_relations(Scope(user_id="alice", run_id="r1"), [rel("Alice", "visited", "Rome")])
        assert [e.name for e in graph.entities(ALICE)] == ["Alice", "Bob"]
        assert [e.type for e in graph.entities(ALICE)] == ["person", "entity"]

    def test_concurrent_writers_share_entities(self, graph):

        def writer(worker: int) -> None:
            for i in range(10):
                graph.add_relations(
                    ALICE, [rel("Alice", "knows", f"Friend {worker}-{i}", memory_id=f"m{worker}-{i}")]
                )

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        hood = graph.neighbourhood(ALICE, ["Alice"])
        assert len(hood.relations) == 40 and [e.name for e in hood.entities].count("Alice") == 1

    def test_separator_ids_do_not_share_entities(self, graph):
        """The reported collision: run_id "r1|user_id=victim" once keyed like (user victim, run r1)."""
        victim, intruder = Scope(user_id="victim", run_id="r1"), Scope(run_id="r1|user_id=victim")
        graph.add_relations(victim, [rel("Alice", "knows", "Bob", memory_id="victim-memory")])
        added = graph.add_relations(intruder, [rel("Alice", "likes", "Carol", memory_id="intruder-memory")])
        victim_entities = {e.id for e in graph.entities(victim)}
        assert not victim_entities & {added[0].source_id, added[0].target_id}
        graph.delete_scope(victim)
        assert [r.memory_id for r in graph.neighbourhood(intruder, ["Alice"]).relations] == [
            "intruder-memory"
        ]

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(first=scopes(), second=scopes())
    def test_scopes_never_share_or_delete_each_others_relations(self, graph, first, second):
        assume(first != second)
        graph.reset()
        graph.add_relations(first, [rel("Alice", "knows", "Bob", memory_id="m-first")])
        added = graph.add_relations(second, [rel("Alice", "likes", "Carol", memory_id="m-second")])
        assert {e.name for e in graph.entities(first)} == {"Alice", "Bob"}
        assert {e.name for e in graph.entities(second)} == {"Alice", "Carol"}
        assert {added[0].source_id, added[0].target_id} <= {e.id for e in graph.entities(second)}
        seen = {r.memory_id for r in graph.neighbourhood(first, ["Alice"]).relations}
        assert seen == {"m-first"} | ({"m-second"} if first.matches(second) else set())
        graph.delete_scope(second)
        kept = {r.memory_id for r in graph.neighbourhood(first, ["Alice"]).relations}
        assert kept == (set() if second.matches(first) else {"m-first"})

    def test_a_scope_searched_while_empty_finds_entities_written_later(self, graph):
        """A backend may remember which scopes had no entities: an addition must end that, its own
        or another store's on the same data (what the backend's factory opens a second time)."""
        team = Scope(user_id="alice", agent_id="planner")
        assert (
            graph.neighbourhood(ALICE, ["Alice"]).entities == []
            and graph.neighbourhood(team, ["Alice"]).entities == []
        )
        graph.may_have_entities(ALICE)  # a backend that remembers empty scopes remembers these two now
        graph.may_have_entities(team)
        graph.add_relations(team, [rel("Alice", "works at", "Acme")])
        assert graph.may_have_entities(ALICE) and graph.may_have_entities(team)  # search must not skip them
        assert names(graph.neighbourhood(ALICE, ["Alice"])) == {
            "Alice",
            "Acme",
        }  # a sub-scope's entities count
        assert names(graph.neighbourhood(team, ["Alice"])) == {"Alice", "Acme"}
        bob = Scope(user_id="bob")
        assert graph.neighbourhood(bob, ["Bob"]).entities == []
        graph.reset()
        assert graph.neighbourhood(ALICE, ["Alice"]).entities == []
        graph.add_relations(bob, [rel("Bob", "lives in", "Oslo")])
        assert graph.may_have_entities(bob)
        assert names(graph.neighbourhood(bob, ["Bob"])) == {"Bob", "Oslo"}
        with pytest.raises(MissingScopeError):
            graph.may_have_entities(Scope())
