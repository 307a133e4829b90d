"""`langmem_plugin.mem0`: Mem0 code runs after changing its import only.

The quickstart scripts below are Mem0's (its README / Python quickstart and its async guide),
run in a subprocess with the import line changed and nothing else, offline.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from langmem_plugin import (
    ConfigurationError,
    InvalidFilterError,
    InvalidInputError,
    InvalidScopeError,
    MemoryNotFoundError,
)
from langmem_plugin import MissingScopeError
from langmem_plugin.mem0 import AsyncMemory, Memory
from langmem_plugin.mem0_compat import config_from_mem0

from .helpers import HashingEmbeddings

ROOT = Path(__file__).resolve().parents[1]

MEM0_QUICKSTART = """\
from mem0 import Memory

m = Memory()

messages = [
    {"role": "user", "content": "Hi, I'm Alex. I love basketball and gaming."},
    {"role": "assistant", "content": "Hey Alex! I'll remember your interests."}
]
m.add(messages, user_id="alex")

results = m.search("What do you know about me?", user_id="alex")
print(results)

relevant_memories = m.search(query="What sports does Alex like?", user_id="alex", limit=3)
memories_str = "\\n".join(f"- {entry['memory']}" for entry in relevant_memories["results"])
print(memories_str)

all_memories = m.get_all(user_id="alex")
memory_id = all_memories["results"][0]["id"]
specific_memory = m.get(memory_id)
print(specific_memory["memory"])

m.update(memory_id=memory_id, data="Alex now prefers decaf coffee")
print(m.history(memory_id=memory_id))

m.delete(memory_id=memory_id)
m.delete_all(user_id="alex")
m.reset()
"""

MEM0_ASYNC_QUICKSTART = """\
import asyncio
from mem0 import AsyncMemory

async def main():
    memory = AsyncMemory()
    result = await memory.add(
        messages=[
            {"role": "user", "content": "I'm travelling to SF"},
            {"role": "assistant", "content": "That's great to hear!"}
        ],
        user_id="alice"
    )
    results = await memory.search(
        query="Where am I travelling?",
        user_id="alice"
    )
    all_memories = await memory.get_all(user_id="alice")
    memory_id = all_memories["results"][0]["id"]
    specific_memory = await memory.get(memory_id=memory_id)
    updated_memory = await memory.update(
        memory_id=memory_id,
        data="I'm travelling to Seattle"
    )
    print(await memory.history(memory_id=memory_id))
    await memory.delete(memory_id=memory_id)
    await memory.delete_all(user_id="alice")
    print(results["results"][0]["memory"], updated_memory["message"])

asyncio.run(main())
"""


def ported(script: str) -> str:
    """The one change a user makes: the import."""
    return script.replace("from mem0 import", "from langmem_plugin.mem0 import")


def run_script(script: str, store: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGMEM_", "OPENAI_", "LANGSMITH_"))}
    env.update(PYTHONPATH=str(ROOT), LANGMEM_PATH=str(store), HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300, cwd=store.parent
    )


def test_the_mem0_quickstart_runs_unchanged_but_for_its_import(tmp_path):
    script = ported(MEM0_QUICKSTART)
    assert [line for line in script.splitlines() if line not in MEM0_QUICKSTART.splitlines()] == [
        "from langmem_plugin.mem0 import Memory"
    ]
    result = run_script(script, tmp_path / "store")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    first = eval(lines[0])  # print(results): Mem0's dict, as Python prints it
    assert set(first) == {"results", "relations"}
    assert any(
        item["memory"] == "Alex loves basketball and gaming." and item["user_id"] == "alex"
        for item in first["results"]
    )
    assert "- Alex loves basketball and gaming." in lines
    history = eval(lines[-1])
    assert [event["event"] for event in history] == ["ADD", "UPDATE"]
    assert history[-1]["new_memory"] == "Alex now prefers decaf coffee"


def test_the_mem0_async_quickstart_runs_unchanged_but_for_its_import(tmp_path):
    result = run_script(ported(MEM0_ASYNC_QUICKSTART), tmp_path / "store")
    assert result.returncode == 0, result.stderr
    history, summary = result.stdout.splitlines()
    assert [event["event"] for event in eval(history)] == ["ADD", "UPDATE"]
    assert summary == "Alice is travelling to SF. Memory updated successfully!"


def test_the_migration_page_shows_the_quickstart_with_only_the_import_changed():
    from .test_docs_snippets import snippets

    codes = [code for _, code, _ in snippets(ROOT / "docs" / "coming-from-mem0.md")]
    assert ported(MEM0_QUICKSTART) in codes


@pytest.fixture
def m(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        yield memory


def test_every_method_returns_mem0s_shapes(m):
    added = m.add("I moved to Berlin. I work at Acme.", user_id="alice", metadata={"category": "bio"})
    assert set(added) == {"results", "relations"}
    assert [(r["event"], r["memory"]) for r in added["results"]] == [
        ("ADD", "Alice moved to Berlin."),
        ("ADD", "Alice works at Acme."),
    ]
    assert {"source": "Alice", "relationship": "WORKS_AT", "destination": "Acme"} in added["relations"]
    found = m.search("Where does Alice work?", user_id="alice")
    top = found["results"][0]
    assert top["memory"] == "Alice works at Acme." and top["user_id"] == "alice" and 0 <= top["score"] <= 1
    assert {"id", "hash", "metadata", "created_at", "updated_at"} <= set(top) and top["metadata"] == {
        "category": "bio"
    }
    assert {"source": "Alice", "relationship": "WORKS_AT", "destination": "Acme"} in found["relations"]
    listed = m.get_all(user_id="alice")
    assert len(listed["results"]) == 2 and "score" not in listed["results"][0]
    assert {"source": "Alice", "relationship": "WORKS_AT", "destination": "Acme"} in listed["relations"]
    assert m.get(top["id"])["memory"] == "Alice works at Acme."
    assert m.get("00000000-0000-4000-8000-000000000000") is None  # Mem0's get answers None
    assert m.update(top["id"], "Alice works at Initech.", metadata={"source": "hr"}) == {
        "message": "Memory updated successfully!"
    }
    assert m.get(top["id"])["metadata"] == {
        "category": "bio",
        "source": "hr",
    }  # Mem0 keeps the keys not named
    history = m.history(top["id"])
    assert [(e["event"], e["old_memory"], e["new_memory"]) for e in history] == [
        ("ADD", None, "Alice works at Acme."),
        ("UPDATE", "Alice works at Acme.", "Alice works at Initech."),
    ]
    assert m.history("00000000-0000-4000-8000-000000000000") == []
    assert m.delete(top["id"]) == {"message": "Memory deleted successfully!"}
    with pytest.raises(MemoryNotFoundError):
        m.delete(top["id"])
    assert m.delete_all(user_id="alice") == {"message": "Memories deleted successfully!"}
    assert m.get_all(user_id="alice") == {"results": [], "relations": []}
    assert m.reset() is None
    assert isinstance(m.langmem.search("anything", user_id="alice"), list)  # the typed API underneath


def test_mem0_filters_limits_and_scope_forms(m):
    m.add("I love jazz.", user_id="alex", metadata={"category": "music", "priority": 3}, infer=False)
    m.add("I love hiking.", user_id="alex", metadata={"category": "outdoors", "priority": 1}, infer=False)
    m.add("I love jazz too.", user_id="sam", metadata={"category": "music"}, infer=False)

    def texts(result):
        return sorted(item["memory"] for item in result["results"])

    assert texts(m.search("hobby", user_id="alex", filters={"category": "music"})) == ["I love jazz."]
    assert texts(m.search("hobby", user_id="alex", filters={"priority": {"gte": 2}})) == ["I love jazz."]
    assert texts(m.get_all(filters={"user_id": "alex", "category": {"in": ["outdoors"]}})) == [
        "I love hiking."
    ]  # Mem0 2.0
    assert texts(m.get_all(filters={"AND": [{"user_id": "alex"}, {"priority": {"lt": 2}}]})) == [
        "I love hiking."
    ]
    assert len(m.search("hobby", filters={"user_id": "alex"}, top_k=1)["results"]) == 1
    assert len(m.get_all(user_id="alex", limit=1)["results"]) == 1
    with pytest.raises(InvalidScopeError, match="user_id"):
        m.search("hobby", user_id="alex", filters={"user_id": "sam"})
    for unsupported in (
        {"OR": [{"category": "music"}]},
        {"category": {"icontains": "MUS"}},
        {"category": "*"},
    ):
        with pytest.raises(InvalidFilterError):
            m.search("hobby", user_id="alex", filters=unsupported)
    with pytest.raises(MissingScopeError):
        m.search("hobby", filters={"category": "music"})
    with pytest.raises(InvalidInputError, match="procedural"):
        m.add("Step one: open the door.", agent_id="bot", memory_type="procedural_memory")
    with pytest.raises(InvalidInputError, match="prompt"):
        m.add("I love jazz.", user_id="alex", prompt="Only music.")


QDRANT_OPENAI_CONFIG = {
    "vector_store": {
        "provider": "qdrant",
        "config": {"collection_name": "test", "host": "localhost", "port": 6333},
    },
    "llm": {"provider": "openai", "config": {"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 2000}},
    "embedder": {"provider": "openai", "config": {"model": "text-embedding-3-small"}},
    "history_db_path": "/tmp/history.db",
    "reranker": {"provider": "cohere", "config": {}},
}


def test_from_config_names_every_setting_it_cannot_honour_at_once(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        Memory.from_config({**QDRANT_OPENAI_CONFIG, "path": str(tmp_path / "never"), "serach": {}})
    message = str(raised.value)
    assert message.startswith("cannot use this config, 6 settings cannot be honoured:")
    for named in (
        "'qdrant'",
        "llm.config.max_tokens",
        "'text-embedding-3-small'",
        "history_db_path",
        "reranker",
        "serach",
    ):
        assert named in message
    assert not (tmp_path / "never").exists()


def test_a_missing_provider_key_is_a_configuration_error_before_anything_opens(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = {
        "llm": {"provider": "openai", "config": {"model": "gpt-4o-mini"}},
        "path": str(tmp_path / "never"),
    }
    for facade in (Memory, AsyncMemory):
        with pytest.raises(ConfigurationError, match="OPENAI_API_KEY") as raised:
            facade.from_config(config)
        assert type(raised.value.__cause__).__module__.startswith("openai")
    assert not (tmp_path / "never").exists()


async def test_async_drop_in_matches_the_sync_one(tmp_path):
    async with AsyncMemory({"path": str(tmp_path / "a")}, embeddings=HashingEmbeddings()) as memory:
        added = await memory.add(
            [{"role": "user", "content": "I work at Acme."}], user_id="alice", metadata={"topic": "job"}
        )
        memory_id = added["results"][0]["id"]
        found = await memory.search("work", user_id="alice", metadata_filters={"topic": {"ne": "play"}})
        assert [item["id"] for item in found["results"]] == [memory_id]
        assert (await memory.get(memory_id))["memory"] == "Alice works at Acme."
        assert await memory.update(memory_id=memory_id, data="Alice works at Initech.") == {
            "message": "Memory updated successfully!"
        }
        assert [e["event"] for e in await memory.history(memory_id)] == ["ADD", "UPDATE"]
        assert (await memory.get_all(user_id="alice"))["results"][0]["memory"] == "Alice works at Initech."
        assert await memory.delete(memory_id) == {"message": "Memory deleted successfully!"}
        assert await memory.delete_all(user_id="alice") == {"message": "Memories deleted successfully!"}
        await memory.reset()


def test_a_mem0_get_all_dump_round_trips_through_the_cli(tmp_path, m):
    """What Mem0's get_all() returned, saved as JSON, is what `langmem-plugin import` reads."""
    m.add("I love jazz.", user_id="alex", metadata={"category": "music"}, infer=False)
    dump = tmp_path / "mem0.json"
    dump.write_text(json.dumps(m.get_all(user_id="alex")))
    from .test_cli_and_config import cli

    summary = json.loads(
        cli("import", str(dump), "--user-id", "alex", "--json", store=tmp_path / "copy").stdout
    )
    assert summary["format"] == "langmem-plugin export" and summary["events"] == {
        "ADD": 1
    }  # its items carry our fields
    assert re.search(
        r'"text": "I love jazz\."', cli("list", "--user-id", "alex", "--json", store=tmp_path / "copy").stdout
    )


UNHONOURED = {
    "vector_store": ({"provider": "qdrant", "config": {"path": "/tmp/q"}}, "'qdrant'"),
    "graph_store": ({"provider": "memgraph", "config": {}}, "'memgraph'"),
    "llm": (
        {"provider": "openai", "config": {"model": "gpt-4o-mini", "api_key": "sk-x", "max_tokens": 9}},
        "llm.config.api_key, llm.config.max_tokens",
    ),
    "embedder": (
        {"provider": "openai", "config": {"model": "text-embedding-3-small"}},
        "'text-embedding-3-small'",
    ),
    "history_db_path": ("/tmp/history.db", "history_db_path"),
    "reranker": ({"provider": "cohere", "config": {}}, "reranker"),
    "version": ("v1.0", "'v1.0'"),
    "serach": ({"rrf_k": 3}, "serach"),
}


@settings(max_examples=60, deadline=None)
@given(keys=st.sets(st.sampled_from(sorted(UNHONOURED)), min_size=1))
def test_every_setting_that_cannot_be_honoured_is_named_in_one_error(keys):
    with pytest.raises(ConfigurationError) as raised:
        config_from_mem0({"path": "/tmp/never-opened", **{key: UNHONOURED[key][0] for key in keys}})
    message = str(raised.value)
    assert message.count("\n- ") == len(keys)
    for key in keys:
        assert UNHONOURED[key][1] in message
