"""Errors as HTTP answers: the status each typed error means, and one JSON body for all of them,
`{"error": {"type", "message"}}` (the command line's `--json` shape)."""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse

from ..errors import (
    AttachmentNotFoundError,
    BackendError,
    ConfigurationError,
    ForbiddenScopeError,
    ForgedRequestError,
    InvalidInputError,
    LangMemError,
    MemoryNotFoundError,
    NoClearMatchError,
    UnauthenticatedError,
)

logger = logging.getLogger(__name__)

# The first class an error is an instance of gives its status (subclasses before their bases).
STATUSES: tuple[tuple[type[LangMemError], int], ...] = (
    (UnauthenticatedError, 401),
    (ForbiddenScopeError, 403),
    (ForgedRequestError, 403),
    (MemoryNotFoundError, 404),
    (AttachmentNotFoundError, 404),
    (NoClearMatchError, 409),
    (InvalidInputError, 400),
    (BackendError, 503),
    (ConfigurationError, 500),
    (LangMemError, 400),
)
AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="langmem"'}


def error_body(error_type: str, message: str) -> dict:
    return {"error": {"type": error_type, "message": " ".join(message.split())}}


def error_response(error: Exception) -> JSONResponse:
    """A typed error's status and message; anything else is a 500 that names no internals (the
    traceback goes to the server's log)."""
    if not isinstance(error, LangMemError):
        logger.error("unexpected error in a server call", exc_info=error)
        return JSONResponse(
            error_body("InternalServerError", "the server failed; see its log"), status_code=500
        )
    status = next(code for kind, code in STATUSES if isinstance(error, kind))
    headers = AUTHENTICATE if status == 401 else None
    return JSONResponse(error_body(type(error).__name__, str(error)), status_code=status, headers=headers)
