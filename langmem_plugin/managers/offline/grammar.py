"""English surface grammar for the offline manager: casual spelling, clauses, first person -> third person.

Everything here works on words and short fixed phrases, with no model: it is meant for the short
first-person statements users type to an assistant ("im vegan", "I now work at Google",
"we adopted a puppy"), rendered as self-contained third-person facts about the speaker.
"""

from __future__ import annotations

import re
import unicodedata

WORD = re.compile(r"[A-Za-z0-9']+")

# Adverbs that may stand between a subject and its verb without being the verb themselves.
ADVERBS = frozenset(
    "now currently still again also really just usually always never often sometimes recently "
    "finally actually totally mostly already even only definitely absolutely literally seriously "
    "generally normally typically rarely seldom hardly barely occasionally mainly basically honestly "
    "truly genuinely officially newly kinda probably certainly obviously suddenly eventually "
    "gradually slowly quickly".split()
)
_LY_VERBS = frozenset("apply reply supply comply multiply rely fly ally bully tally".split())
MODALS = frozenset("can could will would shall should may might must cannot".split())
# Verbs whose past tense is spelt like the present: "I quit smoking" is read as the past.
_SAME_PAST = frozenset("quit put set let hit cut shut hurt cost spread split".split())
IRREGULAR_PAST = (
    frozenset(
        "went was were had did got saw made took came bought met ran ate felt found gave knew left "
        "lost said sent sat slept spent thought told won wrote began brought built caught chose "
        "drove drew fell flew forgot heard held kept led paid rode sang sold stood swam taught "
        "understood woke wore became broke grew hid meant rang shot spoke stole struck threw".split()
    )
    | _SAME_PAST
)
# Casual spellings of first-person forms and negations, as typed without apostrophes or capitals.
_CASUAL = [
    (re.compile(r"\bi\b"), "I"),
    (re.compile(r"\b[Ii]m\b"), "I'm"),
    (re.compile(r"\b[Ii]ve\b"), "I've"),
    (re.compile(r"\b[Ii]ll\b(?= [a-z])"), "I'll"),
    (re.compile(r"\b(do|does|did|is|was|were|are|has|have|had|could|would|should)nt\b", re.I), r"\1n't"),
    (re.compile(r"\bcant\b", re.I), "can't"),
    (re.compile(r"\bwont\b(?= [a-z])", re.I), "won't"),
]
_CONTRACTIONS = [
    (re.compile(r"\b(I|we|We)'m\b"), r"\1 am"),
    (re.compile(r"\b(I|we|We)'re\b"), r"\1 are"),
    (re.compile(r"\b(I|we|We)'ve\b"), r"\1 have"),
    (re.compile(r"\b(I|we|We)'ll\b"), r"\1 will"),
    (re.compile(r"\b(I|we|We)'d\b"), r"\1 would"),
    (re.compile(r"\b(can)'t\b", re.I), r"\1not"),
    (re.compile(r"\b(w)on't\b", re.I), r"\1ill not"),
    (re.compile(r"\bain't\b", re.I), "is not"),
    (re.compile(r"\b(name|it|that|there|here|who|what|where)'s\b", re.I), r"\1 is"),
    (re.compile(r"\b([A-Za-z]+)n't\b"), r"\1 not"),
]
_EMOTICON = re.compile(r"(?:(?<=\s)|^)(?:[:;=8xX]-?[)(DPpO/\\|*]+|<3+|\^\^|\^_\^)(?=\s|$|[.,!?])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+|[;:]\s+|\s+-{1,2}\s+|[.!?]{2,}\s*")
# Clause breaks: ", and/but/so" before anything; " and/but/so/then" when a new subject or "now" follows.
# Clause breaks: ", and/but/so"; " and/but/so" or a bare comma before a new first-person subject or "now";
# a comma before a question or request to the assistant ("..., can you find me a dentist?"); "and"
# before a second verb of the same subject ("I'm 27 and live in Boston").
# Verbs that start a second predicate of the same subject: "I'm 27 and live in Boston".
_SECOND_VERB = (
    r"(?:live|lives|work|works|have|has|love|loves|like|likes|hate|hates|enjoy|enjoys|need|needs|own|owns|"
    r"play|plays|study|studies|teach|teaches|eat|eats|drink|drinks|started|moved|left|quit|got|went|bought|"
    r"adopted|joined)"
)
_CLAUSE_BREAK = re.compile(
    r"(,\s+(?:and|but|so|then|though)\s+|\s+(?:and|but|so|then|while|whereas)\s+(?=(?:now\s+|also\s+)?"
    r"(?:I|we|We|my|My|now|these days|nowadays)\b)|,\s+(?=(?:but\s+)?now\b|(?:I|we|We|my|My)\b)|"
    r",\s+(?=(?:can|could|would|will) (?:you|u)\b|(?:what|where|how|why|when|who|do you|is there|any)\b)|"
    r",\s+(?=(?:forget|delete|remove|erase)\b)|"
    r"(?:,\s+|\s+)(?:and|but)\s+(?=(?:also\s+|now\s+)?" + _SECOND_VERB + r"\s))"
)
_SECOND_PREDICATE = re.compile(r"(?:also\s+|now\s+)?" + _SECOND_VERB + r"\s")
# A subject whose second verb ("... and work at SAP") makes a clause of its own.
_SHARED_SUBJECT = re.compile(r"^(?:I|we|We|[Tt]he user|User)\b")
_BULLET = re.compile(r"^\s*(?:[-*\u2022>]+|\d{1,2}[.)])\s+")  # "- I'm vegan", "2) I live in Porto"
_CLAUSE_VERBS = frozenset("am is are was were have has had do does did will can".split())
# What a casual message may end with that adds nothing to the statement: "I live in Braga actually".
_TRAILING_FILLER = re.compile(
    r"(?:[\s,]+(?:tbh|lol|lmao|haha+|actually|honestly|though|i guess|I guess|rn|fyi|btw|after all))+"
    r"(?=[.!]*$)"
)


def strip_decoration(text: str) -> str:
    """Text without emoji, emoticons and typographic quotes, with one space between words."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if (
            category == "So"
            or category == "Cs"
            or char in "\ufe0f\u200d"
            or "\U0001f3fb" <= char <= "\U0001f3ff"
        ):
            kept.append(" ")
        else:
            kept.append(char)
    text = _EMOTICON.sub(" ", "".join(kept))
    return re.sub(r"[ \t]+", " ", text).strip()


def casual_to_standard(text: str) -> str:
    """'im vegan', 'i dont' -> "I'm vegan", "I don't"."""
    for pattern, form in _CASUAL:
        text = pattern.sub(form, text)
    return text


def expand_contractions(text: str) -> str:
    """First-person and negative contractions spelt out: "I'm" -> "I am", "don't" -> "do not"."""
    for pattern, form in _CONTRACTIONS:
        text = pattern.sub(form, text)
    return text


def clauses(text: str) -> list[str]:
    """Sentences, further split at ", and/but/so" and before a new first-person subject: one fact per clause.

    A piece too short to stand alone ("Miso and I went ...") stays joined to what follows.
    """
    pieces: list[str] = []
    for raw in _SENTENCE_END.split(text):
        sentence = _BULLET.sub("", raw)
        parts = _CLAUSE_BREAK.split(sentence)  # [clause, separator, clause, ...]
        pending = ""
        subject = _SHARED_SUBJECT.match(sentence.strip())
        for index in range(0, len(parts), 2):
            pending += parts[index]
            is_last = index + 1 >= len(parts)
            if not is_last and not _stands_alone(pending):
                pending += parts[index + 1]
                continue
            piece = _TRAILING_FILLER.sub("", pending.strip().strip(",;").strip())
            if index and subject and _SECOND_PREDICATE.match(piece):
                piece = f"{subject[0]} {piece}"  # "I live in Berlin and work at SAP": "I work at SAP"
            if piece.strip(" ,"):
                pieces.append(piece)
            pending = ""
    return pieces


def _stands_alone(piece: str) -> bool:
    """A clause rather than a subject left before "and I" ("My wife and I love hiking")."""
    words = WORD.findall(piece)
    if len(words) > 3:
        return True
    return len(words) > 1 and any(
        w in ("I", "we", "We")
        or w.lower() in _CLAUSE_VERBS
        or w.lower() in IRREGULAR_PAST
        or w.lower().endswith("ed")
        or w.startswith(("I'", "we'"))
        for w in words
    )


def is_adverb(word: str, following: str | None) -> bool:
    """An adverb before a verb: a known one, or an -ly word that is not itself a verb."""
    lowered = word.lower()
    if lowered in ADVERBS:
        return True
    return following is not None and lowered.endswith("ly") and len(lowered) > 5 and lowered not in _LY_VERBS


def third_person(verb: str) -> str:
    """The third-person singular present of a verb; past forms and modals stay as they are."""
    if verb.endswith("ed") or verb in IRREGULAR_PAST or verb in MODALS:
        return verb
    if verb in ("have", "do", "go", "be", "am"):
        return {"have": "has", "do": "does", "go": "goes", "be": "is", "am": "is"}[verb]
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and len(verb) > 1 and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


_AFTER_I = re.compile(
    r"(?<!\band )\bI((?: [a-z][a-z0-9'-]*)+)"
)  # the lowercase words after "I", not "X and I"
_PLURAL_SUBJECT = re.compile(r"\b(?:we|We)\b")
_OBJECT_FORMS = [
    (re.compile(r"\b(?:my|mine|our|ours)\b", re.I), "{s}'s"),
    (re.compile(r"\b(?:myself)\b", re.I), "{s}"),
    (re.compile(r"\bme\b", re.I), "{s}"),
    (re.compile(r"\bus\b"), "{s} and others"),
    (re.compile(r"\bourselves\b", re.I), "{s} and others"),
]
_USER_SUBJECT = re.compile(r"^(?:the user|user)\b", re.I)
_USER_POSSESSIVE = re.compile(r"\b(?:[Tt]he user|User)'s\b")


def _conjugated(words: list[str]) -> list[str]:
    """The words after "I" with their verb in the third person: adverbs before it stay as they are."""
    index = 0
    while index < len(words) - 1:
        if words[index] == "no" and words[index + 1] == "longer":
            index += 2
        elif is_adverb(words[index], words[index + 1]):
            index += 1
        else:
            break
    if index >= len(words):
        return words
    return [*words[:index], third_person(words[index]), *words[index + 1 :]]


# Stands for the speaker while the sentence is rewritten, so that no name (a user id such as "We",
# "my" or "a\\1") is itself rewritten or read as a regular-expression template.
_SPEAKER = "\ue000"


def resolve_first_person(sentence: str, speaker: str) -> str:
    """'I love my dog' -> 'Alice loves Alice's dog'; 'we' -> 'Alice and others'; 'The user' -> 'Alice'.

    The sentence is expected in standard spelling (`casual_to_standard`); contractions are spelt out.
    """
    sentence = expand_contractions(sentence.replace(_SPEAKER, ""))
    sentence = _USER_POSSESSIVE.sub(f"{_SPEAKER}'s", sentence)
    sentence = _USER_SUBJECT.sub(_SPEAKER, sentence)
    sentence = _AFTER_I.sub(lambda m: " ".join([_SPEAKER, *_conjugated(m[1].split())]), sentence)
    sentence = re.sub(r"\bI\b", _SPEAKER, sentence)
    sentence = _PLURAL_SUBJECT.sub(f"{_SPEAKER} and others", sentence)
    for pattern, form in _OBJECT_FORMS:
        sentence = pattern.sub(form.format(s=_SPEAKER), sentence)
    return sentence.replace(f"{_SPEAKER}'s's", f"{_SPEAKER}'s").replace(_SPEAKER, speaker)
