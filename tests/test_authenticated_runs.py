"""Runs the LangGraph API server authenticated: the user comes from the authentication, and a
client naming another user is refused, in every integration.

The configurable of each run is exactly what langgraph-api puts there (checked against a real
`langgraph dev` with custom auth in tests/test_langgraph_dev.py): `langgraph_auth_user_id`, the
user object in `langgraph_auth_user`, the client's context copied into configurable, and
configurable["user_id"] set to the authenticated user when the client sent none.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langmem import create_search_memory_tool

from langmem_plugin import ForbiddenScopeError, Memory
from langmem_plugin.integrations.middleware import MemoryMiddleware
from langmem_plugin.integrations.scoping import ScopeMapping, scope_from
from langmem_plugin.integrations.store import MemoryStore
from langmem_plugin.integrations.subgraph import build_memory_graph
from langmem_plugin.integrations.tools import create_memory_tools

from .helpers import HashingEmbeddings, RecordingChatModel, tool_call


@dataclass(frozen=True)
class User:
    """What the server's user object offers (langgraph_sdk.auth.types.BaseUser)."""

    identity: str
    display_name: str = ""
    is_authenticated: bool = True
    permissions: tuple = ()


@dataclass
class UserContext:
    user_id: str | None = None


def server_run(
    authenticated: str | None, context: dict | None = None, configurable: dict | None = None
) -> dict:
    """The (context, config) langgraph-api gives a run: the client's context is mirrored into
    configurable, the auth keys are the server's, user_id defaults to the authenticated user."""
    base = dict(context or configurable or {})
    base.update(
        {
            "run_id": "r-1",
            "thread_id": "t-1",
            "graph_id": "agent",
            "assistant_id": "a-1",
            "langgraph_request_id": "q-1",
        }
    )
    base["langgraph_auth_user"] = User(authenticated) if authenticated else None
    base["langgraph_auth_user_id"] = authenticated or ""
    base["langgraph_auth_permissions"] = []
    base.setdefault("user_id", authenticated or "")
    return {"context": UserContext(**context) if context else None, "config": {"configurable": base}}


# Every way a client can name a user: nothing, the runtime context, configurable, LangMem's key.
CLAIMS = [
    ("nothing", {}),
    ("own context", {"context": {"user_id": "alice"}}),
    ("context", {"context": {"user_id": "bob"}}),
    ("configurable", {"configurable": {"user_id": "bob"}}),
    ("langmem key", {"configurable": {"langgraph_user_id": "bob"}}),
    ("empty", {"context": {"user_id": ""}}),
]
FORBIDDEN = {"context", "configurable"}


def test_the_authenticated_user_is_the_scope():
    assert scope_from(**server_run("alice"))["user_id"] == "alice"
    assert scope_from(**server_run("alice", context={"user_id": "alice"}))["user_id"] == "alice"
    only_the_user = {
        "configurable": {"langgraph_auth_user": {"identity": "alice"}}
    }  # no id key: the user's identity
    assert scope_from(None, only_the_user)["user_id"] == "alice"
    custom = ScopeMapping(context={}, configurable={"user_id": "customer", "agent_id": "agent_id"})
    assert scope_from(
        None,
        {"configurable": {"customer": "alice", "agent_id": "bot", "langgraph_auth_user_id": "alice"}},
        custom,
    ) == {
        "user_id": "alice",
        "agent_id": "bot",
        "run_id": None,
    }
    with pytest.raises(ForbiddenScopeError, match="authenticated as user 'alice'"):
        scope_from(None, {"configurable": {"customer": "bob", "langgraph_auth_user_id": "alice"}}, custom)


def test_without_auth_the_client_chooses():
    assert scope_from(**server_run(None, context={"user_id": "bob"}))["user_id"] == "bob"


@settings(max_examples=200, deadline=None)
@given(
    context_id=st.one_of(st.none(), st.text(max_size=8), st.just("alice")),
    configurable_id=st.one_of(st.none(), st.text(max_size=8), st.just("alice")),
    agent_id=st.one_of(st.none(), st.text(min_size=1, max_size=8)),
)
def test_an_authenticated_run_never_gets_another_users_scope(context_id, configurable_id, agent_id):
    configurable = {"langgraph_auth_user_id": "alice", "user_id": configurable_id, "agent_id": agent_id}
    try:
        scope = scope_from(UserContext(context_id), {"configurable": configurable})
    except ForbiddenScopeError:
        assert (context_id or configurable_id) not in (None, "", "alice")
        return
    assert scope["user_id"] == "alice"


@pytest.fixture
def memory(tmp_path):
    with Memory({"path": str(tmp_path / "auth")}, embeddings=HashingEmbeddings()) as instance:
        instance.add("Bob's vault code is 4417.", user_id="bob", infer=False)
        instance.add("Alice's vault code is 1234.", user_id="alice", infer=False)
        yield instance


def bob_leaked(texts) -> bool:
    return any("4417" in text for text in texts)


@pytest.mark.parametrize("name, claim", CLAIMS, ids=[name for name, _ in CLAIMS])
@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_middleware_and_tools_serve_only_the_authenticated_user(memory, name, claim, mode):
    script = [tool_call("search_memory", {"query": "vault code"}, "s1"), AIMessage("Here you are.")]
    model = RecordingChatModel(script)
    agent = create_agent(
        model, middleware=[MemoryMiddleware(memory, infer=False)], context_schema=UserContext
    )
    run = server_run("alice", **claim)
    payload = {"messages": [HumanMessage("What is my vault code?")]}
    call = agent.invoke if mode == "invoke" else agent.ainvoke
    if name in FORBIDDEN:
        with pytest.raises(ForbiddenScopeError):
            result = call(payload, **run)
            result = await result if mode == "ainvoke" else result
        assert model.prompts == []  # refused before the model saw anything
    else:
        result = call(payload, **run)
        result = await result if mode == "ainvoke" else result
        tool_texts = [m.content for m in result["messages"] if isinstance(m, ToolMessage)]
        assert "1234" in model.system_texts()[0] and "1234" in tool_texts[0]
        assert not bob_leaked(model.system_texts() + tool_texts)
    assert [r.text for r in memory.get_all(user_id="bob")] == ["Bob's vault code is 4417."]


@pytest.mark.parametrize("name, claim", CLAIMS, ids=[name for name, _ in CLAIMS])
async def test_subgraph_serves_only_the_authenticated_user(memory, name, claim):
    graph = build_memory_graph(memory, infer=False, context_schema=UserContext)
    payload = {"messages": [HumanMessage("What is my vault code?")]}
    if name in FORBIDDEN:
        with pytest.raises(ForbiddenScopeError):
            await graph.ainvoke(payload, **server_run("alice", **claim))
        return
    out = await graph.ainvoke(payload, **server_run("alice", **claim))
    assert "1234" in out["memory_context"] and not bob_leaked([out["memory_context"]])


def test_tools_alone_serve_only_the_authenticated_user(memory):
    tools = {t.name: t for t in create_memory_tools(memory)}
    bob_id = memory.get_all(user_id="bob")[0].id
    for claim in ({"context": {"user_id": "bob"}}, {"configurable": {"user_id": "bob"}}):
        script = [tool_call("delete_memory", {"memory_id": bob_id}, "d1"), AIMessage("done")]
        agent = create_agent(RecordingChatModel(script), list(tools.values()), context_schema=UserContext)
        with pytest.raises(ForbiddenScopeError):
            agent.invoke({"messages": [HumanMessage("delete it")]}, **server_run("alice", **claim))
    script = [tool_call("delete_memory", {"memory_id": bob_id}, "d1"), AIMessage("done")]
    agent = create_agent(RecordingChatModel(script), list(tools.values()), context_schema=UserContext)
    result = agent.invoke({"messages": [HumanMessage("delete it")]}, **server_run("alice"))
    assert "no memory with id" in next(m for m in result["messages"] if isinstance(m, ToolMessage)).content
    assert memory.get(bob_id).text == "Bob's vault code is 4417."


@pytest.mark.parametrize("name, claim", CLAIMS, ids=[name for name, _ in CLAIMS])
@pytest.mark.parametrize(
    "namespace", [("vaults", "{langgraph_user_id}"), ("vaults", "{langgraph_auth_user_id}")]
)
async def test_store_refuses_an_authenticated_run_that_names_another_user(memory, name, claim, namespace):
    """LangMem's search tool on MemoryStore, its namespace from the client's `langgraph_user_id`
    or (as docs/integrations/store.md recommends with auth) from the authenticated user."""
    store = MemoryStore(memory)
    await store.aput(("vaults", "bob"), "code", {"content": "Bob's vault code is 4417."})
    await store.aput(("vaults", "alice"), "code", {"content": "Alice's vault code is 1234."})
    search = create_search_memory_tool(namespace, store=store)
    script = [tool_call(search.name, {"query": "vault code"}, "s1"), AIMessage("Here you are.")]
    agent = create_agent(RecordingChatModel(script), [search], context_schema=UserContext)
    run = server_run("alice", **claim)
    run["config"]["configurable"].setdefault("langgraph_user_id", "alice")  # LangMem's template needs it
    payload = {"messages": [HumanMessage("What is my vault code?")]}
    if name in FORBIDDEN | {"langmem key"}:
        with pytest.raises(ForbiddenScopeError):
            await agent.ainvoke(payload, **run)
        return
    result = await agent.ainvoke(payload, **run)
    found = next(m.content for m in result["messages"] if isinstance(m, ToolMessage))
    assert "1234" in found and not bob_leaked([found])
