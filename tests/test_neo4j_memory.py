"""Memory with its graph tier on a real Neo4j 5.26 (embedded, Bolt on loopback, started by the fixture)."""

import pytest

from langmem_plugin import BackendError, Memory

from .helpers import HashingEmbeddings


@pytest.fixture
def neo4j_memory(tmp_path, neo4j_uri, minilm):
    config = {"path": str(tmp_path / "m"), "graph": {"backend": "neo4j", "uri": neo4j_uri}}
    with Memory(config, embeddings=minilm) as memory:
        memory.services.graph.reset()
        yield memory


def say(memory, text, when):
    return memory.add({"role": "user", "name": "Ana", "content": text, "timestamp": when}, user_id="ana")


def test_graph_memory_and_time_on_neo4j(neo4j_memory):
    say(neo4j_memory, "I live in Porto.", "2024-01-01T10:00:00Z")
    say(neo4j_memory, "I work at Acme Corp in Lisbon.", "2024-02-01T10:00:00Z")
    say(neo4j_memory, "I moved to Lisbon last week.", "2024-03-10T10:00:00Z")
    now = neo4j_memory.related(["Ana"], user_id="ana")
    assert {e.name for e in now.entities} == {"Ana", "Acme Corp", "Lisbon"}
    before = neo4j_memory.related(["Ana"], user_id="ana", as_of="2024-01-15T00:00:00Z")
    assert {e.name for e in before.entities} == {"Ana", "Porto"}
    hits = neo4j_memory.search("Who works at Acme Corp?", user_id="ana")
    assert any(h.graph_rank is not None for h in hits)
    assert neo4j_memory.related(["Ana"], user_id="bob").entities == []
    neo4j_memory.delete_all(user_id="ana")
    assert neo4j_memory.related(["Ana"], user_id="ana").entities == []


def test_unreachable_neo4j_is_a_typed_error(tmp_path):
    with pytest.raises(BackendError, match="cannot connect to Neo4j at 127.0.0.1:1"):
        Memory({"path": str(tmp_path / "x"), "graph": {"backend": "neo4j", "uri": "bolt://127.0.0.1:1"}}, embeddings=HashingEmbeddings())
