"""Scale benchmark: add throughput (infer=False, batched), hybrid search latency and peak memory.

Prints JSON. Search latency excludes query embedding: queries are embedded up front and the
vector tier's hybrid search (dense + FTS5 keyword + RRF) is timed, which is everything
`Memory.search` does after embedding. Memories are generated sentences with realistic low-rank
vectors, looked up by a precomputed embedder so that model cost does not hide storage cost;
the MiniLM model's own throughput is reported separately.

    python benchmarks/scale.py --sizes 10000 100000 1000000 --ann-min-rows 50000

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
from langchain_core.embeddings import Embeddings

from langmem_plugin import Memory
from langmem_plugin.bench.plots import plot_latency_vs_size
from langmem_plugin.records import Scope
from langmem_plugin.tiers.vector import SearchParams

SUBJECTS = ["Alice", "Bob", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana"]
VERBS = ["visited", "bought", "painted", "cooked", "repaired", "photographed", "sold", "borrowed", "planted", "studied"]


def make_vocabulary(rng: np.random.Generator, size: int = 3000) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=rng.integers(4, 10))) for _ in range(size)]


def make_sentences(rng: np.random.Generator, count: int, vocabulary: list[str]) -> list[str]:
    # Zipf-distributed object words give the keyword index a realistic long tail.
    ranks = np.minimum(rng.zipf(1.3, size=(count, 3)), len(vocabulary)) - 1
    return [
        f"{SUBJECTS[i % len(SUBJECTS)]} {VERBS[(i // 8) % len(VERBS)]} the {vocabulary[a]} {vocabulary[b]} near {vocabulary[c]} #{i}"
        for i, (a, b, c) in enumerate(ranks)
    ]


def low_rank_vectors(rng: np.random.Generator, count: int, dimensions: int = 384, rank: int = 48) -> np.ndarray:
    basis = rng.normal(size=(rank, dimensions)).astype(np.float32)
    vectors = rng.normal(size=(count, rank)).astype(np.float32) @ basis
    vectors += 0.05 * rng.normal(size=vectors.shape).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class PrecomputedEmbeddings(Embeddings):
    """Returns vectors computed ahead of time, so the benchmark times storage, not the model."""

    def __init__(self, table: dict[str, np.ndarray], dimensions: int):
        self.table = table
        self.dimensions = dimensions
        self.model = "precomputed"

    def embed_array(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.table[t] for t in texts])

    def embed_documents(self, texts):
        return self.embed_array(texts).tolist()

    def embed_query(self, text):
        return self.table[text].tolist()


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000.0, q))


def bench_size(size: int, queries: int, batch: int, seed: int, ann_min_rows: int | None = None) -> dict:
    rng = np.random.default_rng(seed)
    vocabulary = make_vocabulary(rng)
    texts = make_sentences(rng, size, vocabulary)
    vectors = low_rank_vectors(rng, size + queries)
    query_texts = [f"who {VERBS[i % len(VERBS)]} the {vocabulary[int(rng.zipf(1.3)) % len(vocabulary)]}" for i in range(queries)]
    table = dict(zip(texts + query_texts, vectors))
    with tempfile.TemporaryDirectory() as directory:
        config = {
            "path": directory,
            "embedder": {"cache": False},
            "graph": {"enabled": False},
            "vector": {"ann_min_rows": ann_min_rows},
        }
        with Memory(config, embeddings=PrecomputedEmbeddings(table, vectors.shape[1])) as memory:
            started = time.perf_counter()
            for start in range(0, size, batch):
                memory.add(texts[start : start + batch], user_id="bench", infer=False)
            add_seconds = time.perf_counter() - started

            store = memory.services.vector
            scope = Scope(user_id="bench")
            params = SearchParams(limit=10)
            query_vectors = vectors[size:]
            tick = time.perf_counter()
            store.search(scope, query_vectors[0], query_texts[0], params)  # load the matrix (and build HNSW)
            first_search = time.perf_counter() - tick
            exact = [SearchParams(limit=10, dense_weight=1.0, keyword_weight=0.0, context=False)]
            recall = []
            timings = []
            for text, vector in zip(query_texts, query_vectors):
                tick = time.perf_counter()
                store.search(scope, vector, text, params)
                timings.append(time.perf_counter() - tick)
            all_vectors = vectors[:size]
            for vector in query_vectors[:100]:
                dense = store.search(scope, vector, "", exact[0])
                truth = set(np.argsort(-(all_vectors @ vector))[:10].tolist())
                found = {int(h.memory.text.rsplit("#", 1)[1]) for h in dense}
                recall.append(len(found & truth) / 10)
            facade = []
            for text in query_texts[:50]:
                tick = time.perf_counter()
                memory.search(text, user_id="bench", limit=10)
                facade.append(time.perf_counter() - tick)
            db_bytes = sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file())
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "memories": size,
        "dense_search": "hnsw" if ann_min_rows is not None and size >= ann_min_rows else "exact",
        "first_search_seconds": round(first_search, 2),
        "dense_recall_at_10": round(float(np.mean(recall)), 4),
        "add_batch": batch,
        "add_seconds": round(add_seconds, 2),
        "adds_per_second": round(size / add_seconds, 1),
        "search_queries": queries,
        "search_p50_ms": round(percentile(timings, 50), 2),
        "search_p95_ms": round(percentile(timings, 95), 2),
        "memory_search_p50_ms_with_cached_query_embedding": round(percentile(facade, 50), 2),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--minilm-sentences", type=int, default=512)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ann-min-rows", type=int, help="also run with HNSW for scopes of at least this size")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="where JSON and PNG go")
    args = parser.parse_args()
    report = {
        "benchmark": "scale",
        "machine": {"python": platform.python_version(), "processor": platform.machine(), "cpus": os.cpu_count()},
        "results": [bench_isolated(size, args.queries, args.batch, args.seed) for size in args.sizes]
        + [
            bench_isolated(size, args.queries, args.batch, args.seed, args.ann_min_rows)
            for size in args.sizes
            if args.ann_min_rows and size >= args.ann_min_rows
        ],
        "minilm_embedding": bench_minilm(args.minilm_sentences) if args.minilm_sentences else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(report, indent=2))
    report["plot"] = str(plot_latency_vs_size(report["results"], args.out / "scale_latency.png"))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
