"""Coming from Mem0: its config dict mapped onto `MemoryConfig`, and its `{"results", "relations"}` view.

Migration should take one line, but never at the price of a setting quietly dropped: every Mem0
key or provider that has no equivalent here is named, with what to do instead, in one
`ConfigurationError`. See docs/coming-from-mem0.md; `langmem_plugin.mem0` is the drop-in facade.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from .config import MemoryConfig
from .errors import ConfigurationError, InvalidFilterError
from .records import (
    Entity,
    HistoryEvent,
    MemoryOperation,
    MemoryRecord,
    Neighbourhood,
    Relation,
    Scope,
    SearchHit,
)
from .services import MemoryServices
from .tiers.graph.base import normalize_name

MINILM_DIMENSIONS = 384
MINILM_MODELS = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
MEM0_RESULT_VERSION = "v1.1"  # the {"results": [...]} output format the view reproduces


Problems = list[str]  # what cannot be honoured, collected so that one error names them all


def _section(name: str, value: Any, problems: Problems) -> tuple[str | None, dict[str, Any]] | None:
    """A Mem0 `{"provider": ..., "config": {...}}` section as (provider, config); None when unusable."""
    if not isinstance(value, Mapping):
        problems.append(f"{name} must be a mapping with 'provider' and 'config', got {type(value).__name__}")
        return None
    unknown = sorted(set(value) - {"provider", "config"})
    if unknown:
        keys = ", ".join(unknown)
        problems.append(f"{name}: cannot honour {keys} (only 'provider' and 'config' are mapped)")
    config = value.get("config") or {}
    if not isinstance(config, Mapping):
        problems.append(f"{name}.config must be a mapping, got {type(config).__name__}")
        return None
    return value.get("provider"), dict(config)


def _translate(
    name: str, config: dict[str, Any], renames: Mapping[str, str], advice: str, problems: Problems
) -> dict[str, Any]:
    unknown = sorted(set(config) - set(renames))
    if unknown:
        keys = ", ".join(f"{name}.config.{key}" for key in unknown)
        problems.append(f"cannot honour {keys}: {advice}")
    return {renames[key]: value for key, value in config.items() if key in renames}


def _check_dimensions(name: str, config: dict[str, Any], key: str, problems: Problems) -> None:
    dimensions = config.pop(key, MINILM_DIMENSIONS)
    if dimensions != MINILM_DIMENSIONS:
        problems.append(
            f"{name}.config.{key}={dimensions!r}: the built-in embedder has {MINILM_DIMENSIONS} dimensions; "
            "pass Memory(embeddings=...) for another model"
        )


def _backend(
    name: str,
    value: Any,
    problems: Problems,
    provider: str,
    renames: Mapping[str, str],
    instead: str,
    dimensions: str = "",
) -> dict:
    """A vector / graph store section: only `provider` has a backend here; `dimensions` names the
    config key that must agree with the built-in embedder."""
    section = _section(name, value, problems)
    if section is None:
        return {}
    given, config = section
    if given != provider:
        problems.append(
            f"{name}.provider {given!r} is not supported: use {provider!r}, or leave {name} out {instead}"
        )
        return {}
    if dimensions:
        _check_dimensions(name, config, dimensions, problems)
    return {
        "backend": provider,
        **_translate(name, config, renames, f"see docs/backends/{provider}.md", problems),
    }


def _vector_store(value: Any, problems: Problems) -> dict[str, Any]:
    renames = {"cluster_url": "url", "collection_name": "collection", "auth_client_secret": "api_key"}
    instead = "for the embedded SQLite vector tier (set 'path' for where it lives)"
    return _backend("vector_store", value, problems, "weaviate", renames, instead, "embedding_model_dims")


def _graph_store(value: Any, problems: Problems) -> dict[str, Any]:
    renames = {"url": "uri", "username": "user", "password": "password", "database": "database"}
    return _backend("graph_store", value, problems, "neo4j", renames, "for the embedded SQLite graph tier")


def _llm(value: Any, problems: Problems) -> dict[str, Any]:
    section = _section("llm", value, problems)
    if section is None:
        return {}
    provider, config = section
    advice = "build the chat model yourself and pass Memory(llm=ChatOpenAI(...)) (any LangChain chat model)"
    if provider != "openai":
        problems.append(f"llm.provider {provider!r} is not mapped: {advice}")
        return {}
    renames = {"model": "model", "temperature": "temperature", "openai_base_url": "base_url"}
    return _translate("llm", config, renames, advice + "; the API key is read from OPENAI_API_KEY", problems)


def _embedder(value: Any, problems: Problems) -> dict[str, Any]:
    section = _section("embedder", value, problems)
    if section is None:
        return {}
    provider, config = section
    model = config.pop("model", None)
    if provider != "huggingface" or model not in MINILM_MODELS:
        problems.append(
            f"embedder {provider!r} / {model!r} is not built in (only huggingface all-MiniLM-L6-v2 is): "
            "pass any LangChain Embeddings as Memory(embeddings=...)"
        )
        return {}
    _check_dimensions("embedder", config, "embedding_dims", problems)
    extra = _translate("embedder", config, {}, "the built-in MiniLM takes no settings", problems)
    return {"provider": "minilm", **extra}


def _is_mem0_section(key: str, value: Any) -> bool:
    """`llm` and `embedder` exist in both shapes; Mem0's has a provider/config pair."""
    if not isinstance(value, Mapping):
        return False
    if key == "embedder":
        return "config" in value or value.get("provider", "minilm") != "minilm"
    return "config" in value or "provider" in value


_SECTIONS = {"vector_store": ("vector", _vector_store), "graph_store": ("graph", _graph_store)}
_MIXED_SECTIONS = {"llm": _llm, "embedder": _embedder}
# Mem0 settings that have no equivalent, with what to do instead.
_UNSUPPORTED = {
    "history_db_path": "the history lives in the key-value tier inside 'path'; set 'path' instead",
    "reranker": "search orders results by its own relevance score (docs/architecture.md); leave reranker out",
}


def config_from_mem0(data: Mapping[str, Any]) -> MemoryConfig:
    """A Mem0 config dict (vector_store, graph_store, llm, embedder, version, custom prompts), our own
    MemoryConfig dict, or a mix of both (Mem0 sections beside e.g. 'path') -> MemoryConfig.

    Every setting that cannot be honoured is named in one ConfigurationError, one per line."""
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"config must be a mapping, got {type(data).__name__}")
    problems: Problems = []
    ours: dict[str, Any] = {}
    mapped: dict[str, Any] = {}
    llm_prompts: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            ours_key, translate = _SECTIONS[key]
            mapped[ours_key] = translate(value, problems)
        elif key in _MIXED_SECTIONS and _is_mem0_section(key, value):
            mapped[key] = _MIXED_SECTIONS[key](value, problems)
        elif key == "custom_fact_extraction_prompt":
            llm_prompts["custom_extraction"] = value
        elif key == "custom_update_memory_prompt":
            llm_prompts["custom_update"] = value
        elif key == "version":
            if value != MEM0_RESULT_VERSION:
                problems.append(
                    f"version {value!r}: only Mem0's {MEM0_RESULT_VERSION!r} result format is provided"
                )
        elif key in _UNSUPPORTED:
            problems.append(f"cannot honour {key}: {_UNSUPPORTED[key]}")
        else:
            ours[key] = value
    clashes = sorted(set(mapped) & set(ours))
    if clashes:
        problems.append(f"{', '.join(clashes)} given both in Mem0's shape and in ours: keep one")
    merged = {**ours, **{key: section for key, section in mapped.items() if key not in clashes}}
    if llm_prompts:
        merged["llm"] = {**merged.get("llm", {}), **llm_prompts}
    try:
        config = MemoryConfig.model_validate(merged)
    except ValidationError as exc:
        problems.extend(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
    if problems:
        count = f"{len(problems)} settings" if len(problems) > 1 else "a setting"
        listed = "\n- ".join(problems)
        raise ConfigurationError(f"cannot use this config, {count} cannot be honoured:\n- {listed}")
    return config


# -- Mem0's search filters -------------------------------------------------------------------

SCOPE_KEYS = ("user_id", "agent_id", "run_id")
_OPERATORS = {op: f"${op}" for op in ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")}


def _condition(key: str, condition: Any) -> Any:
    if not isinstance(condition, Mapping):
        if condition == "*":
            raise InvalidFilterError(f"filter {key!r}: the wildcard '*' is not supported; leave the key out")
        return condition
    translated = {}
    for operator, value in condition.items():
        ours = operator if operator in _OPERATORS.values() else _OPERATORS.get(operator)
        if ours is None:
            raise InvalidFilterError(
                f"filter {key!r}: operator {operator!r} is not supported "
                "(use eq, ne, gt, gte, lt, lte, in, nin)"
            )
        translated[ours] = value
    return translated


def filters_from_mem0(filters: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mem0's `filters` -> (scope ids it names, metadata filters in our `$` operators).

    Mem0 puts the scope ids beside metadata conditions (`{"user_id": "alex", "topic": "food"}`),
    writes operators without `$` (`{"gte": 3}`) and joins conditions with AND; OR, NOT, the
    wildcard, `contains` and `actor_id` have no equivalent and raise InvalidFilterError."""
    if filters is None:
        return {}, {}
    if not isinstance(filters, Mapping):
        raise InvalidFilterError(f"filters must be a mapping, got {type(filters).__name__}")
    ids: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    pending = list(filters.items())
    while pending:
        key, condition = pending.pop(0)
        if key == "AND":
            if not isinstance(condition, list) or not all(isinstance(c, Mapping) for c in condition):
                raise InvalidFilterError("filter AND needs a list of conditions")
            pending.extend(item for part in condition for item in part.items())
        elif key in ("OR", "NOT", "actor_id"):
            raise InvalidFilterError(f"filter {key!r} is not supported: metadata filters are joined with AND")
        elif key in SCOPE_KEYS:
            ids[key] = condition
        elif key in metadata:
            raise InvalidFilterError(f"filter {key!r} is given twice")
        else:
            metadata[key] = _condition(key, condition)
    return ids, metadata


# -- results ---------------------------------------------------------------------------------


def _relations(neighbourhood: Neighbourhood | None) -> list[dict[str, str]]:
    if neighbourhood is None:
        return []
    names = {entity.id: entity.name for entity in neighbourhood.entities}
    return [
        {
            "source": names.get(r.source_id, r.source_id),
            "relationship": r.relation,
            "destination": names.get(r.target_id, r.target_id),
        }
        for r in neighbourhood.relations
    ]


def as_mem0_result(
    items: Iterable[SearchHit | MemoryRecord | MemoryOperation | HistoryEvent],
    relations: Neighbourhood | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Mem0's `{"results": [...], "relations": [...]}` for what search / get_all / add returned;
    `relations` from `memory.related(...)` fills the graph part (Mem0 search's source /
    relationship / destination triples)."""
    return {"results": [item.to_dict() for item in items], "relations": _relations(relations)}


def relations_of(services: MemoryServices, records: Sequence[MemoryRecord]) -> Neighbourhood:
    """The current graph relations extracted from these memories, with their entities: the
    `relations` Mem0 returns beside a result. Only entities named in the memories' texts are
    looked up, one scope at a time (a memory's relations live in its own scope)."""
    if services.graph is None or not records:
        return Neighbourhood(entities=[], relations=[])
    wanted = {record.id for record in records}
    by_scope: dict[Scope, list[MemoryRecord]] = {}
    for record in records:
        by_scope.setdefault(record.scope, []).append(record)
    entities: dict[str, Entity] = {}
    relations: dict[str, Relation] = {}
    for scope, group in by_scope.items():
        text = " ".join(normalize_name(record.text) for record in group)
        names = [entity.name for entity in services.graph.entities(scope) if entity.normalized_name in text]
        if not names:
            continue
        hood = services.graph.neighbourhood(scope, names, hops=1)
        entities.update((entity.id, entity) for entity in hood.entities)
        relations.update((r.id, r) for r in hood.relations if r.memory_id in wanted)
    return Neighbourhood(entities=list(entities.values()), relations=list(relations.values()))
