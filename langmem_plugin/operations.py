"""The memory operations, written once as plain functions over `MemoryServices`.

`Memory` calls them directly and `AsyncMemory` runs the same functions in a worker thread,
so sync and async behaviour can never drift apart.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import InvalidInputError, LangMemError, MemoryNotFoundError
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
from .tiers.graph import EntityMention, RelationMention
from .tiers.graph.base import normalize_name
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
    facts = services.manager.extract_facts(conversation, scope)
    if not facts:
        return []
    for fact in facts:
        check_text(limits, fact.text, "extracted fact")
    return _apply(services, scope, clean_metadata, _plan(services, scope, facts))


def _add_verbatim(services, conversation, scope: Scope, metadata: dict) -> list[MemoryOperation]:
    """infer=False: one memory per message, exactly as given, with its provenance."""
    now = utc_now()
    records = [_new_record(m.content, scope, metadata, [m.source()], now) for m in conversation]
    vectors = services.embedder.embed([r.text for r in records])
    services.vector.insert(records, vectors)
    _log(services, [_event(EventType.ADD, r, API_ACTOR, None, r.text, now) for r in records])
    return [MemoryOperation(event=EventType.ADD, memory=r) for r in records]


@dataclass
class _PlannedFact:
    fact: Fact
    vector: np.ndarray
    decision: Decision
    memory_id: str  # the id the fact's memory will have (new for ADD, the target's for UPDATE)


def _neighbours(services: MemoryServices, scope: Scope, fact: Fact, vector: np.ndarray) -> list[Neighbour]:
    hits = services.vector.search(scope, vector, fact.text, search_params(services, limit=NEIGHBOURS))
    return sorted((Neighbour(h.memory, h.similarity) for h in hits), key=lambda n: -n.similarity)


def _plan(services: MemoryServices, scope: Scope, facts: list[Fact]) -> tuple[list[_PlannedFact], list]:
    """Ask the manager everything before anything is written: a failure leaves the store untouched."""
    vectors = services.embedder.embed([f.text for f in facts])
    decisions: list[Decision | None] = []
    undecided: list[int] = []
    for index, fact in enumerate(facts):
        duplicate = services.vector.find_by_hash(scope, content_hash(fact.text))
        decisions.append(None if duplicate is None else Decision(EventType.NOOP, target=duplicate))
        if duplicate is None:
            undecided.append(index)
    if undecided:
        neighbours = [_neighbours(services, scope, facts[i], vectors[i]) for i in undecided]
        answers = services.manager.reconcile([facts[i] for i in undecided], neighbours)
        if len(answers) != len(undecided):
            raise LangMemError(f"{services.manager.name} returned {len(answers)} decisions for {len(undecided)} facts")
        for index, candidates, decision in zip(undecided, neighbours, answers):
            allowed = {n.memory.id for n in candidates}
            targets = [decision.target] if decision.target is not None else []
            if any(t.id not in allowed for t in targets + list(decision.also_invalidate)):
                raise LangMemError(f"{services.manager.name} chose a memory that was not among the fact's neighbours")
            decisions[index] = decision
    plan = [
        _PlannedFact(fact, vector, decision, decision.target.id if decision.target is not None else str(uuid.uuid4()))
        for fact, vector, decision in zip(facts, vectors, decisions)
    ]
    storing = [(p.fact, p.memory_id) for p in plan if p.decision.event in (EventType.ADD, EventType.UPDATE)]
    relations = services.manager.extract_relations(storing) if services.graph is not None and storing else []
    return plan, relations


def _apply(services: MemoryServices, scope: Scope, metadata: dict, planned: tuple[list[_PlannedFact], list]) -> list[MemoryOperation]:
    plan, relations = planned
    actor = services.manager.name
    now = utc_now()
    current: dict[str, MemoryRecord] = {}  # latest version of every memory this batch touches
    renamed: dict[str, str] = {}  # planned memory id -> id actually used
    operations: list[MemoryOperation] = []
    for item in plan:
        fact, decision = item.fact, item.decision
        fact_time = min(s.timestamp for s in fact.sources)
        target = current.get(decision.target.id, decision.target) if decision.target is not None else None
        event = decision.event
        if target is not None and target.valid_to is not None and event is not EventType.NOOP:
            event = EventType.ADD  # an earlier fact of this batch already closed the target
            renamed[item.memory_id] = item.memory_id = str(uuid.uuid4())
        if event is EventType.NOOP:
            merged = target.model_copy(update={"sources": _merge_sources(target.sources, fact.sources)})
            if merged.sources != target.sources:
                services.vector.replace(merged)
            current[merged.id] = merged
            operations.append(MemoryOperation(event=EventType.NOOP, memory=merged))
        elif event is EventType.UPDATE:
            text = decision.text or fact.text
            updated = target.model_copy(
                update={"text": text, "hash": content_hash(text), "updated_at": now, "sources": _merge_sources(target.sources, fact.sources)}
            )
            services.vector.replace(updated, item.vector)
            _log(services, [_event(EventType.UPDATE, updated, actor, target.text, text, now, fact.sources)])
            if services.graph is not None:
                services.graph.invalidate_memory_relations([updated.id], fact_time)
            current[updated.id] = updated
            operations.append(MemoryOperation(event=EventType.UPDATE, memory=updated, previous_text=target.text))
        else:
            record_metadata = {"event_date": fact.event_date, **metadata} if fact.event_date else metadata
            record = _new_record(decision.text or fact.text, scope, record_metadata, fact.sources, now).model_copy(
                update={"id": item.memory_id}
            )
            for old in decision.also_invalidate:
                old = current.get(old.id, old)
                if old.valid_to is not None:
                    continue
                if fact_time < old.valid_from:
                    # The new fact is older than the memory it contradicts: it is history, not a correction.
                    record = record.model_copy(update={"valid_to": old.valid_from})
                    continue
                current[old.id] = _invalidate(services, old, fact_time, actor, now, fact.sources, operations)
            services.vector.insert([record], item.vector[None, :])
            _log(services, [_event(EventType.ADD, record, actor, None, record.text, now)])
            current[record.id] = record
            operations.append(MemoryOperation(event=EventType.ADD, memory=record))
    stored = {op.memory.id for op in operations if op.event in (EventType.ADD, EventType.UPDATE)}
    relations = [replace(r, memory_id=renamed.get(r.memory_id, r.memory_id)) for r in relations]
    if services.graph is not None and relations:
        kept = [r for r in relations if r.memory_id in stored]
        services.graph.add_relations(scope, _match_known_entities(services, scope, kept))
    return operations


def _match_known_entities(services: MemoryServices, scope: Scope, relations: list[RelationMention]) -> list[RelationMention]:
    """Name new mentions after the known entity they denote: same normalised name, or a name
    whose embedding is at least `manager.entity_match_threshold` similar ("NYC" ~ "New York City")."""
    known = services.graph.entities(scope)
    if not known or not relations:
        return relations
    known_names = {e.normalized_name for e in known}
    mentioned = {m.name for r in relations for m in (r.source, r.target)}
    unmatched = sorted(n for n in mentioned if normalize_name(n) not in known_names)
    if not unmatched:
        return relations
    vectors = services.embedder.embed(unmatched + [e.name for e in known])
    similarity = vectors[: len(unmatched)] @ vectors[len(unmatched) :].T
    renamed = {
        name: known[int(row.argmax())].name
        for name, row in zip(unmatched, similarity)
        if row.max() >= services.config.manager.entity_match_threshold
    }

    def rename(mention: EntityMention) -> EntityMention:
        return replace(mention, name=renamed.get(mention.name, mention.name))

    return [replace(r, source=rename(r.source), target=rename(r.target)) for r in relations]


def _invalidate(services, old: MemoryRecord, at: datetime, actor: str, now: datetime, sources: list[SourceRef], operations: list[MemoryOperation]) -> MemoryRecord:
    closed = old.model_copy(update={"valid_to": at, "updated_at": now})
    services.vector.replace(closed)
    _log(services, [_event(EventType.INVALIDATE, closed, actor, old.text, None, now, sources)])
    if services.graph is not None:
        services.graph.invalidate_memory_relations([old.id], at)
    operations.append(MemoryOperation(event=EventType.INVALIDATE, memory=closed, previous_text=old.text))
    return closed


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
        graph_weight=config.graph_weight,
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
    moment = None if as_of is None else parse_timestamp(as_of, "as_of")
    params = search_params(
        services,
        limit=check_limit(limits, limit),
        threshold=check_threshold(threshold),
        filters=filters,
        as_of=moment,
        graph_memory_ids=_graph_memory_ids(services, scope, query, moment),
    )
    compile_filters(filters)  # reject a bad filter before embedding the query
    vector = services.embedder.embed([query])[0]
    return services.vector.search(scope, vector, query, params)


_QUERY_WORD = re.compile(r"[\w'-]+")


def _graph_memory_ids(services: MemoryServices, scope: Scope, query: str, as_of: datetime | None) -> tuple[str, ...]:
    """Memories behind the relations of entities the query names (and their neighbours), newest first.

    Every 1-3 word span of the query is tried as an entity name; the graph tier only returns
    entities that exist in the scope.
    """
    if services.graph is None or not services.config.search.graph_weight:
        return ()
    words = [w.strip("'") for w in _QUERY_WORD.findall(query)]
    spans = {" ".join(words[i : i + n]) for n in (1, 2, 3) for i in range(len(words) - n + 1)}
    spans = {s.removesuffix("'s") for s in spans if s}
    if not spans:
        return ()
    hood = services.graph.neighbourhood(scope, sorted(spans), hops=1, as_of=as_of)
    ordered = sorted(hood.relations, key=lambda r: r.valid_from, reverse=True)
    return tuple(dict.fromkeys(r.memory_id for r in ordered if r.memory_id))


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
    services.vector.replace(updated, services.embedder.embed([text])[0])
    _log(services, [_event(EventType.UPDATE, updated, API_ACTOR, old.text, text, now)])
    if services.graph is not None:
        services.graph.invalidate_memory_relations([updated.id], now)
        services.graph.add_relations(updated.scope, relations)
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
