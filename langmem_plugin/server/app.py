"""The ASGI application of `langmem-plugin serve`: one FastAPI app with the REST API under /v1
(OpenAPI document at /openapi.json, its pages at /docs), the MCP server at /mcp, behind one
authentication middleware (auth.py), and the memory inspector's pages at /ui (ui/routes.py).
More routes mount on the same app and reuse its authentication: `current_caller` for FastAPI
routes, `RequireCaller` for any ASGI app.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .. import __version__
from ..errors import InvalidInputError, LangMemError
from ..memory import Memory
from . import rest
from .auth import ApiKeyBackend, RequireCaller, refuse_key
from .keys import Keyring
from .mcp_tools import build_mcp, caller_of_request
from .responses import error_response
from .ui import routes as inspector

MCP_PATH = "/mcp"


class McpEndpoint:
    """The MCP SDK's streamable HTTP transport as an ASGI endpoint."""

    def __init__(self, sessions: StreamableHTTPSessionManager):
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.sessions.handle_request(scope, receive, send)


def _in_inspector(request: Request) -> bool:
    return request.url.path.startswith(inspector.PREFIX + "/")


def _invalid_request(request: Request, exc: RequestValidationError):
    """FastAPI's validation errors (a wrong type, an unknown field) in the API's error shape
    (the inspector's: an error page)."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    if _in_inspector(request):
        response = inspector.error_page(request, InvalidInputError(problems))
    else:
        response = error_response(InvalidInputError(problems))
    response.status_code = 422
    return response


def _typed_error(request: Request, exc: Exception):
    return inspector.error_page(request, exc) if _in_inspector(request) else error_response(exc)


def create_app(memory: Memory, *, host: str = "127.0.0.1") -> FastAPI:
    """The app over an open `memory`, which the caller closes after the app has stopped."""
    mcp = build_mcp(memory, caller_of_request, "mcp", host=host)
    mcp.streamable_http_app()  # creates the session manager that the endpoint hands requests to

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with mcp.session_manager.run():
            yield

    app = FastAPI(
        title="langmem-plugin",
        version=__version__,
        description="Long-term memory as a service: REST under /v1, MCP at /mcp. Every call needs an "
        "API key (Authorization: Bearer <key>); its grants decide whose memories it reaches.",
        lifespan=lifespan,
        middleware=[
            Middleware(inspector.InspectorHeaders),
            Middleware(
                AuthenticationMiddleware,
                backend=ApiKeyBackend(Keyring(memory.services.kv)),
                on_error=refuse_key,
            ),
        ],
        exception_handlers={
            LangMemError: _typed_error,
            RequestValidationError: _invalid_request,
            Exception: _typed_error,
        },
    )
    app.state.memory = memory
    app.include_router(rest.router)
    app.include_router(inspector.router)
    app.mount(inspector.PREFIX + "/static", inspector.static_files, name="inspector-static")
    endpoint = RequireCaller(McpEndpoint(mcp.session_manager))
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint, methods=["GET", "POST", "DELETE"]))
    return app
