"""Purge benchmark: the cost of forgetting one user (`delete_all(purge=True)`) beside a plain
`delete_all`, on the embedded tiers, as the store grows.

A purge rewrites the FTS5 index (`optimize`), checkpoints and truncates the WAL files and scans
the scope-keyed key-value namespaces, so its cost grows with the whole store, not only with the
user's memories. Each call deletes another user, `--repeats` times; the JSON gives the median
and every timing.

`--processes P --threads T` measures purges at once instead: P processes of T threads share one
store of `--sizes` memories; each thread adds a memory to one of 8 users, sets its profile and
purges it, `--repeats` times (threads of several processes meet on the same users). The JSON
counts the calls that failed, by error, and gives the latency of the others.

    python benchmarks/purge.py --sizes 2000 20000 --memories-per-user 20 --repeats 5
    python benchmarks/purge.py --sizes 2000 --processes 4 --threads 4 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import statistics
import tempfile
import threading
import time
from collections import Counter

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


def _fill(memory: Memory, size: int, per_user: int) -> int:
    rng = np.random.default_rng(size)
    users = size // per_user
    for user in range(users):
        likes = [" ".join(rng.choice(WORDS, 4)) for _ in range(per_user)]
        texts = [f"user{user} likes {words} item{user}x{i}" for i, words in enumerate(likes)]
        memory.add(texts, user_id=f"user{user}", agent_id="bot", infer=False)
        memory.set_profile({"n": user}, user_id=f"user{user}", agent_id="bot")
    return users


def run(size: int, per_user: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as path, Memory({"path": path}, embeddings=RandomEmbeddings()) as memory:
        users = _fill(memory, size, per_user)
        timings: dict[str, list[float]] = {"delete_all_ms": [], "purge_ms": []}
        for repeat in range(repeats):
            calls = (("delete_all_ms", 2 * repeat, False), ("purge_ms", 2 * repeat + 1, True))
            for label, user, purge in calls:
                started = time.perf_counter()
                memory.delete_all(user_id=f"user{user}", purge=purge)
                timings[label].append(round((time.perf_counter() - started) * 1000, 1))
    medians = {label: statistics.median(values) for label, values in timings.items()}
    return {"memories": size, "users": users, "memories_per_user": per_user, **medians, "each": timings}


def _purging_process(path: str, worker: int, threads: int, repeats: int, barrier, results) -> None:
    latencies, errors = [], Counter()
    with Memory({"path": path}, embeddings=RandomEmbeddings()) as memory:
        barrier.wait()

        def purger(thread: int) -> None:
            for repeat in range(repeats):
                user = f"busy{(worker + thread + repeat) % 8}"
                started = time.perf_counter()
                try:
                    memory.add(f"{user} likes jazz {worker}.{thread}.{repeat}", user_id=user, infer=False)
                    memory.set_profile({"n": repeat}, user_id=user)
                    memory.delete_all(user_id=user, purge=True)
                    latencies.append((time.perf_counter() - started) * 1000)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1

        running = [threading.Thread(target=purger, args=(t,)) for t in range(threads)]
        for thread in running:
            thread.start()
        for thread in running:
            thread.join()
    results.put((latencies, dict(errors)))


def run_concurrent(size: int, per_user: int, processes: int, threads: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as path:
        with Memory({"path": path}, embeddings=RandomEmbeddings()) as memory:
            _fill(memory, size, per_user)
        context = mp.get_context("spawn")
        barrier, results = context.Barrier(processes), context.Queue()
        workers = [
            context.Process(target=_purging_process, args=(path, w, threads, repeats, barrier, results))
            for w in range(processes)
        ]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        outcomes = [results.get() for _ in workers]
        wall = time.perf_counter() - started
        for worker in workers:
            worker.join()
    latencies = sorted(ms for found, _ in outcomes for ms in found)
    errors = sum((Counter(e) for _, e in outcomes), Counter())
    return {
        "memories": size,
        "processes": processes,
        "threads": threads,
        "calls": processes * threads * repeats,
        "failed": sum(errors.values()),
        "errors": dict(errors),
        "wall_s": round(wall, 1),
        "add_profile_purge_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "add_profile_purge_max_ms": round(latencies[-1], 1) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--memories-per-user", type=int, default=20)
    parser.add_argument(
        "--repeats", type=int, default=5, help="users deleted by each kind of call (by each thread)"
    )
    parser.add_argument("--processes", type=int, default=0, help="purge at once from this many processes")
    parser.add_argument("--threads", type=int, default=4, help="threads of each purging process")
    args = parser.parse_args()
    if args.processes:
        results = [
            run_concurrent(size, args.memories_per_user, args.processes, args.threads, args.repeats)
            for size in args.sizes
        ]
    else:
        results = [run(size, args.memories_per_user, args.repeats) for size in args.sizes]
    print(json.dumps({"machine": platform.platform(), "python": platform.python_version(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
