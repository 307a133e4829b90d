"""The audit log in the key-value tier: one event list per memory id, plus a scope index so
that a scope's history can be purged.

Scope index keys are `<field>=<percent-encoded id>/<memory id>`: the encoded id never holds `/`,
so the prefix of user "a" cannot match the keys of user "ab" or of "a/b". Each value is the
memory's full scope key, so a purge also finds the sub-scope entries of the memories it erases."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from ..records import EventType, HistoryEvent, MemoryRecord, Scope, SourceRef, encode_scope_id
from ..services import MemoryServices

HISTORY = "history"
SCOPE_INDEX = "scope_memories"
API_ACTOR = "api"


def scope_index_prefixes(scope: Scope) -> list[str]:
    return [f"{field}={encode_scope_id(value)}/" for field, value in sorted(scope.as_filter().items())]


def log_events(services: MemoryServices, events: list[HistoryEvent]) -> None:
    """Append audit events; an ADD also files the memory id under each of its scope ids.

    One small key per (scope id, memory) keeps every write O(1); purging a scope reads them back
    by prefix.
    """
    entries: dict[str, list] = defaultdict(list)
    index: dict[str, str] = {}
    for event in events:
        entries[event.memory_id].append(event.model_dump(mode="json"))
        if event.event is EventType.ADD:
            for prefix in scope_index_prefixes(event.scope):
                index[prefix + event.memory_id] = event.scope.key()
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
