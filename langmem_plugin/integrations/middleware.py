"""`create_agent` middleware: memory tools for the agent, recalled memories before each model
call, and the finished turn written back after the agent run. Sync and async hooks share one
step each (calls.py), so `invoke`, `ainvoke`, `stream` and `astream` behave alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langgraph.config import get_config

from ..tracing import tag_enclosing_runs
from .calls import AnyMemory, Step, arun, check_memory, run
from .recall import RECALL_THRESHOLD, recall_step, with_memories, write_back_step
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
    """`memory` is a Memory, or an AsyncMemory for agents run with `ainvoke` / `astream` (a sync
    run given an AsyncMemory raises ConfigurationError). `threshold`: the least relevance a
    recalled memory needs (None: no floor)."""

    def __init__(
        self,
        memory: AnyMemory,
        *,
        limit: int = 8,
        max_tokens: int = 500,
        threshold: float | None = RECALL_THRESHOLD,
        infer: bool = True,
        tools: bool = True,
        scope: ScopeMapping | None = None,
    ):
        super().__init__()
        self.memory = check_memory(memory, "MemoryMiddleware")
        self.scope = scope
        self.limit = limit
        self.max_tokens = max_tokens
        self.threshold = threshold
        self.infer = infer
        self.tools = create_memory_tools(memory, scope=scope) if tools else []

    def _request_step(self, request: ModelRequest) -> Step[ModelRequest]:
        """The request with the recalled memories in its system message (unchanged without any)."""
        scope = _scope(request.runtime, self.scope)
        block = yield from recall_step(
            request.messages, scope, limit=self.limit, max_tokens=self.max_tokens, threshold=self.threshold
        )
        if block is None:
            return request
        return request.override(system_message=with_memories(request.system_message, block))

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        return handler(run(self.memory, self._request_step(request)))

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> ModelResponse:
        return await handler(await arun(self.memory, self._request_step(request)))

    def _write_back(self, state: AgentState, runtime: Any) -> Step[None]:
        return write_back_step(state["messages"], _scope(runtime, self.scope), infer=self.infer)

    def after_agent(self, state: AgentState, runtime: Any) -> None:
        run(self.memory, self._write_back(state, runtime))

    async def aafter_agent(self, state: AgentState, runtime: Any) -> None:
        await arun(self.memory, self._write_back(state, runtime))
