"""Memory tools: LangChain's standard tool tests, scope injection, and a real agent run."""

from dataclasses import dataclass

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_tests.unit_tests import ToolsUnitTests

from langmem_plugin import Memory, MissingScopeError
from langmem_plugin.integrations.tools import NO_MEMORIES, create_memory_tools

from .helpers import HashingEmbeddings


@pytest.fixture(scope="module")
def shared_memory(tmp_path_factory):
    with Memory({"path": str(tmp_path_factory.mktemp("tools"))}, embeddings=HashingEmbeddings()) as memory:
        yield memory


class TestSearchMemoryToolStandard(ToolsUnitTests):
    @pytest.fixture(autouse=True)
    def _memory(self, shared_memory):
        self._tools = {t.name: t for t in create_memory_tools(shared_memory)}

    @property
    def tool_constructor(self):
        return self._tools["search_memory"]

    @property
    def tool_invoke_params_example(self):
        return {"query": "favourite food", "limit": 3}


class TestAddMemoryToolStandard(TestSearchMemoryToolStandard):
    @property
    def tool_constructor(self):
        return self._tools["add_memory"]

    @property
    def tool_invoke_params_example(self):
        return {"text": "The user is vegetarian."}


class TestUpdateMemoryToolStandard(TestSearchMemoryToolStandard):
    @property
    def tool_constructor(self):
        return self._tools["update_memory"]

    @property
    def tool_invoke_params_example(self):
        return {"memory_id": "0c6c8a43", "text": "The user is vegan."}


class TestDeleteMemoryToolStandard(TestSearchMemoryToolStandard):
    @property
    def tool_constructor(self):
        return self._tools["delete_memory"]

    @property
    def tool_invoke_params_example(self):
        return {"memory_id": "0c6c8a43"}


def test_the_model_never_sees_or_sets_the_scope(shared_memory):
    for tool in create_memory_tools(shared_memory):
        properties = tool.tool_call_schema.model_json_schema()["properties"]
        assert not {"user_id", "agent_id", "run_id", "runtime"} & set(properties), tool.name


class ToolCallingFake(GenericFakeChatModel):
    """GenericFakeChatModel that accepts tools, so create_agent can drive it."""

    def bind_tools(self, tools, **kwargs):
        return self


@dataclass
class UserContext:
    user_id: str


def _call(name, args, call_id):
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


@pytest.mark.filterwarnings("error:Pydantic serializer warnings:UserWarning")  # a dataclass context, no warning
def test_agent_remembers_with_a_tool_and_recalls_in_a_new_thread(tmp_path):
    with Memory({"path": str(tmp_path / "agent")}, embeddings=HashingEmbeddings()) as memory:
        tools = create_memory_tools(memory)
        script = iter(
            [
                _call("add_memory", {"text": "The user is allergic to peanuts."}, "c1"),
                AIMessage("Noted, no peanuts."),
                _call("search_memory", {"query": "allergic peanuts"}, "c2"),
                AIMessage("You are allergic to peanuts."),
                _call("search_memory", {"query": "allergic peanuts"}, "c3"),
                AIMessage("I know nothing about your allergies."),
            ]
        )
        agent = create_agent(ToolCallingFake(messages=script), tools, context_schema=UserContext)
        agent.invoke({"messages": [HumanMessage("I'm allergic to peanuts, remember that.")]}, context=UserContext("ana"))
        stored = memory.get_all(user_id="ana")
        assert [r.text for r in stored] == ["The user is allergic to peanuts."]
        assert stored[0].sources[0].message_id == "c1"

        recall = agent.invoke({"messages": [HumanMessage("What am I allergic to?")]}, context=UserContext("ana"))
        found = [m for m in recall["messages"] if isinstance(m, ToolMessage)]
        assert "allergic to peanuts" in found[0].content

        other = agent.invoke({"messages": [HumanMessage("What am I allergic to?")]}, context=UserContext("bob"))
        assert [m.content for m in other["messages"] if isinstance(m, ToolMessage)] == [NO_MEMORIES]  # nothing of ana's


def test_scope_from_configurable_and_errors_go_back_to_the_model(tmp_path):
    with Memory({"path": str(tmp_path / "cfg")}, embeddings=HashingEmbeddings()) as memory:
        theirs = memory.add("bob's secret", user_id="bob", infer=False)[0].memory
        script = iter(
            [
                _call("delete_memory", {"memory_id": theirs.id}, "d1"),
                _call("add_memory", {"text": "   "}, "d2"),
                AIMessage("done"),
            ]
        )
        agent = create_agent(ToolCallingFake(messages=script), create_memory_tools(memory))
        result = agent.invoke({"messages": [HumanMessage("clean up")]}, config={"configurable": {"user_id": "ana"}})
        replies = [m.content for m in result["messages"] if isinstance(m, ToolMessage)]
        assert "no memory with id" in replies[0] and "empty" in replies[1]
        assert memory.get(theirs.id).text == "bob's secret"  # another user's memory is untouchable


def test_by_id_tools_refuse_a_run_without_scope_ids(tmp_path):
    """Without ids a by-id call would reach any scope, so the tools raise instead of making one."""
    with Memory({"path": str(tmp_path / "noscope")}, embeddings=HashingEmbeddings()) as memory:
        theirs = memory.add("bob's secret", user_id="bob", infer=False)[0].memory
        script = iter([_call("delete_memory", {"memory_id": theirs.id}, "d1"), AIMessage("done")])
        agent = create_agent(ToolCallingFake(messages=script), create_memory_tools(memory))
        with pytest.raises(MissingScopeError):
            agent.invoke({"messages": [HumanMessage("clean up")]}, config={"configurable": {"thread_id": "t1"}})
        assert memory.get(theirs.id).text == "bob's secret"
