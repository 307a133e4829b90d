"""The REST API under /v1: Mem0's routes (memories, search, history) plus profiles, handoff,
grants and the access log. Every route but /v1/health needs an API key; the ids a request gives
narrow the scope its key's grants allow, never widen it (actions.py).

Lists come back as `{"results": [...]}`, a memory as Mem0's item (`id`, `memory`, scope ids,
`metadata`, times, `sources`), errors as `{"error": {"type", "message"}}` with 400, 401, 403,
404, 409, 422 or 503. Unknown fields, in a body or a query, are refused (422), never ignored.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidFilterError, InvalidInputError
from ..memory import Memory
from ..pipeline.validation import load_json
from .actions import MemoryActions
from .auth import current_caller
from .grants import Caller

NARROWS = "narrows the scope within your key's grants (never widens it); leave out to use the key's scope"


class ErrorDetail(BaseModel):
    type: str = Field(description="the error's class, e.g. NotGrantedError")
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "the input was refused (nothing was stored)",
        401: "no API key, or one that is unknown or revoked",
        403: "the key's grants do not give this right over this scope",
        404: "no memory with this id that the key may see",
        422: "a field has the wrong type, or is unknown",
        503: "a storage backend is unavailable or busy",
    }.items()
}


class Ids(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(default=None, description=NARROWS)
    agent_id: str | None = Field(default=None, description=NARROWS)
    run_id: str | None = Field(default=None, description=NARROWS)

    def ids(self) -> dict[str, str | None]:
        return {"user_id": self.user_id, "agent_id": self.agent_id, "run_id": self.run_id}


class AddRequest(Ids):
    messages: str | list[dict[str, Any]] = Field(
        description='a text, or messages: {"role", "content", "name"?, "id"?, "timestamp"?}; content may '
        "be LangChain content blocks"
    )
    metadata: dict[str, Any] | None = None
    infer: bool = Field(default=True, description="extract facts (true) or store each message verbatim")
    timestamp: str | None = Field(default=None, description="ISO time the messages were said (default: now)")


class SearchRequest(Ids):
    query: str
    limit: int = 10
    filters: dict[str, Any] | None = Field(
        default=None, description='metadata conditions, e.g. {"topic": "food"}'
    )
    threshold: float | None = Field(default=None, description="lowest relevance returned, 0 to 1")


class UpdateRequest(Ids):
    text: str
    metadata: dict[str, Any] | None = Field(default=None, description="replaces the memory's metadata")


class ProfileUpdate(Ids):
    values: dict[str, Any] = Field(description="keys to set; a null value removes its key")


class HandoffRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    memory_ids: list[str] = Field(description="memories your key may read")
    to: Ids = Field(description="the scope to copy them into, which your key may write")


class ShareRequest(Ids):
    principal: str = Field(description="who receives the grant")
    rights: list[str] = Field(
        default_factory=lambda: ["read"], description="read; with admin also write, forget, share"
    )
    filters: dict[str, Any] | None = Field(
        default=None, description="read-only grants: only memories whose metadata match these conditions"
    )


class ListQuery(Ids):
    limit: int = 100
    filters: str | None = Field(default=None, description='JSON metadata conditions, e.g. {"topic": "food"}')
    include_invalidated: bool = False


class ForgetQuery(Ids):
    purge: bool = Field(
        default=False, description="also erase history, profile and access log (right to be forgotten)"
    )
    across_users: bool = Field(
        default=False, description="allow a scope without user_id to span several users"
    )


class DeleteQuery(Ids):
    purge: bool = Field(
        default=False, description="erase the memory with its history instead of retiring it (forget right)"
    )


class AccessLogQuery(Ids):
    limit: int = 100


def no_query(request: Request, _caller: Annotated[Caller, Depends(current_caller)]) -> None:
    """For routes that take no query parameters: an id in the query string would otherwise be
    ignored, and the call would act on another scope than its client meant. (After the key
    check: an anonymous call is refused as such.)"""
    if request.query_params:
        names = ", ".join(sorted(set(request.query_params)))
        raise InvalidInputError(f"this route takes no query parameters, got {names}: send them in the body")


def rest_actions(request: Request, caller: Annotated[Caller, Depends(current_caller)]) -> MemoryActions:
    memory: Memory = request.app.state.memory
    return MemoryActions(memory, caller, "rest")


Actions = Annotated[MemoryActions, Depends(rest_actions)]
NO_QUERY = [Depends(no_query)]
router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get("/health", summary="The server is up (no key needed)")
def health() -> dict:
    return {"status": "ok"}


@router.post("/memories", summary="Remember messages (Mem0's add)", dependencies=NO_QUERY)
def add_memories(body: AddRequest, actions: Actions) -> dict:
    return actions.add(
        body.messages, **body.ids(), metadata=body.metadata, infer=body.infer, timestamp=body.timestamp
    )


@router.get("/memories", summary="List memories, newest first (Mem0's get_all)")
def list_memories(query: Annotated[ListQuery, Query()], actions: Actions) -> dict:
    filters = None if query.filters is None else load_json(query.filters, "filters", InvalidFilterError)
    return actions.list(
        **query.ids(), limit=query.limit, filters=filters, include_invalidated=query.include_invalidated
    )


@router.delete("/memories", summary="Delete every memory of a scope (forget right)")
def delete_memories(query: Annotated[ForgetQuery, Query()], actions: Actions) -> dict:
    return actions.forget(**query.ids(), purge=query.purge, across_users=query.across_users)


@router.post("/memories/search", summary="Search memories (Mem0's search)", dependencies=NO_QUERY)
def search_memories(body: SearchRequest, actions: Actions) -> dict:
    return actions.search(
        body.query, **body.ids(), limit=body.limit, filters=body.filters, threshold=body.threshold
    )


@router.get("/memories/{memory_id}", summary="One memory")
def get_memory(memory_id: str, query: Annotated[Ids, Query()], actions: Actions) -> dict:
    return actions.get(memory_id, **query.ids())


@router.put("/memories/{memory_id}", summary="Rewrite one memory", dependencies=NO_QUERY)
def update_memory(memory_id: str, body: UpdateRequest, actions: Actions) -> dict:
    return actions.update(memory_id, body.text, body.metadata, **body.ids())


@router.delete(
    "/memories/{memory_id}",
    summary="Delete one memory: its history stays; with purge=true it is erased (forget right)",
)
def delete_memory(memory_id: str, query: Annotated[DeleteQuery, Query()], actions: Actions) -> dict:
    return actions.delete(memory_id, **query.ids(), purge=query.purge)


@router.get("/memories/{memory_id}/history", summary="How one memory changed")
def memory_history(memory_id: str, query: Annotated[Ids, Query()], actions: Actions) -> dict:
    return actions.history(memory_id, **query.ids())


@router.get("/profile", summary="The scope's profile")
def get_profile(query: Annotated[Ids, Query()], actions: Actions) -> dict:
    return actions.get_profile(**query.ids())


@router.patch("/profile", summary="Set or remove profile keys", dependencies=NO_QUERY)
def set_profile(body: ProfileUpdate, actions: Actions) -> dict:
    return actions.set_profile(body.values, **body.ids())


@router.post(
    "/handoff", summary="Copy memories into another scope, with their provenance", dependencies=NO_QUERY
)
def handoff(body: HandoffRequest, actions: Actions) -> dict:
    return actions.handoff(body.memory_ids, **body.to.ids())


@router.get("/grants", summary="Your grants, and those you gave", dependencies=NO_QUERY)
def list_grants(actions: Actions) -> dict:
    return actions.grants()


@router.post(
    "/grants", summary="Give another principal access to a scope (share right)", dependencies=NO_QUERY
)
def share(body: ShareRequest, actions: Actions) -> dict:
    return actions.share(body.principal, body.rights, body.filters, **body.ids())


@router.delete(
    "/grants/{grant_id}", summary="Revoke a grant: its holder's next call is refused", dependencies=NO_QUERY
)
def revoke_grant(grant_id: str, actions: Actions) -> dict:
    return actions.revoke_grant(grant_id)


@router.get("/access-log", summary="Who read or changed what in a scope (admin right)")
def access_log(query: Annotated[AccessLogQuery, Query()], actions: Actions) -> dict:
    return actions.access_log(**query.ids(), limit=query.limit)
