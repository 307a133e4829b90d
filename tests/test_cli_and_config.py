"""The command line, the demo, configuration and the embedding cache."""

import json

import pytest

from langmem_plugin import ConfigurationError, MemoryConfig
from langmem_plugin.cli import main
from langmem_plugin.demo import run_demo
from langmem_plugin.embeddings import CachedEmbeddings
from langmem_plugin.records import Scope
from langmem_plugin.tiers.keyvalue.diskcache_backend import DiskCacheKeyValueStore

from .helpers import HashingEmbeddings


def test_demo_remembers_updates_invalidates_and_retrieves(tmp_path, capsys):
    memory = run_demo(tmp_path / "demo")
    try:
        output = capsys.readouterr().out
        for marker in ("ADD", "NOOP", "UPDATE", "INVALIDATE", "== retrieval", "as of 2024-04-01, alice lived: Alice lives in Lisbon."):
            assert marker in output
        assert "0 of alice's" in output
        current = [r.text for r in memory.get_all(user_id="alice")]
        assert any("Berlin" in text for text in current) and not any("Lisbon" in text for text in current)
    finally:
        memory.close()


def test_cli_add_search_list_history_forget(tmp_path, capsys):
    path = str(tmp_path / "cli")

    def run(*args):
        assert main(["--path", path, "--json", *args]) == 0
        return json.loads(capsys.readouterr().out)

    added = run("add", "I collect vintage stamps.", "--user-id", "u1", "--no-infer", "--metadata", '{"topic": "hobby"}')
    memory_id = added[0]["memory"]["id"]
    assert added[0]["memory"]["metadata"] == {"topic": "hobby"}
    hits = run("search", "stamp collection", "--user-id", "u1", "--filters", '{"topic": "hobby"}')
    assert hits[0]["memory"]["id"] == memory_id
    assert [r["id"] for r in run("list", "--user-id", "u1")] == [memory_id]
    assert run("history", memory_id)[0]["event"] == "ADD"
    assert run("forget", "--user-id", "u1") == {"deleted": 1}
    assert run("list", "--user-id", "u1") == []


def test_cli_reports_typed_errors(tmp_path, capsys):
    assert main(["--path", str(tmp_path / "cli"), "add", "a fact"]) == 2
    assert "user_id" in capsys.readouterr().err
    assert main(["--path", str(tmp_path / "cli"), "history", "nope"]) == 2


def test_config_from_dict_and_env(tmp_path):
    config = MemoryConfig.from_dict({"path": str(tmp_path), "search": {"rrf_k": 30}})
    assert config.search.rrf_k == 30
    env = {"LANGMEM_PATH": str(tmp_path / "e"), "LANGMEM_SEARCH__DENSE_WEIGHT": "2.5", "LANGMEM_GRAPH__ENABLED": "false", "HOME": "/x"}
    config = MemoryConfig.from_env(env)
    assert config.path == tmp_path / "e" and config.search.dense_weight == 2.5 and config.graph.enabled is False
    for bad in ({"vector": {"backend": "nope"}}, {"unknown": 1}, {"search": {"rrf_k": 0}}):
        with pytest.raises(ConfigurationError):
            MemoryConfig.from_dict(bad)
    with pytest.raises(ConfigurationError):
        MemoryConfig.from_env({"LANGMEM_A__B__C": "1"})


def test_graph_can_be_disabled(tmp_path):
    from langmem_plugin import Memory

    with Memory({"path": str(tmp_path / "nograph"), "graph": {"enabled": False}}, embeddings=HashingEmbeddings()) as memory:
        memory.add({"role": "user", "content": "I work at Acme in Oslo.", "name": "Ida"}, user_id="ida")
        assert memory.related(["Ida"], user_id="ida").entities == []
        assert not (tmp_path / "nograph" / "graph.sqlite3").exists()


class CountingEmbeddings(HashingEmbeddings):
    def __init__(self):
        super().__init__(16)
        self.calls: list[list[str]] = []

    def embed_documents(self, texts):
        self.calls.append(list(texts))
        return super().embed_documents(texts)


def test_embedding_cache_embeds_each_text_once(tmp_path):
    inner = CountingEmbeddings()
    kv = DiskCacheKeyValueStore(tmp_path / "kv")
    cached = CachedEmbeddings(inner, kv)
    alice, bob = Scope(user_id="alice"), Scope(user_id="bob")
    first = cached.embed(["a", "b", "a"], alice)
    second = cached.embed(["b", "c"], alice)
    assert inner.calls == [["a", "b"], ["c"]]
    assert (first[1] == second[0]).all()
    cached.embed(["a"], bob)  # another scope never reads (or learns about) alice's entries
    assert inner.calls[-1] == ["a"]
    other_model = CachedEmbeddings(HashingEmbeddings(16), kv)
    assert other_model._key(alice, "a") != cached._key(alice, "a")
    kv.close()
