"""The ANN index alone at scale: background build, save, reload, dense ranking latency and recall@10.

Prints JSON. Uses scale.py's low-rank vectors in one scope, held by a `DenseIndex` as the SQLite
backend holds them, with the `AnnMaintainer` the backend uses; SQLite and the keyword ranker are
left out, so that 1M memories fit in minutes (scale.py measures the whole hybrid search).
`dense_ms` times `DenseIndex.dense_ranking` (50 candidates, as a search takes), `exact_dense_ms`
the same ranking without the graph; recall@10 is the ranking's top 10 against the exact top 10.
`reload_seconds` reads the saved graph back into a fresh matrix, as a reopen does after loading
the matrix from SQLite (`matrix_load_seconds`, fingerprints included, stands for that load).

    python benchmarks/ann.py --size 1000000 --ef 256 512 1024
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import low_rank_vectors, percentile  # noqa: E402

from langmem_plugin.records import Scope  # noqa: E402
from langmem_plugin.tiers.vector.ann_index import AnnMaintainer  # noqa: E402
from langmem_plugin.tiers.vector.dense_index import INFINITY, DenseIndex  # noqa: E402

SCOPE = Scope(user_id="bench")
CANDIDATES = 50


def load_matrix(vectors: np.ndarray) -> DenseIndex:
    index = DenseIndex(vectors.shape[1], capacity=len(vectors) + 64, track_fingerprints=True)
    rowids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    index.add(rowids, vectors, np.zeros(len(vectors)), np.full(len(vectors), INFINITY))
    return index


def open_index(vectors: np.ndarray) -> tuple[DenseIndex, threading.RLock, float]:
    tick = time.perf_counter()
    index = load_matrix(vectors)
    return index, threading.RLock(), time.perf_counter() - tick


def maintain(directory: Path, index: DenseIndex, lock, ef: int) -> AnnMaintainer:
    """Register the matrix as the backend does on its first search: the graph work starts."""
    maintainer = AnnMaintainer(directory, 1, ef, lock, lambda: "bench")
    with lock:
        maintainer.watch(SCOPE, index)
    return maintainer


def measure(index: DenseIndex, lock, queries: np.ndarray, truth: list[set[int]]) -> dict:
    allowed = index.active_mask(None)
    timings, recall = [], []
    for query, expected in zip(queries, truth):
        tick = time.perf_counter()
        with lock:
            ranked, _ = index.dense_ranking(query, allowed, CANDIDATES)
        timings.append(time.perf_counter() - tick)
        recall.append(len(expected & set(ranked[:10])) / 10)
    return {
        "dense_p50_ms": round(percentile(timings, 50), 2),
        "dense_p95_ms": round(percentile(timings, 95), 2),
        "recall_at_10": round(float(np.mean(recall)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--ef", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    vectors = low_rank_vectors(rng, args.size + args.queries)
    data, queries = vectors[: args.size], vectors[args.size :]
    truth = [set(np.argpartition(-(data @ q), 10)[:10].tolist()) for q in queries]
    report: dict = {"benchmark": "ann", "memories": args.size, "dimensions": data.shape[1], "queries": args.queries}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "vectors.ann"
        index, lock, loaded = open_index(data)
        report["matrix_load_seconds"] = round(loaded, 2)
        exact = measure(index, lock, queries, truth)  # no graph: exact ranking
        report["exact_dense_p50_ms"], report["exact_dense_p95_ms"] = exact["dense_p50_ms"], exact["dense_p95_ms"]
        tick = time.perf_counter()
        maintainer = maintain(directory, index, lock, args.ef[0])
        assert maintainer.wait_idle()
        report["build_seconds"] = round(time.perf_counter() - tick, 2)
        report["builds"] = maintainer.builds
        maintainer.close()
        report["files_mb"] = round(sum(p.stat().st_size for p in directory.iterdir()) / 2**20, 1)
        del index

        index, lock, loaded = open_index(data)
        tick = time.perf_counter()
        maintainer = maintain(directory, index, lock, args.ef[0])
        assert maintainer.wait_idle()
        report["reopen"] = {
            "matrix_load_seconds": round(loaded, 2),
            "graph_load_seconds": round(time.perf_counter() - tick, 2),
            "rebuilt": maintainer.builds > 0,
            "unindexed_rows": index.unindexed_count(),
        }
        sweep = []
        for ef in args.ef:
            index.graph.ef_search = ef
            sweep.append({"ef_search": ef, **measure(index, lock, queries, truth)})
        report["ef_sweep"] = sweep
        maintainer.close()
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    report["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
