"""LangGraph custom auth for the graphs/ server: Bearer tokens, each naming one user.

    CHATBOT_AUTH_TOKENS='{"<token of alice>": "alice", "<token of bob>": "bob"}' \\
        langgraph dev --config graphs/langgraph.auth.json

The server puts the authenticated user into every run (`langgraph_auth_user_id`); the memory
integrations make it the memory scope and refuse a run whose client names another user. Each
user sees only their own threads (and the runs on them), and store namespaces must start with
the user's id. The token table stands in for a real identity provider: verify a JWT or ask
your provider in `authenticate` instead.
"""

from __future__ import annotations

import json
import os

from langgraph_sdk import Auth

from langmem_plugin.errors import ConfigurationError

TOKENS_VARIABLE = "CHATBOT_AUTH_TOKENS"


def _tokens() -> dict[str, str]:
    try:
        tokens = json.loads(os.environ[TOKENS_VARIABLE])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ConfigurationError(
            f'set {TOKENS_VARIABLE} to a JSON object of token -> user id, e.g. {{"s3cret": "alice"}}'
        ) from exc
    if (
        not isinstance(tokens, dict)
        or not tokens
        or not all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in tokens.items())
    ):
        raise ConfigurationError(f"{TOKENS_VARIABLE} must map non-empty token strings to non-empty user ids")
    return tokens


TOKENS = _tokens()
auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    user_id = TOKENS.get(token) if scheme.lower() == "bearer" else None
    if user_id is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="a valid Bearer token is required")
    return user_id


@auth.on.threads
async def own_threads(ctx: Auth.types.AuthContext, value: dict) -> dict:
    """A thread is its creator's: stamped on create, and every read, update, search and run is
    filtered to the caller's own threads."""
    if value.get("metadata") is None:
        value["metadata"] = {}
    value["metadata"]["owner"] = ctx.user.identity  # in place: the server reads the dict it passed
    return {"owner": ctx.user.identity}


@auth.on.store()
async def own_namespaces(ctx: Auth.types.AuthContext, value: dict) -> None:
    """The server's store API: a user reads and writes only namespaces that start with their id."""
    namespace = tuple(value.get("namespace") or ())
    if namespace[:1] != (ctx.user.identity,):
        raise Auth.exceptions.HTTPException(
            status_code=403, detail="store namespaces start with your user id"
        )
