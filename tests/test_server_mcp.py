"""The MCP server driven by real MCP clients: the official `mcp` client over streamable HTTP and
over stdio (`langmem-plugin serve --stdio`, started as a desktop client starts it), and
langchain-mcp-adapters loading the tools into `create_agent`."""

from __future__ import annotations

import json
import sys

import httpx
import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage
from langchain_mcp_adapters.client import MultiServerMCPClient
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from langmem_plugin import Memory, Scope
from langmem_plugin.server.keys import Keyring

from .helpers import RecordingChatModel, tool_call
from .servers import ROOT, offline_env
from .serving import http_statuses, make_key, mcp_session

TOOLS = {
    "add_memory",
    "search_memory",
    "get_memory",
    "update_memory",
    "delete_memory",
    "memory_history",
    "forget_memories",
    "handoff_memories",
}


def payload(result) -> dict:
    """A tool result's JSON (FastMCP returns it as one text block)."""
    assert not result.isError, result.content
    return json.loads(result.content[0].text)


def refusal(result) -> str:
    assert result.isError
    return result.content[0].text


async def test_every_tool_works_in_the_keys_scope_and_refuses_beyond_it(fast_memory, served):
    key = make_key(fast_memory, "alice-app", "read,write,forget", user_id="alice")
    make_key(fast_memory, "ben-app", user_id="ben")
    fast_memory.add("Ben keeps bees", user_id="ben", infer=False)
    async with mcp_session(served, key) as mcp:
        assert {tool.name for tool in (await mcp.list_tools()).tools} == TOOLS
        [added] = payload(await mcp.call_tool("add_memory", {"text": "Alice's cat is called Miso"}))[
            "results"
        ]
        found = payload(await mcp.call_tool("search_memory", {"query": "cat name"}))["results"]
        assert found[0]["id"] == added["id"] and found[0]["user_id"] == "alice"
        assert (
            payload(await mcp.call_tool("get_memory", {"memory_id": added["id"]}))["memory"]
            == added["memory"]
        )
        updated = await mcp.call_tool(
            "update_memory", {"memory_id": added["id"], "text": "Alice's cat is Miso, a tabby"}
        )
        assert payload(updated)["memory"] == "Alice's cat is Miso, a tabby"
        events = payload(await mcp.call_tool("memory_history", {"memory_id": added["id"]}))["results"]
        assert [e["event"] for e in events] == ["ADD", "UPDATE"]
        assert "NotGrantedError" in refusal(
            await mcp.call_tool("search_memory", {"query": "bees", "user_id": "ben"})
        )
        ben_memory = fast_memory.get_all(user_id="ben")[0].id
        assert "MemoryNotFoundError" in refusal(await mcp.call_tool("get_memory", {"memory_id": ben_memory}))
        assert payload(await mcp.call_tool("delete_memory", {"memory_id": added["id"]}))["id"] == added["id"]
        await mcp.call_tool(
            "add_memory", {"text": "Alice is on the night shift", "user_id": "alice", "run_id": "s1"}
        )
        forgotten = payload(await mcp.call_tool("forget_memories", {"run_id": "s1"}))
        assert forgotten == {"deleted": 1, "purged": True, "scope": {"user_id": "alice", "run_id": "s1"}}
    assert fast_memory.get_all(user_id="alice") == []
    assert [r.text for r in fast_memory.get_all(user_id="ben")] == ["Ben keeps bees"]


async def test_the_profile_is_a_resource_of_the_current_or_a_named_scope(fast_memory, served):
    fast_memory.set_profile({"language": "pt"}, user_id="alice")
    fast_memory.set_profile({"tone": "terse"}, user_id="alice", agent_id="bot7")
    key = make_key(fast_memory, "alice-app", user_id="alice")
    async with mcp_session(served, key) as mcp:
        templates = [t.uriTemplate for t in (await mcp.list_resource_templates()).resourceTemplates]
        assert templates == ["langmem://scopes/{scope}/profile"]
        current = await mcp.read_resource("langmem://scopes/current/profile")
        assert json.loads(current.contents[0].text) == {
            "scope": {"user_id": "alice"},
            "profile": {"language": "pt"},
        }
        named = await mcp.read_resource("langmem://scopes/user_id%3Dalice%7Cagent_id%3Dbot7/profile")
        assert json.loads(named.contents[0].text)["profile"] == {"tone": "terse"}
        with pytest.raises(Exception, match="NotGrantedError"):
            await mcp.read_resource("langmem://scopes/user_id%3Dbob/profile")


async def test_revoking_a_grant_or_a_key_stops_the_next_call(fast_memory, served):
    keyring = Keyring(fast_memory.services.kv)
    key, record = keyring.create_key("temp-agent")
    grant = keyring.grant("temp-agent", [Scope(user_id="eve")], ["read", "write"], "test")
    with pytest.raises(BaseExceptionGroup) as refused:
        async with mcp_session(served, key) as mcp:
            payload(await mcp.call_tool("add_memory", {"text": "Eve flies on Tuesday"}))
            keyring.revoke_grant(grant.id)
            assert "NotGrantedError" in refusal(await mcp.call_tool("search_memory", {"query": "flight"}))
            keyring.revoke_key(record["key_id"])
            await mcp.call_tool("search_memory", {"query": "flight"})
    assert http_statuses(refused.value) == [401]
    with pytest.raises(BaseExceptionGroup) as again:  # a new session: refused at its first message
        async with mcp_session(served, key):
            pass
    assert http_statuses(again.value) == [401]


async def test_langchain_mcp_adapters_give_create_agent_the_tools_of_the_key(fast_memory, served):
    key = make_key(fast_memory, "ana-agent", user_id="ana")
    client = MultiServerMCPClient(
        {
            "memory": {
                "transport": "streamable_http",
                "url": f"{served}/mcp",
                "headers": {"Authorization": f"Bearer {key}"},
            }
        }
    )
    tools = await client.get_tools()
    assert {tool.name for tool in tools} == TOOLS
    model = RecordingChatModel(
        [
            tool_call("add_memory", {"text": "Ana's bike is a blue Brompton."}, "c1"),
            tool_call("search_memory", {"query": "what bike does Ana ride"}, "c2"),
            AIMessage("You ride a blue Brompton."),
        ]
    )
    agent = create_agent(model, tools)
    result = await agent.ainvoke(
        {"messages": [{"role": "user", "content": "Remember my bike is a blue Brompton."}]}
    )
    assert result["messages"][-1].content == "You ride a blue Brompton."
    assert len(model.prompts) == 3
    seen = [m for m in model.prompts[2] if isinstance(m, ToolMessage)]
    assert [m.name for m in seen] == ["add_memory", "search_memory"]
    assert "blue Brompton" in str(seen[1].content) and "ana" in str(seen[1].content)
    assert [r.text for r in fast_memory.get_all(user_id="ana")] == ["Ana's bike is a blue Brompton."]


def test_the_mcp_endpoint_refuses_a_missing_or_wrong_key_as_json(served):
    for headers in (
        {},
        {"Authorization": "Bearer lmk_0000000000000000_nope"},
        {"Authorization": "Basic eDp5"},
    ):
        response = httpx.post(
            f"{served}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers
        )
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "UnauthenticatedError"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_request_naming_another_host_is_refused_before_any_tool_runs(fast_memory, served):
    """DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends `Host: evil.example`."""
    key = make_key(fast_memory, "rebound", user_id="rita")
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "add_memory", "arguments": {"text": "Rita was here"}},
    }
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"}
    rebound = httpx.post(f"{served}/mcp", json=call, headers={**headers, "Host": "evil.example"})
    assert rebound.status_code == 421
    assert fast_memory.get_all(user_id="rita") == []
    direct = httpx.post(f"{served}/mcp", json=call, headers=headers)
    assert direct.status_code == 200 and "Rita was here" in direct.text
    assert [r.text for r in fast_memory.get_all(user_id="rita")] == ["Rita was here"]


async def test_the_stdio_server_is_bound_to_its_command_lines_scope(tmp_path, minilm):
    env = offline_env(tmp_path)
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "langmem_plugin.cli", "serve", "--stdio", "--user-id", "alice", "--agent-id", "desk"],
        env=env,
        cwd=str(ROOT),
    )
    async with stdio_client(parameters) as (read, write):
        async with ClientSession(read, write) as mcp:
            await mcp.initialize()
            assert {tool.name for tool in (await mcp.list_tools()).tools} == TOOLS
            payload(await mcp.call_tool("add_memory", {"text": "Alice prints on A4 paper"}))
            found = payload(await mcp.call_tool("search_memory", {"query": "paper size"}))["results"]
            assert [(h["memory"], h["user_id"], h["agent_id"]) for h in found] == [
                ("Alice prints on A4 paper", "alice", "desk")
            ]
            assert "NotGrantedError" in refusal(
                await mcp.call_tool("search_memory", {"query": "x", "user_id": "bob"})
            )
            assert "NotGrantedError" in refusal(await mcp.call_tool("forget_memories", {}))
    with Memory({"path": env["LANGMEM_PATH"]}, embeddings=minilm) as stored:
        assert [r.text for r in stored.get_all(user_id="alice", agent_id="desk")] == [
            "Alice prints on A4 paper"
        ]
