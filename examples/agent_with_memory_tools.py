"""An agent that manages its own memory with tools (create_agent + MemoryMiddleware).

    python examples/agent_with_memory_tools.py

Offline by default: a scripted tool-calling model stands in for the LLM. With OPENAI_API_KEY
set, ChatOpenAI decides when to call the memory tools. Runs with LangSmith tracing on or off.
"""

import os
import tempfile
from dataclasses import dataclass

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from langmem_plugin import Memory, MemoryMiddleware


@dataclass
class UserContext:
    user_id: str


class ScriptedToolModel(BaseChatModel):
    """Plays back scripted answers. The script is private: LangSmith tracing serialises a model's
    fields, which would consume an iterator field (GenericFakeChatModel's `messages`)."""

    _script: list[AIMessage] = PrivateAttr(default_factory=list)

    def __init__(self, script: list[AIMessage]):
        super().__init__()
        self._script = list(script)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._script.pop(0))])

    def bind_tools(self, tools, **kwargs):
        return self


def model():
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model="gpt-4o-mini", temperature=0)
    call = lambda name, args, i: AIMessage("", tool_calls=[{"name": name, "args": args, "id": i, "type": "tool_call"}])  # noqa: E731
    return ScriptedToolModel(
        [
            call("add_memory", {"text": "The user's daughter is called Mia."}, "t1"),
            AIMessage("I'll remember Mia."),
            call("search_memory", {"query": "daughter name"}, "t2"),
            AIMessage("Your daughter is Mia."),
        ]
    )


with Memory({"path": tempfile.mkdtemp(prefix="agent-")}) as memory:
    agent = create_agent(model(), middleware=[MemoryMiddleware(memory)], context_schema=UserContext)
    me = UserContext(user_id="sam")
    agent.invoke({"messages": [HumanMessage("Please remember my daughter is called Mia.")]}, context=me)
    answer = agent.invoke({"messages": [HumanMessage("What's my daughter's name?")]}, context=me)
    print("agent:", answer["messages"][-1].content)
    print("stored:", [r.text for r in memory.get_all(user_id="sam")])
