"""Build the tiers, embedder and manager a `Memory` runs on, from config (one factory per backend)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from .config import MemoryConfig
from .errors import ConfigurationError
from .embeddings import CachedEmbeddings
from .pipeline.manager import MemoryManager
from .pipeline.offline_manager import OfflineMemoryManager
from .pipeline.retries import FailedCalls
from .tiers.graph import GraphStore
from .tiers.keyvalue import KeyValueStore
from .tiers.sqlite_common import make_directory
from .tiers.vector import VectorStore


class FinishedKeys:
    """Keys whose entries are done with, collected to be deleted together later (thread-safe)."""

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        with self._lock:
            self._keys.append(key)

    def take(self) -> list[str]:
        """All keys collected so far; the caller deletes them (or gives them back on failure)."""
        with self._lock:
            keys, self._keys = self._keys, []
            return keys

    def give_back(self, keys: list[str]) -> None:
        with self._lock:
            self._keys[:0] = keys


@dataclass
class MemoryServices:
    config: MemoryConfig
    vector: VectorStore
    graph: GraphStore | None
    kv: KeyValueStore
    embedder: CachedEmbeddings
    manager: MemoryManager
    # journal entries whose write is complete: removed with the next journaled write (pipeline/audit.py)
    finished_journal: FinishedKeys = field(default_factory=FinishedKeys)
    # calls of add that raised, for their retry to repeat the same write (pipeline/retries.py)
    failed_adds: FailedCalls = field(default_factory=FailedCalls)

    def close(self) -> None:
        self.vector.close()
        if self.graph is not None:
            self.graph.close()
        self.kv.close()


def _vector_store(config: MemoryConfig, root: Path) -> VectorStore:
    if config.vector.backend == "weaviate":
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
    from .tiers.vector.sqlite_backend import SQLiteVectorStore

    return SQLiteVectorStore(
        root / "vectors.sqlite3",
        synchronous=config.synchronous,
        ann_min_rows=config.vector.ann_min_rows,
        cache_bytes=config.vector.cache_mib * 2**20,
        ann_ef_search=config.vector.ann_ef_search,
    )


def _graph_store(config: MemoryConfig, root: Path) -> GraphStore | None:
    if not config.graph.enabled:
        return None
    if config.graph.backend == "neo4j":
        from .tiers.graph.neo4j_backend import Neo4jGraphStore

        graph = config.graph
        return Neo4jGraphStore(
            graph.uri, graph.user, graph.password, graph.database, retry_seconds=graph.retry_seconds
        )
    from .tiers.graph.sqlite_backend import SQLiteGraphStore

    return SQLiteGraphStore(root / "graph.sqlite3", synchronous=config.synchronous)


def _kv_store(config: MemoryConfig, root: Path) -> KeyValueStore:
    if config.kv.backend == "redis":
        from .tiers.keyvalue.redis_backend import RedisKeyValueStore

        return RedisKeyValueStore(config.kv.url, prefix=config.kv.prefix)
    from .tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore

    return SQLiteKeyValueStore(root / "kv")


def default_embeddings(config: MemoryConfig) -> Embeddings:
    from .embeddings.minilm import MiniLMEmbeddings

    embedder = config.embedder
    return MiniLMEmbeddings(batch_size=embedder.batch_size, runtime=embedder.runtime, threads=embedder.threads)


def configured_chat_model(config: MemoryConfig) -> BaseChatModel | None:
    if config.llm.model is None:
        return None
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise ConfigurationError("llm.model needs langchain-openai: pip install 'langmem-plugin[openai]'") from exc
    try:
        llm = config.llm
        return ChatOpenAI(model=llm.model, base_url=llm.base_url, temperature=llm.temperature)
    except Exception as exc:  # noqa: BLE001 - the provider's own error (e.g. openai.OpenAIError: no API key)
        raise ConfigurationError(
            f"cannot build the chat model {config.llm.model!r}: {type(exc).__name__}: {exc} "
            "(set OPENAI_API_KEY, or pass any LangChain chat model as Memory(llm=...))"
        ) from exc


def _manager(config: MemoryConfig, llm: BaseChatModel | None, kv: KeyValueStore) -> MemoryManager:
    if llm is None:
        return OfflineMemoryManager(config.manager)
    from .llm.manager import LLMMemoryManager
    from .llm.prompts import Prompts

    return LLMMemoryManager(
        llm,
        prompts=Prompts(custom_extraction=config.llm.custom_extraction, custom_update=config.llm.custom_update),
        cache=kv if config.llm.cache else None,
        retries=config.llm.retries,
        structured_output=config.llm.structured_output,
    )


def build_services(
    config: MemoryConfig,
    embeddings: Embeddings | None = None,
    manager: MemoryManager | None = None,
    llm: BaseChatModel | None = None,
) -> MemoryServices:
    """manager= wins over llm=, which wins over config.llm; with none of them the offline manager runs."""
    llm = llm or (None if manager is not None else configured_chat_model(config))  # before any tier opens
    root = Path(config.path).expanduser()
    make_directory(root, "memory directory")
    opened: list = []  # tiers opened so far: closed again when anything after them fails
    try:
        kv = _opened(opened, _kv_store(config, root))
        vector = _opened(opened, _vector_store(config, root))
        graph = _opened(opened, _graph_store(config, root))
        return MemoryServices(
            config=config,
            vector=vector,
            graph=graph,
            kv=kv,
            embedder=CachedEmbeddings(
                embeddings or default_embeddings(config), kv if config.embedder.cache else None
            ),
            manager=manager or _manager(config, llm, kv),
        )
    except BaseException:
        for tier in reversed(opened):
            if tier is not None:
                tier.close()
        raise


def _opened(opened: list, tier):
    opened.append(tier)
    return tier
