"""LLMMemoryManager: any LangChain chat model extracts facts with their graph relations in one
call and reconciles them with existing memories in a second, so an `add` costs at most two calls
whatever the number of facts. Every answer is validated (schema, known ids, known message ids,
dates, the forget action); invalid answers are retried with the error fed back, then fail loudly."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

from langchain_core.language_models import BaseChatModel

from ...identity import model_identity
from ...records import ConversationMessage, EventType, Fact, FactRelation, MemoryRecord, Scope
from ...tiers.graph import EntityMention, RelationMention
from ...tiers.keyvalue import KeyValueStore
from ..base import Decision, Neighbour, described_text, message_speaker
from .prompts import Prompts
from .schemas import (
    DecisionList,
    FactDecision,
    FactList,
    GraphExtraction,
    decision_list_for,
    fact_list_citing,
)
from .structured import InvalidAnswerError, StructuredCaller, StructuredOutputMode

# how many existing memories each action but ADD acts on: (fewest, most; None: any number)
_TARGETS = {"UPDATE": (1, 1), "NOOP": (1, 1), "INVALIDATE": (1, None), "DELETE": (0, None)}


def _conversation_text(messages: list[ConversationMessage], scope: Scope, vision: bool) -> str:
    """One line per message; a user message without a name is labelled with the scope's user. A
    vision model is told which attached image each shared photo is; a text-only one reads what was
    shared in words (managers/base.py: described_text)."""
    lines, shown = [], 0
    for m in messages:
        said = described_text(m, scope) if not vision else m.content
        if vision and m.attachments:
            labels = []
            for attachment in m.attachments:
                shown += attachment.kind == "image"
                seen = f", image {shown} attached" if attachment.kind == "image" else ""
                labels.append(f"{attachment.label()}{seen}")
            said = f"{said} [shared: {'; '.join(labels)}]".strip()
        lines.append(
            f"[id={m.message_id}] [{m.timestamp:%Y-%m-%d %H:%M}] {message_speaker(m, scope)}: {said}"
        )
    return "\n".join(lines)


def image_blocks(messages: list[ConversationMessage]) -> list[dict[str, Any]]:
    """The images of the messages as LangChain v1 standard image blocks, which every chat model
    integration translates into its provider's format (OpenAI, Anthropic, OpenAI-compatible servers)."""
    blocks: list[dict[str, Any]] = []
    for message in messages:
        for part in message.media:
            if part.kind != "image":
                continue
            if part.data is not None:
                encoded = base64.b64encode(part.data).decode("ascii")
                blocks.append(
                    {"type": "image", "base64": encoded, "mime_type": part.mime_type or "image/png"}
                )
            elif part.url is not None:
                blocks.append({"type": "image", "url": part.url})
            else:
                blocks.append({"type": "image", "file_id": part.file_id})
    return blocks


def _check_relations(relations: list[FactRelation], where: str) -> None:
    for relation in relations:
        if not (relation.source.strip() and relation.relation.strip() and relation.target.strip()):
            raise InvalidAnswerError(f"{where}: every relation needs a source, a relation and a target")


def _check_decision(decision: FactDecision, fact: Fact, existing: int) -> None:
    """DELETE answers requests to forget, and they get nothing else; each action acts on as many of
    the listed memories as it needs (the schema admits only listed ids)."""
    where = f"fact {decision.fact_index}"
    if fact.forget and decision.action != "DELETE":
        raise InvalidAnswerError(f"{where} is a FORGET request: answer DELETE with the ids of what it names")
    if decision.action == "DELETE" and not fact.forget:
        raise InvalidAnswerError(
            f"{where}: DELETE answers FORGET requests only; a contradiction is INVALIDATE"
        )
    if decision.action == "ADD":
        return  # ids given with an ADD act on nothing
    fewest, most = _TARGETS[decision.action]
    if not fewest <= len(set(decision.memory_ids)) <= (most or existing):
        wanted = f"exactly {fewest}" if fewest == most else f"at least {fewest}"
        raise InvalidAnswerError(
            f"{where}: {decision.action} needs {wanted} of the listed memory ids, got {decision.memory_ids}"
        )
    if decision.action == "UPDATE" and not (decision.text or "").strip():
        raise InvalidAnswerError(f"{where}: UPDATE needs the merged text")


def _decision(item: FactDecision, existing: list[MemoryRecord]) -> Decision:
    if item.action == "ADD":
        return Decision(EventType.ADD)
    targets = [existing[i] for i in dict.fromkeys(item.memory_ids)]
    if item.action == "INVALIDATE":
        return Decision(EventType.ADD, also_invalidate=targets)
    if item.action == "DELETE":
        return Decision(EventType.DELETE, target=targets[0] if targets else None, also_delete=targets[1:])
    return Decision(EventType(item.action), target=targets[0], text=item.text)


def _fact_line(index: int, fact: Fact) -> str:
    marker = "FORGET " if fact.forget else ""
    return f"{index}: {marker}{fact.text} (said {fact.sources[0].timestamp:%Y-%m-%d})"


def _mentions(fact: Fact, relations: list[FactRelation], memory_id: str) -> list[RelationMention]:
    return [
        RelationMention(
            source=EntityMention(r.source.strip(), r.source_type.strip() or "entity"),
            relation=r.relation.strip(),
            target=EntityMention(r.target.strip(), r.target_type.strip() or "entity"),
            memory_id=memory_id,
            valid_from=fact.sources[0].timestamp,
        )
        for r in relations
    ]


class LLMMemoryManager:
    """At most two calls per `add`: extraction (facts, forget requests and relations), then one
    reconciliation of every fact that has existing memories to be compared with."""

    reads_data = True  # structured data reaches the extraction call as JSON text

    def __init__(
        self,
        model: BaseChatModel,
        *,
        prompts: Prompts | None = None,
        cache: KeyValueStore | None = None,
        retries: int = 2,
        structured_output: StructuredOutputMode = "auto",
        vision: bool = True,
    ):
        self.model = model
        self.vision = vision  # False: a text-only model, told in words what images were shared
        self.prompts = prompts or Prompts()
        self._call = StructuredCaller(model, retries=retries, cache=cache, mode=structured_output)
        self.name = f"llm:{model_identity(model)}"

    # -- extraction ----------------------------------------------------------------------------

    def extract_facts(self, messages: list[ConversationMessage], scope: Scope) -> list[Fact]:
        procedural = scope.agent_id is not None and scope.user_id is None
        return self._facts(messages, scope, self.prompts.extraction(procedural))

    def summarise_turns(self, turns: list[ConversationMessage], scope: Scope) -> list[Fact]:
        """One call: the lasting facts of old verbatim turns, for a consolidation
        (pipeline/consolidate.py). A fact the model marks as a request to forget is left out:
        archived turns are summarised, never acted on."""
        return [fact for fact in self._facts(turns, scope, self.prompts.summarise) if not fact.forget]

    def _facts(self, messages: list[ConversationMessage], scope: Scope, system: str) -> list[Fact]:
        by_id = {m.message_id: m for m in messages}

        def validate(answer: FactList) -> None:
            for index, fact in enumerate(answer.facts):
                if not fact.text.strip():
                    raise InvalidAnswerError(f"fact {index} is empty")
                if fact.date is not None:
                    try:
                        date.fromisoformat(fact.date)
                    except ValueError:
                        problem = f"fact {index} has date {fact.date!r}, no calendar date"
                        raise InvalidAnswerError(problem) from None
                _check_relations(fact.relations, f"fact {index}")

        schema = fact_list_citing(list(by_id))
        conversation = _conversation_text(messages, scope, self.vision)
        images = image_blocks(messages) if self.vision else []
        answer = self._call(scope, system, conversation, schema, validate, images)
        facts = []
        for extracted in answer.facts:
            # A fact citing no message came from this call all the same: the whole call is its provenance.
            cited = extracted.source_message_ids or list(by_id)
            facts.append(
                Fact(
                    text=extracted.text.strip(),
                    sources=[by_id[i].source() for i in dict.fromkeys(cited)],
                    event_date=extracted.date,
                    forget=extracted.forget,
                    relations=[] if extracted.forget else extracted.relations,
                )
            )
        return facts

    # -- reconciliation ------------------------------------------------------------------------

    def reconcile(self, facts: list[Fact], neighbours: list[list[Neighbour]], scope: Scope) -> list[Decision]:
        """One call decides every fact; existing memories are shown by small integer ids, never UUIDs.
        With no existing memory there is nothing to decide: facts are added, requests to forget
        retire nothing, and no call is made."""
        existing: list[MemoryRecord] = []
        for candidates in neighbours:
            for neighbour in candidates:
                if all(neighbour.memory.id != m.id for m in existing):
                    existing.append(neighbour.memory)
        if not existing:
            return [Decision(EventType.DELETE if f.forget else EventType.ADD) for f in facts]
        listing = "\n".join(f"{i}: {m.text} (since {m.valid_from:%Y-%m-%d})" for i, m in enumerate(existing))
        new = "\n".join(_fact_line(i, f) for i, f in enumerate(facts))
        user = f"Existing memories:\n{listing}\n\nNew facts:\n{new}"

        def validate(answer: DecisionList) -> None:
            indices = sorted(d.fact_index for d in answer.decisions)
            if indices != list(range(len(facts))):
                raise InvalidAnswerError(
                    f"give exactly one decision per fact index 0..{len(facts) - 1}, got {indices}"
                )
            for decision in answer.decisions:
                _check_decision(decision, facts[decision.fact_index], len(existing))

        schema = decision_list_for(len(facts), len(existing))
        answer = self._call(scope, self.prompts.reconciliation(), user, schema, validate)
        decisions: list[Decision] = [Decision(EventType.ADD)] * len(facts)
        for item in answer.decisions:
            decisions[item.fact_index] = _decision(item, existing)
        return decisions

    # -- graph ---------------------------------------------------------------------------------

    def extract_relations(self, facts: list[tuple[Fact, str]], scope: Scope) -> list[RelationMention]:
        """The relations extracted with each fact, at no call; a fact extracted without them (the
        text given to `Memory.update`) costs one call."""
        mentions: list[RelationMention] = []
        for fact, memory_id in facts:
            relations = fact.relations if fact.relations is not None else self._relations_of(fact, scope)
            mentions += _mentions(fact, relations, memory_id)
        return mentions

    def _relations_of(self, fact: Fact, scope: Scope) -> list[FactRelation]:
        def validate(answer: GraphExtraction) -> None:
            _check_relations(answer.relations, "the answer")

        answer = self._call(scope, self.prompts.graph, f"Fact: {fact.text}", GraphExtraction, validate)
        return answer.relations
