"""Search: settings from config, relative dates in the query anchored, the graph tier's links for the
query's entities."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..filters import compile_filters
from ..managers.offline.temporal import anchor_relative_dates
from ..records import Scope, SearchHit, utc_now
from ..services import MemoryServices
from ..tiers.vector import SearchParams
from ..tiers.vector.relevance import entity_specificity, keyword_terms, without_words
from .messages import parse_timestamp
from .validation import check_limit, check_text, check_threshold


def search_params(services: MemoryServices, *, limit: int, **overrides: Any) -> SearchParams:
    """SearchParams from the configured search settings (overridable); each ranker yields at least
    `limit` candidates."""
    config = services.config.search
    settings: dict[str, Any] = {
        "limit": limit,
        "candidates": max(config.candidates, limit),
        "rrf_k": config.rrf_k,
        "dense_weight": config.dense_weight,
        "keyword_weight": config.keyword_weight,
        "keyword_max_docs": config.keyword_max_docs,
        "graph_weight": config.graph_weight,
        "context": config.neighbour_context,
    }
    return SearchParams(**{**settings, **overrides})


def search(
    services: MemoryServices,
    query: str,
    scope: Scope,
    limit: int = 10,
    filters: Mapping[str, Any] | None = None,
    threshold: float | None = None,
    as_of: Any = None,
    include_expired: bool = False,
) -> list[SearchHit]:
    limits = services.config.limits
    query = check_text(limits, query, "query")
    moment = None if as_of is None else parse_timestamp(as_of, "as_of")
    limit, threshold = check_limit(limits, limit), check_threshold(threshold)
    compile_filters(filters)  # reject a bad filter before reading the store
    text = _with_anchored_dates(query, moment or utc_now())
    # Words in most of the scope's memories (the user's name) tell none of them apart: they are left
    # out of the query that is embedded, which they would otherwise be mostly about, and name no entity.
    terms = keyword_terms(text)
    common = set(services.vector.common_terms(scope, terms)) if terms else set()
    params = search_params(
        services,
        limit=limit,
        threshold=threshold,
        filters=filters,
        as_of=moment,
        include_expired=include_expired,
        graph_links=_graph_links(services, scope, query, moment, common),
    )
    vector = services.embedder.embed([without_words(text, common) if common else text], scope)[0]
    return services.vector.search(scope, vector, text, params)


def _with_anchored_dates(query: str, moment: datetime) -> str:
    """The query, followed by its relative dates made absolute at the time it asks about.

    The manager stores "last week" as the absolute week it meant, so the query's "last week" must
    match that; memories stored verbatim keep the relative words, so those stay in the query too.
    """
    anchored = anchor_relative_dates(query, moment)
    return query if anchored == query else f"{query}\n{anchored}"


_QUERY_WORD = re.compile(r"[\w'-]+")


def _made_of(name: str, words: set[str]) -> bool:
    """Whether every keyword of the name is one of the words (a name with no keyword is not)."""
    terms = keyword_terms(name)
    return bool(terms) and set(terms) <= words


def _graph_links(
    services: MemoryServices, scope: Scope, query: str, as_of: datetime | None, common: set[str]
) -> dict[str, float]:
    """Memories behind the relations of entities the query names, with each link's specificity.

    Every 1-3 word span of the query is tried as an entity name; the graph tier only returns
    entities that exist in the scope. Like a keyword's IDF, an entity's specificity falls with
    the share of the scope's memories it is linked to (`relevance.entity_specificity`): 1 for an
    entity one memory mentions, none for an entity linked to most of them (a hub such as the
    user). An entity whose name is made of `common` words (in most of the scope's memories, as
    the user's is even where few of them have a relation to her) is no more specific. Neither
    links anything. A memory linked to several named entities combines them as independent
    evidence. Best (most specific, then newest) first.
    """
    if (
        services.graph is None
        or not services.config.search.graph_weight
        or not services.graph.may_have_entities(scope)
    ):
        return {}
    words = [w.strip("'") for w in _QUERY_WORD.findall(query)]
    spans = {" ".join(words[i : i + n]) for n in (1, 2, 3) for i in range(len(words) - n + 1)}
    spans = {s.removesuffix("'s") for s in spans if s}
    if not spans:
        return {}
    hood = services.graph.neighbourhood(scope, sorted(spans), hops=1, as_of=as_of)
    wanted = {" ".join(s.lower().split()) for s in spans}
    named = {
        e.id for e in hood.entities if e.normalized_name in wanted and not _made_of(e.normalized_name, common)
    }
    linked: dict[str, set[str]] = {}  # entity -> memories its relations came from
    for relation in hood.relations:
        for entity_id in {relation.source_id, relation.target_id} & named:
            if relation.memory_id:
                linked.setdefault(entity_id, set()).add(relation.memory_id)
    if not linked:
        return {}
    total = max(services.vector.count(scope), *(len(m) for m in linked.values()))
    specificity = {e: entity_specificity(len(m), total) for e, m in linked.items()}
    linked = {e: m for e, m in linked.items() if specificity[e] > 0}
    if not linked:
        return {}
    miss: dict[str, float] = {}
    newest: dict[str, datetime] = {}
    for entity_id, memory_ids in linked.items():
        for memory_id in memory_ids:
            miss[memory_id] = miss.get(memory_id, 1.0) * (1.0 - specificity[entity_id])
    for relation in hood.relations:
        if relation.memory_id in miss:
            newest[relation.memory_id] = max(
                newest.get(relation.memory_id, relation.valid_from), relation.valid_from
            )
    ordered = sorted(miss, key=lambda m: (miss[m], -newest[m].timestamp()))
    return {m: 1.0 - miss[m] for m in ordered}
