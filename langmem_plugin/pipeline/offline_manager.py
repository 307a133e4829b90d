"""Deterministic memory manager used when no LLM is configured.

It is the documented fallback, not an LLM substitute: it keeps informative first-person
statements, rewrites them in the third person ("I love sushi" -> "Alice loves sushi"), anchors
relative dates to the message time, and reconciles with simple, explainable rules:

* near-duplicate (cosine >= duplicate_threshold)          -> NOOP (provenance merged)
* same single-valued slot ("lives in", "works at", ...)   -> INVALIDATE the old memory, ADD the new
* a refinement that keeps every content word of the old   -> UPDATE in place
* anything else                                            -> ADD
"""

from __future__ import annotations

import re

from ..config import ManagerConfig
from ..records import ConversationMessage, EventType, Fact, Scope
from ..tiers.graph import EntityMention, RelationMention
from ..tiers.vector.relevance import STOPWORDS
from .manager import Decision, Neighbour
from .messages import SPEAKER_ROLES, speaker_name
from .temporal import anchor_relative_dates

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+|[;:]\s+")
_CLAUSE_BREAK = re.compile(r"(,\s+(?:and|but|so)\s+|\s+(?:and|but|so)\s+(?=I\b))")
_REQUEST = re.compile(r"^(?:please|can you|could you|would you|will you|let's|let me|remind me|tell me)\b", re.I)
_WORD = re.compile(r"[A-Za-z0-9']+")
FILLERS = frozenset(
    "hi hello hey thanks thank ok okay yes yeah yep no nope sure cool great lol haha bye goodbye wow nice awesome "
    "please sorry oh ah hmm um well good morning evening night welcome much so very lot lots bit really anyway "
    "alright right just also too totally sounds fine perfect lovely amazing wonderful interesting true exactly "
    "agreed indeed congrats congratulations glad happy hear".split()
)
_MODALS = frozenset("can could will would shall should may might must also really just still usually always never".split())
_ADVERBS = frozenset("also really just still usually always never often sometimes recently finally actually totally".split())
_IRREGULAR_PAST = frozenset(
    "went was were had did got saw made took came bought met ran ate felt found gave knew left lost said sent sat slept "
    "spent thought told won wrote began brought built caught chose drove drew fell flew forgot heard held kept led paid "
    "put rode sang sold stood swam taught understood woke wore became broke grew hid hit let meant rang set shot shut "
    "sold spoke stole struck threw".split()
)
_FIXED_SUBJECT_FORMS = [
    (re.compile(r"\bI am\b|\bI'm\b"), "{s} is"),
    (re.compile(r"\bI was\b"), "{s} was"),
    (re.compile(r"\bI have\b|\bI've\b"), "{s} has"),
    (re.compile(r"\bI'll\b"), "{s} will"),
    (re.compile(r"\bI'd\b"), "{s} would"),
    (re.compile(r"\bI don't\b|\bI do not\b"), "{s} does not"),
    (re.compile(r"\bI do\b"), "{s} does"),
]
_OBJECT_FORMS = [
    (re.compile(r"\bmy\b", re.I), "{s}'s"),
    (re.compile(r"\bmine\b", re.I), "{s}'s"),
    (re.compile(r"\bmyself\b", re.I), "{s}"),
    (re.compile(r"\bme\b"), "{s}"),
]
_I_VERB = re.compile(r"\bI (?:(?P<adverb>[a-z]+) )?(?P<verb>[a-z]+)\b")
_SLOTS = [
    (re.compile(r"^(?P<subject>.{1,60}?) (?:lives|is living|resides|moved|has moved|relocated) (?:in|to)\b"), "lives in"),
    (re.compile(r"^(?P<subject>.{1,60}?) (?:works|is working) (?:at|for)\b"), "works at"),
    (re.compile(r"^(?P<subject>.{1,60}?) (?:works|is working) as\b"), "works as"),
    (re.compile(r"^(?P<subject>.{1,60}?) is (?:\d+|[a-z-]+) years old\b"), "age"),
    (
        re.compile(r"^(?P<subject>.{1,60}?)'s (?P<attribute>favou?rite [a-z]+(?: [a-z]+)?|name|job|email|phone number|birthday) is\b"),
        "",
    ),
]
_CALENDAR_WORDS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july august "
    "september october november december i".split()
)


def third_person(verb: str) -> str:
    if verb.endswith("ed") or verb in _IRREGULAR_PAST or verb in _MODALS:
        return verb
    if verb in ("have", "do", "go", "be"):
        return {"have": "has", "do": "does", "go": "goes", "be": "is"}[verb]
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and len(verb) > 1 and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def resolve_first_person(sentence: str, speaker: str) -> str:
    for pattern, form in _FIXED_SUBJECT_FORMS:
        sentence = pattern.sub(form.format(s=speaker), sentence)

    def conjugate(match: re.Match) -> str:
        adverb, verb = match["adverb"], match["verb"]
        if adverb and adverb not in _ADVERBS:  # "I <verb> <object>": the first word is the verb
            return f"{speaker} {third_person(adverb)} {verb}"
        return f"{speaker} {adverb + ' ' if adverb else ''}{third_person(verb)}"

    sentence = _I_VERB.sub(conjugate, sentence)
    sentence = re.sub(r"\bI\b", speaker, sentence)
    for pattern, form in _OBJECT_FORMS:
        sentence = pattern.sub(form.format(s=speaker), sentence)
    return sentence


def content_words(text: str) -> set[str]:
    return {w for w in (t.lower().strip("'") for t in _WORD.findall(text)) if w and w not in STOPWORDS and w not in FILLERS}


def clauses(text: str) -> list[str]:
    """Sentences, further split at ", and/but/so" and "and I": one fact per clause.

    A piece too short to stand alone ("Miso and I went ...") stays joined to what follows.
    """
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        parts = _CLAUSE_BREAK.split(sentence)  # [clause, separator, clause, ...]
        pending = ""
        for index in range(0, len(parts), 2):
            pending += parts[index]
            is_last = index + 1 >= len(parts)
            if not is_last and len(_WORD.findall(pending)) < 2:
                pending += parts[index + 1]
                continue
            if pending.strip():
                pieces.append(pending.strip().rstrip(",;"))
            pending = ""
    return pieces


def is_informative(sentence: str, min_words: int) -> bool:
    if sentence.endswith("?") or _REQUEST.match(sentence):
        return False
    words = _WORD.findall(sentence)
    return len(words) >= min_words and bool(content_words(sentence))


def slot_of(text: str) -> str | None:
    """Key of a single-valued attribute the text states, e.g. 'alice|lives in'."""
    lowered = " ".join(text.lower().split())
    for pattern, label in _SLOTS:
        match = pattern.match(lowered)
        if match:
            attribute = label or match["attribute"].replace("favourite", "favorite")
            return f"{match['subject']}|{attribute}"
    return None


def named_entities(text: str, speaker: str) -> list[str]:
    """Runs of capitalised words that are not sentence-initial common words (the speaker always counts)."""
    entities: list[str] = []
    words = text.split()
    run: list[str] = []
    for index, raw in enumerate(words + [""]):
        word = raw.strip(".,;:!?\"()")
        possessive = word.endswith("'s")
        word = word[:-2] if possessive else word
        capitalised = bool(word) and word[0].isupper() and word.lower() not in _CALENDAR_WORDS
        if capitalised and (index > 0 or word == speaker or run):
            run.append(word)
        if run and (not capitalised or possessive or raw != raw.rstrip(".,;:!?\"()")):
            entities.append(" ".join(run))
            run = []
    return list(dict.fromkeys(entities))


class OfflineMemoryManager:
    name = "offline-manager"

    def __init__(self, config: ManagerConfig | None = None):
        self.config = config or ManagerConfig()

    def extract_facts(self, messages: list[ConversationMessage], scope: Scope) -> list[Fact]:
        facts: list[Fact] = []
        seen: set[str] = set()
        for message in messages:
            if message.role not in SPEAKER_ROLES:
                continue
            speaker = speaker_name(message.name, scope)
            for sentence in clauses(message.content):
                if not is_informative(sentence, self.config.min_words):
                    continue
                text = anchor_relative_dates(resolve_first_person(sentence, speaker), message.timestamp)
                text = text[0].upper() + text[1:]
                if text[-1] not in ".!":
                    text += "."
                if text.lower() in seen:
                    continue
                seen.add(text.lower())
                facts.append(Fact(text=text, sources=[message.source()], slot=slot_of(text)))
        return facts

    def reconcile(self, facts: list[Fact], neighbours: list[list[Neighbour]], scope: Scope) -> list[Decision]:
        return [self.decide(fact, candidates) for fact, candidates in zip(facts, neighbours)]

    def decide(self, fact: Fact, neighbours: list[Neighbour]) -> Decision:
        new_words = content_words(fact.text)
        for neighbour in neighbours:
            if neighbour.similarity < self.config.slot_update_threshold:
                continue
            old_words = content_words(neighbour.memory.text)
            if new_words <= old_words and neighbour.similarity >= self.config.duplicate_threshold:
                return Decision(EventType.NOOP, target=neighbour.memory)
            if old_words < new_words:
                return Decision(EventType.UPDATE, target=neighbour.memory)
        if neighbours and neighbours[0].similarity >= self.config.duplicate_threshold:
            return Decision(EventType.NOOP, target=neighbours[0].memory)
        if fact.slot:
            same_slot = [
                n.memory
                for n in neighbours
                if n.similarity >= self.config.slot_update_threshold and slot_of(n.memory.text) == fact.slot
            ]
            if same_slot:
                return Decision(EventType.ADD, also_invalidate=same_slot)
        return Decision(EventType.ADD)

    def extract_relations(self, facts: list[tuple[Fact, str]], scope: Scope) -> list[RelationMention]:
        return [relation for fact, memory_id in facts for relation in self._relations_of(fact, memory_id, scope)]

    def _relations_of(self, fact: Fact, memory_id: str, scope: Scope) -> list[RelationMention]:
        speaker = speaker_name(fact.sources[0].name, scope)
        entities = named_entities(fact.text, speaker)
        if len(entities) < 2 or not fact.text.startswith(entities[0]):
            return []
        subject = entities[0]
        relations = []
        for target in entities[1:]:
            gap = fact.text[len(subject) : fact.text.find(target, len(subject))]
            words = [w for w in _WORD.findall(gap) if w.lower() not in ("a", "an", "the", "'s", "s")]
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
