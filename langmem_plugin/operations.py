"""The public memory operations, each written once as a plain function over `MemoryServices`.

`Memory` calls them directly and `AsyncMemory` runs the same functions in a worker thread,
so sync and async behaviour can never drift apart. The add pipeline lives in
pipeline/ingest.py and search in pipeline/retrieval.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from .errors import (
    CrossUserDeleteError,
    InputTooLargeError,
    InvalidInputError,
    MemoryNotFoundError,
    MissingScopeError,
    NoClearMatchError,
)
from .managers.base import Decision, MemoryManager, Neighbour
from .manifest import restamp_manifest
from .namespaces import HISTORY, PROFILES
from .pipeline.attachments import read_attachment
from .pipeline.audit import API_ACTOR, audited_write, history_event
from .pipeline.consolidate import consolidate as _consolidate, revert_consolidation as _revert_consolidation
from .pipeline.expiry import check_expiry, retained_until
from .pipeline.files import add_file as _add_file
from .pipeline.forget import delete_scope, erase_memories, users_within
from .pipeline.ingest import add as _add_messages
from .pipeline.inputs import add as _add
from .pipeline.messages import parse_timestamp
from .pipeline.retrieval import search as _search, search_params
from .pipeline.sweep import sweep as _sweep
from .pipeline.validation import (
    check_limit,
    check_memory_id,
    check_metadata,
    check_optional_scope,
    check_scope,
    check_text,
    is_memory_id,
)
from .privacy import screen_text
from .records import (
    ConversationMessage,
    EventType,
    Fact,
    HistoryEvent,
    MemoryOperation,
    MemoryRecord,
    Neighbourhood,
    Scope,
    SearchHit,
    content_hash,
    utc_now,
)
from .services import MemoryServices
from .storable import check_encodable
from .tiers.graph import RelationMention
from .tracing import traced

__all__ = [
    "add",
    "add_as_given",
    "add_file",
    "consolidate",
    "correct",
    "delete",
    "delete_all",
    "delete_by_id_or_description",
    "delete_matching",
    "erase",
    "get",
    "get_all",
    "get_profile",
    "history",
    "neighbourhood",
    "reset",
    "revert_consolidation",
    "search",
    "set_expiry",
    "set_profile",
    "sweep",
    "update",
    "update_by_id_or_statement",
]

add = traced("langmem.add")(_add)
# Messages stored as they are, each one memory: no structured data or file in them is read into
# memories of its own (an import of memories that were made from such input already).
add_as_given = traced("langmem.add")(_add_messages)
add_file = traced("langmem.add_file")(_add_file)
search = traced("langmem.search", run_type="retriever")(_search)
consolidate = traced("langmem.consolidate")(_consolidate)  # pipeline/consolidate.py
revert_consolidation = traced("langmem.revert_consolidation")(_revert_consolidation)


# -- read ------------------------------------------------------------------------------------


def _owned_by(scope: Scope | None, owner: Scope) -> bool:
    """By-id operations given a scope act only on records within it; None (no ids given) matches any."""
    return scope is None or scope.matches(owner)


def _found(
    services: MemoryServices, memory_ids: list[str], scope: Scope | None, include_expired: bool
) -> list[MemoryRecord]:
    """The stored memories of the ids (checked) within the scope, expired ones only if asked."""
    now = utc_now()
    return [
        record
        for record in services.vector.get([check_memory_id(memory_id) for memory_id in memory_ids])
        if _owned_by(scope, record.scope) and (include_expired or not record.is_expired(now))
    ]


@traced("langmem.get")
def get(
    services: MemoryServices, memory_id: str, scope: Scope | None = None, include_expired: bool = False
) -> MemoryRecord:
    """The memory with this id; with a scope, one outside it, and unless `include_expired` an
    expired one, is reported exactly like a missing id."""
    found = _found(services, [memory_id], scope, include_expired)
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
    include_expired: bool = False,
) -> list[MemoryRecord]:
    return services.vector.list(
        scope,
        limit=check_limit(services.config.limits, limit),
        filters=filters,
        include_invalidated=include_invalidated,
        include_expired=include_expired,
    )


@traced("langmem.history")
def history(services: MemoryServices, memory_id: str, scope: Scope | None = None) -> list[HistoryEvent]:
    events = [
        HistoryEvent.model_validate(e) for e in services.kv.get(HISTORY, check_memory_id(memory_id)) or ()
    ]
    if not events or not _owned_by(scope, events[0].scope):  # a memory's scope never changes
        raise MemoryNotFoundError(memory_id)
    return events


@traced("langmem.neighbourhood")
def neighbourhood(
    services: MemoryServices, scope: Scope, names: list[str], hops: int = 1, as_of: Any = None
) -> Neighbourhood:
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
    services: MemoryServices,
    memory_id: str,
    text: str,
    metadata: Mapping[str, Any] | None = None,
    scope: Scope | None = None,
) -> MemoryRecord:
    limits = services.config.limits
    text = screen_text(services.config.privacy, check_text(limits, text))
    clean_metadata = None if metadata is None else check_metadata(limits, metadata)
    old = get(services, memory_id, scope)
    relations = (
        services.manager.extract_relations([(Fact(text=text, sources=old.sources), old.id)], old.scope)
        if services.graph is not None
        else []
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


@traced("langmem.set_expiry")
def set_expiry(
    services: MemoryServices,
    memory_ids: str | list[str],
    expires_at: Any = None,
    ttl: Any = None,
    scope: Scope | None = None,
) -> list[str]:
    """Set the expiry of the memories with these ids to `expires_at` or now + `ttl` (neither: clear
    it) and return their ids; nothing else of them changes and no history event is logged. One id
    or a list of them; MemoryNotFoundError, before anything is written, when one is missing,
    outside the scope or expired."""
    ids = [memory_ids] if isinstance(memory_ids, str) else memory_ids
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidInputError("memory_ids must be a memory id or a list of them")
    if len(ids) > services.config.limits.max_limit:
        raise InputTooLargeError(
            f"set_expiry takes at most {services.config.limits.max_limit} ids a call, got {len(ids)}"
        )
    moment = check_expiry(expires_at, ttl, utc_now())
    found = {record.id: record for record in _found(services, ids, scope, include_expired=False)}
    missing = [memory_id for memory_id in ids if memory_id not in found]
    if missing:
        raise MemoryNotFoundError(", ".join(missing[:10]))
    # the retention policy bounds every memory's expiry, as it does a new one's
    by_expiry: dict[datetime | None, list[str]] = {}
    for record in found.values():
        bounded = retained_until(
            services.config.retention, record.scope, record.metadata, record.created_at, moment
        )
        by_expiry.setdefault(bounded, []).append(record.id)
    changed = {i for expiry, group in by_expiry.items() for i in services.vector.set_expiry(group, expiry)}
    return [memory_id for memory_id in dict.fromkeys(ids) if memory_id in changed]


sweep = traced("langmem.sweep")(_sweep)


@traced("langmem.delete")
def delete(
    services: MemoryServices, memory_id: str, scope: Scope | None = None, purge: bool = False
) -> MemoryRecord:
    """Retire the memory with this id and return it; its history stays until a purge of its scope.
    With purge, erase it instead (`erase`)."""
    if purge:
        return erase(services, memory_id, scope)
    record = get(services, memory_id, scope)
    _retire(services, [record])
    return record


@traced("langmem.erase")
def erase(services: MemoryServices, memory_id: str, scope: Scope | None = None) -> MemoryRecord:
    """Erase the memory with this id as a purge erases (pipeline/forget.py, `erase_memories`): a
    stored one (expired included), or one retired earlier whose history is left. Returns it as it
    was last stored (for a retired one, as its history last describes it)."""
    memory_id = check_memory_id(memory_id)
    erased: list[MemoryRecord] = []

    def choose() -> dict[str, Scope]:
        found = _found(services, [memory_id], scope, include_expired=True)
        erased.append(found[0] if found else _last_described(history(services, memory_id, scope)))
        return {memory_id: erased[0].scope}

    erase_memories(services, choose)
    return erased[0]


def _last_described(events: list[HistoryEvent]) -> MemoryRecord:
    """A retired memory as its history describes it: its last text, from its first event to its last."""
    last = events[-1]
    text = last.new_text if last.new_text is not None else last.old_text or ""
    return MemoryRecord(
        id=last.memory_id,
        text=text,
        scope=events[0].scope,
        created_at=events[0].at,
        updated_at=last.at,
        valid_from=events[0].at,
        valid_to=last.at,
        hash=content_hash(text),
        sources=last.sources,
    )


def _retire(services: MemoryServices, records: list[MemoryRecord]) -> None:
    """The memories leave the vector and graph tiers, each with a DELETE event in its history."""
    now = utc_now()
    events = [history_event(EventType.DELETE, r, API_ACTOR, r.text, None, now) for r in records]
    with audited_write(services, events):
        services.vector.delete([r.id for r in records])
    if services.graph is not None:
        services.graph.delete_memory_relations([r.id for r in records])


# -- memories named by what they say instead of by id ---------------------------------------


def update_by_id_or_statement(
    services: MemoryServices,
    target: Any,
    text: Any = None,
    data: Any = None,
    metadata: Mapping[str, Any] | None = None,
    user_id: Any = None,
    agent_id: Any = None,
    run_id: Any = None,
) -> MemoryRecord | list[MemoryOperation]:
    """`Memory.update`'s forms. A memory id with the new text (`text`, or `data` as Mem0 calls it)
    rewrites that memory and returns it; a statement alone, which is not a memory id, is a
    correction of the scope's memories (`correct`) and returns what it did."""
    limits = services.config.limits
    if text is not None and data is not None:
        raise InvalidInputError("give the new text once: as text, or as data (Mem0's name for it)")
    new_text = data if text is None else text
    if new_text is not None:
        scope = check_optional_scope(limits, user_id, agent_id, run_id)
        return update(services, target, new_text, metadata, scope)
    if target is None:
        raise InvalidInputError("update needs a memory id and the new text, or a statement")
    if isinstance(target, str) and is_memory_id(target):
        raise InvalidInputError(f"update({target!r}) names a memory but no new text: update(memory_id, text)")
    if user_id is None and agent_id is None and run_id is None:
        raise MissingScopeError(
            "update(statement) corrects a scope's memories: give user_id, agent_id or run_id"
        )
    return correct(services, target, check_scope(limits, user_id, agent_id, run_id), metadata)


def delete_by_id_or_description(
    services: MemoryServices,
    target: Any,
    user_id: Any = None,
    agent_id: Any = None,
    run_id: Any = None,
    purge: bool = False,
) -> MemoryRecord | list[MemoryRecord]:
    """`Memory.delete`'s forms: a memory id retires (with purge: erases) that memory and returns it;
    any other text is a description, and retires (erases) the memories of the scope it clearly
    matches (`delete_matching`)."""
    target = check_memory_id(target)
    if not isinstance(purge, bool):
        raise InvalidInputError(f"purge is True or False, got {purge!r}")
    limits = services.config.limits
    if is_memory_id(target):
        return delete(services, target, check_optional_scope(limits, user_id, agent_id, run_id), purge)
    if user_id is None and agent_id is None and run_id is None:
        raise MissingScopeError(
            f"{target[:80]!r} is not a memory id; deleting the memories a description matches needs "
            "user_id, agent_id or run_id"
        )
    return delete_matching(services, target, check_scope(limits, user_id, agent_id, run_id), purge)


class _CorrectionManager:
    """The scope's manager, answering for a statement that corrects the memory.

    Extraction, relations and every decision are the manager's, with one exception: a fact it
    would drop as already known (NOOP) although the memory says it in other words rewrites that
    memory (UPDATE) instead, so the statement's words always win over an older near-duplicate.
    """

    def __init__(self, manager: MemoryManager):
        self.manager = manager
        self.name = manager.name
        self.extracted = 0

    def extract_facts(self, messages: list[ConversationMessage], scope: Scope) -> list[Fact]:
        facts = self.manager.extract_facts(messages, scope)
        self.extracted = len(facts)
        return facts

    def reconcile(self, facts: list[Fact], neighbours: list[list[Neighbour]], scope: Scope) -> list[Decision]:
        decisions = self.manager.reconcile(facts, neighbours, scope)
        if len(decisions) != len(facts):
            return decisions  # the pipeline reports the manager's miscount
        return [self._authoritative(fact, decision) for fact, decision in zip(facts, decisions, strict=True)]

    @staticmethod
    def _authoritative(fact: Fact, decision: Decision) -> Decision:
        target = decision.target
        if decision.event is EventType.NOOP and target is not None and target.hash != content_hash(fact.text):
            return Decision(EventType.UPDATE, target=target, text=fact.text)
        return decision

    def extract_relations(self, facts: list[tuple[Fact, str]], scope: Scope) -> list[RelationMention]:
        return self.manager.extract_relations(facts, scope)


@traced("langmem.correct")
def correct(
    services: MemoryServices, statement: str, scope: Scope, metadata: Mapping[str, Any] | None = None
) -> list[MemoryOperation]:
    """Record an authoritative correction ("User now works at Google (previously at Microsoft)").

    The statement goes through the add pipeline as the scope's user saying it now: its facts
    supersede what they contradict (the manager invalidates a memory of the same single-valued
    slot) and are never dropped as duplicates of an older memory worded differently. A statement
    the manager finds no fact in raises InvalidInputError, with nothing changed."""
    statement = check_text(services.config.limits, statement, "statement")
    manager = _CorrectionManager(services.manager)
    operations = _add(replace(services, manager=manager), statement, scope, metadata)
    if not manager.extracted:
        raise InvalidInputError(
            f"{manager.name} found no fact to record in {statement[:80]!r}; nothing changed "
            "(update(memory_id, text) rewrites one memory)"
        )
    return operations


# A description picks out the memories whose relevance to it (SearchHit.score, from their own
# words and meaning: no neighbouring turns, no graph links) is at least DESCRIPTION_MATCH; those
# within DESCRIPTION_TIE of the best count alike, and they must stand DESCRIPTION_MARGIN above every
# memory left alone. Anything less clear deletes nothing and names the closest memories.
DESCRIPTION_MATCH = 0.55
DESCRIPTION_TIE = 0.05
DESCRIPTION_MARGIN = 0.1
DESCRIPTION_CANDIDATES = 50


def _named(hits: list[SearchHit]) -> str:
    named = [f"{h.memory.text[:80]!r} (id {h.memory.id}, relevance {h.score:.2f})" for h in hits]
    return "; ".join(named) or "none"


def clear_matches(services: MemoryServices, description: str, scope: Scope) -> list[SearchHit]:
    """The memories of the scope that `description` clearly picks out, or NoClearMatchError."""
    text = check_text(services.config.limits, description, "description")
    vector = services.embedder.embed([text], scope)[0]
    params = search_params(services, limit=DESCRIPTION_CANDIDATES, context=False)
    hits = sorted(services.vector.search(scope, vector, text, params), key=lambda h: -h.score)
    best = hits[0].score if hits else 0.0
    chosen = [h for h in hits if h.score >= max(DESCRIPTION_MATCH, best - DESCRIPTION_TIE)]
    rest = hits[len(chosen) :]
    if not chosen:
        raise NoClearMatchError(
            f"no memory matches {text[:80]!r} well (relevance {DESCRIPTION_MATCH} or more); closest: "
            f"{_named(hits[:3])}; nothing was deleted",
            hits[:3],
        )
    if rest and rest[0].score > chosen[-1].score - DESCRIPTION_MARGIN:
        close = chosen + [h for h in rest if h.score > chosen[-1].score - DESCRIPTION_MARGIN]
        raise NoClearMatchError(
            f"{text[:80]!r} does not pick out memories clearly: {_named(close[:5])} score within "
            f"{DESCRIPTION_MARGIN} of each other; nothing was deleted (describe it more precisely, "
            "or delete by id)",
            close,
        )
    if not rest and len(chosen) == DESCRIPTION_CANDIDATES:
        raise NoClearMatchError(
            f"{text[:80]!r} matches {DESCRIPTION_CANDIDATES} or more memories alike; nothing was deleted "
            "(delete_all removes a whole scope)",
            chosen,
        )
    return chosen


@traced("langmem.delete_matching")
def delete_matching(
    services: MemoryServices, description: str, scope: Scope, purge: bool = False
) -> list[MemoryRecord]:
    """Retire (with purge: erase) the memories of the scope that the description clearly matches
    (`clear_matches`) and return them. A scope without user_id that would lose memories of several
    users refuses."""
    records = [hit.memory for hit in clear_matches(services, description, scope)]
    users = {r.scope.user_id for r in records}
    if scope.user_id is None and len(users) > 1:
        raise CrossUserDeleteError(
            f"{description[:80]!r} matches the memories of {len(users)} users (memories without user_id "
            "count as one); give user_id, or delete them by id"
        )
    if purge:
        erase_memories(services, lambda: {r.id: r.scope for r in records})
    else:
        _retire(services, records)
    return records


@traced("langmem.delete_all")
def delete_all(
    services: MemoryServices, scope: Scope, purge: bool = False, across_users: bool = False
) -> int:
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
                f"delete_all({', '.join(f'{k}={v!r}' for k, v in scope.as_filter().items())}) "
                "would delete the data of "
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
def get_attachment(services: MemoryServices, sha256: str, scope: Scope) -> bytes:
    """The stored bytes of an attachment of the scope's memories (`Attachment.sha256`)."""
    return read_attachment(services, sha256, scope)


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
