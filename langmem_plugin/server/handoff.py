"""Handoff: copy chosen memories into another scope, each copy saying where it came from.

An agent handing a customer to another agent hands over what it knows: each copy keeps the
original's text, valid time and sources (the conversation turns it was learned from), names its
original in its metadata (`handoff_from_memory`, `handoff_from_scope`), and is added to the
target's history by `handoff:<principal>`. The copy's id derives from the target scope, the
original's id and its text, so handing the same memory over again answers NOOP with the copy,
and a retry after a failure stores each copy once.
"""

from __future__ import annotations

from ..pipeline.audit import added_events, audited_write
from ..pipeline.validation import check_metadata
from ..records import EventType, Fact, MemoryOperation, MemoryRecord, Scope, derived_uuids, utc_now
from ..services import MemoryServices

FROM_MEMORY = "handoff_from_memory"
FROM_SCOPE = "handoff_from_scope"


def handoff_actor(principal: str) -> str:
    return f"handoff:{principal}"


def copy_ids(originals: list[MemoryRecord], target: Scope) -> list[str]:
    return derived_uuids(f"handoff|{target.key()}", (f"{r.id}|{r.hash}" for r in originals))


def hand_off(
    services: MemoryServices, originals: list[MemoryRecord], target: Scope, principal: str
) -> list[MemoryOperation]:
    """Copy `originals` (read and checked by the caller) into `target`: ADD for each new copy,
    NOOP for one made before. Every copy's metadata is checked before anything is written."""
    now = utc_now()
    ids = copy_ids(originals, target)
    stored = {record.id: record for record in services.vector.get(ids)}
    limits = services.config.limits
    copies, operations = [], []
    for copy_id, original in zip(ids, originals, strict=True):
        if copy_id in stored:
            operations.append(MemoryOperation(event=EventType.NOOP, memory=stored[copy_id]))
            continue
        provenance = {FROM_MEMORY: original.id, FROM_SCOPE: original.scope.key()}
        copy = original.model_copy(
            update={
                "id": copy_id,
                "scope": target,
                "metadata": check_metadata(limits, {**original.metadata, **provenance}),
                "created_at": now,
                "updated_at": now,
                "score": None,
            }
        )
        copies.append(copy)
        operations.append(MemoryOperation(event=EventType.ADD, memory=copy))
    if not copies:
        return operations
    vectors = services.embedder.embed([copy.text for copy in copies], target)
    with audited_write(services, added_events(copies, handoff_actor(principal), now)):
        services.vector.insert(copies, vectors)
    if services.graph is not None:
        facts = [(Fact(text=copy.text, sources=copy.sources), copy.id) for copy in copies]
        services.graph.add_relations(target, services.manager.extract_relations(facts, target))
    return operations
