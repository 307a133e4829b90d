"""Memory operations are LangSmith runs, checked offline against a mocked client."""

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
    assert runs["langmem.search"]["inputs"] == {"query": "tea", "user_id": "ana", "limit": 1, "filters": None, "threshold": None, "as_of": None}
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
