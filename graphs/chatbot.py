"""A chatbot graph that remembers users across threads: memory subgraph -> model.

Loadable by `langgraph dev` from the repository root:

    langgraph dev --config graphs/langgraph.json          # clients choose their user
    CHATBOT_AUTH_TOKENS='{"<token>": "<user id>"}' langgraph dev --config graphs/langgraph.auth.json

(paths in the configs are relative to the directory the command runs in). The model is
ChatOpenAI when OPENAI_API_KEY or LANGMEM_LLM__BASE_URL is set, else a scripted offline model
(it answers in turn "Noted!" and "Here is what I remember about you."), so the graph compiles and
runs with no key. Memory comes from LANGMEM_* variables (`Memory.from_env()`, ./.langmem by
default). Under graphs/langgraph.auth.json the user is the one the Bearer token authenticates
(graphs/auth.py); a run naming another user fails with ForbiddenScopeError. Without auth, pass
the user with `context={"user_id": ...}` (the server says at start-up that clients choose their
user); a run without one fails with MissingScopeError before the model is called.
"""

from __future__ import annotations

from typing import Annotated

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AnyMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from graphs.common import UserContext, chat_model
from langmem_plugin import Memory
from langmem_plugin.integrations.subgraph import build_memory_graph


class ChatState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    memory_context: str


def build_chatbot(memory: Memory, model=None):
    model = (
        model or chat_model() or FakeListChatModel(responses=["Noted!", "Here is what I remember about you."])
    )

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
