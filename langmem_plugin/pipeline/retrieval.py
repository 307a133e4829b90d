"""Search: fusion settings from config, and the graph tier's memories for the query's entities."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Mapping

from ..filters import compile_filters
from ..records import Scope, SearchHit
from ..services import MemoryServices
from ..tiers.vector import SearchParams
from .messages import parse_timestamp
from .validation import check_limit, check_text, check_threshold


def search_params(services: MemoryServices, *, limit: int, **overrides: Any) -> SearchParams:
    """SearchParams from the configured fusion settings; each ranker yields at least `limit` candidates."""
    config = services.config.search
    return SearchParams(
        limit=limit,
        candidates=max(config.candidates, limit),
        rrf_k=config.rrf_k,
        dense_weight=config.dense_weight,
        keyword_weight=config.keyword_weight,
        keyword_max_docs=config.keyword_max_docs,
        graph_weight=config.graph_weight,
        **overrides,
    )


def search(
    services: MemoryServices,
    query: str,
    scope: Scope,
    limit: int = 10,
    filters: Mapping[str, Any] | None = None,
    threshold: float | None = None,
    as_of: Any = None,
) -> list[SearchHit]:
    limits = services.config.limits
    query = check_text(limits, query, "query")
    moment = None if as_of is None else parse_timestamp(as_of, "as_of")
    params = search_params(
        services,
        limit=check_limit(limits, limit),
        threshold=check_threshold(threshold),
        filters=filters,
        as_of=moment,
        graph_memory_ids=_graph_memory_ids(services, scope, query, moment),
    )
    compile_filters(filters)  # reject a bad filter before embedding the query
    vector = services.embedder.embed([query], scope)[0]
    return services.vector.search(scope, vector, query, params)


RARE_ENTITY_RELATIONS = 5
_QUERY_WORD = re.compile(r"[\w'-]+")


def _graph_memory_ids(services: MemoryServices, scope: Scope, query: str, as_of: datetime | None) -> tuple[str, ...]:
    """Memories behind the relations of entities the query names (and their neighbours), newest first.

    Every 1-3 word span of the query is tried as an entity name; the graph tier only returns
    entities that exist in the scope.
    """
    if services.graph is None or not services.config.search.graph_weight:
        return ()
    words = [w.strip("'") for w in _QUERY_WORD.findall(query)]
    spans = {" ".join(words[i : i + n]) for n in (1, 2, 3) for i in range(len(words) - n + 1)}
    spans = {s.removesuffix("'s") for s in spans if s}
    if not spans:
        return ()
    hood = services.graph.neighbourhood(scope, sorted(spans), hops=1, as_of=as_of)
    named = {e.id for e in hood.entities if e.normalized_name in {" ".join(s.lower().split()) for s in spans}}
    degree: dict[str, int] = {}
    for relation in hood.relations:
        for entity_id in {relation.source_id, relation.target_id} & named:
            degree[entity_id] = degree.get(entity_id, 0) + 1
    # Like keywords, entities rank by rarity: a relation counts when it joins two entities the
    # query names, or touches a named entity with few relations (a pet, a city). A hub such as
    # the user, linked to everything, would only add noise.
    rare = {entity_id for entity_id, count in degree.items() if count <= RARE_ENTITY_RELATIONS}
    relevant = [
        r for r in hood.relations if {r.source_id, r.target_id} <= named or {r.source_id, r.target_id} & rare
    ]
    ordered = sorted(relevant, key=lambda r: r.valid_from, reverse=True)
    return tuple(dict.fromkeys(r.memory_id for r in ordered if r.memory_id))
