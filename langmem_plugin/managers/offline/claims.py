"""What a third-person fact claims: subject, polarity, verb and object, and the slot it fills.

The offline manager reads both a new fact and the memories beside it this way, so that it can
tell a retraction ("Alice no longer loves jazz.") from the memory it retracts ("Alice loves
jazz."), keep a relative's facts ("Alice's sister lives in Madrid.") off the speaker's own, and
find the single-valued attribute (a slot: where someone lives, their employer, age, diet...) a
new value replaces. A text it cannot read gives None, and the manager falls back to word overlap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ...tiers.vector.relevance import STOPWORDS, word_root
from .grammar import IRREGULAR_PAST, MODALS, WORD, expand_contractions, is_adverb

_AUXILIARIES = frozenset("is are was were am be been has have had does do did".split()) | MODALS
_PREPOSITIONS = frozenset("in to at for as with on from into about by of near".split())
_DETERMINERS = frozenset("a an the some any every".split())
# Words that carry no content when comparing what two claims are about.
_NEUTRAL = frozenset(
    "anymore again now currently still also really just these days nowadays any more longer no not "
    "never used stopped quit gave up totally actually".split()
)
# Verbs read as one attitude: "Alice does not like jazz anymore" retracts "Alice loves jazz".
_VERB_GROUPS = [("like", "love", "enjoy", "adore", "prefer"), ("hate", "dislike", "detest")]
_IRREGULAR_LEMMAS = dict(
    pair.split(":")
    for pair in "be:be been:be was:be were:be is:be are:be am:be have:have has:have had:have do:do does:do "
    "did:do go:go goes:go went:go ate:eat got:get made:make took:take bought:buy met:meet ran:run "
    "left:leave saw:see gave:give came:come".split()
)
_NEGATED_AUXILIARIES = frozenset("does do did will would can could should has have had".split())
_BE_FORMS = frozenset("is are was were am be been".split())
_DEPARTURE = re.compile(r"(?:left|leaves|(?:got|was|has been) (?:laid off|fired) from|resigned from)\s+")
_LIKING = re.compile(
    r"(?:(?:really|so|very|totally|still|not) )*(?:into|(?:a |an |)(?:(?:big|huge|great) )?fan of|fond of)\s+"
)
_CESSATION = frozenset({"stopped", "quit", "quits", "stops", "gave up", "gives up", "used to", "no longer"})
_DATE_PHRASE = re.compile(
    r"\b(?:in|on|since|from|until) (?:the (?:week|weekend|morning|afternoon|"
    r"evening) of )?(?:[A-Z][a-z]+day )?"
    r"(?:\d{1,2} )?(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)?"
    r" ?\d{4}\b|\b(?:any ?more|no more|these days|nowadays|right now|at the moment|for now)\b"
)
# A tail that names the superseded value: ", not Porto", ", previously at Microsoft",
# "(previously at Microsoft)", "instead of X", "rather than X".
SUPERSEDED_TAIL = re.compile(
    r"(?:,\s*(?:not|previously|formerly|no longer|instead of|rather than)\s+(?P<old>[^(),]+?)"
    r"|\s*\(\s*(?:not|previously|formerly|used to be|was|before)\s+(?P<bracketed>[^()]+?)\s*\)"
    r"|\s+(?:instead of|rather than)\s+(?P<instead>[^(),]+?)"
    r"|(?<! does)(?<! do)(?<! did)(?<! is)(?<! are)(?<! was)(?<! were)(?<! am)(?<! can)(?<! will)(?<! would)"
    r"(?<! could)(?<! should)(?<! has)(?<! have)(?<! had) not (?P<bare>[\w.-]+))\s*[.!]*$"
)
_OCCUPATIONS = frozenset(
    "accountant actor actress architect artist baker barista builder carpenter cashier chef cleaner "
    "coach consultant cook dentist designer developer doctor driver economist editor electrician "
    "engineer farmer firefighter freelancer gardener hairdresser journalist judge lawyer lecturer "
    "librarian manager mechanic musician nurse painter paramedic pharmacist photographer physician "
    "physicist pilot plumber police officer professor programmer psychologist researcher salesperson "
    "scientist secretary singer student surgeon teacher therapist translator tutor vet veterinarian "
    "waiter waitress writer analyst intern".split()
)
_NOT_WORKING = frozenset({"unemployed", "jobless", "retired", "self-employed", "between jobs", "out of work"})
_DIETS = frozenset(
    "vegetarian vegan pescatarian pescetarian carnivore omnivore flexitarian keto paleo".split()
)
_STATUSES = frozenset("single married engaged divorced widowed separated".split())
_ATTRIBUTES = re.compile(
    r"'s (?P<attribute>favou?rite [a-z]+(?: [a-z]+)?|name|job|email(?: address)?|phone(?: number)?|number|"
    r"birthday|address|pronouns|age|diet|employer)$"
)
_HOME_VERBS = ("live", "reside", "move", "relocate")


@dataclass(frozen=True)
class Claim:
    """One statement: `subject` (lower case, e.g. "alice's sister"), whether it is negated ("does
    not", "no longer", "stopped", "used to"), the verb's lemma-like key (None for "gave up coffee"),
    the roots of its object's content words, and its slot if it fills one."""

    subject: str
    negated: bool
    verb: str | None
    objects: frozenset[str]
    slot: str | None
    superseded: frozenset[str] = frozenset()  # roots of the value a correction replaces ("not Porto")
    ceased: bool = False  # "stopped running", "no longer", "anymore": the verb ends, whatever its object


def verb_key(word: str) -> str:
    """A key shared by a verb's forms: likes / liked / liking / like -> 'lik', studies -> 'study'."""
    word = word.lower()
    if word in _IRREGULAR_LEMMAS:
        return _IRREGULAR_LEMMAS[word]
    for suffix, replacement in (("ies", "y"), ("ied", "y"), ("ying", "y")):
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            return word[: -len(suffix)] + replacement
    for suffix in ("ing", "ed", "es", "s"):
        if (
            word.endswith(suffix)
            and len(word) - len(suffix) >= 2
            and not (suffix == "s" and word.endswith("ss"))
        ):
            stem = word[: -len(suffix)]
            if suffix == "es" and not stem.endswith(("s", "sh", "ch", "x", "z", "o")):
                stem = word[:-1]
            if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
                stem = stem[:-1]  # running -> run, stopped -> stop
            return stem.rstrip("e") or stem
    return word.rstrip("e") or word


_VERB_GROUPS_KEYED = [frozenset(map(verb_key, group)) for group in _VERB_GROUPS]
_HOME_KEYS = frozenset(map(verb_key, _HOME_VERBS))


def content_roots(text: str) -> frozenset[str]:
    """Roots of the content words: what two texts must share to be about the same thing."""
    words = (w.lower().strip("'") for w in WORD.findall(text))
    return frozenset(
        word_root(w.removesuffix("'s")) for w in words if w and w not in STOPWORDS and w not in _NEUTRAL
    )


def _is_verb(words: list[str], index: int) -> bool:
    word, before = words[index], words[index - 1]
    following = words[index + 1] if index + 1 < len(words) else None
    lowered = word.lower()
    if not word[:1].islower() or before.endswith("'s") or lowered in ("and", "others"):
        return False
    if (
        lowered in _AUXILIARIES
        or lowered in IRREGULAR_PAST
        or lowered in ("no", "used")
        or is_adverb(word, following)
    ):
        return True
    if lowered.endswith("ed") and len(lowered) > 3:
        return True
    if lowered.endswith("s") and not lowered.endswith("ss") and before.lower() not in ("and", "the"):
        return True
    return following is not None and (
        following in _PREPOSITIONS or following in _DETERMINERS or following[:1].isdigit()
    )


def split_subject(text: str) -> tuple[str, list[str]] | None:
    """The subject (starting with a capitalised word or a user id such as "12345") and the words
    after it, or None."""
    words = text.rstrip(".!").split()
    if len(words) < 2 or words[0][:1].islower():
        return None
    for index in range(1, len(words)):
        if _is_verb(words, index):
            return " ".join(words[:index]), words[index:]
    return None


def _predicate(words: list[str]) -> tuple[bool, bool, str | None, list[str]]:
    """(negated, ceased, verb key, object words) of the words after the subject; ceased is a stop
    ("stopped", "quit", "gave up", "no longer", "used to"), which ends the verb whatever its object."""
    negated = ceased = False
    index = 0
    while index < len(words):
        word, pair = words[index].lower(), " ".join(words[index : index + 2]).lower()
        following = words[index + 1].lower() if index + 1 < len(words) else None
        if pair in _CESSATION or word in _CESSATION:
            negated = ceased = True
            index += 2 if pair in _CESSATION else 1
        elif word in ("never", "not", "cannot"):
            negated, index = True, index + 1
        elif word in _NEGATED_AUXILIARIES and following in ("not", "never"):
            negated, index = True, index + 2
        elif word in ("has", "have", "had") and following in ("been", "got"):
            index += 2 if following == "got" else 1
        elif is_adverb(word, following) or word == "to":
            index += 1
        else:
            break
    rest = words[index:]
    if not rest:
        return negated, ceased, None, []
    if (
        ceased
        and rest[0].lower() not in _AUXILIARIES
        and not rest[0].lower().endswith("ing")
        and words[index - 1].lower() in ("stopped", "quit", "up")  # "gave up coffee", "quit Alice's job"
    ):
        return negated, ceased, None, rest
    if rest[0].lower() in _BE_FORMS and len(rest) > 1 and rest[1].lower() in ("no", "not"):
        negated, rest = True, [rest[0], *rest[2:]]
        if rest[1:2] and rest[1].lower() == "longer":
            ceased, rest = True, [rest[0], *rest[2:]]
    if rest[0].lower() in _BE_FORMS and len(rest) > 1 and rest[1].lower().endswith("ing"):
        rest = rest[1:]  # "is living in Rome": the verb is "live"
    verb = rest[0].lower()
    phrase = " ".join(rest).lower()
    departure = _DEPARTURE.match(phrase)
    if departure:  # "left Google", "got laid off from Acme": no longer there, whatever the verb was
        return True, True, None, phrase[departure.end() :].split()
    if verb in _BE_FORMS:
        liking = _LIKING.match(" ".join(rest[1:]).lower())
        if liking:  # "is into jazz", "is a big fan of jazz": an attitude, as "likes jazz"
            return negated, ceased, verb_key("like"), rest[1 + len(liking[0].split()) :]
        if negated and rest[1:2] and rest[1].lower() in ("at", "in", "with", "into"):
            return negated, ceased, None, rest[1:]  # "is no longer at Google": whatever the verb was
    return negated, ceased, verb_key(verb), rest[1:]


def _slot(subject: str, negated: bool, verb: str | None, object_words: list[str]) -> str | None:
    owner = subject.lower().removesuffix(" and others")
    if negated:
        return None
    attribute = _ATTRIBUTES.search(owner)
    if attribute and verb == "be":
        name = attribute["attribute"].replace("favourite", "favorite")
        name = {"phone": "phone number", "number": "phone number", "email address": "email"}.get(name, name)
        return f"{owner[: attribute.start()]}|{name}"
    spoken = _DATE_PHRASE.sub(" ", " ".join(object_words)).split()
    words = [w.lower().strip(",.!") for w in spoken if w.lower() not in ("now", "currently", "still")]
    first = words[0] if words else ""
    if verb in _HOME_KEYS and (first in ("in", "at") or "to" in words[:4]):  # "moved from NYC to LA"
        return f"{owner}|lives in"
    if verb == "be" and " ".join(words) in _NOT_WORKING:
        return f"{owner}|works at"  # "is unemployed now" ends "works at Google."
    if verb == "be" and first in ("called", "named") and len(words) in (2, 3):
        return f"{owner}|name"
    if verb == "be" and words[:2] == ["based", "in"]:
        return f"{owner}|lives in"
    if verb == "work" and first in ("at", "for"):
        return f"{owner}|works at"
    if verb == "work" and first == "as":
        return f"{owner}|works as"
    if verb == "be":
        if 2 <= len(words) <= 4 and words[0] in ("a", "an") and words[-1] in _OCCUPATIONS:
            return f"{owner}|works as"  # "is a nurse", "is a software developer"
        if words and words[0].isdigit() and (len(words) == 1 or words[1:] in (["years", "old"], ["yo"])):
            return f"{owner}|age"
        if len(words) in (1, 2) and words[-1] in _DIETS and words[0] in _DIETS | {"a"}:
            return f"{owner}|diet"
        if words in (["single"], ["married"], ["engaged"], ["divorced"], ["widowed"], ["separated"]):
            return f"{owner}|relationship status"
    if verb == "turn" and len(words) == 1 and words[0].isdigit():
        return f"{owner}|age"
    if verb == "get" and len(words) == 1 and words[0] in _STATUSES:
        return f"{owner}|relationship status"
    return None


# Reconciling a fact reads the claims of up to ten neighbours, and a consolidation replays every
# memory of a scope against its neighbours: the same texts are read again and again.
CLAIM_CACHE = 8192


@lru_cache(maxsize=CLAIM_CACHE)
def claim_of(text: str) -> Claim | None:
    """The claim a third-person fact states, or None when its subject and verb cannot be told apart
    (a pure function of the text: cached, each Claim being frozen)."""
    text = expand_contractions(text)
    superseded: frozenset[str] = frozenset()
    tail = SUPERSEDED_TAIL.search(text)
    if tail and tail.start() > 0:
        superseded = content_roots(tail["old"] or tail["bracketed"] or tail["instead"] or tail["bare"])
        text = text[: tail.start()]
    parts = split_subject(text)
    if parts is None:
        return None
    subject, rest = parts
    negated, ceased, verb, object_words = _predicate(rest)
    if re.search(r"\b(?:any ?more|no more)\b", text, re.I):
        negated = ceased = True
    objects = content_roots(_DATE_PHRASE.sub(" ", " ".join(object_words)))
    subject_key = subject.lower().removesuffix(" and others")
    objects = frozenset(o for o in objects if o != word_root(subject_key))
    slot = _slot(subject, negated, verb, object_words)
    return Claim(subject_key, negated, verb, objects, slot, superseded, ceased)


def same_verb(first: str | None, second: str | None) -> bool:
    """Whether two verb keys state the same relation (None, a bare object, matches any verb)."""
    if first is None or second is None or first == second:
        return True
    return any(first in group and second in group for group in _VERB_GROUPS_KEYED)


def same_object(first: frozenset[str], second: frozenset[str]) -> bool:
    """Whether two objects are about the same thing: equal, or one's words all in the other's."""
    if not first or not second:
        return first == second
    return first <= second or second <= first


def opposite_verbs(first: str | None, second: str | None) -> bool:
    """Attitudes that exclude each other: "Alice hates sushi now" and "Alice likes sushi."."""
    liking, disliking = _VERB_GROUPS_KEYED
    return (first in liking and second in disliking) or (first in disliking and second in liking)


def contradicts(new: Claim, old: Claim) -> bool:
    """A retraction of a memory, a memory's retraction taken back ("Alice likes jazz again"), or
    the opposite attitude to the same thing."""
    if new.subject != old.subject:
        return False
    ended = any(claim.ceased and claim.verb and not claim.objects for claim in (new, old))
    if not same_object(new.objects, old.objects) and not ended:
        return False  # "Alice stopped running." ends "Alice runs every morning." too
    if new.negated != old.negated:
        return same_verb(new.verb, old.verb)
    return not new.negated and opposite_verbs(new.verb, old.verb)


def supersedes(new: Claim, old: Claim) -> bool:
    """A correction's replaced value: "Alice lives in Braga, not Porto." and "Alice lives in Porto."."""
    if not new.superseded or new.subject != old.subject or old.negated or not new.superseded <= old.objects:
        return False
    return same_verb(new.verb, old.verb) and (old.objects - new.superseded) <= new.objects
