"""Subgraph, middleware, classic BaseMemory and the graphs/ entry point, with fake chat models."""

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from langchain.agents import create_agent
from langchain_classic.chains import LLMChain
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import PromptTemplate

from langmem_plugin import ConfigurationError, Memory
from langmem_plugin.integrations.classic import LangMemBaseMemory
from langmem_plugin.integrations.middleware import MemoryMiddleware
from langmem_plugin.integrations.subgraph import build_memory_graph

from .helpers import HashingEmbeddings

ROOT = Path(__file__).resolve().parents[1]


def load_graph_module(name: str, path: Path):
    """Import a graphs/ file by path, the way `langgraph dev` does."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def memory(tmp_path):
    with Memory({"path": str(tmp_path / "lg")}, embeddings=HashingEmbeddings()) as instance:
        yield instance


@dataclass
class UserContext:
    user_id: str


def test_subgraph_recalls_and_writes_back_per_user(memory):
    graph = build_memory_graph(memory, context_schema=UserContext)
    memory.add("Ana is allergic to peanuts.", user_id="ana", infer=False)
    out = graph.invoke({"messages": [HumanMessage("Which snacks are safe for my peanuts allergy?")]}, context=UserContext("ana"))
    assert set(out) == {"memory_context"}
    assert "Ana is allergic to peanuts." in out["memory_context"]
    assert [r.text for r in memory.get_all(user_id="ana")] == ["Ana is allergic to peanuts."]  # a question is no fact
    other = graph.invoke({"messages": [HumanMessage("peanuts allergy?")]}, context=UserContext("bob"))
    assert other["memory_context"] == ""


def test_subgraph_scope_from_configurable_and_token_budget(memory):
    for i in range(30):
        memory.add(f"fact number {i} about hiking trips", user_id="cy", infer=False)
    graph = build_memory_graph(memory, limit=30, max_tokens=60)
    out = graph.invoke({"messages": [HumanMessage("hiking trips")]}, config={"configurable": {"user_id": "cy"}})
    lines = out["memory_context"].splitlines()[1:]
    assert 1 <= len(lines) < 30 and len(out["memory_context"]) // 4 <= 60  # the budget, not the limit, stopped it


def test_background_write_back_is_debounced_per_thread(memory):
    graph = build_memory_graph(memory, background=True, debounce_seconds=0.2, infer=False)
    config = {"configurable": {"user_id": "dee", "thread_id": "t1"}}
    graph.invoke({"messages": [HumanMessage("first draft of the message")]}, config=config)
    graph.invoke({"messages": [HumanMessage("I collect vinyl records")]}, config=config)
    assert memory.get_all(user_id="dee") == []  # nothing written yet: the reply was not delayed
    graph.writer.flush()
    assert [r.text for r in memory.get_all(user_id="dee")] == ["I collect vinyl records"]


def test_subgraph_as_a_node_of_the_example_chatbot(memory):
    module = load_graph_module("chatbot_example", ROOT / "graphs" / "chatbot.py")
    bot = module.build_chatbot(memory, GenericFakeChatModel(messages=iter([AIMessage("Noted!"), AIMessage("You like jazz.")])))
    bot.invoke({"messages": [HumanMessage("I like jazz music.")]}, context=module.UserContext("eve"))
    second = bot.invoke({"messages": [HumanMessage("What music do I like?")]}, context=module.UserContext("eve"))
    assert "jazz" in second["memory_context"] and second["messages"][-1].content == "You like jazz."


@pytest.mark.parametrize("config_file", ["langgraph.json", "langgraph.auth.json"])
def test_langgraph_configs_point_at_compiled_graphs_and_the_auth_module(monkeypatch, tmp_path, config_file):
    monkeypatch.setenv("LANGMEM_PATH", str(tmp_path / "dev"))
    monkeypatch.setenv("CHATBOT_AUTH_TOKENS", '{"t-1": "alice"}')
    config = json.loads((ROOT / "graphs" / config_file).read_text())
    nodes = {}
    for name, spec in config["graphs"].items():
        path, attribute = spec.split(":")
        # paths are relative to the repo root
        graph = getattr(load_graph_module(f"{name}_dev", ROOT / path), attribute)
        nodes[name] = set(graph.get_graph().nodes)
    assert {"memory", "respond"} <= nodes["chatbot"] and {"model", "tools"} <= nodes["agent"]
    if "auth" in config:
        path, attribute = config["auth"]["path"].split(":")
        assert type(getattr(load_graph_module("auth_dev", ROOT / path), attribute)).__name__ == "Auth"


def test_the_auth_module_needs_its_tokens(monkeypatch):
    monkeypatch.delenv("CHATBOT_AUTH_TOKENS", raising=False)
    with pytest.raises(ConfigurationError, match="CHATBOT_AUTH_TOKENS"):
        load_graph_module("auth_without_tokens", ROOT / "graphs" / "auth.py")
    monkeypatch.setenv("CHATBOT_AUTH_TOKENS", '{"t-1": ""}')
    with pytest.raises(ConfigurationError, match="non-empty"):
        load_graph_module("auth_empty_user", ROOT / "graphs" / "auth.py")


class ToolCallingFake(GenericFakeChatModel):
    seen_system: list = []

    def bind_tools(self, tools, **kwargs):
        return self

    def _generate(self, messages, *args, **kwargs):
        self.seen_system.append(next((m.content for m in messages if isinstance(m, SystemMessage)), ""))
        return super()._generate(messages, *args, **kwargs)


@pytest.mark.filterwarnings("error:Pydantic serializer warnings:UserWarning")  # a dataclass context, no warning
def test_middleware_registers_tools_injects_memories_and_writes_back(memory):
    model = ToolCallingFake(messages=iter([AIMessage("Got it."), AIMessage("You live in Porto.")]))
    model.seen_system = []
    agent = create_agent(model, middleware=[MemoryMiddleware(memory, infer=True)], context_schema=UserContext)
    assert {"search_memory", "add_memory"} <= {t.name for t in MemoryMiddleware(memory).tools}
    agent.invoke({"messages": [HumanMessage("I live in Porto and I love surfing.")]}, context=UserContext("fay"))
    assert {r.text for r in memory.get_all(user_id="fay")} == {"Fay lives in Porto.", "Fay loves surfing."}
    agent.invoke({"messages": [HumanMessage("Where do I live?")]}, context=UserContext("fay"))
    assert "Fay lives in Porto." in model.seen_system[-1]
    assert memory.get_all(user_id="someone-else") == []


def test_classic_base_memory_inside_a_chain(memory):
    classic = LangMemBaseMemory(memory=memory, user_id="gus", infer=False)
    chain = LLMChain(
        llm=FakeListLLM(responses=["Nice to meet you.", "You have a cat named Tofu."]),
        prompt=PromptTemplate.from_template("{memories}\nUser: {input}\nAI:"),
        memory=classic,
        output_key="output",
    )
    chain.invoke({"input": "I have a cat named Tofu."})
    assert classic.load_memory_variables({"input": "cat named Tofu"})["memories"].count("I have a cat named Tofu.") == 1
    result = chain.invoke({"input": "What is my cat called?"})
    assert result["output"] == "You have a cat named Tofu."
    assert classic.memory_variables == ["memories"]
    classic.clear()
    assert memory.get_all(user_id="gus") == []


async def test_classic_base_memory_async(memory):
    classic = LangMemBaseMemory(memory=memory, user_id="hal", infer=False)
    await classic.asave_context({"input": "I play the oboe."}, {"output": "Lovely."})
    loaded = await classic.aload_memory_variables({"input": "oboe"})
    assert "I play the oboe." in loaded["memories"]
    await classic.aclear()
    assert memory.get_all(user_id="hal") == []
