"""Authentication for every route of the app: Starlette's AuthenticationMiddleware with an
API-key backend turns `Authorization: Bearer <key>` into the request's user, a `CallerUser`
holding the `Caller` (its principal and grants, read for this request).

A request with a bad key is answered 401 before any route runs; one without a key reaches its
route as anonymous, and every route that touches memory refuses it: the REST routes through the
`current_caller` dependency, any other ASGI app (the MCP endpoint) wrapped in `RequireCaller`.
Routes added later (a browser inspector) use either one.
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.authentication import AuthCredentials, AuthenticationBackend, AuthenticationError, BaseUser
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import UnauthenticatedError
from .grants import Caller
from .keys import Keyring
from .responses import error_response

NO_KEY = "this call needs an API key: send Authorization: Bearer <key> (langmem-plugin keys create)"
# Declares the scheme in the OpenAPI document; the middleware has checked the key already.
BEARER = HTTPBearer(auto_error=False, description="an API key from `langmem-plugin keys create`")


class CallerUser(BaseUser):
    def __init__(self, caller: Caller):
        self.caller = caller

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.caller.principal


class ApiKeyBackend(AuthenticationBackend):
    def __init__(self, keyring: Keyring):
        self.keyring = keyring

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            raise AuthenticationError("send the API key as Authorization: Bearer <key>")
        try:  # the key-value tier may be a server: off the event loop
            caller = await anyio.to_thread.run_sync(self.keyring.authenticate, token.strip())
        except UnauthenticatedError as exc:
            raise AuthenticationError(str(exc)) from exc
        return AuthCredentials(["authenticated"]), CallerUser(caller)


def refuse_key(conn: HTTPConnection, exc: AuthenticationError):
    return error_response(UnauthenticatedError(str(exc)))


def caller_of(scope: Scope) -> Caller:
    """The caller the middleware authenticated for this request; UnauthenticatedError without one."""
    user = scope.get("user")
    if not isinstance(user, CallerUser):
        raise UnauthenticatedError(NO_KEY)
    return user.caller


def current_caller(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
) -> Caller:
    """FastAPI dependency: the request's caller."""
    return caller_of(request.scope)


class RequireCaller:
    """An ASGI app reached only by authenticated requests; others get the 401 JSON answer."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            caller_of(scope)
        except UnauthenticatedError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)
