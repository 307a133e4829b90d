"""Forgetting a scope: `delete_all`, journaled so that a crash never leaves half of it done, and
the purge that erases everything else the scope holds; and erasing chosen memories the same way
(`erase_memories`: `delete(id, purge=True)` and the sweeper).

Every key-value namespace is declared in langmem_plugin/namespaces.py with the rule by which a
purge finds a scope's entries in it (`PurgeRule`):
- entries keyed by memory id (`history`), found through the scope index (pipeline/audit.py);
- the scope index, and the journal entries of writes in flight it holds (`journal/` keys),
  matched by the scope of their events, as the `journal` namespace of format-1 stores is;
- scope-keyed namespaces, whose keys are `<scope key>` or `<scope key>/<anything>` (profiles,
  the embedding cache, cached LLM answers, the server's access log). `Scope.key()` never
  contains `/`, so each key names its scope exactly;
- the LangGraph store adapter's list of namespaces, whose keys map to their scope through the
  adapter's own function (pipeline/store_namespaces.py).
A purge of `user_id=U` reaches every sub-scope of U too (`agent_id=bot7` + `user_id=U`).

A delete_all spans tiers that share no transaction, so it is journaled. It runs under the
store's deletion lock (one at a time across threads and processes, each waiting up to
`delete_all_wait_seconds`); holding it, it first writes an entry naming the scope (`deleting/`
keys of the scope-index namespace), then deletes, then removes the entry. Whoever takes the lock
next (a delete_all, or the next open) first carries out the entries it finds: only a process
that died holding the lock leaves one. Every step can be repeated: the tiers delete by scope, and
the scope index, through which the history is found, is deleted after the history. A purge then
replaces its entry by one naming no scope, has every tier overwrite what it freed, and removes
the entry: a crash in between overwrites again on resume, so no byte of the scope outlives it.
A plain delete_all logs a DELETE event per memory; one resumed logs those its crashed run
could not, from each memory's history.

Erasing chosen memories takes the same lock and journal: its entry names the memories and their
scopes (ids only, no text); their vector rows, graph relations, history, scope-index filings and
write-journal events go, with the cached embeddings and LLM answers of their scopes, and the bytes
of their attachments that no memory still stored in the vector tier of the same scope names (the
entry lists those bytes' keys, so a resumed erasure finds them after the records are gone); the
entry is then replaced by one naming nothing while every tier overwrites what it freed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from typing import Any

from ..errors import StoreBusyError
from ..namespaces import ATTACHMENTS, HISTORY, NAMESPACES, PROFILES, SCOPE_INDEX, PurgeRule, with_rule
from ..records import (
    EventType,
    HistoryEvent,
    MemoryRecord,
    Scope,
    SourceRef,
    encode_scope_id,
    sources_attachments,
    utc_now,
)
from ..services import MemoryServices
from .audit import (
    API_ACTOR,
    erase_journal,
    history_event,
    indexed_scopes,
    journal_keys,
    log_events,
    scope_index_prefixes,
)
from .store_namespaces import listed_namespace_scope

# The scope index is scanned under the most selective id the scope gives.
_SELECTIVITY = ("run_id", "user_id", "agent_id")
# Deletion journal keys in SCOPE_INDEX (scope-index keys start with a scope field, add journal
# keys with `journal/`).
DELETING = "deleting/"
DELETION_LOCK = "delete_all"
# A purge's journal entry once the scope's data is deleted and only the overwriting remains.
_ERASING: dict[str, Any] = {"erasing": True}


def scope_of_key(key: str) -> Scope:
    """The scope a scope-keyed entry belongs to (an empty Scope, matching no query, for any other key)."""
    return Scope.from_key(key.partition("/")[0])


def scope_keyed_entries(services: MemoryServices, namespace: str, scope: Scope) -> list[str]:
    """Keys of a scope-keyed namespace whose scope lies within `scope`. Scope keys start with the
    user id, so a scope with one reads only that user's keys (the key itself, or it followed by
    `|` or `/`, which no encoded id contains); any other scope reads them all."""
    if scope.user_id is None:
        candidates = services.kv.keys(namespace)
    else:
        user = f"user_id={encode_scope_id(scope.user_id)}"
        candidates = [
            *services.kv.get_many(namespace, [user]),
            *services.kv.keys(namespace, user + "|"),
            *services.kv.keys(namespace, user + "/"),
        ]
    return [key for key in candidates if scope.matches(scope_of_key(key))]


def indexed_memories(services: MemoryServices, scope: Scope) -> dict[str, Scope]:
    """Every memory id ever added within `scope` (deleted ones included), with its full scope."""
    ids = scope.required_filter()
    field = next(f for f in _SELECTIVITY if f in ids)
    prefix = scope_index_prefixes(Scope(**{field: ids[field]}))[0]
    entries = services.kv.get_many(SCOPE_INDEX, services.kv.keys(SCOPE_INDEX, prefix))
    return {
        memory_id: owner
        for memory_id, owner in indexed_scopes(entries, prefix).items()
        if scope.matches(owner)
    }


def users_within(services: MemoryServices, scope: Scope, purge: bool) -> set[str | None]:
    """The user ids (None for memories without one) whose data a delete_all of `scope` would remove:
    of the live memories, and with purge also of deleted memories' history and of profiles."""
    memories = indexed_memories(services, scope)
    live = {record.scope.user_id for record in services.vector.get(list(memories))}
    if not purge:
        return live
    profiles = {scope_of_key(key).user_id for key in scope_keyed_entries(services, PROFILES, scope)}
    return live | {owner.user_id for owner in memories.values()} | profiles


def delete_scope(services: MemoryServices, scope: Scope, purge: bool) -> list[MemoryRecord]:
    """Delete every memory within `scope` from every tier, journaled; with purge, erase the rest
    of the scope too (see `erase_scope_entries`). Returns the memories deleted."""
    scope.required_filter()
    with services.kv.lock(DELETION_LOCK, services.config.delete_all_wait_seconds):
        _carry_out_journal(services)
        key = DELETING + uuid.uuid4().hex
        entry = {"scope": scope.key(), "purge": purge, "at": utc_now().isoformat()}
        services.kv.put_many(SCOPE_INDEX, {key: entry})
        return _carry_out(services, key, entry, resumed=False)


def erase_memories(services: MemoryServices, choose: Callable[[], dict[str, Scope]]) -> dict[str, Scope]:
    """Erase the memories `choose` picks (ids and their scopes), live or retired, as a purge erases
    a scope, and return them: from the
    vector tier with their graph relations, their history and scope-index entries, the events of
    the write journals naming them, the caches of their scopes and the attachment bytes no other
    memory of their scope names, after which every tier
    overwrites what it freed. `choose` runs holding the deletion lock, so two processes never pick
    the same memories; the erasure is journaled like a delete_all and finished on resume."""
    with services.kv.lock(DELETION_LOCK, services.config.delete_all_wait_seconds):
        _carry_out_journal(services)
        memories = choose()
        if not memories:
            return {}
        key = DELETING + uuid.uuid4().hex
        entry = {
            "memories": {memory_id: owner.key() for memory_id, owner in memories.items()},
            "attachments": sorted(_named_attachments(services, memories)),
        }
        services.kv.put_many(SCOPE_INDEX, {key: entry})
        _carry_out(services, key, entry, resumed=False)
        return memories


def finish_interrupted_deletions(services: MemoryServices) -> None:
    """Carry out the delete_all calls that a crash interrupted (run on open)."""
    if not services.kv.keys(SCOPE_INDEX, DELETING):
        return
    with ExitStack() as held:
        try:
            held.enter_context(services.kv.lock(DELETION_LOCK, services.config.delete_all_wait_seconds))
        except StoreBusyError:
            return  # a live process holds the lock: it carried out every entry left before it took it
        _carry_out_journal(services)


def _carry_out_journal(services: MemoryServices) -> None:
    """With the deletion lock held: every journaled delete_all is one a crash interrupted."""
    for key, entry in services.kv.get_many(SCOPE_INDEX, services.kv.keys(SCOPE_INDEX, DELETING)).items():
        _carry_out(services, key, entry, resumed=True)


def _carry_out(
    services: MemoryServices, key: str, entry: dict[str, Any], resumed: bool
) -> list[MemoryRecord]:
    deleted: list[MemoryRecord] = []
    if "memories" in entry:
        _erase_memories(services, {i: Scope.from_key(owner) for i, owner in entry["memories"].items()})
        _erase_unreferenced_attachments(services, entry.get("attachments", []))
        services.kv.put_many(SCOPE_INDEX, {key: _ERASING})  # the ids it names are overwritten next
    elif "scope" in entry:
        scope = Scope.from_key(entry["scope"])
        deleted = services.vector.delete_scope(scope)
        if services.graph is not None:
            services.graph.delete_scope(scope)
        if not entry["purge"]:
            at = datetime.fromisoformat(entry["at"])
            events = [history_event(EventType.DELETE, r, API_ACTOR, r.text, None, at) for r in deleted]
            if resumed:
                events += _unlogged_deletions(services, scope, at, {r.id for r in deleted})
            log_events(services, events)
            services.kv.delete_many(SCOPE_INDEX, [key])
            return deleted
        erase_scope_entries(services, scope, deleted)
        services.kv.put_many(SCOPE_INDEX, {key: _ERASING})
    erase_freed(services)
    services.kv.delete_many(SCOPE_INDEX, [key])
    return deleted


def _unlogged_deletions(
    services: MemoryServices, scope: Scope, at: datetime, logged: set[str]
) -> list[HistoryEvent]:
    """DELETE events of the scope's memories that a crashed delete_all removed from the vector
    tier before logging them: those whose history does not end with one."""
    candidates = [memory_id for memory_id in indexed_memories(services, scope) if memory_id not in logged]
    stored = {record.id for record in services.vector.get(candidates)}  # added since the crash: not deleted
    events = []
    histories = services.kv.get_many(HISTORY, [i for i in candidates if i not in stored])
    for history in histories.values():
        last = HistoryEvent.model_validate(history[-1])
        if last.event is not EventType.DELETE:
            text = last.new_text if last.new_text is not None else last.old_text
            deletion = {"event": EventType.DELETE, "old_text": text, "new_text": None, "at": at}
            events.append(last.model_copy(update={**deletion, "actor": API_ACTOR}))
    return events


def _erase_memories(services: MemoryServices, memories: dict[str, Scope]) -> None:
    """Every step of `erase_memories` but the overwriting; each can be repeated after a crash."""
    ids = list(memories)
    services.vector.delete(ids)
    if services.graph is not None:
        services.graph.delete_memory_relations(ids)
    for namespace in with_rule(PurgeRule.BY_MEMORY_ID):
        services.kv.delete_many(namespace, ids)
    _unfile(services, memories)
    erased = set(ids)
    for namespace in [*with_rule(PurgeRule.BY_EVENT_SCOPE), SCOPE_INDEX]:
        keys = journal_keys(services) if namespace == SCOPE_INDEX else services.kv.keys(namespace)
        for key, entry in services.kv.get_many(namespace, keys).items():
            kept = [event for event in entry["events"] if event["memory_id"] not in erased]
            if len(kept) == len(entry["events"]):
                continue
            if kept:
                services.kv.put_many(namespace, {key: {**entry, "events": kept}})
            else:
                services.kv.delete_many(namespace, [key])
    caches = [name for name in with_rule(PurgeRule.BY_SCOPE_KEY) if NAMESPACES[name].expires]
    for scope in set(memories.values()):
        for namespace in caches:
            services.kv.delete_many(namespace, scope_keyed_entries(services, namespace, scope))


def _named_attachments(services: MemoryServices, memories: dict[str, Scope]) -> set[str]:
    """The `attachments` keys (`<scope key>/<sha256>`, pipeline/attachments.py) of the bytes the
    memories name: in their stored records and in every event of their history (a retired memory
    has only the latter)."""
    sources: dict[str, list[SourceRef]] = {memory_id: [] for memory_id in memories}
    for record in services.vector.get(list(memories)):
        sources[record.id] += record.sources
    for memory_id, events in services.kv.get_many(HISTORY, list(memories)).items():
        sources[memory_id] += [s for event in events for s in HistoryEvent.model_validate(event).sources]
    return {
        f"{memories[memory_id].key()}/{attachment.sha256}"
        for memory_id, cited in sources.items()
        for attachment in sources_attachments(cited)
        if attachment.sha256 is not None
    }


def _erase_unreferenced_attachments(services: MemoryServices, keys: list[str]) -> None:
    """Erase the attachment bytes under `keys` that no other memory of the same scope names, live,
    expired or retired (`_named_attachments`): content-addressed bytes shared with a memory that
    remains stay. Run once the erased memories left the scope index, so that a repeat after a
    crash finds the same answer."""
    by_scope: dict[str, set[str]] = {}
    for key in keys:
        by_scope.setdefault(key.partition("/")[0], set()).add(key)
    unreferenced: list[str] = []
    for scope_key, candidates in by_scope.items():
        owner = Scope.from_key(scope_key)
        remaining = {i: s for i, s in indexed_memories(services, owner).items() if s == owner}
        unreferenced += sorted(candidates - _named_attachments(services, remaining))
    services.kv.delete_many(ATTACHMENTS, unreferenced)


def _unfile(services: MemoryServices, memories: dict[str, Scope]) -> None:
    """Take the memories out of the scope index, under every id of their scopes: a run's entry
    loses their ids (and goes once empty), an entry of format 1 (one memory per key) goes."""
    by_scope: dict[Scope, set[str]] = {}
    for memory_id, owner in memories.items():
        by_scope.setdefault(owner, set()).add(memory_id)
    for owner, ids in by_scope.items():
        for prefix in scope_index_prefixes(owner):
            entries = services.kv.get_many(SCOPE_INDEX, services.kv.keys(SCOPE_INDEX, prefix))
            gone, rewritten = [], {}
            for key, value in entries.items():
                if isinstance(value, str):
                    if key[len(prefix) :] in ids:
                        gone.append(key)
                elif value.get("scope") == owner.key() and not ids.isdisjoint(value.get("memories", ())):
                    kept = [m for m in value["memories"] if m not in ids]
                    if kept:
                        rewritten[key] = {**value, "memories": kept}
                    else:
                        gone.append(key)
            services.kv.put_many(SCOPE_INDEX, rewritten, remove=gone)


def erase_scope_entries(services: MemoryServices, scope: Scope, deleted: list[MemoryRecord]) -> None:
    """Erase what remains of `scope` after its memories were deleted, from every declared
    namespace by its purge rule, in the rules' order: history, scope index entries (under every
    id of each memory's scope) and journal entries, profiles, cached embeddings and LLM answers
    of the scope and its sub-scopes, its access log, store namespaces. The scope index goes after
    the history it finds, so a repeat after a crash finds what is left."""
    memories = indexed_memories(services, scope)
    memories.update((record.id, record.scope) for record in deleted)
    for rule in PurgeRule:
        if rule is PurgeRule.KEPT:
            continue  # credentials and grants: not the scope's data
        for namespace in with_rule(rule):
            _ERASERS[rule](services, namespace, scope, memories)


def _erase_memory_entries(
    services: MemoryServices, namespace: str, scope: Scope, memories: dict[str, Scope]
) -> None:
    services.kv.delete_many(namespace, memories)


def _erase_scope_index(
    services: MemoryServices, namespace: str, scope: Scope, memories: dict[str, Scope]
) -> None:
    # a key is named after one memory (format 1) or after the first of its run: both are here
    keys = [
        prefix + memory_id for memory_id, owner in memories.items() for prefix in scope_index_prefixes(owner)
    ]
    services.kv.delete_many(namespace, keys)
    erase_journal(services, scope, namespace)


def _erase_scope_keyed(
    services: MemoryServices, namespace: str, scope: Scope, memories: dict[str, Scope]
) -> None:
    services.kv.delete_many(namespace, scope_keyed_entries(services, namespace, scope))


def _erase_store_namespaces(
    services: MemoryServices, namespace: str, scope: Scope, memories: dict[str, Scope]
) -> None:
    listed = services.kv.keys(namespace)
    services.kv.delete_many(namespace, [key for key in listed if scope.matches(listed_namespace_scope(key))])


def _erase_journal(
    services: MemoryServices, namespace: str, scope: Scope, memories: dict[str, Scope]
) -> None:
    erase_journal(services, scope, namespace)


_ERASERS = {
    PurgeRule.BY_MEMORY_ID: _erase_memory_entries,
    PurgeRule.SCOPE_INDEX: _erase_scope_index,
    PurgeRule.BY_SCOPE_KEY: _erase_scope_keyed,
    PurgeRule.BY_STORE_NAMESPACE: _erase_store_namespaces,
    PurgeRule.BY_EVENT_SCOPE: _erase_journal,
}


def erase_freed(services: MemoryServices) -> None:
    """Have every tier overwrite what deletions freed in its own files."""
    services.vector.erase_deleted()
    if services.graph is not None:
        services.graph.erase_deleted()
    services.kv.erase_deleted()
