"""Processes sharing one vectors.sqlite3 keep their cached dense indexes equal to the table."""

import uuid

import numpy as np
import pytest

from langmem_plugin.records import MemoryRecord, Scope, utc_now
from langmem_plugin.tiers.vector.base import SearchParams
from langmem_plugin.tiers.vector.sqlite_backend import SQLiteVectorStore

from .helpers import processes_at_once

WRITERS = 3
ROUNDS = 150
DIMENSIONS = 8
SCOPE = Scope(user_id="shared")


def _record(text: str) -> MemoryRecord:
    now = utc_now()
    return MemoryRecord(
        id=str(uuid.uuid4()), text=text, scope=SCOPE, created_at=now, updated_at=now, valid_from=now, hash=text
    )


def _dense_hits(store: SQLiteVectorStore, rows: int) -> int:
    """How many rows a dense-only search over the whole scope can reach (the cached index's size)."""
    params = SearchParams(limit=rows + 10, candidates=rows + 10, keyword_weight=0.0, graph_weight=0.0)
    return len(store.search(SCOPE, np.ones(DIMENSIONS, dtype=np.float32), "", params))


def _writer(path: str, worker: int, ann_min_rows: int | None, barrier, results) -> None:
    """Rounds of simultaneous inserts: every writer caches the scope's dense index, all insert at
    once (so most inserts wait for another writer's commit), then each compares its index with
    the table while nobody writes. With `ann_min_rows`, an HNSW graph (saved by one process,
    loaded by the others, always behind the latest commits) leads the search once the scope is
    large enough: rows it lacks must still be reached."""
    store = SQLiteVectorStore(path, synchronous="NORMAL", ann_min_rows=ann_min_rows)
    rng = np.random.default_rng(worker)
    short_rounds = []
    for round_number in range(ROUNDS):
        _dense_hits(store, 0)  # search first, as add() does: the index is cached when we write
        barrier.wait()
        store.insert([_record(f"worker {worker} note {round_number}")], rng.random((1, DIMENSIONS), dtype=np.float32))
        barrier.wait()  # every writer has committed this round
        rows = store.count(SCOPE)
        reachable = _dense_hits(store, rows)
        if reachable != rows:
            short_rounds.append((round_number, rows - reachable))
        barrier.wait()
    results.put((worker, store.count(SCOPE), short_rounds))
    store.close()


@pytest.mark.slow
@pytest.mark.parametrize("ann_min_rows", [None, 50], ids=["exact", "hnsw"])
def test_concurrent_writers_keep_cached_dense_indexes_complete(tmp_path, ann_min_rows):
    """A commit of another process between the version check and our write must not be hidden."""
    path = str(tmp_path / "vectors.sqlite3")
    SQLiteVectorStore(path).close()
    outcomes = processes_at_once(_writer, [(path, w, ann_min_rows) for w in range(WRITERS)], timeout=120)
    for worker, rows, short_rounds in outcomes:
        assert rows == WRITERS * ROUNDS
        assert short_rounds == [], f"worker {worker}: (round, rows missing from its dense index): {short_rounds}"
