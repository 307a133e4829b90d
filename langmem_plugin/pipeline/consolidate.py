"""Consolidation ("sleep-time" maintenance) of a scope's memories, and its reversal.

`consolidate` runs three passes over the memories valid now, each change an audited event by
the actor `consolidation`, all stamped with one time:

* with a manager that summarises (`TurnSummariser`: the LLM manager), verbatim turns older
  than `consolidation.summarise_after_days` are condensed into facts, one call per chunk of
  `chunk_turns` turns; each turn is retired (INVALIDATE) pointing at the first fact citing it;
* near-duplicates of one kind (facts, or the turns of one speaker) are merged: one survivor
  gains the others' sources (an UPDATE event holding the sources folded in), the others are
  retired (INVALIDATE, `replaced_by` the survivor);
* facts superseded by later ones (a new value of the same slot, a retraction) are retired from
  the later one's time on, `replaced_by` it.

The second and third passes replay the offline manager's own rules (managers/offline: slots,
claims, repeats and refinements) over the scope in the order its memories were said: each
memory is decided against the earlier ones still standing as if it were being added now. A
verbatim turn is only ever merged with its repeats: what was said is never superseded.

Retired memories stay in the vector tier (as facts that stopped being true do) and keep their
history, so `revert_consolidation` can put back exactly what the latest consolidation changed,
from the history alone. Consolidations of one store run one at a time, across processes too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from pydantic import BaseModel, computed_field

from ..errors import InvalidInputError
from ..managers.base import Neighbour, TurnSummariser, speaker_name
from ..managers.offline.claims import content_roots
from ..managers.offline.manager import OfflineMemoryManager, slot_of
from ..namespaces import HISTORY, SCOPE_INDEX
from ..records import (
    ConversationMessage,
    EventType,
    Fact,
    HistoryEvent,
    MemoryRecord,
    Scope,
    SourceRef,
    new_uuids,
    same_instant,
    utc_now,
)
from ..services import MemoryServices
from ..tiers.graph import EntityMention, GraphStore, RelationMention
from ..tiers.graph.base import with_relation_ids
from .audit import added_events, audited_write, history_event, indexed_scopes
from .ingest import NEIGHBOURS, is_verbatim, new_record
from .periodic import PeriodicTask

CONSOLIDATION_ACTOR = "consolidation"
REVERT_ACTOR = "consolidation-revert"
CONSOLIDATION_LOCK = "consolidation"
# Records per journaled write: bounds the journal entry of a large scope's consolidation.
WRITE_CHUNK = 500


class Merge(BaseModel):
    survivor_id: str
    merged_ids: list[str]


class Retirement(BaseModel):
    memory_id: str
    superseded_by: str


class Summary(BaseModel):
    fact_ids: list[str]
    turn_ids: list[str]


class ConsolidationReport(BaseModel):
    """What one consolidation of `scope` did, every change stamped `at`."""

    scope: Scope
    at: datetime
    merges: list[Merge] = []
    retirements: list[Retirement] = []
    summaries: list[Summary] = []

    @computed_field  # type: ignore[prop-decorator]
    @property
    def merged(self) -> int:
        """Memories merged into a survivor (survivors not counted)."""
        return sum(len(m.merged_ids) for m in self.merges)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def retired(self) -> int:
        """Facts retired as superseded by later ones."""
        return len(self.retirements)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summarised(self) -> int:
        """Verbatim turns summarised into facts."""
        return sum(len(s.turn_ids) for s in self.summaries)

    def describe(self) -> str:
        facts = sum(len(s.fact_ids) for s in self.summaries)
        return (
            f"merged {self.merged} memories into {len(self.merges)}, retired {self.retired} superseded "
            f"facts, summarised {self.summarised} turns into {facts} facts"
        )

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


class Reversal(BaseModel):
    """What `revert_consolidation` undid: the consolidation of `scope` at `consolidated_at`."""

    scope: Scope
    consolidated_at: datetime
    restored_ids: list[str]  # memories valid again, or with their own sources back
    removed_ids: list[str]  # facts the consolidation summarised, retired again

    def describe(self) -> str:
        return (
            f"reverted the consolidation of {self.consolidated_at:%Y-%m-%d %H:%M:%S}: "
            f"{len(self.restored_ids)} memories restored, {len(self.removed_ids)} summary facts retired"
        )

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


# -- planning: a pure function of the records -------------------------------------------------


@dataclass
class Plan:
    merges: dict[str, list[MemoryRecord]] = field(default_factory=dict)  # survivor id -> merged
    retirements: list[tuple[MemoryRecord, MemoryRecord]] = field(default_factory=list)  # (old, by)


def said_order(record: MemoryRecord) -> tuple[datetime, datetime, int, str, str]:
    """When the memory was said, then stored. Memories said at the same moment (facts of one
    message) come in an order that does not depend on their random ids: the one saying more
    first, so that a shorter one repeating it merges into it."""
    return (record.valid_from, record.created_at, -len(content_roots(record.text)), record.text, record.id)


def kind_of(record: MemoryRecord) -> tuple[str, ...]:
    """What a memory is: a fact, or a turn said by one speaker. Only memories of one kind are
    compared: a turn never merges into a fact, nor into another speaker's turn."""
    if not is_verbatim(record):
        return ("fact",)
    source = record.sources[0]
    return ("turn", source.role, source.name or "")


def plan_consolidation(
    records: list[MemoryRecord], vectors: np.ndarray, manager: OfflineMemoryManager
) -> Plan:
    """Which memories merge into which, and which facts are superseded by which. `vectors` are
    the records' unit vectors, row for row. Only memories of one exact scope and one kind
    (`kind_of`) are compared: a user's memory never absorbs, or retires, an agent's or a run's."""
    plan = Plan()
    groups: dict[tuple[Scope, tuple[str, ...]], list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        groups[record.scope, kind_of(record)].append(index)
    for (scope, kind), indices in groups.items():
        order = sorted(indices, key=lambda i: said_order(records[i]))
        _plan_group(plan, scope, kind == ("fact",), order, records, vectors, manager)
    return plan


def _plan_group(
    plan: Plan,
    scope: Scope,
    facts: bool,
    order: list[int],
    records: list[MemoryRecord],
    vectors: np.ndarray,
    manager: OfflineMemoryManager,
) -> None:
    """Replay one group in said order (positions in `order`); turns (`facts` False) only merge
    with their repeats. Each memory is compared with every earlier one still standing: one
    matrix-vector product over the earlier rows, so a group of n memories costs n²/2 dot
    products."""
    said = vectors[order]
    standing = np.zeros(len(order), dtype=bool)  # earlier memories not merged away or superseded
    by_hash: dict[str, int] = {}  # the standing memory of each text
    position = {records[i].id: p for p, i in enumerate(order)}

    def retire(old: MemoryRecord) -> None:
        standing[position[old.id]] = False
        if by_hash.get(old.hash) == position[old.id]:
            del by_hash[old.hash]

    for p, index in enumerate(order):
        record = records[index]
        twin = by_hash.get(record.hash)
        if twin is not None:
            _merge(plan, records[order[twin]], record)
            continue
        similarities = said[:p] @ said[p]
        earlier = np.flatnonzero(standing[:p])
        if len(earlier) > NEIGHBOURS:
            earlier = np.sort(earlier[np.argpartition(-similarities[earlier], NEIGHBOURS)[:NEIGHBOURS]])
        nearest = earlier[np.argsort(-similarities[earlier], kind="stable")]
        neighbours = [Neighbour(records[order[q]], float(similarities[q])) for q in nearest]
        fact = Fact(text=record.text, sources=record.sources, slot=slot_of(record.text))
        name = record.sources[0].name if record.sources else None
        decision = manager.decide(fact, neighbours, speaker_name(name, scope))
        target = decision.target
        if decision.event is EventType.NOOP and target is not None:
            _merge(plan, target, record)  # a repeat: the earlier memory stays
            continue
        if decision.event is EventType.UPDATE and target is not None and facts:
            _merge(plan, record, target)  # a refinement: the later fact says more
            retire(target)
        elif decision.event is EventType.ADD and facts:
            for old in decision.also_invalidate:
                plan.retirements.append((old, record))
                retire(old)
        standing[p] = True
        by_hash.setdefault(record.hash, p)


def _merge(plan: Plan, survivor: MemoryRecord, merged: MemoryRecord) -> None:
    """`merged` joins `survivor`, bringing along whatever was merged into it before."""
    plan.merges.setdefault(survivor.id, []).extend([merged, *plan.merges.pop(merged.id, [])])


# -- applying a plan --------------------------------------------------------------------------


def _folded(survivor: MemoryRecord, merged: list[MemoryRecord]) -> list[SourceRef]:
    """The sources of the merged memories that the survivor does not have yet, in order."""
    folded: list[SourceRef] = []
    for record in merged:
        folded += [s for s in record.sources if s not in survivor.sources and s not in folded]
    return folded


def _apply(services: MemoryServices, plan: Plan, by_id: dict[str, MemoryRecord], now: datetime) -> None:
    final: dict[str, MemoryRecord] = {}
    events: list[HistoryEvent] = []

    def current(record: MemoryRecord) -> MemoryRecord:
        return final.get(record.id, record)

    for survivor_id, merged in plan.merges.items():
        survivor = current(by_id[survivor_id])
        folded = _folded(survivor, merged)
        final[survivor_id] = survivor.model_copy(
            update={"sources": survivor.sources + folded, "updated_at": now}
        )
        events.append(
            history_event(
                EventType.UPDATE, survivor, CONSOLIDATION_ACTOR, survivor.text, survivor.text, now, folded
            )
        )
        for record in merged:
            final[record.id] = current(record).model_copy(update={"valid_to": now, "updated_at": now})
            events.append(_retired_event(record, survivor_id, now))
    for old, later in plan.retirements:
        final[old.id] = current(old).model_copy(update={"valid_to": later.valid_from, "updated_at": now})
        events.append(_retired_event(old, later.id, now, later.sources))
    _write(services, list(final.values()), events)
    if services.graph is not None:
        retired = [r.id for r in final.values() if r.valid_to is not None]
        services.graph.invalidate_memory_relations(retired, now)


def _retired_event(
    record: MemoryRecord, replaced_by: str, now: datetime, sources: list[SourceRef] | None = None
) -> HistoryEvent:
    event = history_event(EventType.INVALIDATE, record, CONSOLIDATION_ACTOR, record.text, None, now, sources)
    return event.model_copy(update={"replaced_by": replaced_by})


def _write(services: MemoryServices, records: list[MemoryRecord], events: list[HistoryEvent]) -> None:
    """Replace the records, with their events journaled, in chunks of `WRITE_CHUNK` records."""
    events_of: dict[str, list[HistoryEvent]] = defaultdict(list)
    for event in events:
        events_of[event.memory_id].append(event)
    for start in range(0, len(records), WRITE_CHUNK):
        chunk = records[start : start + WRITE_CHUNK]
        with audited_write(services, [e for r in chunk for e in events_of[r.id]]):
            for record in chunk:
                services.vector.replace(record)


# -- summarising old verbatim turns (managers that summarise) ---------------------------------


def _turn_message(record: MemoryRecord) -> ConversationMessage:
    source = record.sources[0]
    return ConversationMessage(
        role=source.role,
        content=record.text,
        name=source.name,
        message_id=source.message_id,
        turn_id=source.turn_id,
        timestamp=source.timestamp,
    )


def _common_metadata(records: list[MemoryRecord]) -> dict:
    """The metadata every record of the chunk has (a summary belongs to all of them alike)."""
    first = records[0].metadata
    return {k: v for k, v in first.items() if all(r.metadata.get(k, object()) == v for r in records)}


def _summarise(
    services: MemoryServices,
    summariser: TurnSummariser,
    records: list[MemoryRecord],
    now: datetime,
    report: ConsolidationReport,
) -> list[MemoryRecord]:
    """Summarise the old verbatim turns among `records` and retire them; returns the records
    standing afterwards (the new facts among them)."""
    settings = services.config.consolidation
    cutoff = now - timedelta(days=settings.summarise_after_days)
    turns: dict[Scope, list[MemoryRecord]] = defaultdict(list)
    for record in records:
        if record.valid_from <= cutoff and is_verbatim(record):
            turns[record.scope].append(record)
    summarised: set[str] = set()
    added: list[MemoryRecord] = []
    for scope, scope_turns in turns.items():
        scope_turns.sort(key=said_order)
        for start in range(0, len(scope_turns), settings.chunk_turns):
            chunk = scope_turns[start : start + settings.chunk_turns]
            facts = summariser.summarise_turns([_turn_message(r) for r in chunk], scope)
            added += _store_summary(services, scope, chunk, facts, now, report)
            summarised.update(r.id for r in chunk)
    return [r for r in records if r.id not in summarised] + added


def _store_summary(
    services: MemoryServices,
    scope: Scope,
    turns: list[MemoryRecord],
    facts: list[Fact],
    now: datetime,
    report: ConsolidationReport,
) -> list[MemoryRecord]:
    metadata = _common_metadata(turns)
    ids = new_uuids(len(facts))
    new = [new_record(i, f.text, scope, metadata, f.sources, now) for i, f in zip(ids, facts, strict=True)]
    if new:
        vectors = services.embedder.embed([r.text for r in new], scope)
        with audited_write(services, added_events(new, CONSOLIDATION_ACTOR, now)):
            services.vector.insert(new, vectors)
        if services.graph is not None:
            services.graph.add_relations(
                scope, services.manager.extract_relations(list(zip(facts, ids, strict=True)), scope)
            )
    citing: dict[str, str] = {}  # message id -> the first summary fact citing it
    for record in reversed(new):
        citing.update((s.message_id, record.id) for s in record.sources)
    closed, events = [], []
    for turn in turns:
        replaced_by = citing.get(turn.sources[0].message_id)
        closed.append(turn.model_copy(update={"valid_to": now, "updated_at": now}))
        event = history_event(EventType.INVALIDATE, turn, CONSOLIDATION_ACTOR, turn.text, None, now)
        events.append(event.model_copy(update={"replaced_by": replaced_by}))
    _write(services, closed, events)
    if services.graph is not None:
        services.graph.invalidate_memory_relations([t.id for t in turns], now)
    report.summaries.append(Summary(fact_ids=ids, turn_ids=[t.id for t in turns]))
    return new


# -- the operations ---------------------------------------------------------------------------


def _scope_memories(services: MemoryServices, scope: Scope, include_invalidated: bool) -> list[MemoryRecord]:
    count = services.vector.count(scope)
    if not count:
        return []
    return services.vector.list(scope, limit=count, include_invalidated=include_invalidated)


def consolidate(services: MemoryServices, scope: Scope) -> ConsolidationReport:
    """Consolidate the memories within the scope (sub-scopes included, each on its own)."""
    scope.required_filter()
    with services.kv.lock(CONSOLIDATION_LOCK, services.config.consolidation.wait_seconds):
        now = utc_now()
        report = ConsolidationReport(scope=scope, at=now)
        records = [r for r in _scope_memories(services, scope, False) if r.is_valid]
        if isinstance(services.manager, TurnSummariser):
            records = _summarise(services, services.manager, records, now, report)
        if not records:
            return report
        vectors = _vectors(services, records)
        plan = plan_consolidation(records, vectors, OfflineMemoryManager(services.config.manager))
        _apply(services, plan, {r.id: r for r in records}, now)
        report.merges = [Merge(survivor_id=s, merged_ids=[r.id for r in m]) for s, m in plan.merges.items()]
        report.retirements = [
            Retirement(memory_id=old.id, superseded_by=later.id) for old, later in plan.retirements
        ]
        return report


def _vectors(services: MemoryServices, records: list[MemoryRecord]) -> np.ndarray:
    """Unit vectors of the records' texts, embedded for each record's own scope (cached there)."""
    vectors = np.zeros((len(records), 0), dtype=np.float32)
    by_scope: dict[Scope, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        by_scope[record.scope].append(index)
    for scope, indices in by_scope.items():
        embedded = services.embedder.embed([records[i].text for i in indices], scope)
        if vectors.shape[1] == 0:
            vectors = np.zeros((len(records), embedded.shape[1]), dtype=np.float32)
        vectors[indices] = embedded
    return vectors


def _consolidation_events(
    services: MemoryServices, records: dict[str, MemoryRecord]
) -> tuple[datetime, dict[str, list[HistoryEvent]]]:
    """The time of the latest consolidation of these memories and, by memory, its events;
    InvalidInputError when there is none, or it was reverted already."""
    histories = services.kv.get_many(HISTORY, list(records))
    events = [HistoryEvent.model_validate(e) for stored in histories.values() for e in stored]
    consolidated = [e.at for e in events if e.actor == CONSOLIDATION_ACTOR]
    reverted = [e.at for e in events if e.actor == REVERT_ACTOR]
    if not consolidated or (reverted and max(reverted) >= max(consolidated)):
        raise InvalidInputError("this scope has no consolidation left to revert")
    latest = max(consolidated)
    latest_events: dict[str, list[HistoryEvent]] = defaultdict(list)
    for event in events:
        if (
            event.actor == CONSOLIDATION_ACTOR
            and same_instant(event.at, latest)
            and event.memory_id in records
        ):
            latest_events[event.memory_id].append(event)
    return latest, latest_events


def _as_before(record: MemoryRecord, events: list[HistoryEvent], now: datetime) -> MemoryRecord:
    """The memory without what the consolidation's events did to it."""
    folded = [s for e in events if e.event is EventType.UPDATE for s in e.sources]
    retired = any(e.event is EventType.INVALIDATE for e in events)
    return record.model_copy(
        update={
            "sources": [s for s in record.sources if s not in folded],
            "valid_to": None if retired else record.valid_to,
            "updated_at": now,
        }
    )


def revert_consolidation(services: MemoryServices, scope: Scope) -> Reversal:
    """Undo the latest consolidation of the scope from the history of its memories: retired
    memories are valid again (with their graph relations), survivors lose the sources folded into
    them, and the facts it summarised are retired; each change an event by the actor
    `consolidation-revert`. No manager is asked anything.
    InvalidInputError when the scope has no consolidation left to undo."""
    scope.required_filter()
    with services.kv.lock(CONSOLIDATION_LOCK, services.config.consolidation.wait_seconds):
        records = {r.id: r for r in _scope_memories(services, scope, True)}
        latest, events = _consolidation_events(services, records)
        now = utc_now()
        summaries = [records[i] for i, es in events.items() if any(e.event is EventType.ADD for e in es)]
        removed = {r.id for r in summaries}
        restored = [
            _as_before(records[i], es, now) for i, es in events.items() if records[i].id not in removed
        ]
        _write(
            services,
            restored,
            [history_event(EventType.UPDATE, r, REVERT_ACTOR, r.text, r.text, now) for r in restored],
        )
        if summaries:
            deletions = [
                history_event(EventType.DELETE, r, REVERT_ACTOR, r.text, None, now) for r in summaries
            ]
            with audited_write(services, deletions):
                services.vector.delete([r.id for r in summaries])
        if services.graph is not None:
            services.graph.delete_memory_relations([r.id for r in summaries])
            revalidated = [r for r in restored if records[r.id].valid_to is not None]
            _reopen_relations(services.graph, revalidated, latest)
        return Reversal(
            scope=scope,
            consolidated_at=latest,
            restored_ids=[r.id for r in restored],
            removed_ids=[r.id for r in summaries],
        )


def _reopen_relations(graph: GraphStore, revalidated: list[MemoryRecord], closed_at: datetime) -> None:
    """Open again the graph relations of these memories that the consolidation closed: read as
    they stood just before it (`neighbourhood` as of then), and written anew, with no manager call."""
    by_scope: dict[Scope, set[str]] = defaultdict(set)
    for record in revalidated:
        by_scope[record.scope].add(record.id)
    just_before = closed_at - timedelta(milliseconds=1)
    for scope, memory_ids in by_scope.items():
        entities = {e.id: e for e in graph.entities(scope)}
        if not entities:
            continue
        names = [e.name for e in entities.values()]
        relations = graph.neighbourhood(scope, names, hops=1, as_of=just_before).relations
        mentions = [
            RelationMention(
                source=EntityMention(entities[r.source_id].name, entities[r.source_id].type),
                relation=r.relation,
                target=EntityMention(entities[r.target_id].name, entities[r.target_id].type),
                memory_id=r.memory_id,
                valid_from=r.valid_from,
            )
            for r in relations
            if r.memory_id in memory_ids
            and r.valid_to is not None
            and same_instant(r.valid_to, closed_at)
            and {r.source_id, r.target_id} <= entities.keys()
        ]
        graph.add_relations(scope, with_relation_ids(mentions, utc_now()))


# -- every scope of a store, and the background consolidator ----------------------------------


def stored_scopes(services: MemoryServices) -> list[Scope]:
    """Every exact scope the scope index files memories under (scopes emptied by a delete
    without purge included: consolidating them finds nothing)."""
    scopes: set[Scope] = set()
    for field_name in ("user_id", "agent_id", "run_id"):
        prefix = f"{field_name}="
        keys = services.kv.keys(SCOPE_INDEX, prefix)
        for key, value in services.kv.get_many(SCOPE_INDEX, keys).items():
            scopes.update(indexed_scopes({key: value}, key.rsplit("/", 1)[0] + "/").values())
    return sorted((s for s in scopes if s.as_filter()), key=lambda s: s.key())


def consolidate_store(services: MemoryServices) -> list[ConsolidationReport]:
    """Consolidate every exact scope of the store, one after another."""
    return [consolidate(services, Scope(**s.as_filter())) for s in stored_scopes(services)]


def background_consolidator(services: MemoryServices, interval: float) -> PeriodicTask:
    """`consolidate_store` every `interval` seconds in a daemon thread once started, until stopped."""

    def work() -> str | None:
        reports = consolidate_store(services)
        merged, retired = sum(r.merged for r in reports), sum(r.retired for r in reports)
        summarised = sum(r.summarised for r in reports)
        if merged or retired or summarised:
            return f"merged {merged}, retired {retired}, summarised {summarised} memories"
        return None

    return PeriodicTask("consolidation", interval, work)


__all__ = [
    "CONSOLIDATION_ACTOR",
    "REVERT_ACTOR",
    "ConsolidationReport",
    "Merge",
    "Retirement",
    "Reversal",
    "Summary",
    "background_consolidator",
    "consolidate",
    "consolidate_store",
    "plan_consolidation",
    "revert_consolidation",
    "stored_scopes",
]
