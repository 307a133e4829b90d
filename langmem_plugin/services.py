"""Build the tiers, embedder and manager a `Memory` runs on, from config (one factory per backend)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from langchain_core.embeddings import Embeddings

from .config import MemoryConfig
from .embeddings import CachedEmbeddings
from .pipeline.manager import MemoryManager
from .pipeline.offline_manager import OfflineMemoryManager
from .tiers.graph import GraphStore
from .tiers.keyvalue import KeyValueStore
from .tiers.vector import VectorStore


@dataclass
class MemoryServices:
    config: MemoryConfig
    vector: VectorStore
    graph: GraphStore | None
    kv: KeyValueStore
    embedder: CachedEmbeddings
    manager: MemoryManager

    def close(self) -> None:
        self.vector.close()
        if self.graph is not None:
            self.graph.close()
        self.kv.close()


def _vector_store(config: MemoryConfig, root: Path) -> VectorStore:
    from .tiers.vector.sqlite_backend import SQLiteVectorStore

    return SQLiteVectorStore(
        root / "vectors.sqlite3", synchronous=config.synchronous, ann_min_rows=config.vector.ann_min_rows
    )


def _graph_store(config: MemoryConfig, root: Path) -> GraphStore | None:
    if not config.graph.enabled:
        return None
    from .tiers.graph.sqlite_backend import SQLiteGraphStore

    return SQLiteGraphStore(root / "graph.sqlite3", synchronous=config.synchronous)


def _kv_store(config: MemoryConfig, root: Path) -> KeyValueStore:
    from .tiers.keyvalue.diskcache_backend import DiskCacheKeyValueStore

    return DiskCacheKeyValueStore(root / "kv")


def default_embeddings(config: MemoryConfig) -> Embeddings:
    from .embeddings.minilm import MiniLMEmbeddings

    return MiniLMEmbeddings(batch_size=config.embedder.batch_size)


def build_services(
    config: MemoryConfig, embeddings: Embeddings | None = None, manager: MemoryManager | None = None
) -> MemoryServices:
    root = Path(config.path).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    kv = _kv_store(config, root)
    return MemoryServices(
        config=config,
        vector=_vector_store(config, root),
        graph=_graph_store(config, root),
        kv=kv,
        embedder=CachedEmbeddings(embeddings or default_embeddings(config), kv if config.embedder.cache else None),
        manager=manager or OfflineMemoryManager(config.manager),
    )
