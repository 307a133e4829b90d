"""Query embedding benchmark: the offline MiniLM embedder's single-query latency, batched
throughput, and `Memory.search(text)` end to end at 10k memories. Prints JSON.

    python benchmarks/embedding.py                      # every runtime installed, vs main's embedder
    python benchmarks/embedding.py --queries 200 --memories 0 --baseline-ref ""

Queries are LoCoMo questions (--locomo), batched texts are LoCoMo dialogue turns. Each variant
(`numpy`, `onnx` when onnxruntime is installed, and the embedder as it was at --baseline-ref,
loaded from git into a temporary module) embeds the same query in turn, so that load from other
processes falls on all of them alike. Latency is reported as wall time and as the process's CPU
time per call (time.process_time, all threads), which load disturbs less.

End to end: --memories generated sentences are stored with precomputed vectors (embedding them
would only time the model again), then each LoCoMo question goes through `Memory.search` with the
real embedder: first asked (query embedding computed, then cached in the key-value tier) and
asked again (cached).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings
from threadpoolctl import threadpool_info

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import low_rank_vectors, make_sentences, make_vocabulary  # noqa: E402

from langmem_plugin import Memory  # noqa: E402
from langmem_plugin.embeddings import CachedEmbeddings, MiniLMEmbeddings  # noqa: E402
from langmem_plugin.errors import ConfigurationError  # noqa: E402
from langmem_plugin.records import Scope  # noqa: E402
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LOCOMO = REPO.parent / "shared" / "data" / "locomo" / "locomo_dev.json"


def locomo_texts(path: Path) -> tuple[list[str], list[str]]:
    """(distinct questions, dialogue turns) of the LoCoMo file."""
    samples = json.loads(path.read_text())
    questions = list(dict.fromkeys(qa["question"] for sample in samples for qa in sample["qa"]))
    turns = [
        turn["text"]
        for sample in samples
        for key, session in sample.items()
        if key.startswith("session_") and isinstance(session, list)
        for turn in session
        if "text" in turn
    ]
    return questions, turns


def baseline_embedder(ref: str) -> Embeddings:
    """The MiniLM embedder as committed at `ref`, imported from git into a throwaway module."""
    source = subprocess.run(
        ["git", "show", f"{ref}:langmem_plugin/embeddings/minilm.py"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    name = "langmem_plugin.embeddings._minilm_baseline"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "langmem_plugin.embeddings"
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    exec(compile(source, f"{ref}:minilm.py", "exec"), module.__dict__)
    return module.MiniLMEmbeddings()


def summary(wall: list[float], cpu: list[float]) -> dict:
    wall_ms, cpu_ms = np.asarray(wall) * 1e3, np.asarray(cpu) * 1e3
    return {
        "calls": len(wall),
        "wall_p50_ms": round(float(np.percentile(wall_ms, 50)), 2),
        "wall_p95_ms": round(float(np.percentile(wall_ms, 95)), 2),
        "cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 2),
        "cpu_p95_ms": round(float(np.percentile(cpu_ms, 95)), 2),
    }


def timed(call) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def single_query_latency(variants: dict[str, Embeddings], queries: list[str]) -> dict:
    for embedder in variants.values():  # warm up: first calls allocate and page in the weights
        for query in queries[:10]:
            embedder.embed_array([query])
    samples = {label: ([], []) for label in variants}
    for query in queries:
        for label, embedder in variants.items():
            wall, cpu = timed(lambda: embedder.embed_array([query]))
            samples[label][0].append(wall)
            samples[label][1].append(cpu)
    return {label: summary(*pair) for label, pair in samples.items()}


def cached_query_latency(embedder: Embeddings, queries: list[str]) -> dict:
    """A repeated query through the per-scope embedding cache in the key-value tier (SQLite)."""
    with tempfile.TemporaryDirectory() as directory:
        kv = SQLiteKeyValueStore(Path(directory) / "kv")
        cached = CachedEmbeddings(embedder, kv)
        scope = Scope(user_id="bench")
        for query in queries:
            cached.embed([query], scope)
        wall, cpu = zip(*(timed(lambda: cached.embed([query], scope)) for query in queries))
        kv.close()
    return summary(list(wall), list(cpu))


def batched_throughput(embedder: Embeddings, texts: list[str], batch_sizes: list[int], total: int) -> dict:
    embedder.embed_array(texts[:32])
    result = {}
    for size in batch_sizes:
        batches = max(1, total // size)
        chunks = [texts[i * size : (i + 1) * size] for i in range(batches)]
        wall, cpu = time.perf_counter(), time.process_time()
        for chunk in chunks:
            embedder.embed_array(chunk)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        result[str(size)] = {
            "texts": size * batches,
            "texts_per_second": round(size * batches / wall, 1),
            "cpu_ms_per_text": round(cpu * 1e3 / (size * batches), 2),
        }
    return result


class StoredVectorsThenModel(Embeddings):
    """Stored memories' vectors come from a table; everything else (the queries) from the model."""

    def __init__(self, table: dict[str, np.ndarray], model: Embeddings, label: str):
        self.table = table
        self.model = model
        self.model_name = f"{model.model_name} [{label}]"  # its own cache keys: variants never share entries

    def embed_array(self, texts: list[str]) -> np.ndarray:
        if all(text in self.table for text in texts):
            return np.stack([self.table[text] for text in texts])
        return self.model.embed_array(texts)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


def search_end_to_end(variants: dict[str, Embeddings], memories: int, queries: list[str]) -> dict:
    rng = np.random.default_rng(7)
    texts = make_sentences(rng, memories, make_vocabulary(rng))
    table = dict(zip(texts, low_rank_vectors(rng, memories)))
    with tempfile.TemporaryDirectory() as directory:
        instances = {
            label: Memory({"path": directory}, embeddings=StoredVectorsThenModel(table, model, label))
            for label, model in variants.items()
        }
        try:
            first = next(iter(instances.values()))
            for start in range(0, memories, 1000):
                first.add(texts[start : start + 1000], user_id="bench", infer=False)
            for memory in instances.values():  # load each instance's vectors before timing
                memory.search("warm up", user_id="bench")
            result = {}
            for phase in ("first_asked", "asked_again"):
                samples = {label: ([], []) for label in instances}
                for query in queries:
                    for label, memory in instances.items():
                        wall, cpu = timed(lambda: memory.search(query, user_id="bench", limit=10))
                        samples[label][0].append(wall)
                        samples[label][1].append(cpu)
                result[phase] = {label: summary(*pair) for label, pair in samples.items()}
        finally:
            for memory in instances.values():
                memory.close()
    return {"memories": memories, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--locomo", type=Path, default=DEFAULT_LOCOMO)
    parser.add_argument("--queries", type=int, default=300, help="LoCoMo questions timed one at a time")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--batch-texts", type=int, default=512, help="texts embedded per batch size")
    parser.add_argument("--memories", type=int, default=10_000, help="end-to-end search at this size (0: skip)")
    parser.add_argument("--search-queries", type=int, default=200)
    parser.add_argument("--runtimes", nargs="+", default=["numpy", "onnx"], choices=["numpy", "onnx"])
    parser.add_argument("--baseline-ref", default="main", help="git ref whose embedder is timed alongside ('' to skip)")
    args = parser.parse_args()

    questions, turns = locomo_texts(args.locomo)
    load_before = os.getloadavg()
    variants: dict[str, Embeddings] = {}
    init_seconds = {}
    if args.baseline_ref:
        label = f"{args.baseline_ref} (before)"
        tick = time.perf_counter()
        variants[label] = baseline_embedder(args.baseline_ref)
        init_seconds[label] = round(time.perf_counter() - tick, 2)
    for runtime in args.runtimes:
        tick = time.perf_counter()
        try:
            embedder = MiniLMEmbeddings(runtime=runtime)
        except ConfigurationError as exc:  # onnxruntime not installed: reported, not fatal
            init_seconds[runtime] = f"unavailable: {exc}"
            continue
        init_seconds[runtime] = round(time.perf_counter() - tick, 2)
        variants[runtime] = embedder
    default = MiniLMEmbeddings()

    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "blas": [{k: lib[k] for k in ("internal_api", "num_threads", "version")} for lib in threadpool_info()],
        },
        "default_runtime": default.runtime,
        "threads": {label: getattr(embedder, "threads", "BLAS default") for label, embedder in variants.items()},
        "init_seconds": init_seconds,
        "single_query_uncached": single_query_latency(variants, questions[: args.queries]),
        "single_query_cached_in_kv": cached_query_latency(default, questions[: args.queries]),
        "batched": {
            label: batched_throughput(embedder, turns, args.batch_sizes, args.batch_texts)
            for label, embedder in variants.items()
        },
    }
    if args.memories:
        report["memory_search"] = search_end_to_end(variants, args.memories, questions[: args.search_queries])
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
