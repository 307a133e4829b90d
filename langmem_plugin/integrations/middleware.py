"""`create_agent` middleware: memory tools for the agent, recalled memories before each model
call, and the finished turn written back after the agent run."""

from __future__ import annotations

from typing import Any, Callable

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import SystemMessage
from langgraph.config import get_config

from ..memory import Memory
from ..tracing import tag_enclosing_runs
from .recall import latest_turn, recall
from .scoping import ScopeMapping, scope_from
from .tools import create_memory_tools


def _scope(runtime: Any, mapping: ScopeMapping | None) -> dict[str, Any]:
    """The scope ids of this agent run; they also go into the metadata of the runs enclosing the call."""
    try:
        config = get_config()
    except RuntimeError:  # called outside a runnable context
        config = {}
    ids = scope_from(getattr(runtime, "context", None), config, mapping)
    tag_enclosing_runs(ids, config)
    return ids


class MemoryMiddleware(AgentMiddleware):
    def __init__(
        self,
        memory: Memory,
        *,
        limit: int = 8,
        max_tokens: int = 500,
        infer: bool = True,
        tools: bool = True,
        scope: ScopeMapping | None = None,
    ):
        super().__init__()
        self.memory = memory
        self.scope = scope
        self.limit = limit
        self.max_tokens = max_tokens
        self.infer = infer
        self.tools = create_memory_tools(memory, scope=scope) if tools else []

    def wrap_model_call(self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]) -> ModelResponse:
        block = recall(self.memory, request.messages, _scope(request.runtime, self.scope), limit=self.limit, max_tokens=self.max_tokens)
        if block is None:
            return handler(request)
        current = request.system_message.content if request.system_message is not None else ""
        prompt = f"{current}\n\n{block}" if current else block
        return handler(request.override(system_message=SystemMessage(prompt)))

    def after_agent(self, state: dict, runtime: Any) -> None:
        turn = latest_turn(state["messages"])
        if turn:
            self.memory.add(turn, infer=self.infer, **_scope(runtime, self.scope))
        return None
