"""The MCP server over stdio, for desktop clients (Claude Desktop, Cursor) that start it
themselves: `langmem-plugin serve --stdio --user-id alice`.

The command line binds it to one scope with the rights it names: whoever can start the process
can open the store's files anyway, so there is no key to present. Tool arguments narrow that
scope (a run_id, say); they cannot leave it. Nothing but MCP messages is written to stdout.
"""

from __future__ import annotations

from collections.abc import Iterable

import anyio

from ..memory import Memory
from ..records import Scope, utc_now
from .grants import Caller, Grant, Right, check_grant
from .mcp_tools import build_mcp

LOCAL_PRINCIPAL = "local"


def bound_caller(scope: Scope, rights: Iterable[Right]) -> Caller:
    grant = check_grant(
        Grant(
            id="command-line",
            principal=LOCAL_PRINCIPAL,
            scopes=(scope,),
            rights=frozenset(rights),
            granted_by="command line",
            created_at=utc_now(),
        )
    )
    return Caller(principal=LOCAL_PRINCIPAL, key_id=None, grants=(grant,))


def run_stdio(memory: Memory, scope: Scope, rights: Iterable[Right]) -> None:
    caller = bound_caller(scope, rights)
    server = build_mcp(memory, lambda ctx: caller, "stdio")
    anyio.run(server.run_stdio_async)
