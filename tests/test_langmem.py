"""LangMem's three entry points on MemoryStore: the manage / search memory tools and the memory
store manager, with scripted fake chat models. What gets embedded must be the memory's text,
not a JSON string or a Python repr of LangMem's value."""

import json

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langmem import create_manage_memory_tool, create_memory_store_manager, create_search_memory_tool

from langmem_plugin import Memory
from langmem_plugin.integrations.store import MemoryStore, namespace_scope

from .helpers import HashingEmbeddings

NAMESPACE = ("memories", "{langgraph_user_id}")


@pytest.fixture
def store(tmp_path):
    with Memory({"path": str(tmp_path / "langmem")}, embeddings=HashingEmbeddings()) as memory:
        yield MemoryStore(memory)


def texts(store: MemoryStore, user: str) -> list[str]:
    return sorted(r.text for r in store.memory.get_all(user_id=namespace_scope(("memories", user))))


def config(user: str) -> dict:
    return {"configurable": {"langgraph_user_id": user}}


class ScriptedToolModel(GenericFakeChatModel):
    """Answers from a script and accepts tools, as trustcall binds them."""

    def bind_tools(self, tools, **kwargs):
        return self


def test_manage_and_search_tools_store_clean_text(store):
    manage = create_manage_memory_tool(NAMESPACE, store=store)
    search = create_search_memory_tool(NAMESPACE, store=store)
    manage.invoke({"content": "Ana is vegetarian", "action": "create"}, config("ana"))
    manage.invoke({"content": "Ana lives in Porto", "action": "create"}, config("ana"))
    manage.invoke({"content": "Bo likes steak", "action": "create"}, config("bo"))
    assert texts(store, "ana") == ["Ana is vegetarian", "Ana lives in Porto"]

    found = json.loads(search.invoke({"query": "where Ana lives"}, config("ana")))
    assert found[0]["value"] == {"content": "Ana lives in Porto"} and len(found) == 2
    assert all(hit["namespace"] == ["memories", "ana"] for hit in found)

    key = found[0]["key"]
    manage.invoke({"content": "Ana lives in Lisbon", "action": "update", "id": key}, config("ana"))
    assert texts(store, "ana") == ["Ana is vegetarian", "Ana lives in Lisbon"]
    manage.invoke({"action": "delete", "id": key}, config("ana"))
    assert texts(store, "ana") == ["Ana is vegetarian"]
    assert texts(store, "bo") == ["Bo likes steak"]


async def test_memory_store_manager_stores_clean_text(store):
    script = iter(
        [
            AIMessage(
                "",
                tool_calls=[
                    {"name": "Memory", "args": {"content": "User's cat is called Tofu"}, "id": "c1", "type": "tool_call"},
                    {"name": "Memory", "args": {"content": "User works as a nurse"}, "id": "c2", "type": "tool_call"},
                ],
            )
        ]
    )
    manager = create_memory_store_manager(ScriptedToolModel(messages=script), namespace=NAMESPACE, store=store)
    conversation = [{"role": "user", "content": "My cat Tofu keeps me company after my nursing shifts."}]
    await manager.ainvoke({"messages": conversation}, config=config("cy"))

    assert texts(store, "cy") == ["User works as a nurse", "User's cat is called Tofu"]
    stored = await store.asearch(("memories", "cy"), query="the user's cat")
    assert stored[0].value == {"kind": "Memory", "content": {"content": "User's cat is called Tofu"}}
    recalled = await manager.asearch(query="the user's cat", config=config("cy"))
    assert recalled[0].value.content == "User's cat is called Tofu"
    assert texts(store, "dee") == []
