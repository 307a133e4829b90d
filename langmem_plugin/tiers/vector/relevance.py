"""Relevance in [0, 1] from each ranker's evidence, and inflection-tolerant keyword terms.

Every vector backend scores its hits with `relevance`, so `SearchHit.score` and `threshold`
mean the same thing whatever stores the vectors:

- semantic evidence: the cosine similarity of the query (less its common words, below) and the
  memory, clipped to [0, 1];
- keyword evidence: the share of the query's keyword weight (IDF, so rare words count more)
  found in the memory, in [0, 1];
- graph evidence: how specific the entities are that link the memory to the query (1 for an
  entity only this memory mentions, falling with the share of memories it is linked to),
  times the semantic evidence: a link says what the memory is about, not that it answers;
- context evidence: the best relevance of the memory's neighbouring turns (what was said just
  before and after it), at `CONTEXT_WEIGHT`.

They are combined as independent pieces of evidence, 1 - (1 - s)(1 - k)(1 - g*s)(1 - 0.7c): any one strong
signal makes a memory relevant, and signals that agree add up, without exceeding 1.

A word or entity found in most of a scope's memories (the user's own name, the speaker of
every turn) tells none of them apart, so it is no evidence at all (`is_common`): it weighs nothing
in the keyword share, links nothing through the graph, and is left out of the query before it is
embedded (`without_words`), since an embedding of "Where does Alice live?" is mostly "Alice" and
lifts every one of her memories alike.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Collection, Hashable, Sequence, TypeVar

import numpy as np
Item = TypeVar("Item", bound=Hashable)

WORD = re.compile(r"\w+", re.UNICODE)
# Inflectional and common derivational endings, longest first. A query word is matched by its
# root as a prefix, so "allergies", "allergic" and "allergy" all find each other.
_SUFFIXES = ("ically", "ations", "ation", "ities", "ingly", "ings", "ical", "ness", "ment", "ies", "ied", "ing",
             "ers", "est", "ic", "ed", "es", "er", "ly", "al", "y", "s", "e")
# A memory's neighbouring turns (what was said just before and after it) are weaker evidence
# than its own text: they often hold the question's other words ("Yes, twice!" answers the turn
# before it), but not always. Chosen on 3 of the 5 LoCoMo dev conversations (0.3, 0.5, 0.7, 1.0
# tried) and confirmed on the other 2; see docs/benchmarks.md.
CONTEXT_WEIGHT = 0.7
MIN_ROOT = 4  # shorter roots would match unrelated words ("car" -> "career")
# A word in more than this share of a scope's memories is common (`is_common`). The
# Robertson-Sparck Jones relevance weight, log((N - n + 0.5) / (n + 0.5)), which BM25's IDF
# shifts to stay positive, is zero at half the memories and negative past it: such a word is
# likelier in a memory that does not answer than in one that does.
MAX_TERM_SHARE = 0.5
STOPWORDS = frozenset(
    "a an and are as at be been but by did do does for from had has have he her hers him his how i if in into is it "
    "its me my mine no not of on or our ours she so than that the their theirs them then there these they this those "
    "to too us was we were what when where which who whom why will with would you your yours".split()
)


def keyword_terms(text: str) -> list[str]:
    """The query's distinct content words; each is later quoted, so no FTS syntax can be injected."""
    words: list[str] = []
    for word in WORD.findall(text.lower()):
        if len(word) > 1 and word not in STOPWORDS and word not in words:
            words.append(word)
    return words[:32]


@lru_cache(maxsize=65536)
def word_root(word: str) -> str:
    """The word without one inflectional ending, or the word itself if the root would be too short."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_ROOT:
            root = word[: -len(suffix)]
            if len(root) > MIN_ROOT and root[-1] == root[-2] and root[-1] not in "aeiousl":
                root = root[:-1]  # "stopped" -> "stop", as the porter stemmer of the index does
            return root
    return word


def fts_term(term: str) -> str:
    """FTS5 expression for one query word: the word itself (porter-stemmed by the index) or its root as a prefix."""
    root = word_root(term)
    if root == term:
        return f'"{term}"'
    return f'("{term}" OR "{root}"*)'


def term_body(term: str) -> str:
    """`term_pattern` without its leading word boundary: the root, then what may follow it."""
    root = word_root(term)
    tail = r"\w*" if len(root) >= MIN_ROOT else r"\w{0,2}\b"
    return re.escape(root) + tail


@lru_cache(maxsize=4096)
def term_pattern(term: str) -> re.Pattern[str]:
    """Words starting with the term's root; a root too short to strip matches itself plus at most 2 letters (dog, dogs)."""
    return re.compile(rf"\b{term_body(term)}")


def term_matches(term: str, text: str) -> bool:
    """Whether the lower-cased text contains an inflection of the query word."""
    return term_pattern(term).search(text) is not None


def idf(document_count: int, total: int) -> float:
    """BM25's inverse document frequency: rare words weigh more; never negative."""
    return math.log(1.0 + (total - document_count + 0.5) / (document_count + 0.5))


def is_common(document_count: int, total: int) -> bool:
    """Whether a word (or an entity) found in `document_count` of a scope's `total` memories is in
    too many of them to be evidence for any: in more than `MAX_TERM_SHARE` of them, and in more than one."""
    return document_count > 1 and document_count > MAX_TERM_SHARE * total


def term_weight(document_count: int, total: int) -> float:
    """A query word's (or an entity's) weight as evidence: its IDF, or nothing when it is common."""
    return 0.0 if is_common(document_count, total) else idf(document_count, total)


def entity_specificity(linked: int, total: int) -> float:
    """How specific an entity linked to `linked` of a scope's `total` memories is, in [0, 1], like a
    keyword's weight: 1 for an entity one memory is linked to, none for one most are (`is_common`)."""
    return term_weight(linked, total) / idf(1, total)


def without_words(text: str, words: Collection[str]) -> str:
    """The text less every occurrence of the given lower-case words (as `keyword_terms` finds
    them), spaces collapsed; the text itself when nothing else with a word in it would remain."""
    kept = " ".join(WORD.sub(lambda word: "" if word[0].lower() in words else word[0], text).split())
    return kept if WORD.search(kept) else text


def keyword_coverage(terms: Sequence[str], weights: Sequence[float], text: str) -> float:
    """Share of the query's keyword weight that the memory's text contains, in [0, 1]."""
    total = sum(weights)
    if total <= 0:
        return 0.0
    lowered = text.lower()
    found = sum(weight for term, weight in zip(terms, weights) if term_matches(term, lowered))
    return found / total


def relevance(
    similarity: float | None, keyword: float | None = None, graph: float | None = None, context: float | None = None
) -> float:
    """Combined relevance in [0, 1] of independent semantic, keyword, graph and context evidence."""
    # A graph link says the memory is about an entity the query names, not that it answers what
    # is asked: it amplifies the semantic evidence in proportion to the entity's specificity.
    linked = None if graph is None or similarity is None else graph * max(similarity, 0.0)
    miss = 1.0
    for evidence in (similarity, keyword, linked, None if context is None else CONTEXT_WEIGHT * context):
        if evidence is not None:
            miss *= 1.0 - min(max(evidence, 0.0), 1.0)
    return 1.0 - miss


def miss_array(similarity: np.ndarray, keyword: np.ndarray, graph: np.ndarray) -> np.ndarray:
    """1 - `relevance` of many memories at once without context evidence, bit for bit: the product
    of the evidence's misses (absent keyword or graph evidence is 0 here)."""
    miss = (1.0 - np.clip(similarity, 0.0, 1.0)) * (1.0 - np.clip(keyword, 0.0, 1.0))
    miss *= 1.0 - np.clip(graph * np.maximum(similarity, 0.0), 0.0, 1.0)
    return miss


def with_context(miss: np.ndarray, context: np.ndarray) -> np.ndarray:
    """The miss once context evidence is added, bit for bit `relevance`'s; absent context is -inf
    (clipped to 0, which leaves the product unchanged)."""
    return miss * (1.0 - np.clip(CONTEXT_WEIGHT * context, 0.0, 1.0))


def rrf_ranking(rankings: list[tuple[list[Item], float]], k: int) -> dict[Item, float]:
    """Reciprocal rank fusion: sum of weight / (k + rank) over the rankers that returned an item.
    Every backend fuses its rankers with it (`SearchHit.fused_score`, the tie-break of relevance); the
    embedded one with an array form of it over a scope's positions (`sqlite_backend._fused`), equal bit for bit."""
    fused: dict[Item, float] = {}
    for ranked, weight in rankings:
        if weight == 0:
            continue
        for rank, item in enumerate(ranked, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused
