"""Many-users benchmark: per-user search through the public API beside sqlite-vec with a partition key.

Prints JSON. 1,000 users x 100 memories (by default) are written through `Memory.add(infer=False)`;
each query is searched within one user's scope with `memory.search(text, user_id=u, limit=10)`.
A lookup-table embedder returns precomputed vectors, so query embedding is excluded and what is
timed is the facade plus hybrid retrieval (dense + keyword + neighbouring-turn context). The same
vectors go into a sqlite-vec `vec0` table partitioned by user id, searched with `k = 10` in that
user's partition, in the same process, back to back. Disk is the bytes of each system's files.

    python benchmarks/users.py                              # 1,000 users x 100
    python benchmarks/users.py --users 1 --per-user 100000  # one scope of 100k

Sentences and low-rank vectors come from benchmarks/scale.py, so the shapes match its runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import VERBS, PrecomputedEmbeddings, low_rank_vectors, make_sentences, make_vocabulary, percentile  # noqa: E402

from langmem_plugin import Memory  # noqa: E402
from langmem_plugin.records import Scope  # noqa: E402
from langmem_plugin.testing.inspect import sqlite_activity  # noqa: E402
from langmem_plugin.tiers.vector import SearchParams  # noqa: E402


ADD_BATCH = 1000  # messages per add() call (a user's 100 go in one call)


def directory_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def workload(users: int, per_user: int, queries: int, seed: int):
    rng = np.random.default_rng(seed)
    vocabulary = make_vocabulary(rng)
    size = users * per_user
    texts = make_sentences(rng, size, vocabulary)
    vectors = low_rank_vectors(rng, size + queries)
    query_texts = [f"who {VERBS[i % len(VERBS)]} the {vocabulary[int(rng.zipf(1.3)) % len(vocabulary)]}" for i in range(queries)]
    # query q asks user q % users, so every user is asked in turn (a cold cache for most of them)
    query_users = [f"user{q % users}" for q in range(queries)]
    return texts, vectors[:size], query_texts, vectors[size:], query_users


def bench_langmem(directory: Path, users: int, per_user: int, data, cache_mib: int) -> dict:
    texts, vectors, query_texts, query_vectors, query_users = data
    table = dict(zip(texts + query_texts, np.concatenate([vectors, query_vectors])))
    config = {
        "path": str(directory),
        "embedder": {"cache": False},
        "graph": {"enabled": False},
        "vector": {"cache_mib": cache_mib},
    }
    with Memory(config, embeddings=PrecomputedEmbeddings(table, vectors.shape[1])) as memory:
        started = time.perf_counter()
        for user in range(users):
            for start in range(user * per_user, (user + 1) * per_user, ADD_BATCH):
                memory.add(texts[start : min(start + ADD_BATCH, (user + 1) * per_user)], user_id=f"user{user}", infer=False)
        add_seconds = time.perf_counter() - started
    # reopened: a fresh process's view, no scope cached yet
    with Memory(config, embeddings=PrecomputedEmbeddings(table, vectors.shape[1])) as memory:
        facade = []
        for text, user in zip(query_texts, query_users):
            tick = time.perf_counter()
            memory.search(text, user_id=user, limit=10)
            facade.append(time.perf_counter() - tick)
        store = memory.services.vector
        scopes = [Scope(user_id=u) for u in query_users]
        params = SearchParams(limit=10)
        tier = []
        for text, vector, scope in zip(query_texts, query_vectors, scopes):
            tick = time.perf_counter()
            store.search(scope, vector, text, params)
            tier.append(time.perf_counter() - tick)
        with sqlite_activity() as activity:
            memory.search(query_texts[-1], user_id=query_users[-1], limit=10)
        statements = len([s for s in activity.statements if not s.startswith("--")])  # FTS5's own lookups: "-- ..."
        cached_mib = round(store.scope_cache.nbytes / 2**20, 1)  # the per-scope cache once every user was searched
    disk_bytes = directory_bytes(directory)
    return {
        "system": "langmem-plugin",
        "adds_per_second": round(len(texts) / add_seconds, 1),
        **latencies(facade, users),
        "vector_tier_search_p50_ms": round(percentile(tier, 50), 3),
        "vector_tier_search_p95_ms": round(percentile(tier, 95), 3),
        "sql_statements_per_repeat_search": statements,
        "cached_scopes_mib": cached_mib,
        "disk_bytes": disk_bytes,
    }


def latencies(timings: list[float], users: int) -> dict:
    """p50/p95 over all queries, and apart: each user's first search (nothing of theirs cached) and the repeats."""
    first, repeat = timings[:users], timings[users:]
    result = {"search_p50_ms": round(percentile(timings, 50), 3), "search_p95_ms": round(percentile(timings, 95), 3)}
    for name, part in (("first_search_of_user", first), ("repeat_search", repeat)):
        if part:
            result[f"{name}_p50_ms"] = round(percentile(part, 50), 3)
            result[f"{name}_p95_ms"] = round(percentile(part, 95), 3)
    return result


def sqlite_with_extensions(path: Path):
    """A connection that can load sqlite-vec: the stdlib's when its SQLite allows extensions, else apsw's."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        conn = sqlite3.connect(str(path), isolation_level=None)
        conn.enable_load_extension(True)
        return conn
    import apsw

    conn = apsw.Connection(str(path))
    conn.enable_load_extension(True)
    return conn


def bench_sqlite_vec(directory: Path, users: int, per_user: int, data) -> dict:
    try:
        import sqlite_vec

        conn = sqlite_with_extensions(directory / "vec.db")
    except ImportError:
        return {"system": "sqlite-vec", "skipped": "pip install sqlite-vec apsw (this Python's sqlite3 cannot load extensions)"}
    texts, vectors, query_texts, query_vectors, query_users = data
    sqlite_vec.load(conn)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        f"CREATE VIRTUAL TABLE memories USING vec0(user_id TEXT PARTITION KEY, embedding float[{vectors.shape[1]}], +text TEXT)"
    )
    started = time.perf_counter()
    for user in range(users):
        rows = [(f"user{user}", vectors[i].tobytes(), texts[i]) for i in range(user * per_user, (user + 1) * per_user)]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO memories (user_id, embedding, text) VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
    add_seconds = time.perf_counter() - started
    timings = []
    for vector, user in zip(query_vectors, query_users):
        tick = time.perf_counter()
        conn.execute(
            "SELECT rowid, text, distance FROM memories WHERE embedding MATCH ? AND k = 10 AND user_id = ?",
            (vector.astype(np.float32).tobytes(), user),
        ).fetchall()
        timings.append(time.perf_counter() - tick)
    conn.close()
    return {
        "system": f"sqlite-vec {sqlite_vec.__version__} (partition key)",
        "adds_per_second": round(len(texts) / add_seconds, 1),
        **latencies(timings, users),
        "disk_bytes": directory_bytes(directory),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=100)
    parser.add_argument("--queries", type=int, default=3000, help="asked of the users in turn (the first round is cold)")
    parser.add_argument("--cache-mib", type=int, default=256, help="vector.cache_mib: memory for cached per-scope data")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--systems", nargs="+", choices=["langmem", "sqlite-vec"], default=["langmem", "sqlite-vec"])
    args = parser.parse_args()
    data = workload(args.users, args.per_user, args.queries, args.seed)
    results = []
    for system in args.systems:
        with tempfile.TemporaryDirectory() as directory:
            if system == "langmem":
                results.append(bench_langmem(Path(directory), args.users, args.per_user, data, args.cache_mib))
            else:
                results.append(bench_sqlite_vec(Path(directory), args.users, args.per_user, data))
    ours, peer = (next((r for r in results if r["system"].startswith(s)), None) for s in ("langmem", "sqlite-vec"))
    ratios = None
    if ours and peer and "skipped" not in peer:
        ratios = {
            "search_p50_ours_over_sqlite_vec": round(ours["search_p50_ms"] / peer["search_p50_ms"], 2),
            "search_p95_ours_over_sqlite_vec": round(ours["search_p95_ms"] / peer["search_p95_ms"], 2),
            "disk_ours_over_sqlite_vec": round(ours["disk_bytes"] / peer["disk_bytes"], 2),
        }
    report = {
        "benchmark": "users",
        "shape": {"users": args.users, "memories_per_user": args.per_user, "queries": args.queries, "cache_mib": args.cache_mib},
        "machine": {"python": platform.python_version(), "processor": platform.machine(), "cpus": os.cpu_count()},
        "results": results,
        "ratios": ratios,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
