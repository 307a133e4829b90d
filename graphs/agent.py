"""A `create_agent` agent with MemoryMiddleware: memory tools, recall before every model call,
the turn written back after the run. Loadable by `langgraph dev` from the repository root:

    langgraph dev --config graphs/langgraph.json

The model is ChatOpenAI when OPENAI_API_KEY or LANGMEM_LLM__BASE_URL is set, else
`OfflineAgentModel` (graphs/common.py). Memory comes from LANGMEM_* variables
(`Memory.from_env()`, ./.langmem by default). The user is the authenticated one under
graphs/langgraph.auth.json, else `context={"user_id": ...}`.
"""

from __future__ import annotations

from langchain.agents import create_agent

from graphs.common import OfflineAgentModel, UserContext, chat_model
from langmem_plugin import Memory, MemoryMiddleware


def build_agent(memory: Memory, model=None):
    model = model or chat_model() or OfflineAgentModel()
    return create_agent(
        model, middleware=[MemoryMiddleware(memory)], context_schema=UserContext, name="agent"
    )


agent = build_agent(Memory.from_env())
