"""LLMMemoryManager: any LangChain chat model extracts facts, reconciles them with existing
memories and extracts graph relations. Every answer is validated (schema, known ids, known
message ids, dates); invalid answers are retried with the error fed back, then fail loudly."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

from langchain_core.language_models import BaseChatModel

from ...identity import model_identity
from ...records import ConversationMessage, EventType, Fact, MemoryRecord, Scope
from ...tiers.graph import EntityMention, RelationMention
from ...tiers.keyvalue import KeyValueStore
from ..base import SPEAKER_ROLES, Decision, Neighbour, speaker_name
from .prompts import Prompts
from .schemas import DecisionList, FactList, GraphExtraction
from .structured import InvalidAnswer, StructuredCaller, StructuredOutputMode


def _conversation_text(messages: list[ConversationMessage], scope: Scope) -> str:
    """One line per message; a user message without a name is labelled with the scope's user."""

    def label(m: ConversationMessage) -> str:
        return speaker_name(m.name, scope) if m.role in SPEAKER_ROLES else (m.name or m.role)

    return "\n".join(f"[id={m.message_id}] [{m.timestamp:%Y-%m-%d %H:%M}] {label(m)}: {m.content}" for m in messages)


class LLMMemoryManager:
    def __init__(
        self,
        model: BaseChatModel,
        *,
        prompts: Prompts | None = None,
        cache: KeyValueStore | None = None,
        retries: int = 2,
        parallel_calls: int = 4,
        structured_output: StructuredOutputMode = "auto",
    ):
        self.model = model
        self.parallel_calls = parallel_calls
        self.prompts = prompts or Prompts()
        self._call = StructuredCaller(model, retries=retries, cache=cache, mode=structured_output)
        self.name = f"llm:{model_identity(model)}"

    # -- extraction ----------------------------------------------------------------------------

    def extract_facts(self, messages: list[ConversationMessage], scope: Scope) -> list[Fact]:
        by_id = {m.message_id: m for m in messages}
        procedural = scope.agent_id is not None and scope.user_id is None

        def validate(answer: FactList) -> None:
            for index, fact in enumerate(answer.facts):
                if not fact.text.strip():
                    raise InvalidAnswer(f"fact {index} is empty")
                unknown = [i for i in fact.source_message_ids if i not in by_id]
                if unknown:
                    raise InvalidAnswer(f"fact {index} cites unknown message ids {unknown}; use the [id=...] values")
                if fact.date is not None:
                    try:
                        date.fromisoformat(fact.date)
                    except ValueError:
                        raise InvalidAnswer(f"fact {index} has date {fact.date!r}, not YYYY-MM-DD") from None

        answer = self._call(scope, self.prompts.extraction(procedural), _conversation_text(messages, scope), FactList, validate)
        facts = []
        for extracted in answer.facts:
            # A fact citing no message came from this call all the same: it keeps the whole call as provenance.
            cited = extracted.source_message_ids or list(by_id)
            sources = [by_id[i].source() for i in dict.fromkeys(cited)]
            facts.append(Fact(text=extracted.text.strip(), sources=sources, event_date=extracted.date))
        return facts

    # -- reconciliation ------------------------------------------------------------------------

    def reconcile(self, facts: list[Fact], neighbours: list[list[Neighbour]], scope: Scope) -> list[Decision]:
        """One call decides every fact; existing memories are shown by small integer ids, never UUIDs."""
        existing: list[MemoryRecord] = []
        for candidates in neighbours:
            for neighbour in candidates:
                if all(neighbour.memory.id != m.id for m in existing):
                    existing.append(neighbour.memory)
        if not existing:
            return [Decision(EventType.ADD) for _ in facts]
        listing = "\n".join(f"{i}: {m.text} (since {m.valid_from:%Y-%m-%d})" for i, m in enumerate(existing))
        new = "\n".join(f"{i}: {f.text} (said {f.sources[0].timestamp:%Y-%m-%d})" for i, f in enumerate(facts))
        user = f"Existing memories:\n{listing}\n\nNew facts:\n{new}"

        def validate(answer: DecisionList) -> None:
            indices = sorted(d.fact_index for d in answer.decisions)
            if indices != list(range(len(facts))):
                raise InvalidAnswer(f"give exactly one decision per fact index 0..{len(facts) - 1}, got {indices}")
            for decision in answer.decisions:
                if decision.action == "ADD":
                    continue
                if decision.memory_id is None or not 0 <= decision.memory_id < len(existing):
                    raise InvalidAnswer(
                        f"fact {decision.fact_index}: {decision.action} needs one of the listed memory ids "
                        f"0..{len(existing) - 1}, got {decision.memory_id}"
                    )
                if decision.action == "UPDATE" and not (decision.text or "").strip():
                    raise InvalidAnswer(f"fact {decision.fact_index}: UPDATE needs the merged text")

        answer = self._call(scope, self.prompts.reconciliation(), user, DecisionList, validate)
        decisions: list[Decision] = [Decision(EventType.ADD)] * len(facts)
        for item in answer.decisions:
            target = existing[item.memory_id] if item.memory_id is not None and item.action != "ADD" else None
            if item.action == "INVALIDATE":
                decisions[item.fact_index] = Decision(EventType.ADD, also_invalidate=[target])
            elif item.action == "ADD":
                decisions[item.fact_index] = Decision(EventType.ADD)
            else:
                decisions[item.fact_index] = Decision(EventType(item.action), target=target, text=item.text)
        return decisions

    # -- graph ---------------------------------------------------------------------------------

    def _relations_of(self, fact: Fact, memory_id: str, scope: Scope) -> list[RelationMention]:
        def validate(answer: GraphExtraction) -> None:
            for relation in answer.relations:
                if not (relation.source.strip() and relation.target.strip() and relation.relation.strip()):
                    raise InvalidAnswer("every relation needs a source, a relation and a target")

        answer = self._call(scope, self.prompts.graph, f"Fact: {fact.text}", GraphExtraction, validate)
        types = {e.name.strip().lower(): e.type for e in answer.entities}
        return [
            RelationMention(
                source=EntityMention(r.source.strip(), types.get(r.source.strip().lower(), "entity")),
                relation=r.relation,
                target=EntityMention(r.target.strip(), types.get(r.target.strip().lower(), "entity")),
                memory_id=memory_id,
                valid_from=fact.sources[0].timestamp,
            )
            for r in answer.relations
        ]

    def extract_relations(self, facts: list[tuple[Fact, str]], scope: Scope) -> list[RelationMention]:
        """One call per fact, run in parallel: they are independent."""
        if not facts:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(self.parallel_calls, len(facts)))) as pool:
            batches = list(pool.map(lambda item: self._relations_of(*item, scope), facts))
        return [relation for batch in batches for relation in batch]
