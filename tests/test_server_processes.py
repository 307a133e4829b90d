"""`langmem-plugin serve` and `langmem-plugin keys` as an operator runs them, in subprocesses:
two servers on one embedded store, a server over Redis + Neo4j + Weaviate, and the key
commands whose changes every running server sees at its next call."""

from __future__ import annotations

import json
import sys
import uuid

import httpx
import pytest

from langmem_plugin import Memory
from langmem_plugin.cli import main
from langmem_plugin.server.namespaces import ACCESS_LOG

from .helpers import cli
from .servers import offline_env
from .serving import bearer, mcp_session, serve_process


def create_key(env: dict[str, str], *args: str) -> str:
    done = cli("keys", "create", *args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["key"]


def test_the_keys_commands_create_list_grant_and_revoke_with_typed_errors(tmp_path):
    env = offline_env(tmp_path)
    created = json.loads(
        cli("keys", "create", "ops", "--scope", "user_id=ana|agent_id=desk", "--json", env=env).stdout
    )
    assert created["key"].startswith("lmk_") and created["grant"]["scopes"] == [
        {"user_id": "ana", "agent_id": "desk"}
    ]
    listed = json.loads(cli("keys", "list", "--json", env=env).stdout)
    assert [(k["key_id"], k["principal"]) for k in listed] == [(created["key_id"], "ops")]
    assert created["key"].split("_", 2)[2] not in json.dumps(listed)
    shared = cli("keys", "grant", "auditor", "--user-id", "ana", "--filters", '{"topic": "billing"}', env=env)
    assert (
        shared.returncode == 0
        and "auditor: read over user_id='ana' where {'topic': 'billing'}" in shared.stdout
    )
    grants = json.loads(cli("keys", "grants", "--json", env=env).stdout)
    assert sorted(g["principal"] for g in grants) == ["auditor", "ops"]
    refused = cli(
        "keys", "grant", "auditor", "--user-id", "ana", "--rights", "write", "--filters", '{"t": 1}', env=env
    )
    assert refused.returncode == 2 and "read access only" in refused.stderr
    unknown_right = cli("--json", "keys", "create", "x", "--user-id", "ana", "--rights", "root", env=env)
    assert json.loads(unknown_right.stderr)["error"]["type"] == "InvalidInputError"
    assert cli("keys", "revoke", created["key_id"], env=env).returncode == 0
    assert json.loads(cli("keys", "list", "--json", env=env).stdout) == []
    assert cli("keys", "ungrant", grants[0]["id"], env=env).returncode == 0
    assert cli("serve", "--stdio", env=env).returncode == 2  # bound to no scope


@pytest.mark.parametrize("module", ["mcp", "fastapi", "uvicorn"])
def test_serve_without_the_server_extra_names_it_before_opening_the_store(
    tmp_path, monkeypatch, capsys, module
):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: find_spec answers None
    store = tmp_path / "store"
    assert main(["--path", str(store), "serve", "--port", "1"]) == 2
    assert 'pip install "langmem-plugin[server]"' in capsys.readouterr().err
    assert not store.exists()


@pytest.mark.slow
async def test_two_servers_on_one_embedded_store_serve_the_same_memories_and_keys(tmp_path):
    env = offline_env(tmp_path)
    key = create_key(env, "alice-app", "--user-id", "alice", "--rights", "read,write")
    with serve_process(env, tmp_path / "a.log") as first, serve_process(env, tmp_path / "b.log") as second:
        async with httpx.AsyncClient(headers=bearer(key), timeout=120) as http:
            for index in range(10):
                url = (first, second)[index % 2]
                body = {"messages": f"Alice note {index}", "infer": False}
                assert (await http.post(f"{url}/v1/memories", json=body)).status_code == 200
            listed = (await http.get(f"{first}/v1/memories")).json()["results"]
        assert sorted(m["memory"] for m in listed) == sorted(f"Alice note {i}" for i in range(10))
        async with mcp_session(second, key) as mcp:
            found = await mcp.call_tool("search_memory", {"query": "Alice note 7", "limit": 10})
            assert "Alice note 7" in found.content[0].text
        key_id = key.split("_")[1]
        assert cli("keys", "revoke", key_id, env=env).returncode == 0
        for url in (first, second):
            assert httpx.get(f"{url}/v1/memories", headers=bearer(key)).status_code == 401


@pytest.mark.slow
async def test_serve_on_redis_neo4j_and_weaviate(tmp_path, redis_url, neo4j_uri, weaviate_node, minilm):
    env = offline_env(tmp_path)
    env.update(
        LANGMEM_KV__BACKEND="redis",
        LANGMEM_KV__URL=redis_url,
        LANGMEM_KV__PREFIX="s" + uuid.uuid4().hex[:10],
        LANGMEM_GRAPH__BACKEND="neo4j",
        LANGMEM_GRAPH__URI=neo4j_uri,
        LANGMEM_VECTOR__BACKEND="weaviate",
        LANGMEM_VECTOR__URL=weaviate_node.url,
        LANGMEM_VECTOR__GRPC_PORT=str(weaviate_node.grpc_port),
        LANGMEM_VECTOR__COLLECTION="S" + uuid.uuid4().hex[:12],
    )
    key = create_key(env, "support", "--user-id", "ivy", "--rights", "read,write,forget")
    with serve_process(env, tmp_path / "serve.log") as url:
        with httpx.Client(base_url=url, headers=bearer(key), timeout=120) as api:
            body = {"messages": "I work at Acme and I live in Porto"}
            added = api.post("/v1/memories", json=body).json()["results"]
            assert sorted(item["memory"] for item in added) == ["Ivy lives in Porto.", "Ivy works at Acme."]
            hits = api.post("/v1/memories/search", json={"query": "where does Ivy work"}).json()["results"]
            assert hits and hits[0]["user_id"] == "ivy"
            assert api.post("/v1/memories/search", json={"query": "x", "user_id": "eve"}).status_code == 403
        async with mcp_session(url, key) as mcp:
            found = await mcp.call_tool("search_memory", {"query": "Acme"})
            assert not found.isError and "Acme" in found.content[0].text
        with httpx.Client(base_url=url, headers=bearer(key), timeout=120) as api:
            assert api.delete("/v1/memories", params={"purge": "true"}).json()["deleted"] == len(added)
    config = {
        "path": env["LANGMEM_PATH"],
        "kv": {"backend": "redis", "url": redis_url, "prefix": env["LANGMEM_KV__PREFIX"]},
        "graph": {"backend": "neo4j", "uri": neo4j_uri},
        "vector": {
            "backend": "weaviate",
            "url": weaviate_node.url,
            "grpc_port": weaviate_node.grpc_port,
            "collection": env["LANGMEM_VECTOR__COLLECTION"],
        },
    }
    with Memory(config, embeddings=minilm) as memory:
        assert memory.get_all(user_id="ivy") == []
        assert memory.services.kv.keys(ACCESS_LOG) == []  # the purge took the access log with it
        assert memory.related(["Acme"], user_id="ivy").entities == []
