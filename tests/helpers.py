"""Test helpers shared by several test modules."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings


class HashingEmbeddings(Embeddings):
    """Fast bag-of-words embedder for tests that need many writes but no model semantics."""

    def __init__(self, dimensions: int = 64):
        self.dimensions = dimensions
        self.model = f"hashing-{dimensions}"

    def _vector(self, text: str) -> list[float]:
        vector = np.zeros(self.dimensions, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.md5(word.encode()).digest()
            vector[int.from_bytes(digest[:4], "little") % self.dimensions] += 1.0
        norm = np.linalg.norm(vector)
        return (vector / norm if norm else vector).tolist()

    def embed_documents(self, texts):
        return [self._vector(t) for t in texts]

    def embed_query(self, text):
        return self._vector(text)


def stored_bytes(memory) -> dict[str, bytes]:
    """What a memory has stored anywhere, to scan for bytes that should be gone: every file of its
    directory, and what its servers hold (every Redis key and value under its prefix, every Neo4j
    node and relationship, every object and tenant name of its Weaviate collections)."""
    root = Path(memory.config.path)
    stored = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    services = memory.services
    if memory.config.kv.backend == "redis":
        client = services.kv._client
        names = sorted(client.scan_iter(match=f"{memory.config.kv.prefix}:*", count=1000))
        stored["redis"] = b"\n".join(part for name in names for part in (name, client.get(name) or b""))
    if memory.config.graph.enabled and memory.config.graph.backend == "neo4j":
        everything = "MATCH (n) OPTIONAL MATCH (n)-[r]-() RETURN properties(n) AS n, properties(r) AS r"
        rows = services.graph._run(everything)
        stored["neo4j"] = "\n".join(repr((row["n"], row["r"])) for row in rows).encode()
    if memory.config.vector.backend == "weaviate":
        vector = services.vector
        handles = [vector._collection]
        if memory.config.vector.multi_tenancy:  # the tenant map too, and each tenant's shard
            tenants = sorted(vector._collection.tenants.get())
            stored["weaviate tenants"] = "\n".join(tenants).encode()
            handles = [vector._tenant_map, *(vector._collection.with_tenant(name) for name in tenants)]
        objects = [repr(item.properties) for handle in handles for item in handle.iterator()]
        stored["weaviate"] = "\n".join(objects).encode()
    return stored
