"""The graph tier's contract (langmem_plugin.testing), run against every graph backend, and what
only the embedded backend promises."""

import pytest

from langmem_plugin.testing import GraphStoreContract
from langmem_plugin.testing.graph_contract import ALICE, names, rel
from langmem_plugin.records import Scope

from .backends import GRAPH_BACKENDS


class TestGraphContract(GraphStoreContract):
    @pytest.fixture(params=sorted(GRAPH_BACKENDS))
    def graph(self, request, tmp_path):
        store = GRAPH_BACKENDS[request.param](tmp_path, request)
        yield store
        store.close()


def test_the_embedded_graph_knows_a_scope_without_entities(tmp_path):
    """What lets search skip naming entities: the SQLite tier answers from its memo of empty scopes."""
    from langmem_plugin.tiers.graph.sqlite_backend import SQLiteGraphStore

    graph = SQLiteGraphStore(tmp_path / "graph.sqlite3")
    assert not graph.may_have_entities(ALICE)
    graph.add_relations(Scope(user_id="alice", run_id="r1"), [rel("Alice", "works at", "Acme")])
    assert graph.may_have_entities(ALICE) and not graph.may_have_entities(Scope(user_id="bob"))
    graph.close()


def test_another_process_adding_entities_ends_a_remembered_empty_scope(tmp_path):
    from langmem_plugin.tiers.graph.sqlite_backend import SQLiteGraphStore

    reader, writer = (
        SQLiteGraphStore(tmp_path / "graph.sqlite3"),
        SQLiteGraphStore(tmp_path / "graph.sqlite3"),
    )
    assert reader.neighbourhood(ALICE, ["Alice"]).entities == [] and not reader.may_have_entities(ALICE)
    writer.add_relations(
        ALICE, [rel("Alice", "works at", "Acme")]
    )  # another connection: data_version changes
    assert reader.may_have_entities(ALICE)
    assert names(reader.neighbourhood(ALICE, ["Alice"])) == {"Alice", "Acme"}
    reader.close()
    writer.close()
