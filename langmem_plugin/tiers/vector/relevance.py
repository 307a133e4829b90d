"""Relevance in [0, 1] from each ranker's evidence, and inflection-tolerant keyword terms.

Every vector backend scores its hits with `relevance`, so `SearchHit.score` and `threshold`
mean the same thing whatever stores the vectors:

- semantic evidence: the cosine similarity of query and memory, clipped to [0, 1];
- keyword evidence: the share of the query's keyword weight (IDF, so rare words count more)
  found in the memory, in [0, 1];
- graph evidence: how specific the entities are that link the memory to the query (1 for an
  entity only this memory mentions, near 0 for a hub such as the user, linked to everything).

They are combined as independent pieces of evidence, 1 - (1 - s)(1 - k)(1 - g): any one strong
signal makes a memory relevant, and signals that agree add up, without exceeding 1.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Sequence

_WORD = re.compile(r"\w+", re.UNICODE)
# Inflectional and common derivational endings, longest first. A query word is matched by its
# root as a prefix, so "allergies", "allergic" and "allergy" all find each other.
_SUFFIXES = ("ically", "ations", "ation", "ities", "ingly", "ings", "ical", "ness", "ment", "ies", "ied", "ing",
             "ers", "est", "ic", "ed", "es", "er", "ly", "al", "y", "s", "e")
MIN_ROOT = 4  # shorter roots would match unrelated words ("car" -> "career")
STOPWORDS = frozenset(
    "a an and are as at be been but by did do does for from had has have he her hers him his how i if in into is it "
    "its me my mine no not of on or our ours she so than that the their theirs them then there these they this those "
    "to too us was we were what when where which who whom why will with would you your yours".split()
)


def keyword_terms(text: str) -> list[str]:
    """The query's distinct content words; each is later quoted, so no FTS syntax can be injected."""
    words: list[str] = []
    for word in _WORD.findall(text.lower()):
        if len(word) > 1 and word not in STOPWORDS and word not in words:
            words.append(word)
    return words[:32]


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


def term_matches(term: str, words: Iterable[str]) -> bool:
    """Whether any of the memory's lower-cased words is an inflection of the query word."""
    root = word_root(term)
    return any(
        word_root(w) == root or (w.startswith(root) and (len(root) >= MIN_ROOT or len(w) - len(root) <= 2))
        for w in words
    )


def idf(document_count: int, total: int) -> float:
    """BM25's inverse document frequency: rare words weigh more; never negative."""
    return math.log(1.0 + (total - document_count + 0.5) / (document_count + 0.5))


def keyword_coverage(terms: Sequence[str], weights: Sequence[float], text: str) -> float:
    """Share of the query's keyword weight that the memory's text contains, in [0, 1]."""
    total = sum(weights)
    if total <= 0:
        return 0.0
    words = set(_WORD.findall(text.lower()))
    found = sum(weight for term, weight in zip(terms, weights) if term_matches(term, words))
    return found / total


def relevance(similarity: float | None, keyword: float | None = None, graph: float | None = None) -> float:
    """Combined relevance in [0, 1] of independent semantic, keyword and graph evidence."""
    miss = 1.0
    for evidence in (similarity, keyword, graph):
        if evidence is not None:
            miss *= 1.0 - min(max(evidence, 0.0), 1.0)
    return 1.0 - miss
