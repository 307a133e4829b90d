"""Every backend of each tier, by name; the contract suites run against all of them.

A factory takes (root directory, pytest request); a backend that needs a server asks the
request for the session fixture that starts it (tests/conftest.py), which skips with the reason
when the server cannot exist here.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path

from langmem_plugin.encryption import open_keyring
from langmem_plugin.encryption.graph import EncryptedGraphStore
from langmem_plugin.encryption.keyvalue import EncryptedKeyValueStore
from langmem_plugin.encryption.vector import EncryptedVectorStore
from langmem_plugin.tiers.graph.neo4j_backend import Neo4jGraphStore
from langmem_plugin.tiers.graph.sqlite_backend import SQLiteGraphStore
from langmem_plugin.tiers.keyvalue.redis_backend import RedisKeyValueStore
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore
from langmem_plugin.tiers.vector.sqlite_backend import SQLiteVectorStore
from langmem_plugin.tiers.vector.weaviate_backend import WeaviateVectorStore

Factory = Callable[[Path, object], object]


class GraphLedVectorStore(SQLiteVectorStore):
    """Lets the background HNSW work finish before answering, so that searches go through the graph
    (the first search of a scope registers it for indexing)."""

    def search(self, *args, **kwargs):
        super().search(*args, **kwargs)
        assert self.wait_for_ann(timeout=60)
        return super().search(*args, **kwargs)


def _redis(root: Path, request) -> RedisKeyValueStore:
    # a fresh prefix per test keeps tests apart on the one session server
    return RedisKeyValueStore(request.getfixturevalue("redis_url"), prefix=f"t{uuid.uuid4().hex[:12]}")


def _neo4j(root: Path, request) -> Neo4jGraphStore:
    store = Neo4jGraphStore(request.getfixturevalue("neo4j_uri"))
    store.reset()  # one server for the session: every test starts from an empty graph
    return store


def weaviate_store(root: Path, request, *, multi_tenancy: bool) -> WeaviateVectorStore:
    # one collection per test directory on the session server, so a reopen finds the same data
    node = request.getfixturevalue("weaviate_node")
    collection = "T" + hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return WeaviateVectorStore(
        node.url, grpc_port=node.grpc_port, collection=collection, multi_tenancy=multi_tenancy
    )


def encrypted(wrapper, inner_factory: Factory) -> Factory:
    """A backend behind its encrypting tier, with a keyring of its own in a separate embedded
    key-value store, closed with it; the master key is the directory's, so a reopen decrypts."""

    def factory(root: Path, request):
        keys_kv = SQLiteKeyValueStore(root / "keys")
        master_key = hashlib.sha256(str(root).encode()).digest()
        store = wrapper(inner_factory(root, request), open_keyring(keys_kv, master_key))
        close = store.close

        def close_both() -> None:
            close()
            keys_kv.close()

        store.close = close_both
        return store

    return factory


VECTOR_BACKENDS: dict[str, Factory] = {
    "sqlite": lambda root, request: SQLiteVectorStore(root / "vectors.sqlite3"),
    # every scope answered by the HNSW graph, so the contract also holds for approximate search
    "sqlite-hnsw": lambda root, request: GraphLedVectorStore(root / "vectors.sqlite3", ann_min_rows=1),
    "weaviate": lambda root, request: weaviate_store(root, request, multi_tenancy=False),
    "weaviate-tenants": lambda root, request: weaviate_store(root, request, multi_tenancy=True),
}
GRAPH_BACKENDS: dict[str, Factory] = {
    "sqlite": lambda root, request: SQLiteGraphStore(root / "graph.sqlite3"),
    "neo4j": _neo4j,
}
KV_BACKENDS: dict[str, Factory] = {
    "sqlite": lambda root, request: SQLiteKeyValueStore(root / "kv"),
    "redis": _redis,
}
VECTOR_BACKENDS["sqlite-encrypted"] = encrypted(EncryptedVectorStore, VECTOR_BACKENDS["sqlite"])
VECTOR_BACKENDS["weaviate-encrypted"] = encrypted(EncryptedVectorStore, VECTOR_BACKENDS["weaviate"])
GRAPH_BACKENDS["sqlite-encrypted"] = encrypted(EncryptedGraphStore, GRAPH_BACKENDS["sqlite"])
GRAPH_BACKENDS["neo4j-encrypted"] = encrypted(EncryptedGraphStore, GRAPH_BACKENDS["neo4j"])
KV_BACKENDS["sqlite-encrypted"] = encrypted(EncryptedKeyValueStore, KV_BACKENDS["sqlite"])
KV_BACKENDS["redis-encrypted"] = encrypted(EncryptedKeyValueStore, KV_BACKENDS["redis"])
