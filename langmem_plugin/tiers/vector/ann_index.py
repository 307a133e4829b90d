"""Per-scope HNSW graphs kept off the search path: built, caught up and saved by one background
thread, reloaded from the memory directory on reopen instead of rebuilt.

Each scope with at least `ann_min_rows` memories gets a graph (hnswlib, inner product, labels =
SQLite rowids) in `vectors.ann/<scope digest>.hnsw`, described by `<scope digest>.npz`: format,
store id, dimensions, the sha256 of the graph file, every label the file holds and, for the
labels it holds current, a fingerprint of their vectors. Graphs are derived data: a missing,
damaged, foreign (another store id) or half-written file is logged and rebuilt, never an error.
On reopen the saved fingerprints are compared with the rows read from SQLite, so rows written,
replaced or deleted since the save (by this or another process) are caught up, not trusted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import weakref
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import numpy as np

from ...errors import ConfigurationError, install_hint
from ...records import Scope
from ..sqlite_common import create_private_file, make_directory
from .dense_index import AnnGraph, DenseIndex

log = logging.getLogger(__name__)

FORMAT = 1
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100
BUILD_CHUNK = 8192  # rows per add_items while building: bounds how long close() waits
LIVE_CHUNK = 64  # rows per hold of a live graph's lock: bounds how long a search waits on a write
ROUND_ROWS = 16384  # rows caught up per round, so that several scopes take turns
SAVE_GROWTH = 0.1  # a graph is saved again once it holds this share of rows more than its file


def require_hnswlib():
    try:
        import hnswlib
    except ImportError as exc:
        raise ConfigurationError(f"vector.ann_min_rows needs hnswlib: {install_hint('ann')}") from exc
    return hnswlib


def scope_digest(scope: Scope) -> str:
    """File name of a scope's graph: a digest, so that no user id appears in the directory."""
    key = "\x1f".join(f"{k}={v}" for k, v in sorted(scope.required_filter().items()))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


class AnnMaintainer:
    """Owns the background thread and the sidecar files of one vector store.

    The store registers each scope matrix it loads (`watch`) and calls `wake` after writes. The
    thread copies rows under the store's lock and does the expensive graph work outside it; a
    row becomes trusted to the graph (`DenseIndex.mark_indexed`) only if no write touched it in
    between. It never touches the SQLite connection except through `store_id` under the lock.
    """

    def __init__(
        self, directory: Path, min_rows: int, ef_search: int, store_lock, store_id: Callable[[], str | None]
    ):
        self._hnswlib = require_hnswlib()
        self._directory = directory
        self._min_rows = min_rows
        self._ef_search = ef_search
        self._store_lock = store_lock
        self._store_id = store_id
        self._watched: weakref.WeakValueDictionary[str, DenseIndex] = weakref.WeakValueDictionary()
        self._saved_rows: dict[
            str, int
        ] = {}  # rows vouched for by each scope's file, as last saved or loaded
        self._load_tried: weakref.WeakSet[DenseIndex] = weakref.WeakSet()  # each matrix tries its file once
        self._failed: set[str] = set()
        self._generation = 0  # bumped by erase/reset: work started before it is thrown away
        self._wakeup = threading.Condition()
        self._pending = False
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._files_lock = threading.Lock()
        self.builds = 0  # graphs built from rows (not loaded): tests check that reopening adds none
        self.loads = 0

    # -- called by the store, under its lock -----------------------------------------------------

    def watch(self, scope: Scope, index: DenseIndex) -> None:
        key = scope_digest(scope)
        self._watched[key] = index
        self._failed.discard(key)
        self.wake()

    def wake(self) -> None:
        with self._wakeup:
            self._pending = True
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name="langmem-ann", daemon=True)
                self._thread.start()
            self._wakeup.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no graph work is left (True) or `timeout` seconds passed (False)."""
        with self._wakeup:
            return self._wakeup.wait_for(lambda: self._stopping or not (self._pending or self._busy), timeout)

    def erase(self, live_rowids: np.ndarray) -> None:
        """Delete every graph, in memory or on disk, holding a vector of a row no longer stored."""
        live = np.sort(live_rowids)
        with self._files_lock:
            self._generation += 1
            for key, index in list(self._watched.items()):
                if index.graph is None:
                    continue
                with index.graph.lock:
                    held = np.asarray(index.graph.index.get_ids_list(), dtype=np.int64)
                if not _all_in(held, live):
                    index.drop_graph()
                    self._saved_rows.pop(key, None)
                    self._load_tried.discard(index)  # its file is deleted below if it holds them too
            own_temporaries = f".{os.getpid()}.tmp"
            for path in self._directory.glob("*.tmp"):  # left by a crash mid-save: contents unknown
                if not path.name.endswith(own_temporaries):
                    path.unlink(missing_ok=True)
            for key in {path.name.split(".")[0] for path in self._directory.glob("*.hnsw")} | {
                path.stem for path in self._directory.glob("*.npz")
            }:
                if not self._file_holds_only(key, live):
                    self._remove_files(key)
        self.wake()

    def _file_holds_only(self, key: str, sorted_live: np.ndarray) -> bool:
        """Whether the scope's graph file is described by its .npz and holds only live rows."""
        graph_path, meta_path = self._paths(key)
        try:
            with np.load(meta_path, allow_pickle=False) as saved:
                return _sha256(graph_path) == str(saved["graph_sha256"]) and _all_in(
                    saved["file_labels"], sorted_live
                )
        except Exception:  # noqa: BLE001 - missing or unreadable: nothing vouches for the other file
            return False

    def reset(self) -> None:
        with self._files_lock:
            self._generation += 1
            for index in self._watched.values():
                index.drop_graph()
            self._watched.clear()
            self._saved_rows.clear()
            self._load_tried.clear()
            for path in self._directory.glob("*"):
                path.unlink(missing_ok=True)

    def close(self) -> None:
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    # -- the background thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wakeup:
                self._wakeup.wait_for(lambda: self._pending or self._stopping)
                if self._stopping:
                    self._busy = False
                    self._wakeup.notify_all()
                    return
                self._pending = False
                self._busy = True
            while not self._stopping:
                job = self._next_job()
                if job is None:
                    break
                key, index = job
                try:
                    self._work(key, index)
                except Exception:
                    log.exception("ANN index of a scope failed; its searches stay exact")
                    self._failed.add(key)
            with self._wakeup:
                self._busy = False
                self._wakeup.notify_all()

    def _next_job(self) -> tuple[str, DenseIndex] | None:
        with self._store_lock:
            for key, index in list(self._watched.items()):
                if key in self._failed or len(index) < self._min_rows:
                    continue
                if index.graph is None or index.removed or index.unindexed_count():
                    return key, index
        return None

    def _current(self, key: str, index: DenseIndex, generation: int) -> bool:
        return self._watched.get(key) is index and self._generation == generation and not self._stopping

    def _work(self, key: str, index: DenseIndex) -> None:
        generation = self._generation
        if index.graph is None and index not in self._load_tried:
            self._load_tried.add(index)
            if self._load(key, index, generation):
                return
        if index.graph is None:
            self._build(key, index, generation)
        else:
            self._catch_up(key, index, generation)

    def _build(self, key: str, index: DenseIndex, generation: int) -> None:
        """A fresh graph from the scope's rows, filled in chunks outside the store's lock."""
        with self._store_lock:
            graph = self._hnswlib.Index(space="ip", dim=index.dimensions)
            graph.init_index(
                max_elements=len(index) + len(index) // 4 + 1024,
                ef_construction=HNSW_EF_CONSTRUCTION,
                M=HNSW_M,
            )
            index.start_tracking()
        added = []
        start = 0
        while True:
            with self._store_lock:
                if not self._current(key, index, generation):
                    return
                rowids, vectors, start = index.unindexed_rows(start, BUILD_CHUNK, BUILD_CHUNK)
                done = start >= len(index)
            if len(rowids):
                _make_room(graph, len(rowids))
                graph.add_items(vectors, rowids)
                added.append(rowids)
            if done:
                break
        with self._store_lock:
            if not self._current(key, index, generation):
                return
            index.graph = AnnGraph(graph, self._ef_search)
            index.mark_indexed(np.concatenate(added) if added else np.zeros(0, dtype=np.int64))
            self.builds += 1
        self._save(key, index, generation)

    def _catch_up(self, key: str, index: DenseIndex, generation: int) -> None:
        """Mark removed rows deleted and add the rows the graph lacks, a few at a time."""
        with self._store_lock:
            if not self._current(key, index, generation):
                return
            graph = index.graph
            if graph is None:  # dropped meanwhile (drop_graph): the next round builds one
                return
            removed, index.removed = index.removed, []
            index.start_tracking()
            rowids, vectors, _ = index.unindexed_rows(0, len(index), ROUND_ROWS)
        for rowid in removed:
            with graph.lock, suppress(RuntimeError):  # never added, or already deleted
                graph.index.mark_deleted(rowid)
        for start in range(0, len(rowids), LIVE_CHUNK):
            with graph.lock:
                _make_room(graph.index, LIVE_CHUNK)
                graph.index.add_items(
                    vectors[start : start + LIVE_CHUNK], rowids[start : start + LIVE_CHUNK], num_threads=1
                )
        with self._store_lock:
            if not self._current(key, index, generation) or index.graph is not graph:
                return
            index.mark_indexed(rowids)
            settled = index.unindexed_count() == 0 and not index.removed
            grown = len(index) - self._saved_rows.get(key, 0)
        if settled and abs(grown) >= SAVE_GROWTH * max(self._saved_rows.get(key, 0), 1):
            self._save(key, index, generation)

    # -- files -------------------------------------------------------------------------------

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self._directory / f"{key}.hnsw", self._directory / f"{key}.npz"

    def _remove_files(self, key: str) -> None:
        for path in self._paths(key):
            path.unlink(missing_ok=True)

    def _save(self, key: str, index: DenseIndex, generation: int) -> None:
        """Graph first, then its description naming the graph's sha256; each via a temporary file
        and an atomic rename, so a crash leaves either the old pair, or a pair that disagrees."""
        with self._store_lock:
            graph = index.graph
            if graph is None or not self._current(key, index, generation):
                return
            labels, prints = index.indexed_rows()
            store_id = self._store_id() or ""
        graph_path, meta_path = self._paths(key)
        suffix = f".{os.getpid()}.tmp"
        graph_tmp, meta_tmp = (
            graph_path.with_name(graph_path.name + suffix),
            meta_path.with_name(meta_path.name + suffix),
        )
        try:
            make_directory(self._directory, "ANN index directory")
            create_private_file(graph_tmp)  # hnswlib rewrites it in place, keeping its mode
            graph.index.save_index(str(graph_tmp))  # only this thread changes the graph
            file_labels = np.asarray(graph.index.get_ids_list(), dtype=np.int64)
            create_private_file(meta_tmp)
            with meta_tmp.open("wb") as file:
                np.savez(
                    file,
                    format=np.int64(FORMAT),
                    store_id=np.str_(store_id),
                    dimensions=np.int64(index.dimensions),
                    graph_sha256=np.str_(_sha256(graph_tmp)),
                    labels=labels,
                    fingerprints=prints,
                    file_labels=file_labels,
                )
            with self._files_lock:
                if generation != self._generation:  # erased meanwhile: this graph may hold erased rows
                    return
                graph_tmp.replace(graph_path)
                meta_tmp.replace(meta_path)
            self._saved_rows[key] = len(labels)
        except (
            OSError,
            RuntimeError,
        ) as exc:  # the graph in memory stays usable; a reopen rebuilds or catches up
            log.warning("could not save the ANN index %s: %s", graph_path.name, exc)
        finally:
            graph_tmp.unlink(missing_ok=True)
            meta_tmp.unlink(missing_ok=True)

    def _load(self, key: str, index: DenseIndex, generation: int) -> bool:
        graph_path, meta_path = self._paths(key)
        if not meta_path.exists():
            return False
        with self._store_lock:
            store_id = self._store_id() or ""
        try:
            with np.load(meta_path, allow_pickle=False) as saved:
                if int(saved["format"]) != FORMAT or str(saved["store_id"]) != store_id:
                    raise ValueError("written by another store or format")
                if int(saved["dimensions"]) != index.dimensions:
                    raise ValueError("other dimensions")
                if _sha256(graph_path) != str(saved["graph_sha256"]):
                    raise ValueError("graph file does not match its description")
                labels, prints, file_labels = saved["labels"], saved["fingerprints"], saved["file_labels"]
            graph = self._hnswlib.Index(space="ip", dim=index.dimensions)
            graph.load_index(
                str(graph_path), max_elements=max(len(file_labels), len(index)) + len(index) // 4 + 1024
            )
        except Exception as exc:  # noqa: BLE001 - whatever makes the files unusable, the index is rebuilt
            log.warning("rebuilding the ANN index %s: %s", graph_path.name, exc)
            self._remove_files(key)
            return False
        with self._store_lock:
            if not self._current(key, index, generation):
                return True
            index.adopt(AnnGraph(graph, self._ef_search), labels, prints)
            index.removed.extend(
                r
                for r, p in zip(file_labels.tolist(), index.positions(file_labels.tolist()), strict=True)
                if p is None
            )
            self._saved_rows[key] = len(labels)
            self.loads += 1
        return True


def _make_room(graph, extra: int) -> None:
    needed = graph.get_current_count() + extra
    if needed > graph.get_max_elements():
        graph.resize_index(max(needed, 2 * graph.get_max_elements()))


def _all_in(labels: np.ndarray, sorted_live: np.ndarray) -> bool:
    if len(labels) == 0:
        return True
    at = np.searchsorted(sorted_live, labels)
    at[at == len(sorted_live)] = 0
    return bool(len(sorted_live)) and bool((sorted_live[at] == labels).all())
