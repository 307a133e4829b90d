"""Every backend of each tier, by name; the contract suites run against all of them.

A production backend (Neo4j, Redis, Weaviate) adds its factory here and, where it needs a
server, a fixture that starts one or skips with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from langmem_plugin.tiers.graph.sqlite_backend import SQLiteGraphStore
from langmem_plugin.tiers.keyvalue.diskcache_backend import DiskCacheKeyValueStore
from langmem_plugin.tiers.vector.sqlite_backend import SQLiteVectorStore

VECTOR_BACKENDS: dict[str, Callable[[Path], object]] = {
    "sqlite": lambda root: SQLiteVectorStore(root / "vectors.sqlite3"),
    # every scope answered by the HNSW graph, so the contract also holds for approximate search
    "sqlite-hnsw": lambda root: SQLiteVectorStore(root / "vectors.sqlite3", ann_min_rows=1),
}
GRAPH_BACKENDS: dict[str, Callable[[Path], object]] = {
    "sqlite": lambda root: SQLiteGraphStore(root / "graph.sqlite3"),
}
KV_BACKENDS: dict[str, Callable[[Path], object]] = {
    "diskcache": lambda root: DiskCacheKeyValueStore(root / "kv"),
}
