"""Deterministic memory manager used when no LLM is configured.

It is the documented fallback, not an LLM substitute: it keeps what users say about themselves
(speech.py: statements, requests to forget), rewrites it in the third person ("I love sushi" ->
"Alice loves sushi", grammar.py), anchors relative dates to the message time, and reconciles
each fact with the memories nearest to it by simple, explainable rules (claims.py reads both):

* a request to forget                                      -> DELETE the memories it describes
* a retraction / correction of a memory, or a new value
  of the same single-valued slot ("lives in", "works at")  -> INVALIDATE the old memory, ADD the new
* a repeat (cosine >= duplicate_threshold, same words
  or the same verb and object)                             -> NOOP (provenance merged)
* a refinement that keeps every content word of the old   -> UPDATE in place
* anything else                                            -> ADD

Duplicates and refinements are only looked for among memories with the same subject and
polarity: "Alice's sister lives in Madrid." never updates "Alice lives in Madrid.", nor does
"Alice does not eat meat." repeat "Alice eats meat.".
A fact from a turn that shared an image, file or audio clip a memory does not carry is never
that memory's paraphrase or refinement ("Alice shared a photo (beach.jpg): ..." does not rewrite
the memory of another photo); the very same words are a repeat, whose provenance, and so its
attachments, the memory gains.
"""

from __future__ import annotations

from ...config import ManagerConfig
from ...records import ConversationMessage, EventType, Fact, MemoryRecord, Scope, sources_attachments
from ...tiers.graph import EntityMention, RelationMention
from ..base import SPEAKER_ROLES, Decision, Neighbour, described_text, speaker_name
from .claims import Claim, claim_of, content_roots, contradicts, same_object, same_verb, supersedes
from .grammar import WORD, resolve_first_person
from .speech import statements
from .temporal import anchor_relative_dates

_CALENDAR_WORDS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june "
    "july august september october november december i".split()
)
# Names of attributes a request to forget may use for a slot: "forget my job" retires "Alice works at Acme.".
_ATTRIBUTE_SLOTS = {
    "job": ("works at", "works as", "job"),
    "work": ("works at", "works as", "job"),
    "employer": ("works at",),
    "address": ("lives in", "address"),
    "home": ("lives in", "address"),
    "age": ("age",),
    "diet": ("diet",),
    "relationship": ("relationship status",),
    "phone": ("phone number",),
    "number": ("phone number",),
    "email": ("email",),
    "name": ("name",),
    "birthday": ("birthday",),
}
_ATTRIBUTE_WORDS = frozenset(
    content_roots(" ".join(_ATTRIBUTE_SLOTS) + " name favourite favorite colour color")
)
# Descriptive words of a request to forget that memories need not contain ("my old address").
_DESCRIPTORS = frozenset(
    content_roots("old previous former current latest new stuff thing things said mentioned")
)


def fact_text(statement: str, speaker: str, message: ConversationMessage) -> str:
    """A statement as a stored fact: third person, absolute dates, capitalised, with a full stop."""
    text = anchor_relative_dates(resolve_first_person(statement, speaker), message.timestamp)
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!" else text + "."


def slot_of(text: str) -> str | None:
    """Key of a single-valued attribute the text states, e.g. 'alice|lives in'."""
    claim = claim_of(text)
    return claim.slot if claim else None


def named_entities(text: str, speaker: str) -> list[str]:
    """Runs of capitalised words that are not sentence-initial common words (the speaker always counts)."""
    entities: list[str] = []
    words = text.split()
    run: list[str] = []
    for index, raw in enumerate([*words, ""]):
        word = raw.strip('.,;:!?"()')
        possessive = word.endswith("'s")
        word = word[:-2] if possessive else word
        capitalised = bool(word) and word[0].isupper() and word.lower() not in _CALENDAR_WORDS
        if capitalised and (index > 0 or word == speaker or run):
            run.append(word)
        if run and (not capitalised or possessive or raw != raw.rstrip('.,;:!?"()')):
            entities.append(" ".join(run))
            run = []
    return list(dict.fromkeys(entities))


class OfflineMemoryManager:
    name = "offline-manager"

    def __init__(self, config: ManagerConfig | None = None):
        self.config = config or ManagerConfig()

    def extract_facts(self, messages: list[ConversationMessage], scope: Scope) -> list[Fact]:
        facts: list[Fact] = []
        seen: set[tuple[str, bool]] = set()
        for message in messages:
            if message.role not in SPEAKER_ROLES:
                continue
            speaker = speaker_name(message.name, scope)
            said = statements(message.content, self.config.min_words)
            if message.attachments:
                # what was shared is a memory of its own, with what the speaker stated about it
                # (a question or small talk beside a photo is no part of it)
                told = " ".join(fact_text(s.text, speaker, message) for s in said if not s.forget)
                text = fact_text(
                    described_text(message.model_copy(update={"content": told}), scope), speaker, message
                )
                seen.add((text.lower(), False))
                facts.append(Fact(text=text, sources=[message.source()]))
            for statement in said:
                text = fact_text(statement.text, speaker, message)
                if (text.lower(), statement.forget) in seen or text.rstrip(".!") == f"{speaker} is {speaker}":
                    continue  # said twice, or an introduction ("I'm Alice.") that says nothing new
                seen.add((text.lower(), statement.forget))
                slot = None if statement.forget else slot_of(text)
                facts.append(Fact(text=text, sources=[message.source()], slot=slot, forget=statement.forget))
        return facts

    def reconcile(self, facts: list[Fact], neighbours: list[list[Neighbour]], scope: Scope) -> list[Decision]:
        return [
            self.decide(fact, candidates, speaker_name(fact.sources[0].name, scope))
            for fact, candidates in zip(facts, neighbours, strict=True)
        ]

    def decide(self, fact: Fact, neighbours: list[Neighbour], speaker: str) -> Decision:
        near = [n for n in neighbours if n.similarity >= self.config.slot_update_threshold]
        if fact.forget:
            doomed = forgotten(fact.text, [n.memory for n in neighbours], speaker)
            if not doomed:
                return Decision(EventType.DELETE)
            return Decision(EventType.DELETE, target=doomed[0], also_delete=doomed[1:])
        claim = claim_of(fact.text)
        replaced = [n.memory for n in near if replaces(fact, claim, n.memory)]
        if replaced:
            return Decision(EventType.ADD, also_invalidate=replaced)
        # a fact sharing a photo the memory does not carry is another moment, never its paraphrase
        shared = set(sources_attachments(fact.sources))
        alike = [
            n
            for n in near
            if compatible(claim, claim_of(n.memory.text)) and shared <= set(n.memory.attachments)
        ]
        new_words = content_roots(fact.text)
        for neighbour in alike:
            old_words = content_roots(neighbour.memory.text)
            if new_words <= old_words and neighbour.similarity >= self.config.duplicate_threshold:
                return Decision(EventType.NOOP, target=neighbour.memory)
            if old_words < new_words and old_words - content_roots(claim.subject if claim else ""):
                # a refinement says more of the same: "Alice loves surfing in Peniche."
                return Decision(EventType.UPDATE, target=neighbour.memory)
        top = alike[0] if alike and alike[0] is neighbours[0] else None
        repeated = top is not None and top.similarity >= self.config.duplicate_threshold
        if top is not None and repeated and agree(claim, claim_of(top.memory.text)):
            return Decision(EventType.NOOP, target=top.memory)  # a paraphrase: "adores jazz" ~ "loves jazz"
        return Decision(EventType.ADD)

    def extract_relations(self, facts: list[tuple[Fact, str]], scope: Scope) -> list[RelationMention]:
        return [
            relation for fact, memory_id in facts for relation in self._relations_of(fact, memory_id, scope)
        ]

    def _relations_of(self, fact: Fact, memory_id: str, scope: Scope) -> list[RelationMention]:
        speaker = speaker_name(fact.sources[0].name, scope)
        entities = named_entities(fact.text, speaker)
        if len(entities) < 2 or not fact.text.startswith(entities[0]):
            return []
        subject = entities[0]
        relations = []
        for target in entities[1:]:
            gap = fact.text[len(subject) : fact.text.find(target, len(subject))]
            words = [w for w in WORD.findall(gap) if w.lower() not in ("a", "an", "the", "'s", "s")]
            label = " ".join(words) if 0 < len(words) <= 4 else "mentions"
            relations.append(
                RelationMention(
                    source=EntityMention(subject, "person" if subject == speaker else "entity"),
                    relation=label,
                    target=EntityMention(target),
                    memory_id=memory_id,
                    valid_from=fact.sources[0].timestamp,
                )
            )
        return relations


def replaces(fact: Fact, claim: Claim | None, memory: MemoryRecord) -> bool:
    """Whether the fact makes the memory no longer true: a retraction of it, a correction naming
    its value ("..., not Porto"), or a new value of its slot."""
    old = claim_of(memory.text)
    if claim is None or old is None:
        return False
    if fact.slot is not None and old.slot == fact.slot:
        # a new value of the slot; the same value said in more detail refines it, and changes nothing
        return claim.negated != old.negated or not old.objects <= claim.objects - claim.superseded
    return contradicts(claim, old) or supersedes(claim, old)


def agree(new: Claim | None, old: Claim | None) -> bool:
    """Whether two similar facts say the same: same verb (or attitude) about the same object, or
    unreadable. "Alice grew up in Lyon." is no repeat of "Alice lives in Lyon."."""
    if new is None or old is None:
        return True
    return same_verb(new.verb, old.verb) and same_object(new.objects, old.objects)


def compatible(new: Claim | None, old: Claim | None) -> bool:
    """Whether two facts may repeat or refine each other: same subject and polarity (or unreadable)."""
    return new is None or old is None or (new.subject == old.subject and new.negated == old.negated)


def forgotten(description: str, memories: list[MemoryRecord], speaker: str) -> list[MemoryRecord]:
    """The memories a request to forget describes: a statement ("Alice loves jazz"), a topic every
    content word of which they hold ("Alice's sister", "the sushi thing"), or an attribute of a
    slot ("Alice's job"). The speaker's name alone is no topic."""
    wanted = claim_of(description)
    words = content_roots(description) - _DESCRIPTORS
    topic = words - content_roots(speaker)
    owner, _, attribute = description.rstrip(".").rpartition("'s ")
    slots = (
        {f"{owner.lower()}|{name}" for name in _ATTRIBUTE_SLOTS.get(attribute.lower().split()[-1], ())}
        if owner
        else set()
    )
    doomed = []
    for memory in memories:
        claim = claim_of(memory.text)
        if (
            (claim is not None and claim.slot in slots)
            or (wanted is not None and claim is not None and states(wanted, claim))
            or (topic and words <= content_roots(memory.text) and owned_by(claim, words, speaker))
        ):
            doomed.append(memory)
    return doomed


def owned_by(claim: Claim | None, words: frozenset[str], speaker: str) -> bool:
    """Whether a memory's subject is the one a request to forget names: "forget my address" leaves
    "Alice's sister's address is ..." alone, whose subject names the sister."""
    if claim is None:
        return True
    return content_roots(claim.subject) - content_roots(speaker) <= words | _ATTRIBUTE_WORDS


def states(wanted: Claim, claim: Claim) -> bool:
    """Whether a memory states what a request to forget names ("Alice loves jazz" ~ "Alice likes jazz.")."""
    same_statement = (wanted.subject, wanted.negated) == (claim.subject, claim.negated)
    return (
        same_statement
        and wanted.verb is not None
        and same_verb(wanted.verb, claim.verb)
        and (bool(wanted.objects) and same_object(wanted.objects, claim.objects))
    )
