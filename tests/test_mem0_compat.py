"""Coming from Mem0: from_config with Mem0's config shape, and Mem0-shaped result dicts."""

import pytest

from langmem_plugin import AsyncMemory, ConfigurationError, Memory, as_mem0_result
from langmem_plugin.mem0_compat import config_from_mem0

from .helpers import HashingEmbeddings

MEM0_CONFIG = {
    "vector_store": {
        "provider": "weaviate",
        "config": {"cluster_url": "http://10.0.0.5:8080", "collection_name": "Memories", "embedding_model_dims": 384},
    },
    "graph_store": {"provider": "neo4j", "config": {"url": "bolt://10.0.0.6:7687", "username": "neo4j", "password": "pw"}},
    "llm": {"provider": "openai", "config": {"model": "gpt-4o-mini", "temperature": 0.1, "openai_base_url": "http://h/v1"}},
    "embedder": {"provider": "huggingface", "config": {"model": "sentence-transformers/all-MiniLM-L6-v2"}},
    "custom_fact_extraction_prompt": "Only food preferences.",
    "version": "v1.1",
    "path": "/data/memory",
}


def test_mem0_config_keys_map_onto_memory_config():
    config = config_from_mem0(MEM0_CONFIG)
    assert (config.vector.backend, config.vector.url, config.vector.collection) == ("weaviate", "http://10.0.0.5:8080", "Memories")
    assert (config.graph.backend, config.graph.uri, config.graph.user, config.graph.password) == ("neo4j", "bolt://10.0.0.6:7687", "neo4j", "pw")
    assert (config.llm.model, config.llm.temperature, config.llm.base_url) == ("gpt-4o-mini", 0.1, "http://h/v1")
    assert config.llm.custom_extraction == "Only food preferences." and config.embedder.provider == "minilm"
    assert str(config.path) == "/data/memory"
    own = {"path": "/x", "llm": {"model": "m", "retries": 0}, "embedder": {"provider": "minilm", "batch_size": 8}}
    assert config_from_mem0(own) == config_from_mem0(own) and config_from_mem0(own).embedder.batch_size == 8


@pytest.mark.parametrize(
    "bad, named",
    [
        ({"history_db_path": "/tmp/history.db"}, "history_db_path"),
        ({"vector_store": {"provider": "qdrant", "config": {"path": "/tmp/q"}}}, "qdrant"),
        ({"vector_store": {"provider": "weaviate", "config": {"additional_headers": {}}}}, "vector_store.config.additional_headers"),
        ({"vector_store": {"provider": "weaviate", "config": {"embedding_model_dims": 1536}}}, "embedding_model_dims=1536"),
        ({"llm": {"provider": "openai", "config": {"api_key": "sk-x"}}}, "llm.config.api_key"),
        ({"llm": {"provider": "anthropic", "config": {}}}, "anthropic"),
        ({"embedder": {"provider": "openai", "config": {"model": "text-embedding-3-small"}}}, "text-embedding-3-small"),
        ({"graph_store": {"provider": "neo4j", "config": {}, "llm": {}}}, "graph_store: cannot honour llm"),
        ({"version": "v1.0"}, "v1.0"),
        ({"vector_store": {"provider": "weaviate"}, "vector": {}}, "vector given both"),
        ({"reranker": {"provider": "cohere"}}, "reranker"),
    ],
)
def test_a_mem0_key_that_cannot_be_honoured_is_named(bad, named):
    with pytest.raises(ConfigurationError, match=named.replace(".", r"\.").replace("[", r"\[")):
        config_from_mem0(bad)


def test_from_config_and_mem0_shaped_results(tmp_path):
    config = {"embedder": {"provider": "huggingface", "config": {"model": "all-MiniLM-L6-v2"}}, "path": str(tmp_path / "m")}
    with Memory.from_config(config, embeddings=HashingEmbeddings()) as memory:
        added = as_mem0_result(memory.add("I moved to Berlin. I work at Acme.", user_id="alice"))
        assert [(r["event"], r["memory"]) for r in added["results"]] == [("ADD", "Alice moved to Berlin."), ("ADD", "Alice works at Acme.")]
        result = as_mem0_result(memory.search("Where does Alice work?", user_id="alice"), memory.related(["Alice"], user_id="alice"))
        top = result["results"][0]
        assert top["memory"] == "Alice works at Acme." and top["user_id"] == "alice" and 0 <= top["score"] <= 1
        assert {"id", "hash", "metadata", "created_at", "updated_at", "valid_from", "valid_to"} <= set(top)
        assert {"source": "Alice", "relationship": "WORKS_AT", "destination": "Acme"} in result["relations"]
        listed = as_mem0_result(memory.get_all(user_id="alice"))
        assert {r["memory"] for r in listed["results"]} == {"Alice moved to Berlin.", "Alice works at Acme."}
        assert listed["relations"] == []
        history = [event.to_dict() for event in memory.history(top["id"])]
        assert history[0]["event"] == "ADD" and history[0]["new_memory"] == "Alice works at Acme." and not history[0]["is_deleted"]


async def test_async_memory_from_config(tmp_path):
    memory = AsyncMemory.from_config({"path": str(tmp_path / "a"), "version": "v1.1"}, embeddings=HashingEmbeddings())
    hits = await memory.search("anything", user_id="u")
    assert as_mem0_result(hits) == {"results": [], "relations": []}
    await memory.aclose()


def test_the_migration_page_runs_in_the_docs_snippet_test():
    """docs/coming-from-mem0.md is executed, unmarked, by tests/test_docs_snippets.py."""
    from .test_docs_snippets import DOCS, ROOT, snippets

    page = ROOT / "docs" / "coming-from-mem0.md"
    assert page in DOCS and len(snippets(page)) == 4 and all(marker == "" for marker, _, _ in snippets(page))
