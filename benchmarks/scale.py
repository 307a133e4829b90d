"""Scale benchmark: add throughput (infer=False, batched), hybrid search latency and peak memory.

Prints JSON. Search latency excludes query embedding: queries are embedded up front and the
vector tier's hybrid search (dense + FTS5 keyword + RRF) is timed, which is everything
`Memory.search` does after embedding. Memories are generated sentences with realistic low-rank
vectors, looked up by a precomputed embedder so that model cost does not hide storage cost;
the MiniLM model's own throughput is reported separately.

    python benchmarks/scale.py --sizes 10000 100000 1000000 --ann-min-rows 50000
    python benchmarks/scale.py --sizes 100000 --backends sqlite weaviate --layouts one-scope users

`--backends weaviate` runs the same workload on Weaviate as the vector tier (the server at
--weaviate-url, or a single node started here from the weaviate-server that `make install-servers`
builds); `--layouts users` spreads the memories over users of --per-user memories each (100k =
1,000 users x 100) and searches each query in one user's scope. Recall@10 is dense-only search
against exact cosine top-10 within the searched scope.

Each size runs in a fresh process so that its peak resident memory is its own. A PNG of
latency against size is written next to the JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from langmem_plugin import Memory
from langmem_plugin.bench.plots import plot_latency_vs_size
from langmem_plugin.bench.workload import (
    VERBS,
    PrecomputedEmbeddings,
    low_rank_vectors,
    make_sentences,
    make_vocabulary,
    percentile,
)
from langmem_plugin.records import Scope
from langmem_plugin.tiers.vector import SearchParams


def scope_of(layout: str, index: int, per_user: int) -> Scope:
    """The scope memory (or query) `index` belongs to: one shared scope, or user index // per_user."""
    return Scope(user_id="bench" if layout == "one-scope" else f"user{index // per_user}")


def vector_config(backend: str, ann_min_rows: int | None, weaviate: dict | None) -> dict:
    if backend == "weaviate":
        return {"backend": "weaviate", "collection": f"Bench{os.getpid()}x{time.monotonic_ns()}", **weaviate}
    return {"ann_min_rows": ann_min_rows}


def bench_size(
    size: int,
    queries: int,
    batch: int,
    seed: int,
    ann_min_rows: int | None = None,
    backend: str = "sqlite",
    layout: str = "one-scope",
    per_user: int = 100,
    weaviate: dict | None = None,
) -> dict:
    rng = np.random.default_rng(seed)
    vocabulary = make_vocabulary(rng)
    texts = make_sentences(rng, size, vocabulary)
    vectors = low_rank_vectors(rng, size + queries)
    query_texts = [f"who {VERBS[i % len(VERBS)]} the {vocabulary[int(rng.zipf(1.3)) % len(vocabulary)]}" for i in range(queries)]
    table = dict(zip(texts + query_texts, vectors))
    users = 1 if layout == "one-scope" else -(-size // per_user)
    # query q searches the scope of memory (q % users) * per_user: every user gets queries in turn
    query_scopes = [scope_of(layout, (q % users) * per_user, per_user) for q in range(queries)]
    with tempfile.TemporaryDirectory() as directory:
        config = {
            "path": directory,
            "embedder": {"cache": False},
            "graph": {"enabled": False},
            "vector": vector_config(backend, ann_min_rows, weaviate),
        }
        with Memory(config, embeddings=PrecomputedEmbeddings(table, vectors.shape[1])) as memory:
            started = time.perf_counter()
            step = batch if layout == "one-scope" else min(batch, per_user)
            for start in range(0, size, step):
                memory.add(texts[start : start + step], user_id=scope_of(layout, start, per_user).user_id, infer=False)
            add_seconds = time.perf_counter() - started

            store = memory.services.vector
            params = SearchParams(limit=10)
            query_vectors = vectors[size:]
            tick = time.perf_counter()
            store.search(query_scopes[0], query_vectors[0], query_texts[0], params)  # load the matrix (and build HNSW)
            first_search = time.perf_counter() - tick
            exact = [SearchParams(limit=10, dense_weight=1.0, keyword_weight=0.0, context=False)]
            recall = []
            timings = []
            for text, vector, scope in zip(query_texts, query_vectors, query_scopes):
                tick = time.perf_counter()
                store.search(scope, vector, text, params)
                timings.append(time.perf_counter() - tick)
            for q, (vector, scope) in enumerate(list(zip(query_vectors, query_scopes))[:100]):
                dense = store.search(scope, vector, "", exact[0])
                first = (q % users) * per_user
                members = np.arange(size) if layout == "one-scope" else np.arange(first, min(size, first + per_user))
                truth = set(members[np.argsort(-(vectors[members] @ vector))[:10]].tolist())
                found = {int(h.memory.text.rsplit("#", 1)[1]) for h in dense}
                recall.append(len(found & truth) / min(10, len(members)))
            facade = []
            for text, scope in list(zip(query_texts, query_scopes))[:50]:
                tick = time.perf_counter()
                memory.search(text, user_id=scope.user_id, limit=10)
                facade.append(time.perf_counter() - tick)
            db_bytes = sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file())
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "memories": size,
        "backend": backend,
        "layout": layout if layout == "one-scope" else f"{users} users x {per_user}",
        "dense_search": "weaviate" if backend == "weaviate" else "hnsw" if ann_min_rows is not None and size >= ann_min_rows else "exact",
        "first_search_seconds": round(first_search, 2),
        "dense_recall_at_10": round(float(np.mean(recall)), 4),
        "add_batch": step,
        "add_seconds": round(add_seconds, 2),
        "adds_per_second": round(size / add_seconds, 1),
        "search_queries": queries,
        "search_p50_ms": round(percentile(timings, 50), 2),
        "search_p95_ms": round(percentile(timings, 95), 2),
        "memory_search_p50_ms_with_cached_query_embedding": round(percentile(facade, 50), 2),
        # Weaviate's data lives in the server's directory, not here: only the local tiers count
        "disk_mb": round(db_bytes / 2**20, 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
    }


def _bench_in_child(queue, *args) -> None:
    queue.put(bench_size(*args))


def bench_isolated(*args) -> dict:
    """Run one size in a fresh process: peak memory is then that size's alone."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_bench_in_child, args=(queue, *args))
    process.start()
    result = queue.get()
    process.join()
    return result


def bench_minilm(count: int) -> dict:
    from langmem_plugin.embeddings import MiniLMEmbeddings

    rng = np.random.default_rng(1)
    texts = make_sentences(rng, count, make_vocabulary(rng, 500))
    embedder = MiniLMEmbeddings()
    started = time.perf_counter()
    embedder.embed_array(texts)
    seconds = time.perf_counter() - started
    return {"sentences": count, "seconds": round(seconds, 2), "sentences_per_second": round(count / seconds, 1)}


def local_weaviate(directory: Path):
    """A single Weaviate node on loopback, started with the test suite's launcher."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.servers import start_weaviate

    return start_weaviate(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--minilm-sentences", type=int, default=512)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ann-min-rows", type=int, help="also run with HNSW for scopes of at least this size")
    parser.add_argument("--backends", nargs="+", choices=["sqlite", "weaviate"], default=["sqlite"])
    parser.add_argument("--layouts", nargs="+", choices=["one-scope", "users"], default=["one-scope"])
    parser.add_argument("--per-user", type=int, default=100, help="memories per user in the 'users' layout")
    parser.add_argument("--weaviate-url", help="a running Weaviate; default: start one on loopback")
    parser.add_argument("--weaviate-grpc-port", type=int, default=50051)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="where JSON and PNG go")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as server_directory:
        server = None
        weaviate = None
        if "weaviate" in args.backends:
            if args.weaviate_url:
                weaviate = {"url": args.weaviate_url, "grpc_port": args.weaviate_grpc_port}
            else:
                server = local_weaviate(Path(server_directory))
                node = next(server)
                weaviate = {"url": node.url, "grpc_port": node.grpc_port}
        runs = [
            (size, args.queries, args.batch, args.seed, None, backend, layout, args.per_user, weaviate)
            for size in args.sizes
            for layout in args.layouts
            for backend in args.backends
        ]
        runs += [
            (size, args.queries, args.batch, args.seed, args.ann_min_rows, "sqlite", layout, args.per_user, None)
            for size in args.sizes
            for layout in args.layouts
            if "sqlite" in args.backends and args.ann_min_rows and size >= args.ann_min_rows
        ]
        results = [bench_isolated(*run) for run in runs]
        if server is not None:
            server.close()  # stops the node
    report = {
        "benchmark": "scale",
        "machine": {"python": platform.python_version(), "processor": platform.machine(), "cpus": os.cpu_count()},
        "results": results,
        "minilm_embedding": bench_minilm(args.minilm_sentences) if args.minilm_sentences else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(report, indent=2))
    one_scope = [r for r in report["results"] if r["layout"] == "one-scope"]
    report["plot"] = str(plot_latency_vs_size(one_scope or report["results"], args.out / "scale_latency.png"))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
