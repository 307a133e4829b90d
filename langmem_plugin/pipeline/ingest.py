"""The add pipeline: normalise, extract, reconcile, then write.

Every question to the memory manager is asked in `_plan`, before the first write in `_apply`:
a manager that fails leaves the store exactly as it was.

A call that raises may have stored part of its batch; its retry (the same arguments, see
pipeline/retries.py) repeats the same write at the same time `now`, and each kind of write
repeats harmlessly: a verbatim memory is named after its message (`message_memory_ids`), so the
retry finds it stored and only logs its events again (an identical append is a no-op); a fact
whose memory the failed try stored (updated at `now`) is an exact duplicate, answered NOOP, and
its graph relations are written again under the same derived ids (`with_relation_ids`), which
the graph backends store once; what the failed try committed but did not log is logged by
settling the journal before the retry writes.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from ..errors import InvalidInputError, LangMemError
from ..managers.base import Decision, Neighbour, described_text
from ..parts import Attachment
from ..records import (
    ConversationMessage,
    EventType,
    Fact,
    MemoryOperation,
    MemoryRecord,
    Scope,
    SourceRef,
    content_hash,
    derived_uuids,
    same_instant,
    utc_now,
)
from ..services import AddCall, GraphFollowUp, MemoryServices
from ..tiers.graph import EntityMention, GraphStore, RelationMention
from ..tiers.graph.base import normalize_name, with_relation_ids
from .attachments import store_attachments
from .audit import API_ACTOR, added_events, audited_write, history_event, settle_journal
from .expiry import check_expiry, retained_until
from .messages import MessagesInput, normalize_messages, parse_timestamp
from .retries import call_fingerprint
from .retrieval import search_params
from .validation import check_metadata, check_text

NEIGHBOURS = 10
# Candidates searched per neighbour wanted: those of sub-scopes are left out (`_neighbours`).
SUB_SCOPE_MARGIN = 3
# Memories per journaled write of a verbatim add: bounds the journal entry and the transaction.
WRITE_CHUNK = 2000
# A batch of models validated in one call costs about half as much per model as one call each.
_RECORDS = TypeAdapter(list[MemoryRecord])
_OPERATIONS = TypeAdapter(list[MemoryOperation])
_STORING = (EventType.ADD, EventType.UPDATE)  # decisions whose memory gets the fact's relations


def new_record(
    memory_id: str,
    text: str,
    scope: Scope,
    metadata: dict,
    sources: list[SourceRef],
    now: datetime,
    expires_at: datetime | None = None,
) -> MemoryRecord:
    valid_from = min(s.timestamp for s in sources) if sources else now
    return MemoryRecord.model_validate(
        _new_record_fields(memory_id, text, scope, metadata, sources, valid_from, now, expires_at)
    )


def _new_record_fields(
    memory_id: str,
    text: str,
    scope: Scope,
    metadata: dict,
    sources: list,
    valid_from: datetime,
    now: datetime,
    expires_at: datetime | None,
) -> dict:
    """A new memory's fields; `valid_from` is its earliest source's time (now without a source)."""
    return {
        "id": memory_id,
        "text": text,
        "scope": scope,
        "metadata": metadata,
        "created_at": now,
        "updated_at": now,
        "valid_from": valid_from,
        "hash": content_hash(text),
        "sources": sources,
        "expires_at": expires_at,
    }


def _merge_sources(existing: list[SourceRef], new: list[SourceRef]) -> list[SourceRef]:
    return existing + [s for s in new if s not in existing]


def add(
    services: MemoryServices,
    messages: MessagesInput,
    scope: Scope,
    metadata: Mapping[str, Any] | None = None,
    infer: bool = True,
    timestamp: Any = None,
    expires_at: Any = None,
    ttl: Any = None,
    message_metadata: Sequence[Mapping[str, Any]] | None = None,
) -> list[MemoryOperation]:
    """Remember messages (see `Memory.add`). A call that raises is kept, and calling again with
    the same arguments is its retry: it stores what the failed call meant to, exactly once.

    `message_metadata` (infer=False only) gives each message's memory metadata of its own, over
    `metadata`: a document's chunks or records, each naming its place, written as one call."""
    limits = services.config.limits
    clean_metadata = check_metadata(limits, metadata)
    checked_at = utc_now()
    given_expiry = check_expiry(expires_at, ttl, checked_at)
    default_time = None if timestamp is None else parse_timestamp(timestamp)
    given = normalize_messages(messages, limits, services.config.privacy, default_time)
    each = None
    if message_metadata is not None:
        if infer or len(message_metadata) != len(given.messages):
            raise InvalidInputError("metadata per message needs infer=False and one mapping per message")
        each = [check_metadata(limits, {**clean_metadata, **m}) for m in message_metadata]
    described = clean_metadata if each is None else {"call": clean_metadata, "messages": each}
    fingerprint = call_fingerprint(scope, described, infer, default_time, given)
    call = services.failed_adds.start(fingerprint, given.messages, given.caller_ids)
    if ttl is not None and given_expiry is not None:  # a TTL counts from the memories' creation time
        given_expiry += call.now - checked_at
    expiry = retained_until(services.config.retention, scope, clean_metadata, call.now, given_expiry)
    try:
        if call.retry:  # what the failed try stored gets its history and graph writes first
            settle_journal(services)
            finish_graph_follow_ups(services, call)
        if not infer:
            store_attachments(services, scope, call.conversation, (m.source() for m in call.conversation))
            return _add_verbatim(services, call, scope, clean_metadata if each is None else each, expiry)
        facts = services.manager.extract_facts(call.conversation, scope)
        if not facts:
            return []
        for fact in facts:
            check_text(limits, fact.text, "extracted fact")
        planned = _plan(services, call, scope, facts)
        kept = (
            source
            for p in planned[0]
            if p.decision.event is not EventType.DELETE
            for source in p.fact.sources
        )
        store_attachments(services, scope, call.conversation, kept)
        return _apply(services, call, scope, clean_metadata, expiry, planned)
    except BaseException:
        services.failed_adds.failed(call)
        raise


def _add_verbatim(
    services, call: AddCall, scope: Scope, metadata: dict | list[dict], expires_at: datetime | None
) -> list[MemoryOperation]:
    """infer=False: one memory per message, exactly as given, with its provenance.

    Every message was validated and every vector is computed before the first write. The writes
    then go in chunks of `WRITE_CHUNK` memories, each one journaled write (a few transactions
    whatever its size): a crash keeps whole chunks, each with its history, and loses the rest of
    the call, which was never acknowledged.

    Messages that bring their own ids, and retries, may name memories stored already: those are
    answered NOOP with the stored memory, as is a message repeated within the call.
    """
    now = call.now
    with collector_paused():
        records = verbatim_records(call.conversation, scope, metadata, now, expires_at)
    # the embedder (a model or a remote API, maybe minutes of the caller's code) runs with the collector on
    vectors = services.embedder.embed([r.text for r in records], scope, remember=False)
    with collector_paused():
        if not (call.retry or call.caller_ids):  # every id is new: the plain batch write
            _write_new(services, records, vectors, API_ACTOR, now)
            return _OPERATIONS.validate_python([{"event": EventType.ADD, "memory": r} for r in records])
        first: dict[str, int] = {}
        for index, record in enumerate(records):
            first.setdefault(record.id, index)
        kept = list(first.values())
        unique = [records[i] for i in kept]
        earlier = _write_new(services, unique, vectors[kept], API_ACTOR, now, check_stored=True)
        operations = []
        for index, record in enumerate(records):
            if record.id in earlier or first[record.id] != index:
                stored = earlier.get(record.id, records[first[record.id]])
                operations.append({"event": EventType.NOOP, "memory": stored})
            else:
                operations.append({"event": EventType.ADD, "memory": record})
        return _OPERATIONS.validate_python(operations)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a verbatim batch is built and written.

    The collector runs on the count of container objects allocated, not on garbage: a batch keeps
    a few dozen per memory alive (messages, records, events, rows) until it returns, and so
    triggers collections, the full ones walking the whole process heap, for nothing, since the
    batch's objects die by reference count. With langchain imported they cost about a fifth of the
    write's CPU (benchmarks/inserts.py). Left as found when already paused by the caller.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def message_memory_ids(scope: Scope, conversation: list[ConversationMessage]) -> list[str]:
    """A verbatim memory is named after its scope, its message's id and its text: the same message
    stored again (a retry, a client sending its whole conversation again) is the same memory, and
    a message whose text changed under the same id is a memory of its own. A message without an
    id of its own gets a random one (normalize_messages), so its memory is new on every call but
    the retry of a failed one."""
    keys = (_message_key(m.message_id, m.content, m.attachments) for m in conversation)
    return derived_uuids(f"message|{scope.key()}", keys)


def _message_key(message_id: str, text: str, attachments: Iterable[Attachment]) -> str:
    return f"{len(message_id)}:{message_id}{text}{''.join(a.model_dump_json() for a in attachments)}"


def is_verbatim(record: MemoryRecord) -> bool:
    """Whether the memory is a message stored as it was said (infer=False), from its id alone:
    `message_memory_ids` of its first source's message with the memory's text (or, for a message
    that only shared attachments, with no text). A memory whose text was rewritten, or a fact, has
    another id."""
    if not record.sources:
        return False
    source = record.sources[0]
    texts = (record.text, "") if source.attachments else (record.text,)
    keys = [_message_key(source.message_id, text, source.attachments) for text in texts]
    return record.id in derived_uuids(f"message|{record.scope.key()}", keys)


def verbatim_records(
    conversation, scope: Scope, metadata: dict | list[dict], now: datetime, expires_at: datetime | None = None
) -> list[MemoryRecord]:
    """`new_record` of each message, its own source, validated in one call. The text is the
    message's, as given; a message that only shared attachments says what it shared
    (managers/base.py: described_text). `metadata` is every memory's, or a list of each one's."""
    each = metadata if isinstance(metadata, list) else [metadata] * len(conversation)
    return _RECORDS.validate_python(
        [
            # the message is the record's only source: its time is the earliest
            _new_record_fields(
                memory_id,
                m.content or described_text(m, scope),
                scope,
                own_metadata,
                [m.source_fields()],
                m.timestamp,
                now,
                expires_at,
            )
            for memory_id, m, own_metadata in zip(
                message_memory_ids(scope, conversation), conversation, each, strict=True
            )
        ]
    )


def _write_new(
    services: MemoryServices,
    records: list[MemoryRecord],
    vectors: np.ndarray,
    actor: str,
    now: datetime,
    check_stored: bool = False,
) -> dict[str, MemoryRecord]:
    """Store new memories in journaled chunks of `WRITE_CHUNK`: each chunk is one journal entry,
    one vector-tier transaction and one history and scope-index write, whatever its size.

    `check_stored` when the ids may be stored already (one read per chunk): a memory stored at
    `now` is this call's own, from a try that failed; it is not inserted again, but its events
    are logged again (an identical append is a no-op), in case that try died before logging
    them. A memory stored by another call is left as it is; those are returned, by id."""
    earlier: dict[str, MemoryRecord] = {}
    for start in range(0, len(records), WRITE_CHUNK):
        chunk, chunk_vectors = records[start : start + WRITE_CHUNK], vectors[start : start + WRITE_CHUNK]
        stored = {r.id: r for r in services.vector.get([r.id for r in chunk])} if check_stored else {}
        if stored:
            earlier.update((i, r) for i, r in stored.items() if not same_instant(r.created_at, now))
            logged = [r for r in chunk if r.id not in earlier]
            missing = [i for i, r in enumerate(chunk) if r.id not in stored]
            chunk, chunk_vectors, inserted = logged, chunk_vectors[missing], [chunk[i] for i in missing]
        else:
            inserted = chunk
        if not chunk:
            continue
        with audited_write(services, added_events(chunk, actor, now)):
            if inserted:
                services.vector.insert(inserted, chunk_vectors)
    return earlier


@dataclass
class _PlannedFact:
    fact: Fact
    vector: np.ndarray
    decision: Decision
    memory_id: str  # the id the fact's memory will have (new for ADD, the target's for UPDATE)
    own: bool = False  # a NOOP on a memory that a failed try of this very call stored


def _neighbours(services: MemoryServices, scope: Scope, fact: Fact, vector: np.ndarray) -> list[Neighbour]:
    """The memories of exactly the add's scope most like the fact (not their neighbouring turns).

    A search of a scope also reaches its sub-scopes (`agent_id="bot"` spans every user of the
    bot), but an add only ever changes memories of its own scope: an agent-level fact must not
    rewrite, invalidate or retire a user's memory, nor a user-level one a run's."""
    params = search_params(services, limit=NEIGHBOURS * SUB_SCOPE_MARGIN, context=False)
    hits = [h for h in services.vector.search(scope, vector, fact.text, params) if h.memory.scope == scope]
    return sorted((Neighbour(h.memory, h.similarity) for h in hits), key=lambda n: -n.similarity)[:NEIGHBOURS]


def _own_duplicate(services: MemoryServices, scope: Scope, fact: Fact) -> MemoryRecord | None:
    """A current memory of exactly the add's scope with the fact's text (see `_neighbours`)."""
    if fact.forget:  # a request to forget a known text is the manager's to answer, never a duplicate
        return None
    duplicate = services.vector.find_by_hash(scope, content_hash(fact.text))
    return duplicate if duplicate is not None and duplicate.scope == scope else None


def _plan(
    services: MemoryServices, call: AddCall, scope: Scope, facts: list[Fact]
) -> tuple[list[_PlannedFact], list]:
    """Ask the manager everything before anything is written: a failure leaves the store untouched."""
    vectors = services.embedder.embed([f.text for f in facts], scope)
    decided: dict[int, Decision] = {}
    undecided: list[int] = []
    own: set[int] = set()  # facts whose memory a failed try of this call stored (added or updated)
    for index, fact in enumerate(facts):
        duplicate = _own_duplicate(services, scope, fact)
        if duplicate is None:
            undecided.append(index)
            continue
        decided[index] = Decision(EventType.NOOP, target=duplicate)
        if call.retry and same_instant(duplicate.updated_at, call.now):
            own.add(index)
    if undecided:
        neighbours = [_neighbours(services, scope, facts[i], vectors[i]) for i in undecided]
        answers = services.manager.reconcile([facts[i] for i in undecided], neighbours, scope)
        if len(answers) != len(undecided):
            raise LangMemError(
                f"{services.manager.name} returned {len(answers)} decisions for {len(undecided)} facts"
            )
        shown = {n.memory.id for candidates in neighbours for n in candidates}  # what the manager saw
        for index, decision in zip(undecided, answers, strict=True):
            if any(t.id not in shown for t in decision.targets()):
                raise LangMemError(f"{services.manager.name} chose a memory it was not shown")
            if decision.event in (EventType.NOOP, EventType.UPDATE) and decision.target is None:
                raise LangMemError(
                    f"{services.manager.name} answered {decision.event.value} without a target"
                )
            decided[index] = decision
            if facts[index].forget and decision.event is not EventType.DELETE:
                decided[index] = Decision(
                    EventType.DELETE
                )  # the words of a request to forget are never stored
    decisions = [decided[index] for index in range(len(facts))]
    memory_ids = [str(uuid.uuid4()) if d.target is None else d.target.id for d in decisions]
    plan = [
        _PlannedFact(*planned, own=index in own)
        for index, planned in enumerate(zip(facts, vectors, decisions, memory_ids, strict=True))
    ]
    # relations of an own memory are extracted again: the failed try may have died before writing them
    storing = [(p.fact, p.memory_id) for p in plan if p.own or p.decision.event in _STORING]
    relations = (
        services.manager.extract_relations(storing, scope) if services.graph is not None and storing else []
    )
    return plan, relations


def _apply(
    services: MemoryServices,
    call: AddCall,
    scope: Scope,
    metadata: dict,
    expires_at: datetime | None,
    planned: tuple[list[_PlannedFact], list],
) -> list[MemoryOperation]:
    plan, relations = planned
    actor = services.manager.name
    now = call.now
    current: dict[str, MemoryRecord] = {}  # latest version of every memory this batch touches
    renamed: dict[str, str] = {}  # planned memory id -> id actually used
    rewritten: set[str] = set()  # memories an UPDATE of this batch already changed
    deleted: set[str] = set()  # memories a DELETE of this batch retired
    related: set[str] = set()  # memories whose relations this call writes besides its ADDs and UPDATEs
    operations: list[MemoryOperation] = []
    new_records: list[MemoryRecord] = []  # ADDs not written yet: consecutive ones share one write
    new_vectors: list[np.ndarray] = []

    def write_new_records() -> None:
        """Store the pending ADDs; called before any other write, so writes keep the plan's order."""
        if new_records:
            _write_new(services, new_records, np.stack(new_vectors), actor, now)
            new_records.clear()
            new_vectors.clear()

    for item in plan:
        fact, decision = item.fact, item.decision
        fact_time = min(s.timestamp for s in fact.sources)
        if decision.event is EventType.DELETE:
            doomed = [m for m in decision.targets() if m.id not in deleted]
            if doomed:
                write_new_records()
                retiring = [current.get(m.id, m) for m in doomed]
                _retire(services, call, retiring, actor, fact.sources, operations)
                deleted.update(m.id for m in doomed)
            continue
        target = current.get(decision.target.id, decision.target) if decision.target is not None else None
        event = decision.event
        if target is not None and target.id in deleted:
            # retired by an earlier fact of this batch: this fact stands on its own
            event, target = EventType.ADD, None
            renamed[item.memory_id] = item.memory_id = str(uuid.uuid4())
        taken = target is not None and (target.valid_to is not None or target.id in rewritten)
        if taken and event is not EventType.NOOP:
            # An earlier fact of this batch already closed or rewrote the target: keep both facts.
            event = EventType.ADD
            renamed[item.memory_id] = item.memory_id = str(uuid.uuid4())
        if target is not None and event is EventType.NOOP:
            merged = target.model_copy(update={"sources": _merge_sources(target.sources, fact.sources)})
            if merged.sources != target.sources:
                write_new_records()
                services.vector.replace(merged)
            current[merged.id] = merged
            if item.own:
                related.add(merged.id)
            operations.append(MemoryOperation(event=EventType.NOOP, memory=merged))
        elif target is not None and event is EventType.UPDATE:
            text = decision.text or fact.text
            updated = target.model_copy(
                update={
                    "text": text,
                    "hash": content_hash(text),
                    "updated_at": now,
                    "sources": _merge_sources(target.sources, fact.sources),
                }
            )
            write_new_records()
            close = partial(_close_relations, [updated.id], fact_time)
            history = history_event(EventType.UPDATE, updated, actor, target.text, text, now, fact.sources)
            with (
                _followed_by(services, call, [updated.id], partial(_rewritten_at, now), close),
                audited_write(services, [history]),
            ):
                services.vector.replace(updated, item.vector)
            current[updated.id] = updated
            rewritten.add(updated.id)
            operations.append(
                MemoryOperation(event=EventType.UPDATE, memory=updated, previous_text=target.text)
            )
        else:  # ADD (a NOOP or UPDATE names a target: `_plan` checks it)
            record_metadata = {"event_date": fact.event_date, **metadata} if fact.event_date else metadata
            text = (
                fact.text if taken else (decision.text or fact.text)
            )  # a merged text was meant for the target
            record = new_record(item.memory_id, text, scope, record_metadata, fact.sources, now, expires_at)
            for contradicted in decision.also_invalidate:
                old = current.get(contradicted.id, contradicted)
                if old.valid_to is not None:
                    continue
                if fact_time < old.valid_from:
                    # The new fact is older than the memory it contradicts: it is history, not a correction.
                    record = record.model_copy(update={"valid_to": old.valid_from})
                    continue
                write_new_records()
                current[old.id] = _invalidate(services, call, old, fact_time, actor, fact.sources, operations)
            new_records.append(record)
            new_vectors.append(item.vector)
            current[record.id] = record
            operations.append(MemoryOperation(event=EventType.ADD, memory=record))
    write_new_records()
    stored = {op.memory.id for op in operations if op.event in _STORING} | related
    relations = [replace(r, memory_id=renamed.get(r.memory_id, r.memory_id)) for r in relations]
    if services.graph is not None and relations:
        matched = _match_known_entities(
            services, services.graph, scope, [r for r in relations if r.memory_id in stored]
        )
        kept = with_relation_ids(matched, now)
        add = partial(_add_relations, scope, kept)
        call.follow_ups.append(GraphFollowUp([], _always, add))  # every vector write of the call is stored
        add(services.graph)
    return operations


@contextmanager
def _followed_by(
    services: MemoryServices,
    call: AddCall,
    memory_ids: list[str],
    committed: Callable[[list[MemoryRecord | None]], bool],
    write: Callable[[GraphStore], Any],
) -> Iterator[None]:
    """Run the body (a vector-tier write), then `write` on the graph tier. The follow-up is kept
    in the call first: if the call fails anywhere after, its retry finishes the follow-ups of the
    vector writes that were stored (`finish_graph_follow_ups`)."""
    if services.graph is None:
        yield
        return
    call.follow_ups.append(GraphFollowUp(memory_ids, committed, write))
    yield
    write(services.graph)


def finish_graph_follow_ups(services: MemoryServices, call: AddCall) -> None:
    """Repeat the graph-tier writes of a failed try whose vector writes are stored (each is idempotent)."""
    if services.graph is not None and call.follow_ups:
        ids = list(dict.fromkeys(i for f in call.follow_ups for i in f.memory_ids))
        stored = {r.id: r for r in services.vector.get(ids)} if ids else {}
        for follow_up in call.follow_ups:
            if follow_up.committed([stored.get(i) for i in follow_up.memory_ids]):
                follow_up.write(services.graph)
    call.follow_ups.clear()


def _rewritten_at(now: datetime, records: list[MemoryRecord | None]) -> bool:
    """An update or invalidation at `now` is stored."""
    return records[0] is not None and same_instant(records[0].updated_at, now)


def _gone(records: list[MemoryRecord | None]) -> bool:
    """A retirement is stored."""
    return all(r is None for r in records)


def _always(records: list[MemoryRecord | None]) -> bool:
    return True


def _close_relations(memory_ids: list[str], at: datetime, graph: GraphStore) -> None:
    graph.invalidate_memory_relations(memory_ids, at)


def _delete_relations(memory_ids: list[str], graph: GraphStore) -> None:
    graph.delete_memory_relations(memory_ids)


def _add_relations(scope: Scope, mentions: list[RelationMention], graph: GraphStore) -> None:
    graph.add_relations(scope, mentions)


def _match_known_entities(
    services: MemoryServices, graph: GraphStore, scope: Scope, relations: list[RelationMention]
) -> list[RelationMention]:
    """Name new mentions after the known entity they denote: same normalised name, or a name
    whose embedding is at least `manager.entity_match_threshold` similar ("NYC" ~ "New York City")."""
    known = graph.entities(scope)
    if not known or not relations:
        return relations
    known_names = {e.normalized_name for e in known}
    mentioned = {m.name for r in relations for m in (r.source, r.target)}
    unmatched = sorted(n for n in mentioned if normalize_name(n) not in known_names)
    if not unmatched:
        return relations
    vectors = services.embedder.embed(unmatched + [e.name for e in known], scope)
    similarity = vectors[: len(unmatched)] @ vectors[len(unmatched) :].T
    renamed = {
        name: known[int(row.argmax())].name
        for name, row in zip(unmatched, similarity, strict=True)
        if row.max() >= services.config.manager.entity_match_threshold
    }

    def rename(mention: EntityMention) -> EntityMention:
        return replace(mention, name=renamed.get(mention.name, mention.name))

    return [replace(r, source=rename(r.source), target=rename(r.target)) for r in relations]


def _retire(
    services,
    call: AddCall,
    records: list[MemoryRecord],
    actor: str,
    sources: list[SourceRef],
    operations: list[MemoryOperation],
) -> None:
    """A DELETE decision: the memories leave the vector and graph tiers; their history, with the
    request that retired them as its source, stays until a purge of the scope erases it."""
    ids = [r.id for r in records]
    events = [history_event(EventType.DELETE, r, actor, r.text, None, call.now, sources) for r in records]
    with (
        _followed_by(services, call, ids, _gone, partial(_delete_relations, ids)),
        audited_write(services, events),
    ):
        services.vector.delete(ids)
    operations.extend(
        MemoryOperation(event=EventType.DELETE, memory=r, previous_text=r.text) for r in records
    )


def _invalidate(
    services,
    call: AddCall,
    old: MemoryRecord,
    at: datetime,
    actor: str,
    sources: list[SourceRef],
    operations: list[MemoryOperation],
) -> MemoryRecord:
    closed = old.model_copy(update={"valid_to": at, "updated_at": call.now})
    event = history_event(EventType.INVALIDATE, closed, actor, old.text, None, call.now, sources)
    with (
        _followed_by(
            services,
            call,
            [old.id],
            partial(_rewritten_at, call.now),
            partial(_close_relations, [old.id], at),
        ),
        audited_write(services, [event]),
    ):
        services.vector.replace(closed)
    operations.append(MemoryOperation(event=EventType.INVALIDATE, memory=closed, previous_text=old.text))
    return closed
