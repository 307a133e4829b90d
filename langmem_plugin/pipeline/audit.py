"""The audit log in the key-value tier: one event list per memory id, plus a scope index so
that a scope's history can be purged.

A vector-tier write and its audit events live in different stores, so they cannot share one
transaction. The events are first written to a journal in the key-value tier, in the scope-index
namespace under `journal/` keys, so that the same transaction files the write's new memories in
the scope index; the vector write follows, then the history; the finished entry is removed in
the transaction that journals the next write (or on close), which spares every write a
transaction of its own. Whoever opens the store later settles what a crash left in the journal:
events whose write reached the vector tier are logged (appending is idempotent), the others are
dropped with the scope-index entries filed for them, so a finished entry left by a crash costs
only a replay. Stores of format 1 (manifest.py) kept the journal in a namespace of its own,
which is still settled and purged.

Scope index keys are `<field>=<percent-encoded id>/<memory id>`: the encoded id never holds `/`,
so the prefix of user "a" cannot match the keys of user "ab" or of "a/b". One key files a run of
up to `INDEX_RUN` memories of one scope, added by one write, under the first one's id: its value
is `{"scope": <full scope key>, "memories": [ids]}`, so a purge also finds the sub-scope entries
of the memories it erases. Stores of format 1 (manifest.py) also hold the earlier shape, one key
per memory whose value is the scope key alone; readers take both.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from ..namespaces import HISTORY, LEGACY_JOURNAL, SCOPE_INDEX
from ..records import EventType, HistoryEvent, MemoryRecord, Scope, SourceRef, encode_scope_id, same_instant
from ..services import MemoryServices

JOURNAL_PREFIX = "journal/"  # journal entry keys in SCOPE_INDEX; scope-index keys start with a scope field
API_ACTOR = "api"
# An entry whose write is not (yet) in the vector tier may belong to a writer still at work in
# another process; only entries older than this are dropped as never committed.
IN_FLIGHT_SECONDS = 300.0
_EVENTS = TypeAdapter(list[HistoryEvent])  # dumps a batch of events in one call
# Memories per scope-index value (ids of ~37 bytes): a value stays a small row.
INDEX_RUN = 500


def scope_index_prefixes(scope: Scope) -> list[str]:
    return [f"{field}={encode_scope_id(value)}/" for field, value in sorted(scope.as_filter().items())]


def log_events(services: MemoryServices, events: list[HistoryEvent]) -> None:
    """Append audit events; an ADD also files the memory id under each of its scope ids.

    A write's new memories share a few scope-index keys (a run of `INDEX_RUN` per key), so a
    batch of any size adds a few rows; purging a scope reads them back by prefix.
    """
    _log_dumped(services, events, _EVENTS.dump_python(events, mode="json"))


def scope_index_entries(added: dict[Scope, list[str]]) -> dict[str, dict[str, Any]]:
    """The scope-index keys and values filing new memories (ids by scope). A key is named after
    its run's first memory, so a replayed write rewrites the same keys with the same values."""
    index: dict[str, dict[str, Any]] = {}
    for scope, memory_ids in added.items():
        prefixes, scope_key = scope_index_prefixes(scope), scope.key()
        for start in range(0, len(memory_ids), INDEX_RUN):
            run = memory_ids[start : start + INDEX_RUN]
            value = {"scope": scope_key, "memories": run}
            for prefix in prefixes:
                index[prefix + run[0]] = value
    return index


def indexed_scopes(entries: dict[str, Any], prefix: str) -> dict[str, Scope]:
    """Memory id -> full scope of scope-index entries read under `prefix`, in either shape (a run
    of memories, or one memory per key from format 1). An unreadable value files nothing."""
    memories: dict[str, Scope] = {}
    for key, value in entries.items():
        if isinstance(value, str):
            memories[key[len(prefix) :]] = Scope.from_key(value)
        elif isinstance(value, dict) and isinstance(value.get("scope"), str):
            owner = Scope.from_key(value["scope"])
            memories.update((memory_id, owner) for memory_id in value.get("memories", ()))
    return memories


def _added(events: list[HistoryEvent]) -> dict[Scope, list[str]]:
    """The ids of the memories the events add, by scope, in event order."""
    added: dict[Scope, list[str]] = defaultdict(list)
    for event in events:
        if event.event is EventType.ADD:
            added[event.scope].append(event.memory_id)
    return added


def _append_history(services: MemoryServices, events: list[HistoryEvent], dumped: list[dict]) -> None:
    entries: dict[str, list] = defaultdict(list)
    for event, item in zip(events, dumped, strict=True):
        entries[event.memory_id].append(item)
    if entries:
        services.kv.append(HISTORY, entries)


def _log_dumped(services: MemoryServices, events: list[HistoryEvent], dumped: list[dict]) -> None:
    """`log_events` with the events already dumped: two key-value writes for any number of events."""
    _append_history(services, events, dumped)
    added = _added(events)
    if added:
        services.kv.put_many(SCOPE_INDEX, scope_index_entries(added))


def history_event(
    kind: EventType,
    record: MemoryRecord,
    actor: str,
    old: str | None,
    new: str | None,
    at: datetime,
    sources: list[SourceRef] | None = None,
) -> HistoryEvent:
    return HistoryEvent.model_validate(_event_fields(kind, record, actor, old, new, at, sources))


def added_events(records: list[MemoryRecord], actor: str, at: datetime) -> list[HistoryEvent]:
    """`history_event(ADD, ...)` of each new record, validated in one call (a batch costs about
    half as much per event as one call each)."""
    return _EVENTS.validate_python(
        [_event_fields(EventType.ADD, r, actor, None, r.text, at) for r in records]
    )


def _event_fields(
    kind: EventType,
    record: MemoryRecord,
    actor: str,
    old: str | None,
    new: str | None,
    at: datetime,
    sources: list[SourceRef] | None = None,
) -> dict[str, Any]:
    return {
        "memory_id": record.id,
        "event": kind,
        "old_text": old,
        "new_text": new,
        "actor": actor,
        "at": at,
        "scope": record.scope,
        "sources": sources if sources is not None else record.sources,
    }


@contextmanager
def audited_write(services: MemoryServices, events: list[HistoryEvent]) -> Iterator[None]:
    """Run the vector-tier write of the body with its audit events journaled around it.

    The journal entry and the scope-index entries of the memories the write adds go first, in
    one transaction. After a crash at any point, `settle_journal` on the next open logs exactly
    the events whose write committed, so every stored memory has its history and scope-index
    entry, and drops the index entries of memories never stored.
    """
    key = JOURNAL_PREFIX + uuid.uuid4().hex
    dumped = _EVENTS.dump_python(events, mode="json")
    entry = {"written_at": time.time(), "events": dumped}
    finished = services.finished_journal.take()
    try:
        services.kv.put_many(
            SCOPE_INDEX, {key: entry, **scope_index_entries(_added(events))}, remove=finished
        )
    except BaseException:
        services.finished_journal.give_back(finished)
        raise
    try:
        yield
    except BaseException:
        # the write may have committed before failing; with a tier unreachable the entry stays for the
        # next open, and the caller gets the original error below
        with suppress(Exception):
            _settle(services, SCOPE_INDEX, key, entry, in_flight_seconds=0.0)
        raise
    _append_history(services, events, dumped)
    services.finished_journal.add(key)


def remove_finished_journal(services: MemoryServices) -> None:
    """Delete the entries of completed writes now (on close): they hold memory text. With the
    key-value tier unreachable they stay, and the next open settles them like a crash's."""
    with suppress(Exception):  # closing must not fail on what the next open repairs
        services.kv.delete_many(SCOPE_INDEX, services.finished_journal.take())


def journal_keys(services: MemoryServices) -> list[str]:
    """The keys of the journal's entries in SCOPE_INDEX (entries of format 1 aside)."""
    return services.kv.keys(SCOPE_INDEX, JOURNAL_PREFIX)


def _journal_entries(services: MemoryServices) -> list[tuple[str, str, dict[str, Any]]]:
    """Every journal entry as (namespace, key, entry), format 1's included (only on open and on
    purge: the journal is read whole)."""
    found = []
    for namespace, keys in (
        (LEGACY_JOURNAL, services.kv.keys(LEGACY_JOURNAL)),
        (SCOPE_INDEX, journal_keys(services)),
    ):
        found += [(namespace, key, entry) for key, entry in services.kv.get_many(namespace, keys).items()]
    return found


def settle_journal(services: MemoryServices) -> None:
    """Finish or drop the journaled writes that a crashed process left behind (run on open)."""
    for namespace, key, entry in _journal_entries(services):
        _settle(services, namespace, key, entry, IN_FLIGHT_SECONDS)


def erase_journal(services: MemoryServices, scope: Scope, namespace: str) -> None:
    """Remove the journal entries in `namespace` of a scope's memories (they hold its text) on purge."""
    keys = journal_keys(services) if namespace == SCOPE_INDEX else services.kv.keys(namespace)
    for key, entry in services.kv.get_many(namespace, keys).items():
        if any(scope.matches(Scope.model_validate(event["scope"])) for event in entry["events"]):
            services.kv.delete_many(namespace, [key])


def _settle(
    services: MemoryServices, namespace: str, key: str, entry: dict[str, Any], in_flight_seconds: float
) -> None:
    events = [HistoryEvent.model_validate(e) for e in entry["events"]]
    stored = {r.id: r for r in services.vector.get(list(dict.fromkeys(e.memory_id for e in events)))}
    committed = [e for e in events if _write_committed(e, stored.get(e.memory_id))]
    if len(committed) < len(events) and time.time() - entry["written_at"] < in_flight_seconds:
        return
    log_events(services, committed)
    # the index entries filed with the journal entry for memories that are not stored (a memory
    # another write stored under the same id, a retry's, keeps the entries filing it)
    kept = set(stored)
    never_stored = [
        k for k, run in scope_index_entries(_added(events)).items() if kept.isdisjoint(run["memories"])
    ]
    if namespace == SCOPE_INDEX:
        services.kv.put_many(SCOPE_INDEX, {}, remove=[*never_stored, key])
    else:
        services.kv.delete_many(namespace, [key])


def _write_committed(event: HistoryEvent, record: MemoryRecord | None) -> bool:
    """Whether the vector tier holds the write this event describes."""
    if event.event is EventType.DELETE:
        return record is None
    if record is None:
        return False
    if event.event is EventType.ADD:
        # a retry may have stored the memory (its id derives from its message) at another time
        return same_instant(record.created_at, event.at)
    same_write = same_instant(record.updated_at, event.at)
    if event.event is EventType.INVALIDATE:
        return same_write and record.valid_to is not None
    return same_write and record.text == event.new_text
