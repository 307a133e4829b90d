"""The audit log in the key-value tier: one event list per memory id, plus a scope index so
that a scope's history can be purged.

A vector-tier write and its audit events live in different stores, so they cannot share one
transaction. The events are first written to a journal in the key-value tier; the vector write
follows, then the history and scope index; the finished entry is removed in the transaction
that journals the next write (or on close), which spares every write a transaction of its own.
Whoever opens the store later settles what a crash left in the journal: events whose write
reached the vector tier are logged (appending is idempotent), the others are dropped, so a
finished entry left by a crash costs only a replay.

Scope index keys are `<field>=<percent-encoded id>/<memory id>`: the encoded id never holds `/`,
so the prefix of user "a" cannot match the keys of user "ab" or of "a/b". Each value is the
memory's full scope key, so a purge also finds the sub-scope entries of the memories it erases.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator

from pydantic import TypeAdapter

from ..records import EventType, HistoryEvent, MemoryRecord, Scope, SourceRef, encode_scope_id
from ..services import MemoryServices

HISTORY = "history"
SCOPE_INDEX = "scope_memories"
JOURNAL = "journal"
API_ACTOR = "api"
# An entry whose write is not (yet) in the vector tier may belong to a writer still at work in
# another process; only entries older than this are dropped as never committed.
IN_FLIGHT_SECONDS = 300.0
_EVENTS = TypeAdapter(list[HistoryEvent])  # dumps a batch of events in one call
# Timestamps make a round trip through float epoch seconds in the vector tier.
_SAME_INSTANT_SECONDS = 1e-3


def scope_index_prefixes(scope: Scope) -> list[str]:
    return [f"{field}={encode_scope_id(value)}/" for field, value in sorted(scope.as_filter().items())]


def log_events(services: MemoryServices, events: list[HistoryEvent]) -> None:
    """Append audit events; an ADD also files the memory id under each of its scope ids.

    One small key per (scope id, memory) keeps every write O(1); purging a scope reads them back
    by prefix.
    """
    _log_dumped(services, events, _EVENTS.dump_python(events, mode="json"))


def _log_dumped(services: MemoryServices, events: list[HistoryEvent], dumped: list[dict]) -> None:
    """`log_events` with the events already dumped: two key-value writes for any number of events."""
    entries: dict[str, list] = defaultdict(list)
    index: dict[str, str] = {}
    prefixes: dict[Scope, tuple[list[str], str]] = {}
    for event, item in zip(events, dumped):
        entries[event.memory_id].append(item)
        if event.event is EventType.ADD:
            scope = event.scope
            if scope not in prefixes:
                prefixes[scope] = (scope_index_prefixes(scope), scope.key())
            scope_prefixes, scope_key = prefixes[scope]
            for prefix in scope_prefixes:
                index[prefix + event.memory_id] = scope_key
    if entries:
        services.kv.append(HISTORY, entries)
    if index:
        services.kv.put_many(SCOPE_INDEX, index)


def history_event(kind: EventType, record: MemoryRecord, actor: str, old: str | None, new: str | None, at: datetime, sources: list[SourceRef] | None = None) -> HistoryEvent:
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


@contextmanager
def audited_write(services: MemoryServices, events: list[HistoryEvent]) -> Iterator[None]:
    """Run the vector-tier write of the body with its audit events journaled around it.

    After a crash at any point, `settle_journal` on the next open logs exactly the events whose
    write committed, so every stored memory has its history and scope-index entry.
    """
    key = uuid.uuid4().hex
    dumped = _EVENTS.dump_python(events, mode="json")
    entry = {"written_at": time.time(), "events": dumped}
    finished = services.finished_journal.take()
    try:
        services.kv.put_many(JOURNAL, {key: entry}, remove=finished)
    except BaseException:
        services.finished_journal.give_back(finished)
        raise
    try:
        yield
    except BaseException:
        try:
            _settle(services, key, entry, in_flight_seconds=0.0)  # the write may have committed before failing
        except Exception:  # noqa: BLE001 - a tier is unreachable: the entry stays for the next open,
            pass  # and the caller gets the original error below
        raise
    _log_dumped(services, events, dumped)
    services.finished_journal.add(key)


def remove_finished_journal(services: MemoryServices) -> None:
    """Delete the entries of completed writes now (on close): they hold memory text. With the
    key-value tier unreachable they stay, and the next open settles them like a crash's."""
    try:
        services.kv.delete_many(JOURNAL, services.finished_journal.take())
    except Exception:  # noqa: BLE001 - closing must not fail on what the next open repairs
        pass


def _journal_entries(services: MemoryServices) -> dict[str, dict[str, Any]]:
    """Every entry in the journal, by key (only on open and on purge: it is read whole)."""
    return services.kv.get_many(JOURNAL, services.kv.keys(JOURNAL))


def settle_journal(services: MemoryServices) -> None:
    """Finish or drop the journaled writes that a crashed process left behind (run on open)."""
    for key, entry in _journal_entries(services).items():
        _settle(services, key, entry, IN_FLIGHT_SECONDS)


def erase_journal(services: MemoryServices, scope: Scope) -> None:
    """Remove the journal entries of a scope's memories (they hold its text) on purge."""
    doomed = [
        key
        for key, entry in _journal_entries(services).items()
        if any(scope.matches(Scope.model_validate(event["scope"])) for event in entry["events"])
    ]
    services.kv.delete_many(JOURNAL, doomed)


def _settle(services: MemoryServices, key: str, entry: dict[str, Any], in_flight_seconds: float) -> None:
    events = [HistoryEvent.model_validate(e) for e in entry["events"]]
    stored = {r.id: r for r in services.vector.get(list(dict.fromkeys(e.memory_id for e in events)))}
    committed = [e for e in events if _write_committed(e, stored.get(e.memory_id))]
    if len(committed) < len(events) and time.time() - entry["written_at"] < in_flight_seconds:
        return
    log_events(services, committed)
    services.kv.delete_many(JOURNAL, [key])


def _write_committed(event: HistoryEvent, record: MemoryRecord | None) -> bool:
    """Whether the vector tier holds the write this event describes."""
    if event.event is EventType.DELETE:
        return record is None
    if record is None:
        return False
    if event.event is EventType.ADD:
        return True  # memory ids are fresh uuids: the record exists only if this write made it
    same_write = abs((record.updated_at - event.at).total_seconds()) < _SAME_INSTANT_SECONDS
    if event.event is EventType.INVALIDATE:
        return same_write and record.valid_to is not None
    return same_write and record.text == event.new_text
