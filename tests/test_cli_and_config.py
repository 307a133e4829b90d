"""The command line, the demo, configuration and the embedding cache.

The CLI tests at the end run `python -m langmem_plugin.cli` in a subprocess, as a user would,
against a temporary store.
"""

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from langmem_plugin import ConfigurationError, MemoryConfig
from langmem_plugin.cli import _parser, main
from langmem_plugin.demo import run_demo
from langmem_plugin.embeddings import CachedEmbeddings
from langmem_plugin.records import Scope
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore

from .helpers import HashingEmbeddings


def test_demo_remembers_updates_invalidates_and_retrieves(tmp_path, capsys):
    memory = run_demo(tmp_path / "demo")
    try:
        captured = capsys.readouterr()
        assert "loading the all-MiniLM-L6-v2 embedding model... done in" in captured.err  # progress of the model load
        output = captured.out
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
    history = run("history", memory_id)
    assert history["memory"]["id"] == memory_id and history["events"][0]["event"] == "ADD"
    assert run("forget", "--user-id", "u1", "--yes") == {"deleted": 1}
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
    kv = SQLiteKeyValueStore(tmp_path / "kv")
    cached = CachedEmbeddings(inner, kv)
    alice, bob = Scope(user_id="alice"), Scope(user_id="bob")
    first = cached.embed(["a", "b", "a"], alice)
    second = cached.embed(["b", "c"], alice)
    assert inner.calls == [["a", "b"], ["c"]]
    assert (first[1] == second[0]).all()
    cached.embed(["a"], bob)  # another scope never reads (or learns about) alice's entries
    assert inner.calls[-1] == ["a"]
    other_model = CachedEmbeddings(HashingEmbeddings(16), kv)
    assert other_model.keys(alice, ["a"]) != cached.keys(alice, ["a"])
    kv.close()


# -- the CLI in a subprocess -------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
LOCOMO = ROOT.parent / "shared" / "data" / "locomo" / "locomo_dev.json"


def cli(
    *args: str, store: Path, check: bool = True, stdin: str | None = None, settings: dict | None = None
) -> subprocess.CompletedProcess:
    """`langmem-plugin --path STORE ARGS...` in a fresh interpreter running this checkout's code;
    `settings` are the only LANGMEM_* variables it sees."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGMEM_", "OPENAI_"))}
    env.update(settings or {})
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "langmem_plugin.cli", "--path", str(store), *args],
        capture_output=True, text=True, env=env, input=stdin, timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_every_option_has_help_text():
    def walk(parser: argparse.ArgumentParser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from ((f"{name} {option}", text) for option, text in walk(sub))
            elif not isinstance(action, argparse._HelpAction):
                yield "/".join(action.option_strings) or action.dest, action.help

    missing = [option for option, text in walk(_parser()) if not text]
    assert missing == []


def test_cli_help_explains_the_scope_options(tmp_path):
    text = cli("search", "--help", store=tmp_path).stdout
    for option, words in (("--user-id", "the user"), ("--agent-id", "the agent"), ("--run-id", "session"), ("--limit", "at most")):
        assert option in text and words in text


def test_cli_add_without_a_name_speaks_as_the_user(tmp_path):
    added = cli("add", "I love green curry", "--user-id", "alice", store=tmp_path / "s").stdout
    assert added.split(maxsplit=2)[0] == "ADD" and added.rstrip().endswith("Alice loves green curry.")
    named = cli("add", "I love dark roast", "--user-id", "alice", "--name", "Ali", store=tmp_path / "s").stdout
    assert named.rstrip().endswith("Ali loves dark roast.")


def test_cli_history_shows_when_learned_and_when_true(tmp_path):
    store = tmp_path / "s"
    first = cli("--json", "add", "I moved to Berlin", "--user-id", "alice", "--timestamp", "2024-04-22T18:40:00Z", store=store)
    memory_id = json.loads(first.stdout)[0]["memory"]["id"]
    cli("add", "I moved to Lisbon", "--user-id", "alice", "--timestamp", "2024-06-01T10:00:00Z", store=store)
    lines = cli("history", memory_id, "--user-id", "alice", store=store).stdout.splitlines()
    learned = f"{datetime.now(timezone.utc):%Y-%m-%d}"
    assert lines[0] == f"memory {memory_id}: Alice moved to Berlin."
    assert lines[1] == "  true from 2024-04-22 18:40 UTC until 2024-06-01 10:00 UTC"
    assert lines[3].startswith(f"  {learned} ") and " ADD " in lines[3] and lines[3].endswith("[said 2024-04-22 18:40 UTC]")
    assert lines[4].startswith(f"  {learned} ") and " INVALIDATE " in lines[4] and lines[4].endswith("[said 2024-06-01 10:00 UTC]")
    assert "'Alice moved to Berlin.' stopped being true" in lines[4]
    from langmem_plugin import Memory

    with Memory({"path": str(store)}) as memory:
        memory.delete(memory_id, user_id="alice")
    after = cli("history", memory_id, store=store).stdout.splitlines()
    assert after[0] == f"memory {memory_id}: deleted; its history:" and "'Alice moved to Berlin.' deleted" in after[-1]


def test_cli_import_search_history_export_and_round_trip(tmp_path):
    conversation = [
        {"role": "user", "content": "I moved to Berlin last week.", "timestamp": "2024-04-22T18:40:00Z"},
        {"role": "assistant", "content": "How exciting!", "timestamp": "2024-04-22T18:41:00Z"},
        {"role": "user", "content": "I adopted a dog named Miso.", "timestamp": "2024-05-02T09:00:00Z"},
    ]
    source = tmp_path / "chat.jsonl"
    source.write_text("".join(json.dumps(m) + "\n" for m in conversation))
    store = tmp_path / "s"
    imported = cli("import", str(source), "--user-id", "alice", "--batch-size", "2", store=store)
    assert imported.stdout.splitlines() == ["imported 3 messages (messages) in 2 batches: 2 ADD"]
    assert "importing messages: started, 3 to do" in imported.stderr and "3/3" in imported.stderr
    hits = json.loads(cli("--json", "search", "Where does Alice live?", "--user-id", "alice", store=store).stdout)
    assert hits[0]["memory"]["text"] == "Alice moved to Berlin in the week of 15 April 2024."
    history = cli("history", hits[0]["memory"]["id"], store=store).stdout
    assert "true from 2024-04-22 18:40 UTC until now (still valid)" in history
    assert cli("export", store=store, check=False).returncode == 2  # a user's data: --user-id is required

    exported = [json.loads(line) for line in cli("export", "--user-id", "alice", "--format", "jsonl", store=store).stdout.splitlines()]
    assert [(m["memory"], m["valid_from"], m["history"][0]["event"]) for m in exported] == [
        ("Alice moved to Berlin in the week of 15 April 2024.", "2024-04-22T18:40:00Z", "ADD"),
        ("Alice adopted a dog named Miso.", "2024-05-02T09:00:00Z", "ADD"),
    ]
    document = tmp_path / "alice.json"
    cli("export", "--user-id", "alice", "-o", str(document), store=store)
    summary = json.loads(cli("--json", "import", str(document), "--user-id", "alice", store=tmp_path / "copy").stdout)
    assert summary["events"] == {"ADD": 2} and summary["format"] == "langmem-plugin export"
    again = json.loads(cli("export", "--user-id", "alice", store=tmp_path / "copy").stdout)["memories"]
    keep = ("memory", "metadata", "valid_from", "valid_to", "user_id")
    assert [{k: m[k] for k in keep} for m in again] == [{k: m[k] for k in keep} for m in exported]
    assert cli("list", "--user-id", "bob", store=tmp_path / "copy").stdout.strip() == "(nothing)"


def test_cli_import_rejects_an_unknown_shape_before_loading_anything(tmp_path):
    (tmp_path / "odd.json").write_text(json.dumps([{"who": "x", "said": "y"}]))
    result = cli("import", str(tmp_path / "odd.json"), "--user-id", "u", store=tmp_path / "s", check=False)
    assert result.returncode == 2 and "unrecognised items" in result.stderr and "loading" not in result.stderr
    assert not (tmp_path / "s").exists()
    unscoped = cli("import", str(tmp_path / "odd.json"), store=tmp_path / "s", check=False)
    assert unscoped.returncode == 2 and "user_id" in unscoped.stderr and not (tmp_path / "s").exists()


def test_bench_names_the_missing_extra_before_any_work(tmp_path):
    hide = "import sys; sys.modules.update(bm25s=None, matplotlib=None); from langmem_plugin.cli import main; "
    result = subprocess.run(
        [sys.executable, "-c", hide + f"sys.exit(main(['bench', 'locomo', '--data', {str(LOCOMO)!r}]))"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "matplotlib, bm25s" in result.stderr and 'pip install "langmem-plugin[bench]"' in result.stderr
    assert "[locomo]" not in result.stderr  # nothing was loaded or embedded first
