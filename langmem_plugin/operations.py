"""The public memory operations, each written once as a plain function over `MemoryServices`.

`Memory` calls them directly and `AsyncMemory` runs the same functions in a worker thread,
so sync and async behaviour can never drift apart. The add pipeline lives in
pipeline/ingest.py and search in pipeline/retrieval.py.
"""

from __future__ import annotations

from typing import Any, Mapping

from .errors import InvalidInputError, MemoryNotFoundError
from .pipeline.audit import API_ACTOR, HISTORY, SCOPE_INDEX, history_event, log_events, scope_index_prefixes
from .pipeline.ingest import add as _add
from .pipeline.messages import parse_timestamp
from .pipeline.retrieval import search as _search
from .pipeline.validation import check_limit, check_memory_id, check_metadata, check_text
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

PROFILES = "profiles"

add = traced("langmem.add")(_add)
search = traced("langmem.search", run_type="retriever")(_search)


# -- read ------------------------------------------------------------------------------------


@traced("langmem.get")
def get(services: MemoryServices, memory_id: str) -> MemoryRecord:
    found = services.vector.get([check_memory_id(memory_id)])
    if not found:
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
def history(services: MemoryServices, memory_id: str) -> list[HistoryEvent]:
    events = services.kv.get(HISTORY, check_memory_id(memory_id))
    if not events:
        raise MemoryNotFoundError(memory_id)
    return [HistoryEvent.model_validate(e) for e in events]


@traced("langmem.neighbourhood")
def neighbourhood(services: MemoryServices, scope: Scope, names: list[str], hops: int = 1, as_of: Any = None) -> Neighbourhood:
    if hops not in (1, 2):
        raise InvalidInputError(f"hops must be 1 or 2, got {hops!r}")
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise InvalidInputError("names must be a list of entity names")
    if services.graph is None:
        return Neighbourhood(entities=[], relations=[])
    return services.graph.neighbourhood(
        scope, names, hops=hops, as_of=None if as_of is None else parse_timestamp(as_of, "as_of")
    )


# -- change ----------------------------------------------------------------------------------


@traced("langmem.update")
def update(services: MemoryServices, memory_id: str, text: str, metadata: Mapping[str, Any] | None = None) -> MemoryRecord:
    limits = services.config.limits
    text = check_text(limits, text)
    clean_metadata = None if metadata is None else check_metadata(limits, metadata)
    old = get(services, memory_id)
    relations = (
        services.manager.extract_relations([(Fact(text=text, sources=old.sources), old.id)]) if services.graph is not None else []
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
    services.vector.replace(updated, services.embedder.embed([text], old.scope)[0])
    log_events(services, [history_event(EventType.UPDATE, updated, API_ACTOR, old.text, text, now)])
    if services.graph is not None:
        services.graph.invalidate_memory_relations([updated.id], now)
        services.graph.add_relations(updated.scope, relations)
    return updated


@traced("langmem.delete")
def delete(services: MemoryServices, memory_id: str) -> None:
    record = get(services, memory_id)
    services.vector.delete([record.id])
    if services.graph is not None:
        services.graph.delete_memory_relations([record.id])
    log_events(services, [history_event(EventType.DELETE, record, API_ACTOR, record.text, None, utc_now())])


@traced("langmem.delete_all")
def delete_all(services: MemoryServices, scope: Scope, purge: bool = False) -> int:
    """Delete every memory of the scope. purge=True also erases its history and profile (right to be forgotten)."""
    deleted = services.vector.delete_scope(scope)
    if services.graph is not None:
        services.graph.delete_scope(scope)
    if purge:
        prefixes = scope_index_prefixes(scope)
        id_sets = [{key[len(p) :] for key in services.kv.keys(SCOPE_INDEX, p)} for p in prefixes]
        memory_ids = set.intersection(*id_sets) | {r.id for r in deleted}
        services.kv.delete_many(HISTORY, memory_ids)
        services.kv.delete_many(SCOPE_INDEX, [p + m for p in prefixes for m in memory_ids])
        services.kv.delete_many(PROFILES, [scope.key()])
    else:
        now = utc_now()
        log_events(services, [history_event(EventType.DELETE, r, API_ACTOR, r.text, None, now) for r in deleted])
    return len(deleted)


@traced("langmem.reset")
def reset(services: MemoryServices) -> None:
    services.vector.reset()
    if services.graph is not None:
        services.graph.reset()
    services.kv.clear()


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
