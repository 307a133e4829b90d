"""The public memory operations, each written once as a plain function over `MemoryServices`.

`Memory` calls them directly and `AsyncMemory` runs the same functions in a worker thread,
so sync and async behaviour can never drift apart. The add pipeline lives in
pipeline/ingest.py and search in pipeline/retrieval.py.
"""

from __future__ import annotations

from typing import Any, Mapping

from .errors import CrossUserDeleteError, InvalidInputError, MemoryNotFoundError
from .manifest import restamp_manifest
from .pipeline.audit import API_ACTOR, HISTORY, audited_write, history_event
from .pipeline.forget import PROFILES, delete_scope, users_within
from .pipeline.ingest import add as _add
from .pipeline.messages import parse_timestamp
from .pipeline.retrieval import search as _search
from .pipeline.validation import check_encodable, check_limit, check_memory_id, check_metadata, check_text
from .records import EventType, Fact, HistoryEvent, MemoryRecord, Neighbourhood, Scope, content_hash, utc_now
from .services import MemoryServices
from .tracing import traced

__all__ = [
    "add",
    "delete",
    "delete_all",
    "get",
    "get_all",
    "get_profile",
    "history",
    "neighbourhood",
    "reset",
    "search",
    "set_profile",
    "update",
]

add = traced("langmem.add")(_add)
search = traced("langmem.search", run_type="retriever")(_search)


# -- read ------------------------------------------------------------------------------------


def _owned_by(scope: Scope | None, owner: Scope) -> bool:
    """By-id operations given a scope act only on records within it; None (no ids given) matches any."""
    return scope is None or scope.matches(owner)


@traced("langmem.get")
def get(services: MemoryServices, memory_id: str, scope: Scope | None = None) -> MemoryRecord:
    """The memory with this id; with a scope, one outside it is reported exactly like a missing id."""
    found = services.vector.get([check_memory_id(memory_id)])
    if not found or not _owned_by(scope, found[0].scope):
        raise MemoryNotFoundError(memory_id)
    return found[0]


@traced("langmem.get_all")
def get_all(
    services: MemoryServices,
    scope: Scope,
    limit: int = 100,
    filters: Mapping[str, Any] | None = None,
    include_invalidated: bool = False,
) -> list[MemoryRecord]:
    return services.vector.list(
        scope,
        limit=check_limit(services.config.limits, limit),
        filters=filters,
        include_invalidated=include_invalidated,
    )


@traced("langmem.history")
def history(services: MemoryServices, memory_id: str, scope: Scope | None = None) -> list[HistoryEvent]:
    events = [HistoryEvent.model_validate(e) for e in services.kv.get(HISTORY, check_memory_id(memory_id)) or ()]
    if not events or not _owned_by(scope, events[0].scope):  # a memory's scope never changes
        raise MemoryNotFoundError(memory_id)
    return events


@traced("langmem.neighbourhood")
def neighbourhood(services: MemoryServices, scope: Scope, names: list[str], hops: int = 1, as_of: Any = None) -> Neighbourhood:
    if hops not in (1, 2):
        raise InvalidInputError(f"hops must be 1 or 2, got {hops!r}")
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise InvalidInputError("names must be a list of entity names")
    for name in names:
        check_encodable(name, "entity name")
    if services.graph is None:
        return Neighbourhood(entities=[], relations=[])
    return services.graph.neighbourhood(
        scope, names, hops=hops, as_of=None if as_of is None else parse_timestamp(as_of, "as_of")
    )


# -- change ----------------------------------------------------------------------------------


@traced("langmem.update")
def update(
    services: MemoryServices, memory_id: str, text: str, metadata: Mapping[str, Any] | None = None, scope: Scope | None = None
) -> MemoryRecord:
    limits = services.config.limits
    text = check_text(limits, text)
    clean_metadata = None if metadata is None else check_metadata(limits, metadata)
    old = get(services, memory_id, scope)
    relations = (
        services.manager.extract_relations([(Fact(text=text, sources=old.sources), old.id)], old.scope) if services.graph is not None else []
    )
    now = utc_now()
    updated = old.model_copy(
        update={
            "text": text,
            "hash": content_hash(text),
            "updated_at": now,
            "metadata": old.metadata if clean_metadata is None else clean_metadata,
        }
    )
    vector = services.embedder.embed([text], old.scope)[0]
    with audited_write(services, [history_event(EventType.UPDATE, updated, API_ACTOR, old.text, text, now)]):
        services.vector.replace(updated, vector)
    if services.graph is not None:
        services.graph.invalidate_memory_relations([updated.id], now)
        services.graph.add_relations(updated.scope, relations)
    return updated


@traced("langmem.delete")
def delete(services: MemoryServices, memory_id: str, scope: Scope | None = None) -> None:
    record = get(services, memory_id, scope)
    with audited_write(services, [history_event(EventType.DELETE, record, API_ACTOR, record.text, None, utc_now())]):
        services.vector.delete([record.id])
    if services.graph is not None:
        services.graph.delete_memory_relations([record.id])


@traced("langmem.delete_all")
def delete_all(services: MemoryServices, scope: Scope, purge: bool = False, across_users: bool = False) -> int:
    """Delete every memory within the scope, sub-scopes included. purge=True also erases their
    history, profiles and cached embeddings and LLM answers from every tier (right to be forgotten).

    A scope without user_id spans every user of its agent or run; deleting the data of more than
    one user that way must be asked for with across_users=True. Calls on one store run one at a
    time and are journaled: a crash leaves the scope whole or the call finished by the next open
    (pipeline/forget.py)."""
    scope.required_filter()
    if scope.user_id is None and not across_users:
        users = users_within(services, scope, purge)
        if len(users) > 1:
            raise CrossUserDeleteError(
                f"delete_all({', '.join(f'{k}={v!r}' for k, v in scope.as_filter().items())}) would delete the data of "
                f"{len(users)} users (memories without user_id count as one); give user_id, or pass "
                "across_users=True to delete them all"
            )
    return len(delete_scope(services, scope, purge))


@traced("langmem.reset")
def reset(services: MemoryServices) -> None:
    services.vector.reset()
    if services.graph is not None:
        services.graph.reset()
    services.kv.clear()
    restamp_manifest(services)


# -- profiles --------------------------------------------------------------------------------


@traced("langmem.get_profile")
def get_profile(services: MemoryServices, scope: Scope) -> dict[str, Any]:
    return dict(services.kv.get(PROFILES, scope.key()) or {})


@traced("langmem.set_profile")
def set_profile(services: MemoryServices, scope: Scope, values: Mapping[str, Any]) -> dict[str, Any]:
    """Merge key-values into the scope's profile; a None value removes the key."""
    clean = check_metadata(services.config.limits, values)
    profile = get_profile(services, scope)
    for key, value in clean.items():
        if value is None:
            profile.pop(key, None)
        else:
            profile[key] = value
    services.kv.put_many(PROFILES, {scope.key(): profile})
    return profile
