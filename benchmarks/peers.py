"""Peers benchmark: this project against the embedded vector stores, same vectors, public APIs.

    python benchmarks/peers.py                      # 100k memories in one scope, then 1,000 users x 100
    python benchmarks/peers.py --size 20000 --systems langmem sqlite-vec --shapes single

Systems: langmem (`Memory` on the embedded defaults), sqlite-vec (vec0 table with a user_id
partition key), LanceDB (flat scan with a user_id prefilter, no index), Chroma (HNSW, `where`
on user_id), Qdrant local mode (payload filter) and LangGraph's InMemoryStore with a vector
index (one namespace per user). A peer whose package is missing is reported as skipped with the
reason, never measured with a stand-in. Each system runs in a fresh process, back to back, on
the same sentences and low-rank vectors (langmem_plugin_bench/workload.py, as in
benchmarks/scale.py), generated once per shape and loaded by each process.

Embedding is excluded everywhere: every system gets the precomputed vectors (ours and
InMemoryStore through a lookup-table LangChain Embeddings, with our embedding cache off, since
caching vectors is part of embedding). Inserts go in batches of --batch through each system's
batch API; ours is `Memory.add([...], infer=False, user_id=...)`, which takes one user per call,
so a batch that spans users is one call per user. Searches ask for the top 10 within the query's
user. Recall@10 is against exact cosine top-10 within that user (numpy); ours is measured on the
dense-only ordering of its public search (the store reopened with keyword, graph and context
weights off) and the default hybrid search's overlap with the exact top 10 is given beside it.

Shapes: `single` (--size memories of one user, every query filtered to that user) and `users`
(--users x --per-user memories, query q searches user q mod --users). Prints JSON (one progress
line per system on stderr) and writes peers.json and peers.png to --out.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import multiprocessing
import os
import platform
import queue
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Protocol

import numpy as np

from langmem_plugin_bench.plots import plot_peers
from langmem_plugin_bench.workload import (
    VERBS,
    PrecomputedEmbeddings,
    low_rank_vectors,
    make_sentences,
    make_vocabulary,
    percentile,
)

RECALL_QUERIES = 100
TOP_K = 10


@dataclass(frozen=True)
class Workload:
    """Memories and queries of one shape; memory i belongs to users[i], query q to query_users[q]."""

    texts: list[str]
    vectors: np.ndarray
    users: list[str]
    query_texts: list[str]
    query_vectors: np.ndarray
    query_users: list[str]

    def embeddings(self) -> PrecomputedEmbeddings:
        table = dict(zip(self.texts + self.query_texts, np.concatenate([self.vectors, self.query_vectors])))
        return PrecomputedEmbeddings(table, self.vectors.shape[1])

    def members(self, user: str) -> np.ndarray:
        """Indices of the user's memories (users are contiguous runs)."""
        first = self.users.index(user)
        return np.arange(first, first + self.users.count(user))


def save_workload(workload: Workload, directory: Path) -> Path:
    """Written once by the parent: generating it in every child would put the generator's
    transient arrays in each child's peak RSS, hiding the store's own."""
    np.save(directory / "vectors.npy", workload.vectors)
    np.save(directory / "query_vectors.npy", workload.query_vectors)
    lists = {"texts": workload.texts, "users": workload.users, "query_texts": workload.query_texts, "query_users": workload.query_users}
    (directory / "lists.json").write_text(json.dumps(lists))
    return directory


def load_workload(directory: Path) -> Workload:
    lists = json.loads((directory / "lists.json").read_text())
    return Workload(
        lists["texts"],
        np.load(directory / "vectors.npy"),
        lists["users"],
        lists["query_texts"],
        np.load(directory / "query_vectors.npy"),
        lists["query_users"],
    )


def make_workload(shape: str, size: int, users: int, per_user: int, queries: int, seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    count = size if shape == "single" else users * per_user
    vocabulary = make_vocabulary(rng)
    texts = make_sentences(rng, count, vocabulary)
    vectors = low_rank_vectors(rng, count + queries)
    # the query number keeps every query text distinct, so the lookup table has one vector per query;
    # written q13, it is no memory's number ("#1300" starts with 13): a word in most of the user's
    # memories would be left out of the text the search embeds, which the table does not hold
    query_texts = [
        f"who {VERBS[q % len(VERBS)]} the {vocabulary[int(rng.zipf(1.3)) % len(vocabulary)]} (query q{q})"
        for q in range(queries)
    ]
    owners = ["user0"] * count if shape == "single" else [f"user{i // per_user}" for i in range(count)]
    query_users = ["user0"] * queries if shape == "single" else [f"user{q % users}" for q in range(queries)]
    return Workload(texts, vectors[:count], owners, query_texts, vectors[count:], query_users)


class Store(Protocol):
    """One system under test: batch insert, then filtered top-10 searches returning memory indices."""

    persistent: bool  # False: nothing is written to disk, so there is no disk size to report

    def insert(self, ids: range, workload: Workload) -> None: ...

    def search(self, text: str, vector: np.ndarray, user: str) -> list[int]: ...

    def dense_only(self) -> "Store | None":
        """A searcher ranking by vector similarity alone, for recall, when `search` does not (ours is
        hybrid); None when `search` already does, and its timed results are used."""
        ...

    def notes(self) -> dict: ...

    def close(self) -> None: ...


class LangmemStore:
    """This project through its public facade: `Memory.add(infer=False)` and `Memory.search`."""

    persistent = True

    DENSE_ONLY = {"keyword_weight": 0.0, "graph_weight": 0.0, "neighbour_context": False}

    def __init__(self, directory: Path, workload: Workload, search: dict | None = None):
        from langmem_plugin import Memory

        self.directory = directory
        self.workload = workload
        self.index_of = {text: i for i, text in enumerate(workload.texts)}
        config = {"path": str(directory), "embedder": {"cache": False}, "search": search or {}}
        self.memory = Memory(config, embeddings=workload.embeddings())
        self.extra: dict = {}

    def insert(self, ids: range, workload: Workload) -> None:
        start = ids.start
        while start < ids.stop:  # one add per run of the same user: add takes one scope
            user = workload.users[start]
            stop = start
            while stop < ids.stop and workload.users[stop] == user:
                stop += 1
            self.memory.add(workload.texts[start:stop], user_id=user, infer=False)
            start = stop

    def search(self, text: str, vector: np.ndarray, user: str) -> list[int]:
        return [self.index_of[hit.memory.text] for hit in self.memory.search(text, user_id=user, limit=TOP_K)]

    def dense_only(self) -> "LangmemStore":
        self.memory.close()
        started = time.perf_counter()
        dense = LangmemStore(self.directory, self.workload, search=self.DENSE_ONLY)
        dense.search(self.workload.query_texts[0], self.workload.query_vectors[0], self.workload.query_users[0])
        self.extra["reopen_and_first_search_seconds"] = round(time.perf_counter() - started, 3)
        return dense

    def notes(self) -> dict:
        return {
            "recall_kind": "dense-only ordering of Memory.search (reopened with search.keyword_weight=0, "
            "graph_weight=0, neighbour_context=false)",
            **self.extra,
        }

    def close(self) -> None:
        self.memory.close()


class SqliteVecStore:
    """sqlite-vec's vec0 table, user_id as partition key, text as an auxiliary column (through apsw:
    the standard library's sqlite3 is often built without extension loading)."""

    persistent = True

    def __init__(self, directory: Path, workload: Workload):
        import apsw
        import sqlite_vec

        self.connection = apsw.Connection(str(directory / "vec.db"))
        self.connection.enable_load_extension(True)
        self.connection.load_extension(sqlite_vec.loadable_path())
        dimensions = workload.vectors.shape[1]
        self.connection.execute(
            "CREATE VIRTUAL TABLE memories USING vec0("
            f"user_id TEXT PARTITION KEY, embedding FLOAT[{dimensions}] distance_metric=cosine, +text TEXT)"
        )

    def insert(self, ids: range, workload: Workload) -> None:
        rows = ((i, workload.users[i], workload.vectors[i].tobytes(), workload.texts[i]) for i in ids)
        with self.connection:
            self.connection.executemany("INSERT INTO memories(rowid, user_id, embedding, text) VALUES (?, ?, ?, ?)", rows)

    def search(self, text: str, vector: np.ndarray, user: str) -> list[int]:
        rows = self.connection.execute(
            "SELECT rowid FROM memories WHERE embedding MATCH ? AND k = ? AND user_id = ?",
            (vector.astype(np.float32).tobytes(), TOP_K, user),
        )
        return [row[0] for row in rows]

    def dense_only(self) -> None:
        return None

    def notes(self) -> dict:
        return {"index": "vec0 brute force, user_id partition key"}

    def close(self) -> None:
        self.connection.close()


class LanceStore:
    """LanceDB table (id, user_id, text, vector); exact search with a user_id prefilter, no index."""

    persistent = True

    def __init__(self, directory: Path, workload: Workload):
        import lancedb

        self.database = lancedb.connect(str(directory / "lance"))
        self.table = None

    def insert(self, ids: range, workload: Workload) -> None:
        import pyarrow as pa

        vectors = workload.vectors[ids.start : ids.stop]
        batch = pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "user_id": workload.users[ids.start : ids.stop],
                "text": workload.texts[ids.start : ids.stop],
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1]),
            }
        )
        if self.table is None:
            self.table = self.database.create_table("memories", data=batch)
        else:
            self.table.add(batch)

    def search(self, text: str, vector: np.ndarray, user: str) -> list[int]:
        query = self.table.search(vector).distance_type("cosine").where(f"user_id = '{user}'", prefilter=True)
        return query.limit(TOP_K).select(["id", "_distance"]).to_arrow()["id"].to_pylist()

    def dense_only(self) -> None:
        return None

    def notes(self) -> dict:
        return {"index": "none (exact flat scan), user_id prefilter"}

    def close(self) -> None:
        self.database = self.table = None


class ChromaStore:
    """Chroma persistent client, cosine HNSW collection, `where={"user_id": ...}`."""

    persistent = True

    def __init__(self, directory: Path, workload: Workload):
        import chromadb
        from chromadb.config import Settings

        self.client = chromadb.PersistentClient(path=str(directory / "chroma"), settings=Settings(anonymized_telemetry=False))
        self.collection = self.client.create_collection(
            "memories", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )

    def insert(self, ids: range, workload: Workload) -> None:
        self.collection.add(
            ids=[str(i) for i in ids],
            embeddings=workload.vectors[ids.start : ids.stop],
            metadatas=[{"user_id": workload.users[i]} for i in ids],
            documents=workload.texts[ids.start : ids.stop],
        )

    def search(self, text: str, vector: np.ndarray, user: str) -> list[int]:
        found = self.collection.query(query_embeddings=[vector], n_results=TOP_K, where={"user_id": user}, include=[])
        return [int(i) for i in found["ids"][0]]

    def dense_only(self) -> None:
        return None

    def notes(self) -> dict:
        return {"index": "HNSW (cosine, default parameters), metadata filter"}

    def close(self) -> None:
        self.client = self.collection = None


class QdrantLocalStore:
    """qdrant-client's local mode (no server) on disk, cosine, payload filter on user_id."""

    persistent = True

    def __init__(self, directory: Path, workload: Workload):
        from qdrant_client import QdrantClient, models

        self.models = models
        self.client = QdrantClient(path=str(directory / "qdrant"))
        self.client.create_collection(
            "memories",
            vectors_config=models.VectorParams(size=workload.vectors.shape[1], distance=models.Distance.COSINE),
        )

    def insert(self, ids: range, workload: Workload) -> None:
        self.client.upsert(
            "memories",
            points=self.models.Batch(
                ids=list(ids),
                vectors=workload.vectors[ids.start : ids.stop].tolist(),
                payloads=[{"user_id": workload.users[i], "text": workload.texts[i]} for i in ids],
            ),
        )

    def search(self, text: str, vector: np.ndarray, user: str) -> list[int]:
        models = self.models
        where = models.Filter(must=[models.FieldCondition(key="user_id", match=models.MatchValue(value=user))])
        found = self.client.query_points("memories", query=vector.tolist(), query_filter=where, limit=TOP_K, with_payload=False)
        return [int(point.id) for point in found.points]

    def dense_only(self) -> None:
        return None

    def notes(self) -> dict:
        return {"index": "local mode: exact numpy scan, payload filter"}

    def close(self) -> None:
        self.client.close()


class InMemoryStoreStore:
    """LangGraph's InMemoryStore with a vector index: one namespace per user, batched puts."""

    persistent = False

    def __init__(self, directory: Path, workload: Workload):
        from langgraph.store.memory import InMemoryStore

        index = {"dims": workload.vectors.shape[1], "embed": workload.embeddings(), "fields": ["text"]}
        self.store = InMemoryStore(index=index)

    def insert(self, ids: range, workload: Workload) -> None:
        from langgraph.store.base import PutOp

        self.store.batch([PutOp(("memories", workload.users[i]), str(i), {"text": workload.texts[i]}) for i in ids])

    def search(self, text: str, vector: np.ndarray, user: str) -> list[int]:
        return [int(item.key) for item in self.store.search(("memories", user), query=text, limit=TOP_K)]

    def dense_only(self) -> None:
        return None

    def notes(self) -> dict:
        return {"index": "exact cosine over the namespace, in process memory (nothing persisted)"}

    def close(self) -> None:
        self.store = None


@dataclass(frozen=True)
class System:
    store: type
    distribution: str  # the package whose version is reported
    modules: tuple[str, ...]  # what must be importable, else the system is skipped


SYSTEMS = {
    "langmem": System(LangmemStore, "langmem-plugin", ("langmem_plugin",)),
    "sqlite-vec": System(SqliteVecStore, "sqlite-vec", ("sqlite_vec", "apsw")),
    "lancedb": System(LanceStore, "lancedb", ("lancedb", "pyarrow")),
    "chroma": System(ChromaStore, "chromadb", ("chromadb",)),
    "qdrant-local": System(QdrantLocalStore, "qdrant-client", ("qdrant_client",)),
    "langgraph-inmemorystore": System(InMemoryStoreStore, "langgraph", ("langgraph",)),
}


def missing_modules(system: System) -> list[str]:
    return [name for name in system.modules if importlib.util.find_spec(name) is None]


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM, where there is one: getrusage's ru_maxrss
    carries over the parent's resident size from the fork that spawned this process."""
    status = Path("/proc/self/status")
    if status.exists():
        kilobytes = next(line.split()[1] for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
        return round(int(kilobytes) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def exact_top(workload: Workload, q: int) -> set[int]:
    members = workload.members(workload.query_users[q])
    scores = workload.vectors[members] @ workload.query_vectors[q]
    return set(members[np.argsort(-scores)[:TOP_K]].tolist())


def disk_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def bench_system(name: str, shape: str, workload_directory: Path, batch: int) -> dict:
    """Insert the shape's memories into one system and time filtered top-10 searches (runs in a child)."""
    workload = load_workload(workload_directory)
    queries = len(workload.query_texts)
    count = len(workload.texts)
    for module in SYSTEMS[name].modules:  # imported before the clock starts: open_seconds is the store's own
        importlib.import_module(module)
    rss_before_store = peak_rss_mb()  # the loaded workload and the system's package, before the store opens
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        started = time.perf_counter()
        store = SYSTEMS[name].store(directory, workload)
        open_seconds = time.perf_counter() - started

        started = time.perf_counter()
        for start in range(0, count, batch):
            store.insert(range(start, min(count, start + batch)), workload)
        insert_seconds = time.perf_counter() - started
        stored_bytes = disk_bytes(directory)

        searches = list(zip(workload.query_texts, workload.query_vectors, workload.query_users))
        started = time.perf_counter()
        store.search(*searches[0])  # loads matrices, builds or opens indexes
        first_search_seconds = time.perf_counter() - started
        timings = []
        found = []
        for text, vector, user in searches:
            tick = time.perf_counter()
            found.append(store.search(text, vector, user))
            timings.append(time.perf_counter() - tick)

        dense = store.dense_only()
        ranked = found[:RECALL_QUERIES] if dense is None else [dense.search(*s) for s in searches[:RECALL_QUERIES]]
        truths = [exact_top(workload, q) for q in range(len(ranked))]
        recall = [len(set(ids) & truth) / len(truth) for ids, truth in zip(ranked, truths)]
        notes = store.notes()
        (dense or store).close()
    result = {
        "system": name,
        "version": package_version(SYSTEMS[name].distribution),
        "shape": shape,
        "memories": count,
        "users": len(set(workload.users)),
        "batch": batch,
        "open_seconds": round(open_seconds, 3),
        "insert_seconds": round(insert_seconds, 2),
        "inserts_per_second": round(count / insert_seconds, 1),
        "disk_bytes": stored_bytes if store.persistent else None,
        "first_search_ms": round(first_search_seconds * 1000, 2),
        "queries": queries,
        "search_p50_ms": round(percentile(timings, 50), 2),
        "search_p95_ms": round(percentile(timings, 95), 2),
        "recall_at_10": round(float(np.mean(recall)), 4),
        "rss_after_workload_and_imports_mb": rss_before_store,
        "peak_rss_mb": peak_rss_mb(),
        **notes,
    }
    if name == "langmem":
        overlap = [len(set(ids) & truth) / len(truth) for ids, truth in zip(found, truths)]
        result["hybrid_overlap_with_exact_top10"] = round(float(np.mean(overlap)), 4)
    return result


def package_version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _bench_in_child(results, *args) -> None:
    try:
        results.put(bench_system(*args))
    except Exception as error:  # reported in the JSON: one failing peer must not hide the others
        results.put({"system": args[0], "shape": args[1], "error": f"{type(error).__name__}: {error}"})


def bench_isolated(name: str, shape: str, *args, time_limit: float | None = None) -> dict:
    """One system and shape in a fresh process, so that its peak memory and imports are its own;
    stopped, and reported as such, when it runs past time_limit seconds."""
    missing = missing_modules(SYSTEMS[name])
    if missing:
        return {"system": name, "shape": shape, "skipped": f"not installed: {', '.join(missing)} (pip install -e '.[peers]')"}
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_bench_in_child, args=(results, name, shape, *args))
    process.start()
    deadline = time.monotonic() + time_limit if time_limit else float("inf")
    while True:
        try:
            result = results.get(timeout=1)
            break
        except queue.Empty:
            if not process.is_alive():
                result = {"system": name, "shape": shape, "error": f"process exited with code {process.exitcode}"}
                break
            if time.monotonic() > deadline:
                process.terminate()
                result = {"system": name, "shape": shape, "error": f"stopped after {time_limit:g} s (--time-limit)"}
                break
    process.join()
    return result


def progress_line(result: dict) -> str:
    if "search_p50_ms" not in result:
        return result.get("skipped") or result["error"]
    return (
        f"{result['inserts_per_second']:,.0f} inserts/s, search p50 {result['search_p50_ms']} ms "
        f"p95 {result['search_p95_ms']} ms, recall@10 {result['recall_at_10']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="memories in the single-scope shape")
    parser.add_argument("--users", type=int, default=1_000, help="users in the many-users shape")
    parser.add_argument("--per-user", type=int, default=100, help="memories per user in the many-users shape")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1_000, help="memories per insert batch")
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS))
    parser.add_argument("--shapes", nargs="+", choices=["single", "users"], default=["single", "users"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-limit", type=float, help="seconds after which a system's run is stopped and reported as such")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="directory for peers.json and peers.png")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "peers",
        "machine": {"python": platform.python_version(), "processor": platform.machine(), "cpus": os.cpu_count()},
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        "results": [],
    }
    for shape in args.shapes:
        with tempfile.TemporaryDirectory() as temporary:
            workload = make_workload(shape, args.size, args.users, args.per_user, args.queries, args.seed)
            workload_directory = save_workload(workload, Path(temporary))
            del workload
            for name in args.systems:
                started = time.perf_counter()
                result = bench_isolated(name, shape, workload_directory, args.batch, time_limit=args.time_limit)
                print(f"{shape} {name}: {progress_line(result)} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
                report["results"].append(result)
                (args.out / "peers.json").write_text(json.dumps(report, indent=2))  # a long run keeps what it measured
    report["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    report["plot"] = str(plot_peers(report["results"], args.out / "peers.png"))
    (args.out / "peers.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
