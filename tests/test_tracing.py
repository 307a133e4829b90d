"""Memory operations are LangSmith runs, checked offline against a mocked client."""

from dataclasses import dataclass
from unittest.mock import MagicMock

import langsmith
from langsmith import tracing_context

from langmem_plugin import AsyncMemory, Memory

from .helpers import HashingEmbeddings


def _runs(client: MagicMock) -> dict[str, dict]:
    posted = {}
    for call in client.create_run.call_args_list:
        kwargs = call.kwargs
        posted[kwargs["name"]] = kwargs
    return posted


def _metadata(run: dict) -> dict:
    return run.get("extra", {}).get("metadata", {})


def test_operations_are_traced_with_scope_and_counts(tmp_path):
    client = MagicMock(spec=langsmith.Client)
    with Memory({"path": str(tmp_path / "t")}, embeddings=HashingEmbeddings()) as memory:
        with tracing_context(enabled=True, client=client):
            memory.add(["I like tea", "I like chess"], user_id="ana", infer=False)
            memory.search("tea", user_id="ana", limit=1)
    names = [c.kwargs["name"] for c in client.create_run.call_args_list]
    assert names[:2] == ["langmem.add", "langmem.search"]
    updates = {c.kwargs.get("run_id") or c.args[0]: c.kwargs for c in client.update_run.call_args_list}
    runs = _runs(client)
    assert runs["langmem.add"]["run_type"] == "chain"
    assert runs["langmem.search"]["run_type"] == "retriever"
    assert runs["langmem.search"]["inputs"] == {"query": "tea", "user_id": "ana", "limit": 1, "filters": None, "threshold": None, "as_of": None, "include_expired": False}
    finished = [u for u in updates.values() if _metadata(u).get("langmem_operation") == "langmem.search"]
    assert _metadata(finished[0])["user_id"] == "ana" and _metadata(finished[0])["count"] == 1
    assert finished[0]["outputs"]["documents"][0]["page_content"] == "I like tea"
    added = [u for u in updates.values() if _metadata(u).get("langmem_operation") == "langmem.add"]
    assert _metadata(added[0])["count"] == 2


def test_no_runs_without_tracing(tmp_path):
    client = MagicMock(spec=langsmith.Client)
    with Memory({"path": str(tmp_path / "t")}, embeddings=HashingEmbeddings()) as memory:
        with tracing_context(enabled=False, client=client):
            memory.add("I like tea", user_id="ana", infer=False)
    assert client.create_run.call_count == 0


async def test_async_operations_are_traced_too(tmp_path):
    client = MagicMock(spec=langsmith.Client)
    memory = AsyncMemory({"path": str(tmp_path / "a")}, embeddings=HashingEmbeddings())
    with tracing_context(enabled=True, client=client):
        await memory.add("I like tea", user_id="ana", infer=False)
        await memory.search("tea", user_id="ana")
    await memory.aclose()
    assert [c.kwargs["name"] for c in client.create_run.call_args_list][:2] == ["langmem.add", "langmem.search"]


def _finished_runs(client: MagicMock) -> dict[str, dict]:
    """The final state of every run: the post, overlaid with its patch (which carries late metadata)."""
    runs = {}
    for call in client.create_run.call_args_list:
        runs[str(call.kwargs["id"])] = dict(call.kwargs)
    for call in client.update_run.call_args_list:
        runs[str(call.kwargs["run_id"])].update({k: v for k, v in call.kwargs.items() if v is not None})
    return runs


def _root(runs: dict[str, dict]) -> dict:
    (root,) = [r for r in runs.values() if r.get("parent_run_id") is None]
    return root


@dataclass
class UserContext:
    user_id: str
    agent_id: str | None = None


def test_subgraph_root_run_carries_the_scope_ids(tmp_path):
    """The scope comes from the runtime context, which LangGraph does not copy into run metadata."""
    from langchain_core.messages import HumanMessage

    from langmem_plugin.integrations.subgraph import build_memory_graph

    client = MagicMock(spec=langsmith.Client)
    with Memory({"path": str(tmp_path / "g")}, embeddings=HashingEmbeddings()) as memory:
        graph = build_memory_graph(memory, infer=False, context_schema=UserContext)
        with tracing_context(enabled=True, client=client):
            graph.invoke({"messages": [HumanMessage("I like tea")]}, context=UserContext("ana", "bot"))
    runs = _finished_runs(client)
    root = _root(runs)
    assert root["name"] == "memory"
    assert {"user_id": "ana", "agent_id": "bot"}.items() <= _metadata(root).items()
    assert "run_id" not in _metadata(root)  # ids the scope does not set are not invented
    searched = [r for r in runs.values() if r["name"] == "langmem.search"]
    assert searched and _metadata(searched[0])["user_id"] == "ana"


def test_middleware_agent_root_run_carries_the_scope_ids(tmp_path):
    from langchain.agents import create_agent
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage, HumanMessage

    from langmem_plugin.integrations.middleware import MemoryMiddleware

    class ToolFreeFake(GenericFakeChatModel):
        def bind_tools(self, tools, **kwargs):
            return self

    client = MagicMock(spec=langsmith.Client)
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        agent = create_agent(
            ToolFreeFake(messages=iter([AIMessage("Noted.")])),
            middleware=[MemoryMiddleware(memory, infer=False)],
            context_schema=UserContext,
        )
        with tracing_context(enabled=True, client=client):
            agent.invoke({"messages": [HumanMessage("I live in Porto")]}, context=UserContext("fay"))
    runs = _finished_runs(client)
    root = _root(runs)
    assert root["name"] != "langmem.add"  # the agent's own run, not a memory run
    assert _metadata(root)["user_id"] == "fay"
    added = [r for r in runs.values() if r["name"] == "langmem.add"]
    assert added and _metadata(added[0])["user_id"] == "fay"
