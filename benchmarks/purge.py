"""Purge benchmark: the cost of forgetting one user (`delete_all(purge=True)`) beside a plain
`delete_all`, on the embedded tiers, as the store grows.

A purge rewrites the FTS5 index (`optimize`), checkpoints and truncates the WAL files and scans
the scope-keyed key-value namespaces, so its cost grows with the whole store, not only with the
user's memories. Prints JSON.

    python benchmarks/purge.py --sizes 2000 20000 --memories-per-user 20
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time

import numpy as np
from langchain_core.embeddings import Embeddings

from langmem_plugin import Memory

WORDS = "apple berlin cello dog engine forest guitar harbor island jazz kayak lemon mountain novel ocean piano".split()


class RandomEmbeddings(Embeddings):
    """Random unit vectors: storage cost is measured, not model cost."""

    def __init__(self, dimensions: int = 384):
        self._rng = np.random.default_rng(0)
        self._dimensions = dimensions

    def embed_documents(self, texts):
        vectors = self._rng.standard_normal((len(texts), self._dimensions)).astype(np.float32)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).tolist()

    def embed_query(self, text):
        return self.embed_documents([text])[0]


def run(size: int, per_user: int) -> dict:
    rng = np.random.default_rng(size)
    users = size // per_user
    with tempfile.TemporaryDirectory() as path, Memory({"path": path}, embeddings=RandomEmbeddings()) as memory:
        for user in range(users):
            texts = [f"user{user} likes " + " ".join(rng.choice(WORDS, 4)) + f" item{user}x{i}" for i in range(per_user)]
            memory.add(texts, user_id=f"user{user}", agent_id="bot", infer=False)
            memory.set_profile({"n": user}, user_id=f"user{user}", agent_id="bot")
        timings = {}
        for label, user, purge in (("delete_all_ms", "user0", False), ("purge_ms", "user1", True)):
            started = time.perf_counter()
            memory.delete_all(user_id=user, purge=purge)
            timings[label] = round((time.perf_counter() - started) * 1000, 1)
    return {"memories": size, "users": users, "memories_per_user": per_user, **timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--memories-per-user", type=int, default=20)
    args = parser.parse_args()
    results = [run(size, args.memories_per_user) for size in args.sizes]
    print(json.dumps({"machine": platform.platform(), "python": platform.python_version(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
