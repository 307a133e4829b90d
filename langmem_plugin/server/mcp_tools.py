"""The MCP server (the official `mcp` SDK's FastMCP): the agent tools (add, search, get, update,
delete, history, forget) and handoff as MCP tools, and the profile as a resource.

Each tool is a `MemoryActions` call (actions.py) for the caller that `caller_of` finds for the
request: over streamable HTTP the one whose key the app authenticated for that very request
(the server is stateless: every call carries and proves its key), over stdio the one the command
line binds. Scope ids in a tool's arguments narrow its caller's grants; they never widen them.
A refused or invalid call is a tool error whose text starts with the error's type
("NotGrantedError: ...").

Resource URIs name what owns the resource:
- `langmem://scopes/{scope}/profile`: a scope's profile, `{scope}` being `current` (the scope the
  key acts on when it names none) or a scope key, URL-encoded (`user_id%3Dalice%7Cagent_id%3Dbot7`
  for `user_id=alice|agent_id=bot7`);
- attachments of memories are to be read at `langmem://memories/{memory_id}/attachments/{name}`,
  so that the memory, found through the caller's grants, decides who may read them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import unquote

import anyio
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from pydantic import Field

from ..errors import InvalidScopeError, LangMemError, UnauthenticatedError
from ..memory import Memory
from ..records import SCOPE_FIELDS, Scope
from .actions import MemoryActions
from .auth import caller_of
from .grants import Caller

INSTRUCTIONS = (
    "Long-term memory. search_memory before answering questions about the user or past work; "
    "add_memory for facts worth keeping. Your API key decides whose memories you reach; the "
    "optional user_id, agent_id and run_id arguments narrow that, they cannot reach further."
)
NARROWS = "optional: narrows the scope your key acts on (never widens it)"
ScopeId = Annotated[str | None, Field(description=NARROWS)]
TargetId = Annotated[
    str | None, Field(description="an id of the scope to copy into, which your key may write")
]
MemoryId = Annotated[str, Field(description="a memory id, from search_memory or add_memory")]
PROFILE_URI = "langmem://scopes/{scope}/profile"
CURRENT_SCOPE = "current"

CallerFinder = Callable[[Context], Caller]


def caller_of_request(ctx: Context) -> Caller:
    """The caller the app authenticated for the HTTP request that carried this MCP message."""
    request = ctx.request_context.request
    if request is None:
        raise UnauthenticatedError("this MCP server is reached over HTTP with an API key")
    return caller_of(request.scope)


def scope_ids(segment: str) -> dict[str, str | None]:
    """The ids a profile URI's `{scope}` segment names ({} for `current`)."""
    if segment == CURRENT_SCOPE:
        return {}
    scope = Scope.from_key(unquote(segment))
    if not scope.as_filter():
        raise InvalidScopeError(
            f"{segment!r} is not a scope: use {CURRENT_SCOPE!r} or a URL-encoded scope key "
            "such as user_id%3Dalice"
        )
    return {field: getattr(scope, field) for field in SCOPE_FIELDS}


def build_mcp(memory: Memory, find_caller: CallerFinder, via: str, host: str = "127.0.0.1") -> FastMCP:
    """The MCP server over `memory`; `via` names the door in the access log (mcp, stdio)."""
    server = FastMCP(
        "langmem",
        instructions=INSTRUCTIONS,
        host=host,  # a loopback host turns on the SDK's DNS-rebinding protection
        stateless_http=True,
        json_response=True,
        log_level="WARNING",
    )

    async def call(ctx: Context, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            actions = MemoryActions(memory, find_caller(ctx), via)
            return await anyio.to_thread.run_sync(
                functools.partial(getattr(actions, method), *args, **kwargs)
            )
        except LangMemError as exc:
            raise ToolError(f"{type(exc).__name__}: {' '.join(str(exc).split())}") from exc

    @server.tool()
    async def search_memory(
        query: str,
        ctx: Context,
        limit: int = 5,
        filters: dict[str, Any] | None = None,
        user_id: ScopeId = None,
        agent_id: ScopeId = None,
        run_id: ScopeId = None,
    ) -> dict:
        """Search long-term memory for facts relevant to the query. Returns each memory's id, text
        ("memory") and relevance ("score", 0 to 1), best first."""
        return await call(ctx, "search", query, user_id, agent_id, run_id, limit, filters)

    @server.tool()
    async def add_memory(
        text: str,
        ctx: Context,
        infer: bool = False,
        metadata: dict[str, Any] | None = None,
        user_id: ScopeId = None,
        agent_id: ScopeId = None,
        run_id: ScopeId = None,
    ) -> dict:
        """Remember a fact for future conversations. infer=false stores the text as it is;
        infer=true extracts the facts it states and reconciles them with what is remembered."""
        message = {"role": "user", "content": text}
        return await call(ctx, "add", [message], user_id, agent_id, run_id, metadata, infer)

    def by_id(method: str, name: str, description: str) -> None:
        """A tool that acts on one memory, named by its id."""

        async def tool(
            memory_id: MemoryId,
            ctx: Context,
            user_id: ScopeId = None,
            agent_id: ScopeId = None,
            run_id: ScopeId = None,
        ) -> dict:
            return await call(ctx, method, memory_id, user_id, agent_id, run_id)

        server.add_tool(tool, name=name, description=description)

    by_id("get", "get_memory", "One memory by id, with its metadata, valid time and sources.")

    @server.tool()
    async def update_memory(
        memory_id: MemoryId,
        text: str,
        ctx: Context,
        user_id: ScopeId = None,
        agent_id: ScopeId = None,
        run_id: ScopeId = None,
    ) -> dict:
        """Replace the text of one memory (get ids from search_memory)."""
        return await call(ctx, "update", memory_id, text, None, user_id, agent_id, run_id)

    @server.tool()
    async def delete_memory(
        memory_id: MemoryId,
        ctx: Context,
        purge: bool = False,
        user_id: ScopeId = None,
        agent_id: ScopeId = None,
        run_id: ScopeId = None,
    ) -> dict:
        """Forget one memory (get ids from search_memory). Its history stays, unless purge is true:
        then it is erased with its history (needs the forget right; cannot be undone)."""
        return await call(ctx, "delete", memory_id, user_id, agent_id, run_id, purge)

    by_id(
        "history",
        "memory_history",
        "How one memory changed: each event (ADD, UPDATE, INVALIDATE, DELETE), when and by whom.",
    )

    @server.tool()
    async def forget_memories(
        ctx: Context,
        across_users: bool = False,
        user_id: ScopeId = None,
        agent_id: ScopeId = None,
        run_id: ScopeId = None,
    ) -> dict:
        """Erase every memory of the scope with its history and profile (right to be forgotten).
        Needs the forget right; cannot be undone."""
        return await call(ctx, "forget", user_id, agent_id, run_id, True, across_users)

    @server.tool()
    async def handoff_memories(
        memory_ids: list[str],
        ctx: Context,
        to_user_id: TargetId = None,
        to_agent_id: TargetId = None,
        to_run_id: TargetId = None,
    ) -> dict:
        """Hand memories over to another scope (another agent taking over a customer): each is
        copied there, saying which memory and scope it came from."""
        return await call(ctx, "handoff", memory_ids, to_user_id, to_agent_id, to_run_id)

    @server.resource(PROFILE_URI, name="profile", mime_type="application/json")
    async def profile(scope: str, ctx: Context) -> str:
        """A scope's profile (key-values): `current` for your key's scope, or a URL-encoded scope key."""
        try:
            ids = scope_ids(scope)
        except LangMemError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc
        return json.dumps(await call(ctx, "get_profile", **ids))

    return server
