"""Sweeper benchmark: erasing the expired memories of a store (`Memory.sweep()`), and what a sweep
costs the searches that run while it does.

The store holds `--size` memories of `--users` users (verbatim adds, random 384-d vectors:
storage cost is measured, not model cost); `--expired` of them, spread over every user, get an
expiry in the past through the vector tier's `set_expiry` (the fill takes minutes: a TTL would
lapse on some before the fill ends). One search thread then runs queries of random users
back to back: first alone (`--searches` of them, the baseline), then while `sweep()` runs in
another thread, until it returns. The JSON gives the sweep's time and count, and search
latency p50 / p95 in both phases, measured in the same run on the same store.

    python benchmarks/sweep.py --size 100000 --expired 10000             # retention.sweep_batch 10000
    python benchmarks/sweep.py --size 100000 --expired 10000 --batch 1000
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import threading
import time

import numpy as np
from purge import WORDS, RandomEmbeddings

from langmem_plugin import Memory
from langmem_plugin.records import utc_now


def _fill(memory: Memory, size: int, users: int, expired: int) -> list[str]:
    """Add `size` memories over `users` users; the ids of `expired` of them, every user alike."""
    rng = np.random.default_rng(size)
    per_user = size // users
    doomed: list[str] = []
    for user in range(users):
        texts = [f"user{user} likes {' '.join(rng.choice(WORDS, 4))} item{i}" for i in range(per_user)]
        added = memory.add(texts, user_id=f"user{user}", infer=False)
        step = max(per_user * users // max(expired, 1), 1)
        doomed += [op.memory.id for op in added[::step]][: expired // users]
    return doomed


def _percentiles(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    return {
        "searches": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
    }


def _search(memory: Memory, users: int, rng: np.random.Generator) -> float:
    query = f"what does user{int(rng.integers(users))} like about {' '.join(rng.choice(WORDS, 2))}?"
    user = query.split()[2]
    started = time.perf_counter()
    memory.search(query, user_id=user, limit=10)
    return (time.perf_counter() - started) * 1000


def run(size: int, expired: int, users: int, searches: int, batch: int) -> dict:
    retention = {"sweep_batch": batch}
    with (
        tempfile.TemporaryDirectory() as path,
        Memory({"path": path, "retention": retention}, embeddings=RandomEmbeddings()) as memory,
    ):
        started = time.perf_counter()
        doomed = _fill(memory, size, users, expired)
        fill_s = time.perf_counter() - started
        now = utc_now()
        for start in range(0, len(doomed), 1000):
            memory.services.vector.set_expiry(doomed[start : start + 1000], now)
        rng = np.random.default_rng(1)
        for _ in range(20):  # warm every path once
            _search(memory, users, rng)
        baseline = [_search(memory, users, rng) for _ in range(searches)]

        erased: list[int] = []
        sweeper = threading.Thread(target=lambda: erased.append(memory.sweep()))
        started = time.perf_counter()
        sweeper.start()
        during = []
        while sweeper.is_alive():
            during.append(_search(memory, users, rng))
        sweeper.join()
        sweep_s = time.perf_counter() - started
        after = [_search(memory, users, rng) for _ in range(searches)]
        left = sum(
            len(memory.get_all(user_id=f"user{u}", limit=1000, include_expired=True)) for u in range(users)
        )
    return {
        "memories": size,
        "users": users,
        "expired": len(doomed),
        "sweep_batch": batch,
        "fill_s": round(fill_s, 1),
        "sweep_s": round(sweep_s, 2),
        "erased": erased[0],
        "memories_left": left,
        "search_without_sweep": _percentiles(baseline),
        "search_during_sweep": _percentiles(during) if during else None,
        "search_after_sweep": _percentiles(after),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--expired", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100, help="the memories are spread over this many users")
    parser.add_argument(
        "--searches", type=int, default=300, help="searches of the baseline and of the after phase"
    )
    parser.add_argument("--batch", type=int, default=10_000, help="retention.sweep_batch")
    args = parser.parse_args()
    result = run(args.size, args.expired, args.users, args.searches, args.batch)
    print(
        json.dumps(
            {"machine": platform.platform(), "python": platform.python_version(), "result": result}, indent=2
        )
    )


if __name__ == "__main__":
    main()
