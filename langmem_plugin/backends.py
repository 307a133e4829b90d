"""The backend registry: the one place that maps the names in `vector.backend`, `graph.backend`
and `kv.backend` to the code that opens them.

A factory takes the whole `MemoryConfig` and the memory directory (already created) and returns
an object implementing the tier's protocol (langmem_plugin/tiers). Config validation reads the
names from here, so a package that registers its backend before building a config can name it:

    register_backend("kv", "dict", lambda config, root: DictKeyValueStore())
    Memory({"kv": {"backend": "dict"}})

Built-in backends import their client library only when opened: each is an optional extra.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .config import MemoryConfig

Tier = Literal["vector", "graph", "kv"]
Factory = Callable[["MemoryConfig", Path], Any]


def _sqlite_vector(config: MemoryConfig, root: Path):
    from .tiers.vector.sqlite_backend import SQLiteVectorStore

    vector = config.vector
    return SQLiteVectorStore(
        root / "vectors.sqlite3",
        synchronous=config.synchronous,
        ann_min_rows=vector.ann_min_rows,
        cache_bytes=vector.cache_mib * 2**20,
        ann_ef_search=vector.ann_ef_search,
    )


def _weaviate_vector(config: MemoryConfig, root: Path):
    from .tiers.vector.weaviate_backend import WeaviateVectorStore

    vector = config.vector
    return WeaviateVectorStore(
        vector.url,
        collection=vector.collection,
        multi_tenancy=vector.multi_tenancy,
        api_key=vector.api_key,
        grpc_port=vector.grpc_port,
        replication_factor=vector.replication_factor,
    )


def _sqlite_graph(config: MemoryConfig, root: Path):
    from .tiers.graph.sqlite_backend import SQLiteGraphStore

    return SQLiteGraphStore(root / "graph.sqlite3", synchronous=config.synchronous)


def _neo4j_graph(config: MemoryConfig, root: Path):
    from .tiers.graph.neo4j_backend import Neo4jGraphStore

    graph = config.graph
    return Neo4jGraphStore(
        graph.uri, graph.user, graph.password, graph.database, retry_seconds=graph.retry_seconds
    )


def _sqlite_kv(config: MemoryConfig, root: Path):
    from .tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore

    return SQLiteKeyValueStore(root / "kv")


def _redis_kv(config: MemoryConfig, root: Path):
    from .tiers.keyvalue.redis_backend import RedisKeyValueStore

    return RedisKeyValueStore(config.kv.url, prefix=config.kv.prefix)


_REGISTRY: dict[str, dict[str, Factory]] = {
    "vector": {"sqlite": _sqlite_vector, "weaviate": _weaviate_vector},
    "graph": {"sqlite": _sqlite_graph, "neo4j": _neo4j_graph},
    "kv": {"diskcache": _sqlite_kv, "redis": _redis_kv},
}


def _tier(tier: str) -> dict[str, Factory]:
    if tier not in _REGISTRY:
        raise ConfigurationError(f"unknown tier {tier!r}: one of {', '.join(_REGISTRY)}")
    return _REGISTRY[tier]


def register_backend(tier: Tier, name: str, factory: Factory, *, replace: bool = False) -> None:
    """Make `name` a valid `<tier>.backend`, opened by `factory(config, root)`. Registering a
    taken name raises ConfigurationError unless `replace=True`, so that two packages never
    silently swap each other's backend."""
    factories = _tier(tier)
    if not name or not isinstance(name, str):
        raise ConfigurationError(f"a backend name is a non-empty string, not {name!r}")
    if name in factories and not replace:
        raise ConfigurationError(f"a {tier} backend named {name!r} is registered already (pass replace=True)")
    factories[name] = factory


def unregister_backend(tier: Tier, name: str) -> None:
    """Forget a registered backend (an outside package's, or a test's)."""
    _tier(tier).pop(name, None)


def backend_names(tier: Tier) -> list[str]:
    return sorted(_tier(tier))


def checked_backend_name(tier: Tier, name: str) -> str:
    """`name` when it is registered for `tier` (config validation), else ConfigurationError."""
    if name not in _tier(tier):
        raise ConfigurationError(
            f"unknown {tier} backend {name!r}: registered backends are {', '.join(backend_names(tier))}"
        )
    return name


def open_backend(tier: Tier, config: MemoryConfig, root: Path) -> Any:
    """The `tier` backend that `config` names, opened."""
    return _tier(tier)[checked_backend_name(tier, getattr(config, tier).backend)](config, root)
