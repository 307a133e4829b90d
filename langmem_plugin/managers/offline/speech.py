"""What a user's clause is: a statement to remember, a request to forget, or talk to the assistant.

Questions, requests to the assistant and small talk state nothing about the user and are left out;
"remember that ...", "btw", "actually" and similar openings are taken off the statement they
introduce; "forget that I love jazz" / "please forget my phone number" become requests to forget
what they describe ("I love jazz", "my phone number"), never statements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...tiers.vector.relevance import STOPWORDS
from .grammar import WORD, casual_to_standard, clauses, expand_contractions, strip_decoration

# Openings that introduce a statement without being part of it ("btw, I'm vegan", "remember that ...").
_OPENING = re.compile(
    r"^(?:(?:oh|ah|hey|ok|okay|so|well|also|and|but|btw|by the way|fyi|actually|anyway|anyways|honestly|"
    r"hmm+|um+|uh+|er|sorry|wait|oops|(?:it )?turns out(?: that)?|update|correction|quick update|heads up|"
    r"lol|haha|yeah|yep|yes|no|nope|now|then|these days|nowadays|just so you know|for the record|"
    r"for your information|note to self|(?:never ?mind|nvm)(?=[,!.])|"
    r"(?:as |like )?I (?:told you|said|mentioned)(?: before| earlier)?(?: that)?|"
    r"(?:please |pls |just )?(?:remember|note|keep in mind|don't forget|do not forget|make a note)(?: that)?"
    r")\b[,:!.]?\s+)",
    re.I,
)
_FORGET = re.compile(
    r"^(?:(?:please|pls|plz|kindly|just|and|also|oh|ok|okay|hey|now|actually)[,]?\s+)*"
    r"(?:(?:can|could|would|will) (?:you|u) (?:please )?|I want you to |I would like you to |you can |"
    r"you should )?"
    r"(?:(?P<forget>forget|unlearn|stop remembering|(?:never ?mind|nvm) (?=about|the|what|my)|"
    r"(?:don't|do not|I (?:don't|do not) want you to) remember|no need to remember)|"
    r"delete|remove|erase|scrap|scratch|disregard|wipe|purge)\b[,:]?\s*(?P<what>.*)$",
    re.I,
)
# What makes "delete ..." / "remove ..." a request about memories rather than a task ("remove the
# onions from the recipe"): the speaker's own things, or words for what was said.
_ABOUT_MEMORIES = re.compile(
    r"\b(?:I|me|my|mine|we|us|our|thing|stuff|part|bit|info|information|memory|memories|note)\b", re.I
)
# Words between the verb and what is to be forgotten: "forget what I said about my sister".
_FORGET_FILLER = re.compile(
    r"^(?:(?:that )?I (?:said|mentioned|told you|say)(?: that| about)?|"
    r"about|that|the (?:fact|memory|note|info|information|bit|part|thing|stuff|detail)s?(?: (?:that|"
    r"about|of))?|"
    r"what (?:I|i) (?:said|told you|mentioned|say|wrote|shared)(?: (?:about|regarding|re))?|"
    r"everything (?:about|regarding|on)|anything (?:about|regarding)|all (?:about|the stuff about)|"
    r"(?:any |all )?(?:info|information|stuff|details|mentions?) (?:about|on|of)|(?:my|your) memory of)\b\s*",
    re.I,
)
_POLITE_END = re.compile(
    r"[\s,]*(?:please|pls|thanks|thank you|thx|from (?:your )?memory|ok|okay)?[\s.!]*$", re.I
)
_VAGUE = frozenset({"", "it", "that", "this", "everything", "all", "all of it", "all that", "that please"})
_QUESTION = re.compile(
    r"^(?:what|where|when|who|whom|whose|why|how|which|whats|what's|where's|how's|who's|wheres|hows)\b|"
    r"^(?:do|does|did|can|could|would|will|is|are|am|was|were|should|shall|have|has|may|might)\s+"
    r"(?:you|u|I|we|it|they|he|she|my|your|the|there|this|that|anyone)\b",
    re.I,
)
# Requests and commands to the assistant, and talk about the conversation itself.
_REQUEST = re.compile(
    r"^(?:please|pls|plz|kindly|can you|could you|would you|will you|can u|could u|let's|lets|let me|"
    r"remind me|tell me|help me|show me|give me|find me|get me|book|recommend|suggest|write|rewrite|explain|"
    r"summari[sz]e|translate|send|schedule|draft|look up|search|thanks for|thank you for|make|change|"
    r"shorten|expand|continue|go on|go ahead|list|generate|create|describe|define|compare|convert|calculate|"
    r"keep|answer|try|use|add|fix|check|remove|delete|erase|"
    r"I (?:need|want|would like|'d like) (?:some )?(?:help|advice|ideas|suggestions|to know)|"
    r"I was wondering|I have (?:a|another|one more) question|I am (?:back|here|ready|done)[.!]*$)\b",
    re.I,
)
# The assistant or the conversation as what a clause is about: "you're the best", "I agree with you",
# "that makes sense", "it's raining here".
_ABOUT_THE_EXCHANGE = re.compile(r"\b(?:you|your|yours|yourself|u)\b|^(?:that|this|it|there)\b", re.I)
# States a message may start with when "I'm" goes without saying: "allergic to shellfish", "vegan btw".
_STATE_FRAGMENT = re.compile(
    r"^(?:(?:not|no longer) )?(?:(?:really|so|very) )?"
    r"(?:into|a (?:big |huge )?fan of|allergic|intolerant|lactose intolerant|gluten intolerant|vegan|"
    r"vegetarian|pescatarian|married|"
    r"single|engaged|divorced|pregnant|retired|unemployed|diabetic|\d{1,3} (?:years? old|yo|y/o))\b(?![,?])",
    re.I,
)
# Verbs that say nothing about the speaker without an object: "I hope so", "I'll try that", "I don't know".
_EMPTY_VERBS = frozenset(
    "stopped started quit tried try did meant know knew think guess agree want need see mean suppose "
    "hope wonder understand remember wait promise bet doubt care mind believe feel said told "
    "mentioned".split()
)
# The verbs a message may start with when its subject, the speaker, goes without saying.
_SUBJECTLESS = re.compile(
    r"^(?:(?:just|really|also|still|finally|recently|totally|absolutely) )*"
    r"(?:been|got|went|had|have|love|like|hate|enjoy|adore|work|live|need|moved|bought|adopted|visited|"
    r"started|"
    r"finished|tried|learned|learnt|took|made|met|quit|stopped|[a-z]{3,}ed)\b(?!,)",
    re.I,
)
_POSSESSIVE = re.compile(r"\b(?:my|our)\b", re.I)
_FIRST_PERSON = re.compile(r"\b(?:I|me|my|mine|we|us|our|ours)\b|^(?:the user|user)\b", re.I)
FILLERS = frozenset(
    "hi hello hey thanks thank ok okay yes yeah yep no nope sure cool great lol haha bye goodbye wow "
    "nice awesome please sorry oh ah hmm um well good morning evening night welcome much so very lot "
    "lots bit really anyway alright right just also too totally sounds fine perfect lovely amazing "
    "wonderful interesting true exactly agreed indeed congrats congratulations glad happy hear same "
    "here me".split()
)


@dataclass(frozen=True)
class Statement:
    """A clause to turn into a fact (`forget` False) or the description of what to forget."""

    text: str
    forget: bool = False


def _without_openings(clause: str) -> str:
    """The clause without introductory words and interjections ("btw", "Awesome, ...")."""
    while True:
        shorter = _OPENING.sub("", clause, count=1)
        head, comma, rest = shorter.partition(", ")
        if comma and all(w.lower() in FILLERS for w in WORD.findall(head)):
            shorter = rest
        if shorter == clause:
            return clause
        clause = shorter


def _with_subject(clause: str) -> str:
    """A subjectless fragment about the speaker with its "I": "Just got back from Japan!",
    "love hiking and camping", "been learning guitar lately"."""
    if _STATE_FRAGMENT.match(clause):
        return "I am " + clause[0].lower() + clause[1:]
    if len(WORD.findall(clause)) < 3 or not _SUBJECTLESS.match(clause):
        return clause
    clause = "I " + clause[0].lower() + clause[1:]
    return re.sub(r"^I ((?:\w+ )*?)been\b", r"I \1have been", clause)


def forget_request(clause: str) -> str | None:
    """What the clause asks to forget ("my phone number"), "" for a vague request ("forget it"), or
    None when it is no request to forget."""
    match = _FORGET.match(clause)
    if match is None:
        return None
    what = match["what"]
    while True:
        shorter = _FORGET_FILLER.sub("", what, count=1)
        if shorter == what:
            break
        what = shorter
    if not match["forget"] and what == match["what"] and not _ABOUT_MEMORIES.search(what):
        return None
    what = _POLITE_END.sub("", what).strip(" ,")
    return "" if what.lower() in _VAGUE else what


def states_something(clause: str, min_words: int) -> bool:
    """A statement with content: about the speaker ("I'm vegan.") at any length, else of `min_words` words.

    Questions, requests to the assistant and clauses of greetings and fillers alone state nothing.
    """
    spelt_out = expand_contractions(clause)
    if "?" in clause or _QUESTION.match(clause) or _REQUEST.match(spelt_out):
        return False
    first_person = bool(_FIRST_PERSON.search(clause))
    if _ABOUT_THE_EXCHANGE.search(clause) and not (
        _POSSESSIVE.search(clause) and _ABOUT_THE_EXCHANGE.match(clause)
    ):
        return False  # "it's my birthday" stays
    words = [w.lower() for w in WORD.findall(spelt_out)]
    content = [
        w for w in words if w not in FILLERS and w not in STOPWORDS and w not in ("am", "that", "about")
    ]
    if not content or (first_person and all(w in _EMPTY_VERBS for w in content)):
        return False
    return first_person or len(words) >= min_words


def statements(text: str, min_words: int) -> list[Statement]:
    """The statements and requests to forget that a user's message holds, in order."""
    found: list[Statement] = []
    for piece in clauses(casual_to_standard(strip_decoration(text))):
        clause = _with_subject(_without_openings(piece))
        forget = forget_request(clause)
        if forget is not None:
            if forget:
                found.append(Statement(forget, forget=True))
            continue
        if states_something(clause, min_words):
            found.append(Statement(clause))
    return found
