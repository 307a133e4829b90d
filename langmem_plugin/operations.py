"""The memory operations, written once as plain functions over `MemoryServices`.

`Memory` calls them directly and `AsyncMemory` runs the same functions in a worker thread,
so sync and async behaviour can never drift apart.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import InvalidInputError, MemoryNotFoundError
from .filters import compile_filters
from .pipeline.manager import Decision, Neighbour
from .pipeline.messages import normalize_messages, parse_timestamp
from .pipeline.validation import (
    check_limit,
    check_memory_id,
    check_metadata,
    check_text,
    check_threshold,
)
from .records import (
    EventType,
    Fact,
    HistoryEvent,
    MemoryOperation,
    MemoryRecord,
    Neighbourhood,
    Scope,
    SearchHit,
    SourceRef,
    content_hash,
    utc_now,
)
from .services import MemoryServices
from .tiers.vector import SearchParams

HISTORY = "history"
SCOPE_INDEX = "scope_memories"
PROFILES = "profiles"
API_ACTOR = "api"
NEIGHBOURS = 10


# -- audit log -------------------------------------------------------------------------------


def _scope_index_prefixes(scope: Scope) -> list[str]:
    return [f"{field}={value}\x1f" for field, value in sorted(scope.as_filter().items())]


def _log(services: MemoryServices, events: list[HistoryEvent]) -> None:
    """Append audit events; an ADD also files the memory id under each of its scope ids.

    One small key per (scope id, memory) keeps every write O(1); purging a scope reads them back
    by prefix.
    """
    entries: dict[str, list] = defaultdict(list)
    index: dict[str, int] = {}
    for event in events:
        entries[event.memory_id].append(event.model_dump(mode="json"))
        if event.event is EventType.ADD:
            for prefix in _scope_index_prefixes(event.scope):
                index[prefix + event.memory_id] = 1
    services.kv.append(HISTORY, entries)
    if index:
        services.kv.put_many(SCOPE_INDEX, index)


def _event(kind: EventType, record: MemoryRecord, actor: str, old: str | None, new: str | None, at: datetime, sources: list[SourceRef] | None = None) -> HistoryEvent:
    return HistoryEvent(
        memory_id=record.id,
        event=kind,
        old_text=old,
        new_text=new,
        actor=actor,
        at=at,
        scope=record.scope,
        sources=sources if sources is not None else record.sources,
    )


# -- add -------------------------------------------------------------------------------------


def _new_record(text: str, scope: Scope, metadata: dict, sources: list[SourceRef], now: datetime) -> MemoryRecord:
    return MemoryRecord(
        id=str(uuid.uuid4()),
        text=text,
        scope=scope,
        metadata=metadata,
        created_at=now,
        updated_at=now,
        valid_from=min(s.timestamp for s in sources) if sources else now,
        hash=content_hash(text),
        sources=sources,
    )


def _merge_sources(existing: list[SourceRef], new: list[SourceRef]) -> list[SourceRef]:
    return existing + [s for s in new if s not in existing]


def add(
    services: MemoryServices,
    messages: str | Sequence[Any],
    scope: Scope,
    metadata: Mapping[str, Any] | None = None,
    infer: bool = True,
    timestamp: Any = None,
) -> list[MemoryOperation]:
    limits = services.config.limits
    clean_metadata = check_metadata(limits, metadata)
    default_time = None if timestamp is None else parse_timestamp(timestamp)
    conversation = normalize_messages(messages, limits, default_time)
    if not infer:
        return _add_verbatim(services, conversation, scope, clean_metadata)
    facts = services.manager.extract_facts(conversation)
    if not facts:
        return []
    vectors = services.embedder.embed([f.text for f in facts])
    operations: list[MemoryOperation] = []
    for fact, vector in zip(facts, vectors):
        operations.extend(_apply_fact(services, scope, clean_metadata, fact, vector))
    return operations


def _add_verbatim(services, conversation, scope: Scope, metadata: dict) -> list[MemoryOperation]:
    """infer=False: one memory per message, exactly as given, with its provenance."""
    now = utc_now()
    records = [_new_record(m.content, scope, metadata, [m.source()], now) for m in conversation]
    vectors = services.embedder.embed([r.text for r in records])
    services.vector.insert(records, vectors)
    _log(services, [_event(EventType.ADD, r, API_ACTOR, None, r.text, now) for r in records])
    return [MemoryOperation(event=EventType.ADD, memory=r) for r in records]


def _neighbours(services: MemoryServices, scope: Scope, fact: Fact, vector: np.ndarray) -> list[Neighbour]:
    duplicate = services.vector.find_by_hash(scope, content_hash(fact.text))
    if duplicate is not None:
        return [Neighbour(duplicate, 1.0)]
    hits = services.vector.search(scope, vector, fact.text, search_params(services, limit=NEIGHBOURS))
    return sorted((Neighbour(h.memory, h.similarity) for h in hits), key=lambda n: -n.similarity)


def _apply_fact(services: MemoryServices, scope: Scope, metadata: dict, fact: Fact, vector: np.ndarray) -> list[MemoryOperation]:
    decision: Decision = services.manager.decide(fact, _neighbours(services, scope, fact, vector))
    actor = services.manager.name
    now = utc_now()
    fact_time = min(s.timestamp for s in fact.sources)
    text = decision.text or fact.text

    if decision.event is EventType.NOOP:
        target = decision.target
        merged = target.model_copy(update={"sources": _merge_sources(target.sources, fact.sources)})
        if merged.sources != target.sources:
            services.vector.replace(merged)
        return [MemoryOperation(event=EventType.NOOP, memory=merged)]

    if decision.event is EventType.UPDATE:
        target = decision.target
        updated = target.model_copy(
            update={
                "text": text,
                "hash": content_hash(text),
                "updated_at": now,
                "sources": _merge_sources(target.sources, fact.sources),
            }
        )
        services.vector.replace(updated, vector)
        _log(services, [_event(EventType.UPDATE, updated, actor, target.text, text, now, fact.sources)])
        _replace_relations(services, updated, fact, fact_time)
        return [MemoryOperation(event=EventType.UPDATE, memory=updated, previous_text=target.text)]

    operations: list[MemoryOperation] = []
    to_invalidate = list(decision.also_invalidate)
    if decision.event is EventType.INVALIDATE:
        to_invalidate.append(decision.target)
    record = _new_record(text, scope, metadata, fact.sources, now)
    for old in to_invalidate:
        if fact_time < old.valid_from:
            # The new fact is older than the memory it contradicts: it is history, not a correction.
            record = record.model_copy(update={"valid_to": old.valid_from})
            continue
        operations.append(_invalidate(services, old, fact_time, actor, now, fact.sources))
    if decision.event is EventType.INVALIDATE:
        return operations
    services.vector.insert([record], vector[None, :])
    _log(services, [_event(EventType.ADD, record, actor, None, record.text, now)])
    if services.graph is not None:
        services.graph.add_relations(scope, services.manager.extract_relations(fact, record.id))
    operations.append(MemoryOperation(event=EventType.ADD, memory=record))
    return operations


def _invalidate(services, old: MemoryRecord, at: datetime, actor: str, now: datetime, sources: list[SourceRef]) -> MemoryOperation:
    closed = old.model_copy(update={"valid_to": at, "updated_at": now})
    services.vector.replace(closed)
    _log(services, [_event(EventType.INVALIDATE, closed, actor, old.text, None, now, sources)])
    if services.graph is not None:
        services.graph.invalidate_memory_relations([old.id], at)
    return MemoryOperation(event=EventType.INVALIDATE, memory=closed, previous_text=old.text)


def _replace_relations(services: MemoryServices, record: MemoryRecord, fact: Fact, at: datetime) -> None:
    if services.graph is None:
        return
    services.graph.invalidate_memory_relations([record.id], at)
    services.graph.add_relations(record.scope, services.manager.extract_relations(fact, record.id))


# -- read ------------------------------------------------------------------------------------


def search_params(services: MemoryServices, *, limit: int, **overrides: Any) -> SearchParams:
    """SearchParams from the configured fusion settings; each ranker yields at least `limit` candidates."""
    config = services.config.search
    return SearchParams(
        limit=limit,
        candidates=max(config.candidates, limit),
        rrf_k=config.rrf_k,
        dense_weight=config.dense_weight,
        keyword_weight=config.keyword_weight,
        keyword_max_docs=config.keyword_max_docs,
        **overrides,
    )


def search(
    services: MemoryServices,
    query: str,
    scope: Scope,
    limit: int = 10,
    filters: Mapping[str, Any] | None = None,
    threshold: float | None = None,
    as_of: Any = None,
) -> list[SearchHit]:
    limits = services.config.limits
    query = check_text(limits, query, "query")
    params = search_params(
        services,
        limit=check_limit(limits, limit),
        threshold=check_threshold(threshold),
        filters=filters,
        as_of=None if as_of is None else parse_timestamp(as_of, "as_of"),
    )
    compile_filters(filters)  # reject a bad filter before embedding the query
    vector = services.embedder.embed([query])[0]
    return services.vector.search(scope, vector, query, params)


def get(services: MemoryServices, memory_id: str) -> MemoryRecord:
    found = services.vector.get([check_memory_id(memory_id)])
    if not found:
        raise MemoryNotFoundError(memory_id)
    return found[0]


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


def history(services: MemoryServices, memory_id: str) -> list[HistoryEvent]:
    events = services.kv.get(HISTORY, check_memory_id(memory_id))
    if not events:
        raise MemoryNotFoundError(memory_id)
    return [HistoryEvent.model_validate(e) for e in events]


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


def update(services: MemoryServices, memory_id: str, text: str, metadata: Mapping[str, Any] | None = None) -> MemoryRecord:
    limits = services.config.limits
    text = check_text(limits, text)
    clean_metadata = None if metadata is None else check_metadata(limits, metadata)
    old = get(services, memory_id)
    now = utc_now()
    updated = old.model_copy(
        update={
            "text": text,
            "hash": content_hash(text),
            "updated_at": now,
            "metadata": old.metadata if clean_metadata is None else clean_metadata,
        }
    )
    services.vector.replace(updated, services.embedder.embed([text])[0])
    _log(services, [_event(EventType.UPDATE, updated, API_ACTOR, old.text, text, now)])
    _replace_relations(services, updated, Fact(text=text, sources=updated.sources or []), now)
    return updated


def delete(services: MemoryServices, memory_id: str) -> None:
    record = get(services, memory_id)
    services.vector.delete([record.id])
    if services.graph is not None:
        services.graph.delete_memory_relations([record.id])
    _log(services, [_event(EventType.DELETE, record, API_ACTOR, record.text, None, utc_now())])


def delete_all(services: MemoryServices, scope: Scope, purge: bool = False) -> int:
    """Delete every memory of the scope. purge=True also erases its history and profile (right to be forgotten)."""
    deleted = services.vector.delete_scope(scope)
    if services.graph is not None:
        services.graph.delete_scope(scope)
    if purge:
        prefixes = _scope_index_prefixes(scope)
        id_sets = [{key[len(p) :] for key in services.kv.keys(SCOPE_INDEX, p)} for p in prefixes]
        memory_ids = set.intersection(*id_sets) | {r.id for r in deleted}
        services.kv.delete_many(HISTORY, memory_ids)
        services.kv.delete_many(SCOPE_INDEX, [p + m for p in prefixes for m in memory_ids])
        services.kv.delete_many(PROFILES, [scope.key()])
    else:
        now = utc_now()
        _log(services, [_event(EventType.DELETE, r, API_ACTOR, r.text, None, now) for r in deleted])
    return len(deleted)


def reset(services: MemoryServices) -> None:
    services.vector.reset()
    if services.graph is not None:
        services.graph.reset()
    services.kv.clear()


# -- profiles --------------------------------------------------------------------------------


def get_profile(services: MemoryServices, scope: Scope) -> dict[str, Any]:
    return dict(services.kv.get(PROFILES, scope.key()) or {})


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
