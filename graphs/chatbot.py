"""A chatbot graph that remembers users across threads: memory subgraph -> model.

Loadable by `langgraph dev` from the repository root:

    langgraph dev --config graphs/langgraph.json

(paths in langgraph.json are relative to the directory the command runs in). The model is
ChatOpenAI when OPENAI_API_KEY or LANGMEM_LLM__BASE_URL is set, else a scripted offline model
(it answers in turn "Noted!" and "Here is what I remember about you."), so the graph compiles and
runs with no key. Memory comes from LANGMEM_* variables (`Memory.from_env()`, ./.langmem by
default). Pass the user with `context={"user_id": ...}`; a run without one fails with
MissingScopeError before the model is called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AnyMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from langmem_plugin import Memory
from langmem_plugin.integrations.subgraph import build_memory_graph


@dataclass
class UserContext:
    # Optional so that a run without it reaches the memory subgraph, which raises a
    # MissingScopeError naming what is missing, rather than a TypeError from the dataclass.
    user_id: str | None = None


class ChatState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    memory_context: str


def chat_model():
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("LANGMEM_LLM__BASE_URL"):
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model=os.environ.get("LANGMEM_LLM__MODEL", "gpt-4o-mini"), base_url=os.environ.get("LANGMEM_LLM__BASE_URL"))
    return FakeListChatModel(responses=["Noted!", "Here is what I remember about you."])


def build_chatbot(memory: Memory, model=None):
    model = model or chat_model()

    def respond(state: ChatState) -> dict:
        context = state.get("memory_context")
        prompt = [SystemMessage(context)] if context else []
        return {"messages": [model.invoke(prompt + state["messages"])]}

    builder = StateGraph(ChatState, context_schema=UserContext)
    builder.add_node("memory", build_memory_graph(memory, context_schema=UserContext))
    builder.add_node("respond", respond)
    builder.add_edge(START, "memory")
    builder.add_edge("memory", "respond")
    builder.add_edge("respond", END)
    return builder.compile(name="chatbot")


graph = build_chatbot(Memory.from_env())
