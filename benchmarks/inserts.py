"""Insert benchmark: public-API `Memory.add(..., infer=False)` rate per batch size, the SQL
statements and transactions each batch costs, and sqlite-vec's own bulk insert of the same
vectors in the same run.

Prints JSON. Embedding is excluded: a lookup table returns precomputed 384-d vectors (the same
generator as benchmarks/scale.py), so the numbers are the write path's: records, FTS5, vectors,
history events, scope index and the write journal. Statements and transactions of one add call
are counted on every SQLite connection it uses (the vector file and each key-value namespace):
see `langmem_plugin.testing.inspect.sqlite_activity`.

    python benchmarks/inserts.py                       # batch sizes 1, 100, 1000
    python benchmarks/inserts.py --memories 100000 --batches 1000
    python benchmarks/inserts.py --breakdown          # CPU per stage of a memory, default config
    python benchmarks/inserts.py --floor --batches 1000 --memories 30000   # largest batch and floor only

Every batch size runs with `synchronous=FULL` (the default: each commit is fsynced), the
smallest again with NORMAL, each beside sqlite-vec with the same setting; the largest once more
with the embedding cache on (the default; it is off elsewhere). `cpu_us_per_memory` is process
CPU time, steadier than wall time on a shared machine.

SQLite's own share (`sqlite_floor`, beside sqlite-vec at the largest batch size): the same
memories' `memories` rows and FTS5 entries, encoded beforehand by the vector tier's own `_rows`,
inserted with its statements (`INSERT_ROW`, `INSERT_FTS`) by one executemany each per batch into a
fresh file with its schema (`_SCHEMA`) and connection settings, one transaction per batch; then
again without the FTS5 table, and without it and the secondary indexes. What our CPU per memory
has above the first is the Python of the write path, the history and the write journal.

Also timed: one `add(infer=True)` of a short first-person message with the offline manager
(extraction, duplicate check, neighbour search, reconciliation, write), embedding excluded.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import low_rank_vectors, make_sentences, make_vocabulary  # noqa: E402

from langmem_plugin import Memory  # noqa: E402
from langmem_plugin.config import LimitsConfig, PrivacyConfig  # noqa: E402
from langmem_plugin.pipeline.ingest import new_record  # noqa: E402
from langmem_plugin.pipeline.messages import normalize_messages  # noqa: E402
from langmem_plugin.records import Scope, new_uuids, utc_now  # noqa: E402
from langmem_plugin.testing.inspect import sqlite_activity  # noqa: E402
from langmem_plugin.tiers.sqlite_common import open_sqlite, write_transaction  # noqa: E402
from langmem_plugin.tiers.vector.sqlite_backend import _SCHEMA, INSERT_FTS, INSERT_ROW, _rows, scope_tokens  # noqa: E402


class LookupEmbeddings(Embeddings):
    """Precomputed vectors for known texts; any other text (the offline manager's rewritten facts)
    gets a vector seeded by its hash, so no model runs."""

    def __init__(self, table: dict[str, np.ndarray], dimensions: int):
        self.table = table
        self.dimensions = dimensions
        self.model = "lookup"

    def _vector(self, text: str) -> np.ndarray:
        found = self.table.get(text)
        if found is not None:
            return found
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).normal(size=self.dimensions).astype(np.float32)
        return vector / np.linalg.norm(vector)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts])

    def embed_documents(self, texts):
        return self.embed_array(texts).tolist()

    def embed_query(self, text):
        return self._vector(text).tolist()



def config(directory: str, embedding_cache: bool, synchronous: str = "FULL") -> dict:
    return {
        "path": directory,
        "synchronous": synchronous,
        "embedder": {"cache": embedding_cache},
        "graph": {"enabled": False},
        "limits": {"max_messages": 100_000},
    }


def bench_batch(texts: list[str], table: dict, batch: int, embedding_cache: bool, synchronous: str = "FULL") -> dict:
    with tempfile.TemporaryDirectory() as directory:
        with Memory(config(directory, embedding_cache, synchronous), embeddings=LookupEmbeddings(table, 384)) as memory:
            memory.add(["warm up"], user_id="warm", infer=False)
            with sqlite_activity() as activity:
                first = memory.add(texts[:batch], user_id="bench", infer=False)
            started, cpu_started = time.perf_counter(), time.process_time()
            for start in range(batch, len(texts), batch):
                memory.add(texts[start : start + batch], user_id="bench", infer=False)
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
            stored = memory.services.vector.count(Scope(user_id="bench"))
    timed = len(texts) - batch
    assert stored == len(texts) and len(first) == batch
    return {
        "batch": batch,
        "embedding_cache": embedding_cache,
        "synchronous": synchronous,
        "memories": timed,
        "seconds": round(seconds, 3),
        "inserts_per_second": round(timed / seconds, 1),
        "ms_per_add_call": round(1000 * seconds / (timed / batch), 3),
        "cpu_us_per_memory": round(1e6 * cpu_seconds / timed, 1),
        "per_add_call": activity.report(),
    }


def bench_sqlite_vec(vectors: np.ndarray, batch: int, synchronous: str = "FULL") -> dict | None:
    """sqlite-vec's vec0 table (user_id partition key) filled with executemany, one transaction
    per batch: its bulk path. Python's sqlite3 here cannot load extensions, so it runs on apsw."""
    try:
        import apsw
        import sqlite_vec
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as directory:
        conn = apsw.Connection(os.path.join(directory, "vec.db"))
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute(f"CREATE VIRTUAL TABLE vec USING vec0(user_id TEXT partition key, embedding float[{vectors.shape[1]}])")
        started, cpu_started = time.perf_counter(), time.process_time()
        for start in range(0, len(vectors), batch):
            with conn:  # one transaction
                conn.executemany(
                    "INSERT INTO vec (rowid, user_id, embedding) VALUES (?, 'bench', ?)",
                    [(start + i + 1, v.tobytes()) for i, v in enumerate(vectors[start : start + batch])],
                )
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        conn.close()
    return {
        "inserts_per_second": round(len(vectors) / seconds, 1),
        "cpu_us_per_memory": round(1e6 * cpu_seconds / len(vectors), 1),
        "version": sqlite_vec.__version__,
    }


def bench_floor(texts: list[str], vectors: np.ndarray, batch: int, synchronous: str = "FULL") -> dict:
    """CPU µs per memory of SQLite alone inserting our rows: with our schema, without its FTS5
    table, and without FTS5 and the secondary indexes (see the module docstring)."""
    scope = Scope(user_id="bench")
    now = utc_now()
    messages = normalize_messages(texts, LimitsConfig(max_messages=len(texts)), PrivacyConfig()).messages
    records = [new_record(i, m.content, scope, {}, [m.source()], now) for i, m in zip(new_uuids(len(messages)), messages)]
    rows = [(rowid, *row) for rowid, row in enumerate(_rows(records, vectors), start=1)]
    token = " ".join(scope_tokens(scope))
    entries = [(rowid, r.text, token) for rowid, r in enumerate(records, start=1)]
    statements = [s for s in _SCHEMA.split(";") if s.strip()]
    variants = {
        "with_fts5": statements,
        "without_fts5": [s for s in statements if "fts5" not in s],
        "without_fts5_and_secondary_indexes": [s for s in statements if "fts5" not in s and "CREATE INDEX" not in s],
    }
    floor = {}
    for name, schema in variants.items():
        with tempfile.TemporaryDirectory() as directory:
            conn = open_sqlite(Path(directory) / "floor.sqlite3", synchronous)
            for statement in schema:
                conn.execute(statement)
            fts = any("fts5" in s for s in schema)
            cpu_started = time.process_time()
            for start in range(0, len(rows), batch):
                with write_transaction(conn):
                    conn.executemany(INSERT_ROW, rows[start : start + batch])
                    if fts:
                        conn.executemany(INSERT_FTS, entries[start : start + batch])
            floor[name] = round(1e6 * (time.process_time() - cpu_started) / len(rows), 1)
            conn.close()
    return {"cpu_us_per_memory": floor, "memories": len(rows), "batch": batch}


@contextlib.contextmanager
def stage_timers(cpu: collections.Counter):
    """Charge the process CPU time of each write-path stage to `cpu` (seconds by stage name);
    a stage called inside another is counted in both."""
    from langmem_plugin.embeddings.cache import CachedEmbeddings
    from langmem_plugin.pipeline import audit, ingest
    from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore
    from langmem_plugin.tiers.vector import sqlite_backend

    stages = [
        (ingest, "normalize_messages", "normalise and validate messages"),
        (ingest, "verbatim_records", "MemoryRecord objects and content hashes"),
        (ingest, "added_events", "history event objects"),
        (CachedEmbeddings, "embed", "embedding (lookup table) and embedding-cache read"),
        (sqlite_backend.SQLiteVectorStore, "insert", "vector tier insert (rows + FTS5), all of it"),
        (sqlite_backend, "_rows", "  of which: encoding the rows in Python"),
        (audit, "_append_history", "history append, all of it"),
        (SQLiteKeyValueStore, "append", "  of which: the key-value append"),
        (SQLiteKeyValueStore, "put_many", "journal entry + scope index (one put)"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in stages]

    def timed(function, label):
        def run(*args, **kwargs):
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                cpu[label] += time.process_time() - started

        return run

    for (owner, name, label), (_, _, function) in zip(stages, originals):
        setattr(owner, name, timed(function, label))
    try:
        yield
    finally:
        for owner, name, function in originals:
            setattr(owner, name, function)


def bench_breakdown(texts: list[str], table: dict, batch: int) -> dict:
    """CPU µs per memory of each write-path stage, default config (embedding cache on)."""
    cpu: collections.Counter = collections.Counter()
    with tempfile.TemporaryDirectory() as directory:
        with Memory(config(directory, embedding_cache=True), embeddings=LookupEmbeddings(table, 384)) as memory:
            memory.add(texts[:batch], user_id="bench", infer=False)
            cpu_started = time.process_time()
            with stage_timers(cpu):
                for start in range(batch, len(texts), batch):
                    memory.add(texts[start : start + batch], user_id="bench", infer=False)
            total = time.process_time() - cpu_started
    timed = len(texts) - batch
    return {
        "batch": batch,
        "memories": timed,
        "cpu_us_per_memory": round(1e6 * total / timed, 1),
        "stages_cpu_us_per_memory": {label: round(1e6 * seconds / timed, 1) for label, seconds in cpu.most_common()},
    }


def bench_infer(table: dict, count: int) -> dict:
    """Milliseconds per `add(infer=True)` of one first-person message, offline manager, embedding excluded."""
    with tempfile.TemporaryDirectory() as directory:
        with Memory(config(directory, True), embeddings=LookupEmbeddings(table, 384)) as memory:
            memory.add("I like warm-up laps", user_id="bench", infer=True)
            timings = []
            for i in range(count):
                tick = time.perf_counter()
                memory.add(f"I visited the museum number {i} with my cousin", user_id="bench", infer=True)
                timings.append(time.perf_counter() - tick)
    samples = np.asarray(timings) * 1000
    return {"adds": count, "p50_ms": round(float(np.percentile(samples, 50)), 2), "mean_ms": round(float(samples.mean()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--memories", type=int, default=100_000, help="memories added for the largest batch size")
    parser.add_argument("--min-calls", type=int, default=2000, help="at least this many add calls per smaller batch size")
    parser.add_argument("--infer-adds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--breakdown", action="store_true", help="only the CPU per stage, largest batch, 30,000 memories at most")
    parser.add_argument("--floor", action="store_true", help="only the largest batch beside sqlite-vec and SQLite's own floor")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    texts = make_sentences(rng, args.memories, make_vocabulary(rng))
    vectors = low_rank_vectors(rng, args.memories)
    table = dict(zip(texts, vectors))
    if args.breakdown:
        print(json.dumps({"benchmark": "inserts-breakdown", **bench_breakdown(texts[:30_000], table, max(args.batches))}, indent=2))
        return
    results = []
    largest = max(args.batches)
    runs = [(largest, "FULL")] if args.floor else [(batch, "FULL") for batch in args.batches] + [(min(args.batches), "NORMAL")]
    for batch, synchronous in runs:
        count = min(args.memories, max(batch * args.min_calls, batch * 2)) if batch != largest else args.memories
        count = max(count - count % batch, 2 * batch)
        ours = bench_batch(texts[:count], table, batch, embedding_cache=False, synchronous=synchronous)
        peer = bench_sqlite_vec(vectors[:count], batch, synchronous)
        if peer is not None:
            ours["sqlite_vec"] = peer
            ours["ratio_to_sqlite_vec"] = round(ours["inserts_per_second"] / peer["inserts_per_second"], 2)
        if batch == largest and synchronous == "FULL":
            ours["sqlite_floor"] = bench_floor(texts[:count], vectors[:count], batch, synchronous)
        results.append(ours)
    if not args.floor:
        results.append(bench_batch(texts[: min(args.memories, largest * 20)], table, largest, embedding_cache=True))
    report = {
        "benchmark": "inserts",
        "machine": {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "cpus": os.cpu_count(), "load": os.getloadavg()[0]},
        "vectors": "384-d float32, low-rank (benchmarks/scale.py), one scope",
        "results": results,
        "infer_true_offline_manager": bench_infer(table, args.infer_adds) if args.infer_adds and not args.floor else None,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
