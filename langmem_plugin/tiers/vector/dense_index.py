"""In-memory matrix of one scope's vectors for exact (or HNSW) dense search."""

from __future__ import annotations

import numpy as np

from ...errors import ConfigurationError

INFINITY = float("inf")
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100


def require_hnswlib():
    try:
        import hnswlib
    except ImportError as exc:
        raise ConfigurationError("vector.ann_min_rows needs hnswlib: pip install 'langmem-plugin[ann]'") from exc
    return hnswlib


class DenseIndex:
    """Rows are kept contiguous so that a scope's search is one matrix-vector product.

    With `ann_min_rows` set, a scope that grows past it also gets an HNSW graph (hnswlib, inner
    product) kept in step with every write; it answers the dense ranking, and exact search takes
    over whenever filters leave too few HNSW candidates.
    """

    def __init__(self, dimensions: int, capacity: int = 1024, ann_min_rows: int | None = None):
        self.dimensions = dimensions
        self._ann_min_rows = ann_min_rows
        self._ann = None
        self._matrix = np.zeros((max(capacity, 16), dimensions), dtype=np.float32)
        self._rowids = np.zeros(self._matrix.shape[0], dtype=np.int64)
        self._valid_from = np.zeros(self._matrix.shape[0], dtype=np.float64)
        self._valid_to = np.zeros(self._matrix.shape[0], dtype=np.float64)
        self._size = 0
        self._position: dict[int, int] = {}
        self.term_counts: dict[str, int] = {}  # keyword-ranker cache, valid until the rows change
        self.version = 0  # bumped on every change, so caches derived from the rows know they are stale

    def __len__(self) -> int:
        return self._size

    def __contains__(self, rowid: int) -> bool:
        return rowid in self._position

    def _grow(self, needed: int) -> None:
        capacity = self._matrix.shape[0]
        if needed <= capacity:
            return
        new_capacity = max(needed, capacity * 2)
        for name in ("_matrix", "_rowids", "_valid_from", "_valid_to"):
            old = getattr(self, name)
            new = np.zeros((new_capacity,) + old.shape[1:], dtype=old.dtype)
            new[: self._size] = old[: self._size]
            setattr(self, name, new)

    @property
    def nbytes(self) -> int:
        """Approximate memory held: the arrays plus the rowid -> position map (about 100 bytes an entry)."""
        arrays = self._matrix.nbytes + self._rowids.nbytes + self._valid_from.nbytes + self._valid_to.nbytes
        return arrays + 100 * len(self._position)

    def _changed(self) -> None:
        self.term_counts.clear()
        self.version += 1

    def add(self, rowids: np.ndarray, vectors: np.ndarray, valid_from: np.ndarray, valid_to: np.ndarray) -> None:
        self._changed()
        count = len(rowids)
        self._grow(self._size + count)
        end = self._size + count
        self._matrix[self._size : end] = vectors
        self._rowids[self._size : end] = rowids
        self._valid_from[self._size : end] = valid_from
        self._valid_to[self._size : end] = valid_to
        for offset, rowid in enumerate(rowids.tolist()):
            self._position[rowid] = self._size + offset
        self._size = end
        if self._ann is not None:
            self._ann_add(vectors, rowids)

    def set(self, rowid: int, vector: np.ndarray | None, valid_from: float, valid_to: float) -> None:
        self._changed()
        position = self._position[rowid]
        if vector is not None:
            self._matrix[position] = vector
            if self._ann is not None:
                self._ann_add(vector[None, :], np.array([rowid]))
        self._valid_from[position] = valid_from
        self._valid_to[position] = valid_to

    def remove(self, rowid: int) -> None:
        position = self._position.pop(rowid, None)
        if position is None:
            return
        self._changed()
        if self._ann is not None:
            self._ann.mark_deleted(rowid)
        last = self._size - 1
        if position != last:
            moved = int(self._rowids[last])
            for array in (self._matrix, self._rowids, self._valid_from, self._valid_to):
                array[position] = array[last]
            self._position[moved] = position
        self._size = last

    def positions(self, rowids: list[int]) -> list[int | None]:
        return [self._position.get(r) for r in rowids]

    def rowid_at(self, positions: np.ndarray) -> np.ndarray:
        return self._rowids[positions]

    def valid_from_at(self, positions: np.ndarray) -> np.ndarray:
        return self._valid_from[positions]

    def active_mask(self, as_of: float | None) -> np.ndarray:
        """Rows valid at `as_of`; with None, rows never invalidated."""
        if as_of is None:
            return self._valid_to[: self._size] == INFINITY
        return (self._valid_from[: self._size] <= as_of) & (self._valid_to[: self._size] > as_of)

    def similarity_of(self, positions: list[int], vector: np.ndarray) -> np.ndarray:
        return self._matrix[positions] @ vector

    def dense_ranking(self, vector: np.ndarray, allowed: np.ndarray, candidates: int) -> list[int]:
        """Positions of the `candidates` allowed rows most similar to `vector`, best first."""
        take = min(candidates, int(allowed.sum()))
        if take == 0:
            return []
        if self._ann_min_rows is not None and self._size >= self._ann_min_rows:
            ranked = self._ann_ranking(vector, allowed, take)
            if ranked is not None:
                return ranked
        similarities = self._matrix[: self._size] @ vector
        if take < self._size and not allowed.all():
            similarities[~allowed] = -np.inf
        top = np.argpartition(-similarities, take - 1)[:take] if take < self._size else np.arange(self._size)
        top = top[np.argsort(-similarities[top], kind="stable")]
        return top[:take].tolist()

    def _ann_add(self, vectors: np.ndarray, rowids: np.ndarray) -> None:
        needed = self._ann.get_current_count() + len(rowids)
        if needed > self._ann.get_max_elements():
            self._ann.resize_index(max(needed, 2 * self._ann.get_max_elements()))
        self._ann.add_items(vectors, rowids)

    def _ann_ranking(self, vector: np.ndarray, allowed: np.ndarray, take: int) -> list[int] | None:
        if self._ann is None:
            hnswlib = require_hnswlib()
            self._ann = hnswlib.Index(space="ip", dim=self.dimensions)
            self._ann.init_index(max_elements=max(self._size, 16), ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M)
            self._ann.add_items(self._matrix[: self._size], self._rowids[: self._size])
        fetch = min(self._size, 2 * take + 16)
        self._ann.set_ef(max(fetch, 128))
        labels, _ = self._ann.knn_query(vector, k=fetch)
        ranked = [p for p in self.positions(labels[0].tolist()) if p is not None and allowed[p]]
        return ranked[:take] if len(ranked) >= take else None
