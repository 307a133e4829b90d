"""In-memory matrix of one scope's vectors for exact (or HNSW) dense search."""

from __future__ import annotations

import numpy as np

INFINITY = float("inf")


class DenseIndex:
    """Rows are kept contiguous so that a scope's search is one matrix-vector product."""

    def __init__(self, dimensions: int, capacity: int = 1024):
        self.dimensions = dimensions
        self._matrix = np.zeros((max(capacity, 16), dimensions), dtype=np.float32)
        self._rowids = np.zeros(self._matrix.shape[0], dtype=np.int64)
        self._valid_from = np.zeros(self._matrix.shape[0], dtype=np.float64)
        self._valid_to = np.zeros(self._matrix.shape[0], dtype=np.float64)
        self._size = 0
        self._position: dict[int, int] = {}
        self.term_counts: dict[str, int] = {}  # keyword-ranker cache, valid until the rows change

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

    def _changed(self) -> None:
        self.term_counts.clear()

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

    def set(self, rowid: int, vector: np.ndarray | None, valid_from: float, valid_to: float) -> None:
        self._changed()
        position = self._position[rowid]
        if vector is not None:
            self._matrix[position] = vector
        self._valid_from[position] = valid_from
        self._valid_to[position] = valid_to

    def remove(self, rowid: int) -> None:
        position = self._position.pop(rowid, None)
        if position is None:
            return
        self._changed()
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

    def active_mask(self, as_of: float | None) -> np.ndarray:
        """Rows valid at `as_of`; with None, rows never invalidated."""
        if as_of is None:
            return self._valid_to[: self._size] == INFINITY
        return (self._valid_from[: self._size] <= as_of) & (self._valid_to[: self._size] > as_of)

    def similarities(self, vector: np.ndarray) -> np.ndarray:
        return self._matrix[: self._size] @ vector
