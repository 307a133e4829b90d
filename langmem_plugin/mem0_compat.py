"""Coming from Mem0: its config dict mapped onto `MemoryConfig`, and its `{"results", "relations"}` view.

Migration should take one line, but never at the price of a setting quietly dropped: every Mem0
key or provider that has no equivalent here raises `ConfigurationError` naming it and saying
what to do instead. See docs/coming-from-mem0.md.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from .config import MemoryConfig
from .errors import ConfigurationError
from .records import HistoryEvent, MemoryOperation, MemoryRecord, Neighbourhood, SearchHit

MINILM_DIMENSIONS = 384
MINILM_MODELS = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
MEM0_RESULT_VERSION = "v1.1"  # the {"results": [...]} output format the view reproduces


def _section(name: str, value: Any) -> tuple[str | None, dict[str, Any]]:
    """A Mem0 `{"provider": ..., "config": {...}}` section as (provider, config)."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name} must be a mapping with 'provider' and 'config', got {type(value).__name__}")
    unknown = sorted(set(value) - {"provider", "config"})
    if unknown:
        raise ConfigurationError(f"{name}: cannot honour {', '.join(unknown)} (only 'provider' and 'config' are mapped)")
    config = value.get("config") or {}
    if not isinstance(config, Mapping):
        raise ConfigurationError(f"{name}.config must be a mapping, got {type(config).__name__}")
    return value.get("provider"), dict(config)


def _translate(name: str, config: dict[str, Any], renames: Mapping[str, str], advice: str) -> dict[str, Any]:
    unknown = sorted(set(config) - set(renames))
    if unknown:
        keys = ", ".join(f"{name}.config.{key}" for key in unknown)
        raise ConfigurationError(f"cannot honour {keys}: {advice}")
    return {renames[key]: value for key, value in config.items()}


def _check_dimensions(name: str, config: dict[str, Any], key: str) -> None:
    dimensions = config.pop(key, MINILM_DIMENSIONS)
    if dimensions != MINILM_DIMENSIONS:
        raise ConfigurationError(
            f"{name}.config.{key}={dimensions!r}: the built-in embedder has {MINILM_DIMENSIONS} dimensions; "
            "pass Memory(embeddings=...) for another model"
        )


def _vector_store(value: Any) -> dict[str, Any]:
    provider, config = _section("vector_store", value)
    if provider != "weaviate":
        raise ConfigurationError(
            f"vector_store.provider {provider!r} is not supported: use 'weaviate', or leave vector_store out "
            "for the embedded SQLite vector tier (set 'path' for where it lives)"
        )
    _check_dimensions("vector_store", config, "embedding_model_dims")
    renames = {"cluster_url": "url", "collection_name": "collection", "auth_client_secret": "api_key"}
    return {"backend": "weaviate", **_translate("vector_store", config, renames, "see docs/backends/weaviate.md")}


def _graph_store(value: Any) -> dict[str, Any]:
    provider, config = _section("graph_store", value)
    if provider != "neo4j":
        raise ConfigurationError(
            f"graph_store.provider {provider!r} is not supported: use 'neo4j', or leave graph_store out "
            "for the embedded SQLite graph tier"
        )
    renames = {"url": "uri", "username": "user", "password": "password", "database": "database"}
    return {"backend": "neo4j", **_translate("graph_store", config, renames, "see docs/backends/neo4j.md")}


def _llm(value: Any) -> dict[str, Any]:
    provider, config = _section("llm", value)
    advice = "build the chat model yourself and pass Memory(llm=ChatOpenAI(...)) (any LangChain chat model)"
    if provider != "openai":
        raise ConfigurationError(f"llm.provider {provider!r} is not mapped: {advice}")
    renames = {"model": "model", "temperature": "temperature", "openai_base_url": "base_url"}
    return _translate("llm", config, renames, advice + "; the API key is read from OPENAI_API_KEY")


def _embedder(value: Any) -> dict[str, Any]:
    provider, config = _section("embedder", value)
    model = config.pop("model", None)
    if provider != "huggingface" or model not in MINILM_MODELS:
        raise ConfigurationError(
            f"embedder {provider!r} / {model!r} is not built in (only huggingface all-MiniLM-L6-v2 is): "
            "pass any LangChain Embeddings as Memory(embeddings=...)"
        )
    _check_dimensions("embedder", config, "embedding_dims")
    return {"provider": "minilm", **_translate("embedder", config, {}, "the built-in MiniLM takes no settings")}


def _is_mem0_section(key: str, value: Any) -> bool:
    """`llm` and `embedder` exist in both shapes; Mem0's has a provider/config pair."""
    if not isinstance(value, Mapping):
        return False
    if key == "embedder":
        return "config" in value or value.get("provider", "minilm") != "minilm"
    return "config" in value or "provider" in value


def config_from_mem0(data: Mapping[str, Any]) -> MemoryConfig:
    """A Mem0 config dict (vector_store, graph_store, llm, embedder, version, custom prompts), our own
    MemoryConfig dict, or a mix of both (Mem0 sections beside e.g. 'path') -> MemoryConfig."""
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"config must be a mapping, got {type(data).__name__}")
    ours: dict[str, Any] = {}
    mapped: dict[str, Any] = {}
    llm_prompts: dict[str, Any] = {}
    for key, value in data.items():
        if key == "vector_store":
            mapped["vector"] = _vector_store(value)
        elif key == "graph_store":
            mapped["graph"] = _graph_store(value)
        elif key == "llm" and _is_mem0_section(key, value):
            mapped["llm"] = _llm(value)
        elif key == "embedder" and _is_mem0_section(key, value):
            mapped["embedder"] = _embedder(value)
        elif key == "custom_fact_extraction_prompt":
            llm_prompts["custom_extraction"] = value
        elif key == "custom_update_memory_prompt":
            llm_prompts["custom_update"] = value
        elif key == "version":
            if value != MEM0_RESULT_VERSION:
                raise ConfigurationError(f"version {value!r}: only Mem0's {MEM0_RESULT_VERSION!r} result format is provided")
        elif key == "history_db_path":
            raise ConfigurationError(
                "cannot honour history_db_path: the history lives in the key-value tier inside 'path'; set 'path' instead"
            )
        else:
            ours[key] = value
    clashes = sorted(set(mapped) & set(ours))
    if clashes:
        raise ConfigurationError(f"{', '.join(clashes)} given both in Mem0's shape and in ours: keep one")
    merged = {**ours, **mapped}
    if llm_prompts:
        merged["llm"] = {**merged.get("llm", {}), **llm_prompts}
    return MemoryConfig.from_dict(merged)


def _relations(neighbourhood: Neighbourhood | None) -> list[dict[str, str]]:
    if neighbourhood is None:
        return []
    names = {entity.id: entity.name for entity in neighbourhood.entities}
    return [
        {"source": names.get(r.source_id, r.source_id), "relationship": r.relation, "destination": names.get(r.target_id, r.target_id)}
        for r in neighbourhood.relations
    ]


def as_mem0_result(
    items: Iterable[SearchHit | MemoryRecord | MemoryOperation | HistoryEvent], relations: Neighbourhood | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Mem0's `{"results": [...], "relations": [...]}` for what search / get_all / add returned;
    `relations` from `memory.related(...)` fills the graph part (Mem0 search's source /
    relationship / destination triples)."""
    return {"results": [item.to_dict() for item in items], "relations": _relations(relations)}
