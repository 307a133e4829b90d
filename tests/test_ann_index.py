"""The persisted HNSW index of large scopes (tiers/vector/ann_index.py): built in the background,
reloaded on reopen instead of rebuilt, caught up with rows it lacks, erased with purged rows."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import pytest

from langmem_plugin.records import Scope
from langmem_plugin.testing.vector_contract import record
from langmem_plugin.tiers.vector import SearchParams
from langmem_plugin.tiers.vector.ann_index import scope_digest
from langmem_plugin.tiers.vector.sqlite_backend import SQLiteVectorStore

pytest.importorskip("hnswlib")

DIM = 16
ALICE = Scope(user_id="alice")
DENSE = SearchParams(limit=10, dense_weight=1.0, keyword_weight=0.0, context=False)


def vectors(count: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def open_store(tmp_path, **options) -> SQLiteVectorStore:
    return SQLiteVectorStore(tmp_path / "vectors.sqlite3", ann_min_rows=options.pop("ann_min_rows", 100), **options)


def fill(store: SQLiteVectorStore, scope: Scope, rows: np.ndarray, prefix: str = "row") -> None:
    store.insert([record(f"{prefix} {i}", scope) for i in range(len(rows))], rows)


def ready(store: SQLiteVectorStore, scope: Scope) -> None:
    """First search registers the scope; then the background thread builds or loads its graph."""
    store.search(scope, np.ones(DIM, dtype=np.float32), "", DENSE)
    assert store.wait_for_ann(timeout=60)


def texts(store: SQLiteVectorStore, scope: Scope, query: np.ndarray, **params) -> list[str]:
    return [h.memory.text for h in store.search(scope, query, "", replace(DENSE, **params))]


def exact_top(rows: np.ndarray, query: np.ndarray, prefix: str = "row", k: int = 10) -> list[str]:
    return [f"{prefix} {i}" for i in np.argsort(-(rows @ query))[:k]]


def test_graph_is_built_in_the_background_and_leads_the_search(tmp_path):
    store = open_store(tmp_path)
    rows = vectors(300, 0)
    fill(store, ALICE, rows)
    assert store.ann.builds == 0  # nothing was built on write or on the first search
    ready(store, ALICE)
    index = store.scope_cache.get(ALICE).index
    assert store.ann.builds == 1 and index.graph is not None and index.unindexed_count() == 0
    for q in (5, 77, 250):
        assert texts(store, ALICE, rows[q]) == exact_top(rows, rows[q])
    assert (tmp_path / "vectors.ann" / f"{scope_digest(ALICE)}.hnsw").exists()
    store.close()


def test_reopen_loads_the_saved_graph_and_only_adds_rows_written_since(tmp_path):
    rows = vectors(400, 1)
    store = open_store(tmp_path)
    fill(store, ALICE, rows[:300])
    ready(store, ALICE)
    store.close()
    other = SQLiteVectorStore(tmp_path / "vectors.sqlite3")  # another process, without ANN
    fill(other, ALICE, rows[300:], prefix="late")
    other.close()

    reopened = open_store(tmp_path)
    reopened.search(ALICE, rows[0], "", DENSE)
    late = rows[350]
    assert texts(reopened, ALICE, late)[0] == "late 50"  # found while the graph may still be loading
    assert reopened.wait_for_ann(timeout=60)
    index = reopened.scope_cache.get(ALICE).index
    assert (reopened.ann.builds, reopened.ann.loads) == (0, 1)
    assert index.graph is not None and index.unindexed_count() == 0
    assert texts(reopened, ALICE, late)[0] == "late 50"

    writer = SQLiteVectorStore(tmp_path / "vectors.sqlite3")  # a commit elsewhere drops the cached matrix
    fill(writer, ALICE, vectors(1, 9), prefix="newest")
    writer.close()
    assert texts(reopened, ALICE, vectors(1, 9)[0])[0] == "newest 0"
    assert reopened.wait_for_ann(timeout=60)
    assert (reopened.ann.builds, reopened.ann.loads) == (0, 2)  # the reloaded matrix loaded the file again
    assert reopened.scope_cache.get(ALICE).index.unindexed_count() == 0
    reopened.close()


def test_rows_the_graph_lacks_are_scanned_exactly(tmp_path):
    store = open_store(tmp_path)
    rows = vectors(300, 2)
    fill(store, ALICE, rows)
    ready(store, ALICE)
    index = store.scope_cache.get(ALICE).index
    store.ann.close()  # no catch-up from now on: new rows stay outside the graph
    fresh = vectors(5, 3)
    fill(store, ALICE, fresh, prefix="fresh")
    assert index.unindexed_count() == 5
    assert texts(store, ALICE, fresh[2])[0] == "fresh 2"
    store.close()


def test_deletes_replacements_and_invalidations_are_respected(tmp_path):
    store = open_store(tmp_path)
    rows = vectors(300, 4)
    fill(store, ALICE, rows)
    ready(store, ALICE)
    query = rows[10]
    top = exact_top(rows, query)
    store.delete([f"{ALICE.key()}::{top[0]}"])
    assert top[0] not in texts(store, ALICE, query)
    moved = store.get([f"{ALICE.key()}::row 20"])[0]
    store.replace(moved, -query)  # its vector now points away from the query
    assert "row 20" not in texts(store, ALICE, query, limit=50)
    assert texts(store, ALICE, -query)[0] == "row 20"
    gone = store.get([f"{ALICE.key()}::{top[1]}"])[0]
    store.replace(gone.model_copy(update={"valid_to": datetime(2024, 6, 1, tzinfo=timezone.utc)}))
    assert top[1] not in texts(store, ALICE, query)
    assert store.wait_for_ann(timeout=60)
    index = store.scope_cache.get(ALICE).index
    assert index.unindexed_count() == 0 and not index.removed and store.ann.builds == 1
    assert texts(store, ALICE, -query)[0] == "row 20"  # now through the graph, with its new vector
    assert top[0] not in texts(store, ALICE, query) and top[1] not in texts(store, ALICE, query)
    store.close()


@pytest.mark.parametrize("damage", ["truncated graph", "garbled description", "graph of another store", "stray temporary"])
def test_a_damaged_or_half_written_index_is_rebuilt_not_an_error(tmp_path, caplog, damage):
    rows = vectors(300, 5)
    store = open_store(tmp_path)
    fill(store, ALICE, rows)
    store.set_manifest({"format": 1, "store_id": "one", "parts": ["vectors.sqlite3"]})
    ready(store, ALICE)
    store.close()
    directory = tmp_path / "vectors.ann"
    graph, meta = directory / f"{scope_digest(ALICE)}.hnsw", directory / f"{scope_digest(ALICE)}.npz"
    if damage == "truncated graph":
        graph.write_bytes(graph.read_bytes()[:1000])
    elif damage == "garbled description":
        meta.write_bytes(b"not a zip file" * 10)
    elif damage == "graph of another store":
        reopened = open_store(tmp_path)
        reopened.set_manifest({"format": 1, "store_id": "two", "parts": ["vectors.sqlite3"]})
        reopened.close()
    else:  # a crash between writing the temporary graph and renaming it
        (directory / f"{graph.name}.123.tmp").write_bytes(b"\0" * 100)
    reopened = open_store(tmp_path)
    with caplog.at_level(logging.WARNING):
        ready(reopened, ALICE)
    expected = (0, 1) if damage == "stray temporary" else (1, 0)
    assert (reopened.ann.builds, reopened.ann.loads) == expected
    assert texts(reopened, ALICE, rows[9])[0] == "row 9"
    if damage != "stray temporary":
        assert "rebuilding the ANN index" in caplog.text
    reopened.close()


def test_purge_erases_every_graph_holding_the_purged_rows(tmp_path):
    team = Scope(agent_id="planner")
    victim, other = Scope(user_id="victim", agent_id="planner"), Scope(user_id="other", agent_id="planner")
    victim_rows, other_rows = vectors(150, 6), vectors(150, 7)
    store = open_store(tmp_path)
    fill(store, victim, victim_rows, prefix="victim")
    fill(store, other, other_rows, prefix="other")
    ready(store, team)  # one graph over both users
    ready(store, Scope(user_id="other"))  # a graph of the other user alone: kept
    directory = tmp_path / "vectors.ann"
    kept = (directory / f"{scope_digest(Scope(user_id='other'))}.hnsw").read_bytes()
    with closing(sqlite3.connect(tmp_path / "vectors.sqlite3")) as conn:
        victim_rowids = {r for r, in conn.execute("SELECT rowid FROM memories WHERE user_id = 'victim'")}

    store.delete_scope(Scope(user_id="victim"))
    store.erase_deleted()
    assert store.wait_for_ann(timeout=60)
    raw = b"".join(p.read_bytes() for p in directory.iterdir())
    assert not any(row.tobytes() in raw for row in victim_rows)
    for meta in directory.glob("*.npz"):
        with np.load(meta) as saved:
            assert not victim_rowids & set(saved["file_labels"].tolist())
    assert (directory / f"{scope_digest(Scope(user_id='other'))}.hnsw").read_bytes() == kept
    assert set(texts(store, team, other_rows[3], limit=150, candidates=150)) == {f"other {i}" for i in range(150)}
    assert store.scope_cache.get(team).index.graph is not None and store.ann.builds == 3  # team graph rebuilt
    store.close()


def test_reset_removes_the_index_files(tmp_path):
    store = open_store(tmp_path)
    fill(store, ALICE, vectors(200, 8))
    ready(store, ALICE)
    store.reset()
    assert list((tmp_path / "vectors.ann").iterdir()) == []
    store.close()


def test_config_sets_the_search_width_and_rejects_a_bad_one(tmp_path):
    from langmem_plugin import ConfigurationError, Memory

    from .helpers import HashingEmbeddings

    with Memory({"path": str(tmp_path), "vector": {"ann_min_rows": 10, "ann_ef_search": 64}}, embeddings=HashingEmbeddings()) as memory:
        memory.add([f"note number {i}" for i in range(12)], user_id="alice", infer=False)
        memory.search("note", user_id="alice")
        store = memory.services.vector
        assert store.wait_for_ann(timeout=60)
        assert store.scope_cache.get(Scope(user_id="alice")).index.graph.ef_search == 64
    with pytest.raises(ConfigurationError):
        Memory({"path": str(tmp_path), "vector": {"ann_ef_search": 0}}, embeddings=HashingEmbeddings())
