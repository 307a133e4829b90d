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

With `--ann-min-rows`, the scopes that large also run with the HNSW index: the first search loads
the matrix and starts the background build (`ann_build_seconds` is how long the build took
after it), searches are timed once the index is ready, then the store is closed and reopened
(`reopen_seconds`: opening + the first search's matrix load; `ann_load_seconds`: loading the
saved graph after it; `ann_rebuilt_on_reopen` must be false). `--ann-ef` measures recall and
latency at several HNSW search widths on the same graph (`graph_recall_at_10` asks the graph
alone, `dense_recall_at_10` goes through the whole search).

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
from langmem_plugin.records import Scope
from langmem_plugin.tiers.vector import SearchParams
from langmem_plugin_bench.plots import plot_latency_vs_size
from langmem_plugin_bench.workload import (
    VERBS,
    PrecomputedEmbeddings,
    low_rank_vectors,
    make_sentences,
    make_vocabulary,
    percentile,
)


def scope_of(layout: str, index: int, per_user: int) -> Scope:
    """The scope memory (or query) `index` belongs to: one shared scope, or user index // per_user."""
    return Scope(user_id="bench" if layout == "one-scope" else f"user{index // per_user}")


def vector_config(backend: str, ann_min_rows: int | None, weaviate: dict | None) -> dict:
    if backend == "weaviate":
        return {"backend": "weaviate", "collection": f"Bench{os.getpid()}x{time.monotonic_ns()}", **weaviate}
    return {"ann_min_rows": ann_min_rows}


def time_searches(store, scopes, query_texts, query_vectors, params) -> list[float]:
    timings = []
    for text, vector, scope in zip(query_texts, query_vectors, scopes):
        tick = time.perf_counter()
        store.search(scope, vector, text, params)
        timings.append(time.perf_counter() - tick)
    return timings


def dense_recall(store, scopes, query_vectors, vectors, size, users, per_user, layout) -> float:
    """Dense-only search (no keyword ranker, no context) against the exact cosine top-10."""
    exact = SearchParams(limit=10, dense_weight=1.0, keyword_weight=0.0, context=False)
    recall = []
    for q, (vector, scope) in enumerate(list(zip(query_vectors, scopes))[:100]):
        dense = store.search(scope, vector, "", exact)
        truth = set(exact_top10(vectors, vector, q, size, users, per_user, layout).tolist())
        found = {int(h.memory.text.rsplit("#", 1)[1]) for h in dense}
        recall.append(len(found & truth) / min(10, len(truth)))
    return float(np.mean(recall))


def exact_top10(vectors, vector, q, size, users, per_user, layout) -> np.ndarray:
    first = (q % users) * per_user
    members = np.arange(size) if layout == "one-scope" else np.arange(first, min(size, first + per_user))
    return members[np.argsort(-(vectors[members] @ vector))[:10]]


def ann_report(open_memory, scope, query_texts, query_vectors, vectors, size, efs) -> dict:
    """Reopen, then an ef sweep of the HNSW index of the one benchmarked scope."""
    tick = time.perf_counter()
    reopened = open_memory()
    store = reopened.services.vector
    store.search(scope, query_vectors[0], query_texts[0], SearchParams(limit=10))  # loads the matrix
    reopen = time.perf_counter() - tick
    tick = time.perf_counter()
    assert store.wait_for_ann()
    load = time.perf_counter() - tick
    graph = store.scope_cache.get(scope).index.graph  # benchmark only: set the search width on the live graph
    sweep = []
    scopes = [scope] * len(query_texts)
    for ef in efs:
        graph.ef_search = ef
        timings = time_searches(store, scopes, query_texts, query_vectors, SearchParams(limit=10))
        graph_recall = []
        for q, vector in enumerate(query_vectors[:100]):
            truth = set(exact_top10(vectors, vector, q, size, 1, size, "one-scope").tolist())
            labels = graph.query(vector, 10)
            graph_recall.append(len(truth & {int(r) - 1 for r in labels}) / 10)  # rowid i + 1 holds memory i
        sweep.append(
            {
                "ef_search": ef,
                "search_p50_ms": round(percentile(timings, 50), 2),
                "search_p95_ms": round(percentile(timings, 95), 2),
                "dense_recall_at_10": round(dense_recall(store, scopes, query_vectors, vectors, size, 1, size, "one-scope"), 4),
                "graph_recall_at_10": round(float(np.mean(graph_recall)), 4),
            }
        )
    report = {
        "reopen_seconds": round(reopen, 2),
        "ann_load_seconds": round(load, 2),
        "ann_rebuilt_on_reopen": store.ann.builds > 0,
        "ann_ef_sweep": sweep,
    }
    reopened.close()
    return report


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
    ann_efs: tuple[int, ...] = (),
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
    hnsw = backend == "sqlite" and ann_min_rows is not None and size >= ann_min_rows and layout == "one-scope"
    ann = {}
    with tempfile.TemporaryDirectory() as directory:
        config = {
            "path": directory,
            "embedder": {"cache": False},
            "graph": {"enabled": False},
            "vector": vector_config(backend, ann_min_rows, weaviate),
        }

        def open_memory() -> Memory:
            return Memory(config, embeddings=PrecomputedEmbeddings(table, vectors.shape[1]))

        with open_memory() as memory:
            started = time.perf_counter()
            step = batch if layout == "one-scope" else min(batch, per_user)
            for start in range(0, size, step):
                memory.add(texts[start : start + step], user_id=scope_of(layout, start, per_user).user_id, infer=False)
            add_seconds = time.perf_counter() - started

            store = memory.services.vector
            params = SearchParams(limit=10)
            query_vectors = vectors[size:]
            tick = time.perf_counter()
            store.search(query_scopes[0], query_vectors[0], query_texts[0], params)  # load the matrix
            first_search = time.perf_counter() - tick
            if hnsw:  # searches run once the background build is done
                tick = time.perf_counter()
                assert store.wait_for_ann()
                ann["ann_build_seconds"] = round(time.perf_counter() - tick, 2)
            timings = time_searches(store, query_scopes, query_texts, query_vectors, params)
            recall = dense_recall(store, query_scopes, query_vectors, vectors, size, users, per_user, layout)
            facade = []
            for text, scope in list(zip(query_texts, query_scopes))[:50]:
                tick = time.perf_counter()
                memory.search(text, user_id=scope.user_id, limit=10)
                facade.append(time.perf_counter() - tick)
            db_bytes = sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file())
            ann_bytes = sum(p.stat().st_size for p in Path(directory, "vectors.ann").glob("*"))
        if hnsw:
            ann.update(ann_report(open_memory, query_scopes[0], query_texts, query_vectors, vectors, size, ann_efs))
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "memories": size,
        "backend": backend,
        "layout": layout if layout == "one-scope" else f"{users} users x {per_user}",
        "dense_search": "weaviate" if backend == "weaviate" else "hnsw" if ann_min_rows is not None and size >= ann_min_rows else "exact",
        "first_search_seconds": round(first_search, 2),
        "dense_recall_at_10": round(recall, 4),
        "add_batch": step,
        "add_seconds": round(add_seconds, 2),
        "adds_per_second": round(size / add_seconds, 1),
        "search_queries": queries,
        "search_p50_ms": round(percentile(timings, 50), 2),
        "search_p95_ms": round(percentile(timings, 95), 2),
        "memory_search_p50_ms_with_cached_query_embedding": round(percentile(facade, 50), 2),
        # Weaviate's data lives in the server's directory, not here: only the local tiers count
        "disk_mb": round(db_bytes / 2**20, 1),
        "ann_disk_mb": round(ann_bytes / 2**20, 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
        **ann,
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
    parser.add_argument("--ann-only", action="store_true", help="skip the exact runs of sizes that get an HNSW run")
    parser.add_argument("--ann-ef", type=int, nargs="+", default=[512], help="HNSW search widths measured after reopening")
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
            if not (args.ann_only and backend == "sqlite" and args.ann_min_rows and size >= args.ann_min_rows)
        ]
        runs += [
            (size, args.queries, args.batch, args.seed, args.ann_min_rows, "sqlite", layout, args.per_user, None, tuple(args.ann_ef))
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
