"""The history append of the embedded key-value store beside diskcache's public API doing the
same work: batches of fresh keys, each batch also extending keys of the batch before, as
`Memory.add` and `update` append audit events. Prints JSON: CPU and wall µs per key.

    python benchmarks/kv_append.py                  # 30 timed batches of 1,000 + 100, 2 rounds
    python benchmarks/kv_append.py --batches 100 --batch-size 100

diskcache has no batch write: its public API appends with `get` and `set` per key inside one
`transact()`, each `set` a SELECT, an INSERT or UPDATE and an eviction check. The cache is
opened as the diskcache backend opened its namespaces (no eviction, values in the file).
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import diskcache

from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore

EVENT = {
    "event": "ADD",
    "old_text": None,
    "new_text": "note about the garden, bees and tomatoes",
    "actor": "user",
    "created_at": "2026-12-07T06:00:00+00:00",
    "metadata": {},
}
Append = Callable[[dict[str, list[Any]]], None]


def diskcache_public(directory: Path) -> tuple[Append, Callable[[], None]]:
    cache = diskcache.Cache(
        str(directory / "history"), eviction_policy="none", size_limit=2**40, disk_min_file_size=512 * 2**20
    )

    def append(entries: dict[str, list[Any]]) -> None:
        with cache.transact():
            for key, items in entries.items():
                cache.set(key, (cache.get(key) or []) + items)

    return append, cache.close


def sqlite_store(directory: Path) -> tuple[Append, Callable[[], None]]:
    store = SQLiteKeyValueStore(directory)
    return (lambda entries: store.append("history", entries)), store.close


def run(open_store, batches: int, batch_size: int, extended: int) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        append, close = open_store(Path(directory))
        previous: list[str] = []
        cpu = wall = 0.0
        keys = 0
        try:
            for batch in range(batches + 1):  # the first batch warms up
                fresh = {str(uuid.uuid4()): [dict(EVENT)] for _ in range(batch_size)}
                entries = fresh | {key: [dict(EVENT, event="UPDATE")] for key in previous[:extended]}
                started_cpu, started_wall = time.process_time(), time.perf_counter()
                append(entries)
                if batch:
                    cpu += time.process_time() - started_cpu
                    wall += time.perf_counter() - started_wall
                    keys += len(entries)
                previous = list(fresh)
        finally:
            close()
    return {
        "keys": keys,
        "cpu_us_per_key": round(cpu / keys * 1e6, 2),
        "wall_us_per_key": round(wall / keys * 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--extended", type=int, default=100, help="keys of the batch before extended per batch"
    )
    parser.add_argument("--rounds", type=int, default=2, help="each store this many times, interleaved")
    args = parser.parse_args()
    stores = {"diskcache_public_api": diskcache_public, "sqlite_key_value_store": sqlite_store}
    results: dict[str, list[dict]] = {name: [] for name in stores}
    for _ in range(args.rounds):
        for name, open_store in stores.items():
            results[name].append(run(open_store, args.batches, args.batch_size, args.extended))
    machine = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "diskcache": diskcache.__version__,
    }
    print(
        json.dumps(
            {"benchmark": "kv_append", "machine": machine, "args": vars(args), "results": results}, indent=2
        )
    )


if __name__ == "__main__":
    main()
