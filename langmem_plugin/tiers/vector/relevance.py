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

One ranker scores and orders every backend's hits: a backend finds `Candidates` (each ranker's
list, best first, and every candidate's raw signals: cosine similarity, the query words' counts
and which candidates contain them, graph specificity, neighbouring turns) and `rank` fuses,
scores, filters by threshold and orders them. The embedded backend's scopes are arrays, ranked by
`rank_scope`, the same computation over them, equal bit for bit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, TypeVar

import numpy as np

from .base import SearchParams

Key = TypeVar("Key", bound=Hashable)

WORD = re.compile(r"\w+", re.UNICODE)
# Inflectional and common derivational endings, longest first. A query word is matched by its
# root as a prefix, so "allergies", "allergic" and "allergy" all find each other.
_SUFFIXES = (
    "ically",
    "ations",
    "ation",
    "ities",
    "ingly",
    "ings",
    "ical",
    "ness",
    "ment",
    "ies",
    "ied",
    "ing",
    "ers",
    "est",
    "ic",
    "ed",
    "es",
    "er",
    "ly",
    "al",
    "y",
    "s",
    "e",
)
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
    "a an and are as at be been but by did do does for from had has have he her hers him his how i if "
    "in into is it its me my mine no not of on or our ours she so than that the their theirs them then "
    "there these they this those to too us was we were what when where which who whom why will with "
    "would you your yours".split()
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
    """FTS5 expression for one query word: the word itself (porter-stemmed by the index) or its root as
    a prefix."""
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
    """Words starting with the term's root; a root too short to strip matches itself plus at most 2
    letters (dog, dogs)."""
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


def relevance(
    similarity: float | None,
    keyword: float | None = None,
    graph: float | None = None,
    context: float | None = None,
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


def rrf_ranking(rankings: Sequence[tuple[Sequence[Key], float]], k: int) -> dict[Key, float]:
    """Reciprocal rank fusion: sum of weight / (k + rank) over the rankers that returned an item, in
    the order items are first found (a ranker of weight 0 is left out). `rank` breaks ties of
    relevance with it and keeps it as `SearchHit.fused_score`."""
    fused: dict[Key, float] = {}
    for ranked, weight in rankings:
        if weight == 0:
            continue
        for rank_, item in enumerate(ranked, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank_)
    return fused


# -- the ranker --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TermEvidence(Generic[Key]):
    """A query word the keyword ranker weighed: how many of the scope's memories contain it (its
    weight is `term_weight` of that count) and which candidates do (more keys do no harm)."""

    term: str
    document_count: int
    found: Collection[Key]


@dataclass(frozen=True)
class Candidates(Generic[Key]):
    """What a vector backend found for one query: each ranker's list, best first, and the raw signals
    `rank` scores them by, under the backend's own keys (memory ids, positions in a scope's arrays).

    The candidates are the keys in the lists of rankers whose weight is not 0, in the order they
    are first found (dense, keyword, graph), then the neighbouring turns of candidates that are
    not candidates themselves. `similarity` holds the cosine with the query vector of every one.
    """

    dense: Sequence[Key] = ()
    keyword: Sequence[Key] = ()
    graph: Sequence[Key] = ()
    similarity: Mapping[Key, float] = field(default_factory=dict)
    # graph evidence: specificity of the entities linking a candidate to the query (SearchParams.graph_links)
    specificity: Mapping[Key, float] = field(default_factory=dict)
    # the query words the keyword ranker weighed (none: no keyword evidence), counted among `total` memories
    terms: Sequence[TermEvidence[Key]] = ()
    total: int = 0
    # (candidate, a memory stored right before or after it in the same conversation)
    neighbours: Sequence[tuple[Key, Key]] = ()


@dataclass(frozen=True)
class Ranked(Generic[Key]):
    """A candidate `rank` kept: its relevance, each piece of its evidence, its fusion value and its
    rank in each ranker, named as `SearchHit`'s fields."""

    key: Key
    score: float
    similarity: float
    keyword_score: float | None
    graph_score: float | None
    context_score: float | None
    fused_score: float | None
    dense_rank: int | None
    keyword_rank: int | None
    graph_rank: int | None

    def hit_fields(self) -> dict[str, Any]:
        """The `SearchHit` fields other than the memory."""
        return {
            "score": self.score,
            "similarity": self.similarity,
            "keyword_score": self.keyword_score,
            "graph_score": self.graph_score,
            "context_score": self.context_score,
            "fused_score": self.fused_score,
            "dense_rank": self.dense_rank,
            "keyword_rank": self.keyword_rank,
            "graph_rank": self.graph_rank,
        }


def term_evidence(counts: Sequence[tuple[str, int]], texts: Mapping[Key, str]) -> list[TermEvidence[Key]]:
    """Each counted query word with the keys of the texts that contain an inflection of it."""
    lowered = [(key, text.lower()) for key, text in texts.items()]
    return [
        TermEvidence(term, count, [key for key, text in lowered if term_matches(term, text)])
        for term, count in counts
    ]


def _weights(terms: Sequence[TermEvidence], total: int) -> list[float]:
    return [term_weight(t.document_count, total) for t in terms]


def _coverage(terms: Sequence[TermEvidence[Key]], total: int, keys: Sequence[Key]) -> dict[Key, float]:
    """Each key's keyword evidence: the share of the query words' weight found in its memory."""
    weights = _weights(terms, total)
    whole = sum(weights)
    if whole <= 0:
        return dict.fromkeys(keys, 0.0)
    found = [set(t.found) for t in terms]
    return {
        key: sum(w for w, having in zip(weights, found, strict=True) if key in having) / whole for key in keys
    }


def rank(candidates: Candidates[Key], params: SearchParams) -> list[Ranked[Key]]:
    """The candidates by relevance, each ranker's evidence times its weight; ties by rank fusion, then
    in the order found. With `params.context`, neighbouring turns join the candidates and lend context
    evidence; those under `params.threshold` are left out; at most `params.limit`."""
    found = candidates
    fused = rrf_ranking(
        [
            (found.dense, params.dense_weight),
            (found.keyword, params.keyword_weight),
            (found.graph, params.graph_weight),
        ],
        params.rrf_k,
    )
    pairs = [(key, near) for key, near in found.neighbours if key in fused] if params.context else []
    keys = list(dict.fromkeys([*fused, *(near for _, near in pairs)]))
    coverage = _coverage(found.terms, found.total, keys) if params.keyword_weight and found.terms else {}
    evidence = {
        key: (
            params.dense_weight * found.similarity[key],
            params.keyword_weight * coverage[key] if coverage else None,
            params.graph_weight * found.specificity[key] if key in found.specificity else None,
        )
        for key in keys
    }
    own = {key: relevance(*evidence[key]) for key in keys}
    context: dict[Key, float] = {}
    for key, near in pairs:
        context[key] = max(context.get(key, -math.inf), own[near])
        context[near] = max(context.get(near, -math.inf), own[key])
    score = {key: relevance(*evidence[key], context[key]) if key in context else own[key] for key in keys}
    ordered = sorted(keys, key=lambda key: (-score[key], -fused.get(key, 0.0)))
    if params.threshold is not None:
        ordered = [key for key in ordered if score[key] >= params.threshold]
    ranks = [
        {key: r for r, key in enumerate(ranked, start=1)}
        for ranked in (found.dense, found.keyword, found.graph)
    ]
    return [
        Ranked(
            key,
            score[key],
            found.similarity[key],
            coverage.get(key),
            found.specificity.get(key),
            context.get(key),
            fused.get(key) or None,
            *(at.get(key) for at in ranks),
        )
        for key in ordered[: params.limit]
    ]


# -- the same ranker over a scope's arrays ---------------------------------------------------------

_NO_POSITIONS = np.zeros(0, dtype=np.int64)


def first_occurrences(values: np.ndarray) -> np.ndarray:
    """The distinct values in the order they first occur (a dict keeps that order; faster than
    np.unique for the few hundred candidates of a search)."""
    return np.fromiter(dict.fromkeys(values.tolist()), dtype=np.int64)


@dataclass(frozen=True)
class ScopeCandidates:
    """`Candidates` keyed by the positions (0 to `size` - 1) of a scope held in arrays, as the
    embedded backend holds its scopes: `rank_scope` ranks them.

    `similarity` is that of the positions in `scored` (every candidate and neighbour, in any
    order); a term's `found` is an array of positions; `neighbours` holds the pairs' two sides.
    """

    size: int
    dense: list[int]
    keyword: list[int]
    graph: list[int]
    specificity: dict[int, float]
    scored: np.ndarray
    similarity: np.ndarray
    terms: list[TermEvidence[int]]
    total: int
    neighbours: tuple[np.ndarray, np.ndarray] = (_NO_POSITIONS, _NO_POSITIONS)

    def keyed(self, keys: Mapping[int, Key]) -> Candidates[Key]:
        """The same candidates under other keys; `keys` maps every position listed or scored."""
        scored = self.scored.tolist()
        inside = set(scored)
        return Candidates(
            dense=[keys[p] for p in self.dense],
            keyword=[keys[p] for p in self.keyword],
            graph=[keys[p] for p in self.graph],
            similarity={keys[p]: s for p, s in zip(scored, self.similarity.tolist(), strict=True)},
            specificity={keys[p]: s for p, s in self.specificity.items()},
            terms=[
                TermEvidence(
                    t.term, t.document_count, [keys[p] for p in np.asarray(t.found).tolist() if p in inside]
                )
                for t in self.terms
            ],
            total=self.total,
            neighbours=[
                (keys[a], keys[b]) for a, b in zip(*(side.tolist() for side in self.neighbours), strict=True)
            ],
        )


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


def fused_array(
    size: int, rankings: Sequence[tuple[Sequence[int], float]], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """`rrf_ranking` over positions 0 to `size` - 1: the fused positions in first-found order, and
    every position's fused value (0 for the others), summed in the same order, so bit for bit equal."""
    fused = np.zeros(size)
    found = [_NO_POSITIONS]
    for ranked, weight in rankings:
        if weight == 0 or not len(ranked):
            continue
        at = np.asarray(ranked, dtype=np.int64)
        fused[at] += weight / (k + np.arange(1, len(at) + 1))
        found.append(at)
    return first_occurrences(np.concatenate(found)), fused


def rank_scope(found: ScopeCandidates, params: SearchParams) -> list[Ranked[int]]:
    """`rank` of a scope's candidates, computed over its arrays: the same hits bit for bit.

    Every array below is over the `scored` positions (their slots); the candidates are a subset.
    """
    positions, fused = fused_array(
        found.size,
        [
            (found.dense, params.dense_weight),
            (found.keyword, params.keyword_weight),
            (found.graph, params.graph_weight),
        ],
        params.rrf_k,
    )
    slot = np.full(found.size, -1, dtype=np.int64)
    slot[found.scored] = np.arange(len(found.scored))
    pairs = (_NO_POSITIONS, _NO_POSITIONS)
    if params.context and len(found.neighbours[0]):
        is_fused = np.zeros(len(found.scored), dtype=bool)
        is_fused[slot[positions]] = True
        of_fused = is_fused[slot[found.neighbours[0]]]
        pairs = (slot[found.neighbours[0][of_fused]], slot[found.neighbours[1][of_fused]])
        positions = first_occurrences(np.concatenate([positions, found.neighbours[1][of_fused]]))
    coverage = None
    if params.keyword_weight and found.terms:
        weights = _weights(found.terms, found.total)
        whole = sum(weights)
        coverage = np.zeros(len(found.scored))
        if whole > 0:
            having = np.zeros(found.size)
            for term, weight in zip(found.terms, weights, strict=True):
                having[np.asarray(term.found, dtype=np.int64)] += weight
            coverage = having[found.scored] / whole
    graph = np.zeros(found.size)
    graph[list(found.specificity)] = list(found.specificity.values())
    evidence = (
        found.similarity,
        np.zeros(len(found.scored)) if coverage is None else coverage,
        graph[found.scored],
    )
    score, context = _scores(params, evidence, pairs)
    candidates = slot[positions]
    # stable: ties of relevance and fusion keep the candidates' order
    order = candidates[np.lexsort((-fused[positions], -score[candidates]))]
    if params.threshold is not None:
        order = order[score[order] >= params.threshold]
    order = order[: params.limit].tolist()
    ranks = [
        {p: r for r, p in enumerate(ranked, start=1)} for ranked in (found.dense, found.keyword, found.graph)
    ]
    hits = []
    for at, position in zip(order, found.scored[order].tolist(), strict=True):
        hits.append(
            Ranked(
                position,
                float(score[at]),
                float(found.similarity[at]),
                None if coverage is None else float(coverage[at]),
                found.specificity.get(position),
                None if context[at] == -np.inf else float(context[at]),
                float(fused[position]) if fused[position] else None,
                *(at_rank.get(position) for at_rank in ranks),
            )
        )
    return hits


def _scores(
    params: SearchParams,
    evidence: tuple[np.ndarray, np.ndarray, np.ndarray],
    pairs: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Relevance and context evidence of each slot; `pairs` are (slot, neighbouring slot). A slot's
    context is its best neighbour's own relevance, either side; -inf without neighbours."""
    similarity, coverage, graph = evidence
    miss = miss_array(
        params.dense_weight * similarity, params.keyword_weight * coverage, params.graph_weight * graph
    )
    own = 1.0 - miss
    context = np.full(len(similarity), -np.inf)
    if not len(pairs[0]):
        return own, context
    slots, near_slots = pairs
    np.maximum.at(context, slots, own[near_slots])
    np.maximum.at(context, near_slots, own[slots])
    return 1.0 - with_context(miss, context), context
