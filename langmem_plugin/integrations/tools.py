"""LangChain tools so that an agent can search and manage its memories.

The scope is injected from the run (`ToolRuntime`: the authenticated user of a LangGraph server
with auth, else context, then config["configurable"]) and is not part of any tool's arguments,
so the model can neither see nor choose it. Each tool has a function and a coroutine over one
step (calls.py), for a Memory or an AsyncMemory.
"""

from __future__ import annotations

import functools
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langgraph.prebuilt import ToolRuntime

from ..errors import ConfigurationError, InvalidScopeError, LangMemError, MissingScopeError
from ..records import SearchHit
from .calls import AnyMemory, Step, arun, call, check_memory, run
from .scoping import ScopeMapping, scope_from

NO_MEMORIES = "No memories match this query."
# Raised to the caller, never shown to the model: it cannot fix a scope or a configuration.
NOT_FOR_THE_MODEL = (MissingScopeError, InvalidScopeError, ConfigurationError)
# The tools that store, change or delete memories: a turn in which one of them succeeded has had
# its memories managed by the agent, and a write-back leaves it alone (recall.latest_turn).
WRITING_TOOLS = frozenset({"add_memory", "update_memory", "delete_memory"})
# Parameterised: a bare ToolRuntime takes its context type's default, None, so pydantic warns
# ("Expected `none`") each time LangChain dumps a tool input whose runtime has a dataclass context.
RunContext = ToolRuntime[Any, Any]


def _scope(runtime: ToolRuntime | None, mapping: ScopeMapping | None = None) -> dict[str, str | None]:
    if runtime is None:
        raise MissingScopeError(
            "memory tools take their scope from the agent run (context or configurable); none was given"
        )
    # scope_from raises MissingScopeError for a run without any scope id: a by-id call without
    # ids would reach any scope, so a tool must never make one
    return scope_from(runtime.context, runtime.config, mapping)


def _model_facing(memory: AnyMemory, step_factory):
    """The tool's sync and async functions over one step. Errors the model can fix (bad text,
    unknown id) come back to it as tool messages; a missing or forbidden scope and a wrong
    configuration (a sync call given an AsyncMemory) are the developer's or the client's and are
    raised."""

    @functools.wraps(step_factory)
    def run_tool(*args: Any, **kwargs: Any) -> Any:
        try:
            return run(memory, step_factory(*args, **kwargs))
        except NOT_FOR_THE_MODEL:
            raise
        except LangMemError as exc:
            raise ToolException(str(exc)) from exc

    @functools.wraps(step_factory)
    async def arun_tool(*args: Any, **kwargs: Any) -> Any:
        try:
            return await arun(memory, step_factory(*args, **kwargs))
        except NOT_FOR_THE_MODEL:
            raise
        except LangMemError as exc:
            raise ToolException(str(exc)) from exc

    return run_tool, arun_tool


def _found(hit: SearchHit) -> dict[str, Any]:
    """A search result as the model reads it; the attachments (kind, name, URL or sha256) let the
    agent refer to "the photo you sent in May"."""
    found: dict[str, Any] = {"id": hit.memory.id, "text": hit.memory.text, "score": round(hit.score, 4)}
    if hit.memory.attachments:
        found["attachments"] = [
            a.model_dump(include={"kind", "name", "mime_type", "url", "sha256"}, exclude_none=True)
            for a in hit.memory.attachments
        ]
    return found


def create_memory_tools(memory: AnyMemory, *, scope: ScopeMapping | None = None) -> list[BaseTool]:
    """search_memory, add_memory, update_memory and delete_memory bound to `memory` (a Memory, or
    an AsyncMemory for async runs); `scope` maps run fields to the memory scope (ScopeMapping)."""
    check_memory(memory, "create_memory_tools")

    def search_memory(query: str, runtime: RunContext = None, limit: int = 5) -> Step[list[dict] | str]:
        """Search long-term memory for facts relevant to the query. Returns id, text and score."""
        hits = yield call("search", query, limit=limit, **_scope(runtime, scope))
        if not hits:  # an empty list reaches the model as an empty string, which it cannot read
            return NO_MEMORIES
        return [_found(h) for h in hits]

    def add_memory(text: str, runtime: RunContext = None) -> Step[list[dict]]:
        """Remember a fact about the user for future conversations. Returns what was stored."""
        message = {"role": "user", "content": text, "id": runtime and runtime.tool_call_id}
        operations = yield call("add", [message], infer=False, **_scope(runtime, scope))
        return [{"id": op.memory.id, "text": op.memory.text, "event": op.event.value} for op in operations]

    def update_memory(memory_id: str, text: str, runtime: RunContext = None) -> Step[dict]:
        """Replace the text of one of your memories (get ids from search_memory)."""
        # another scope's id fails exactly like an unknown one
        record = yield call("update", memory_id, text, **_scope(runtime, scope))
        return {"id": record.id, "text": record.text}

    def delete_memory(memory_id: str, runtime: RunContext = None) -> Step[str]:
        """Forget one of your memories (get ids from search_memory)."""
        yield call("delete", memory_id, **_scope(runtime, scope))
        return f"deleted {memory_id}"

    tools: list[BaseTool] = []
    for function in (search_memory, add_memory, update_memory, delete_memory):
        sync, coroutine = _model_facing(memory, function)
        tools.append(
            StructuredTool.from_function(
                sync,
                coroutine=coroutine,
                name=function.__name__,
                description=function.__doc__,
                handle_tool_error=True,
            )
        )
    return tools
