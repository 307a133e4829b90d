"""The run -> memory scope mapping: context first, named configurable keys, never platform keys."""

from dataclasses import dataclass

import pytest
from langchain_core.messages import HumanMessage

from langmem_plugin import Memory
from langmem_plugin.errors import ConfigurationError, MissingScopeError
from langmem_plugin.integrations.scoping import ScopeMapping, scope_from
from langmem_plugin.integrations.subgraph import build_memory_graph

from .helpers import HashingEmbeddings

# What the LangGraph API server puts into config["configurable"] of every run (no auth: the
# auth keys are there, empty).
SERVER_CONFIGURABLE = {
    "langgraph_auth_user": None,
    "langgraph_auth_user_id": "",
    "langgraph_auth_permissions": [],
    "run_id": "1f0-run",
    "thread_id": "1f0-thread",
    "graph_id": "chatbot",
    "assistant_id": "a-1",
    "user_id": "",
    "langgraph_request_id": "req-1",
    "__after_seconds__": 0,
}


@dataclass
class Ctx:
    user_id: str | None = None
    agent_id: str | None = None


def test_platform_keys_never_become_the_scope():
    scope = scope_from(Ctx("dana"), {"configurable": SERVER_CONFIGURABLE})
    assert scope == {"user_id": "dana", "agent_id": None, "run_id": None}


def test_context_comes_before_configurable():
    scope = scope_from({"user_id": "ctx"}, {"configurable": {"user_id": "cfg", "agent_id": "bot"}})
    assert scope == {"user_id": "ctx", "agent_id": "bot", "run_id": None}


def test_configurable_keys_the_user_names():
    mapping = ScopeMapping(context={"user_id": "user_id"}, configurable={"user_id": "customer", "run_id": "session"})
    config = {"configurable": {**SERVER_CONFIGURABLE, "customer": "c-9", "session": "s-1"}}
    assert scope_from(None, config, mapping) == {"user_id": "c-9", "agent_id": None, "run_id": "s-1"}
    assert scope_from(None, {"configurable": {"langgraph_auth_user_id": "u-7"}}, ScopeMapping(configurable={"user_id": "langgraph_auth_user_id"}))["user_id"] == "u-7"


@pytest.mark.parametrize("key", ["run_id", "thread_id", "checkpoint_id", "checkpoint_ns", "langgraph_request_id", "__after_seconds__"])
def test_platform_keys_are_refused_as_sources(key):
    with pytest.raises(ConfigurationError, match="bookkeeping"):
        ScopeMapping(configurable={"run_id": key})


def test_unknown_scope_ids_are_refused():
    with pytest.raises(ConfigurationError, match="scope ids"):
        ScopeMapping(context={"tenant": "tenant"})


def test_no_scope_is_a_typed_error_that_says_where_it_looked():
    with pytest.raises(MissingScopeError, match=r"context\.user_id.*configurable\[\"user_id\"\]"):
        scope_from(Ctx(), {"configurable": SERVER_CONFIGURABLE})  # the server's "" user_id is no user


def test_a_new_server_run_id_keeps_the_same_memory(tmp_path):
    """What `langgraph dev` does: every run carries a fresh run_id in configurable."""
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        graph = build_memory_graph(memory, infer=False, context_schema=Ctx)
        first = {"configurable": {**SERVER_CONFIGURABLE, "run_id": "run-1", "thread_id": "t-1"}}
        graph.invoke({"messages": [HumanMessage("I live in Porto")]}, config=first, context=Ctx("dana"))
        second = {"configurable": {**SERVER_CONFIGURABLE, "run_id": "run-2", "thread_id": "t-2"}}
        out = graph.invoke({"messages": [HumanMessage("I live in Porto?")]}, config=second, context=Ctx("dana"))
        assert "Porto" in out["memory_context"]
        assert [r.scope.run_id for r in memory.get_all(user_id="dana")] == [None, None]


def test_chatbot_without_a_user_raises_missing_scope(tmp_path, monkeypatch):
    from .test_langgraph_integrations import ROOT, load_graph_module

    monkeypatch.setenv("LANGMEM_PATH", str(tmp_path / "module-level"))
    module = load_graph_module("chatbot_scope", ROOT / "graphs" / "chatbot.py")
    with Memory({"path": str(tmp_path / "bot")}, embeddings=HashingEmbeddings()) as memory:
        bot = module.build_chatbot(memory)
        with pytest.raises(MissingScopeError, match="user_id"):
            bot.invoke({"messages": [HumanMessage("hello")]}, context=module.UserContext())
        assert memory.get_all(user_id="anyone") == []
