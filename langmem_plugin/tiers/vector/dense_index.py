"""In-memory matrix of one scope's vectors for exact dense search, optionally led by an HNSW graph."""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

INFINITY = float("inf")
_FINGERPRINT_CHUNK = 65536


@lru_cache(maxsize=8)
def _fingerprint_weights(width: int) -> np.ndarray:
    """Per-column odd multipliers from a fixed seed: every process computes the same fingerprints."""
    return np.random.default_rng(0x5EED).integers(1, 2**63, size=width, dtype=np.uint64) | np.uint64(1)


def fingerprints(vectors: np.ndarray) -> np.ndarray:
    """A 64-bit digest of each row's exact bytes: tells whether a graph entry saved earlier still
    holds the row's current vector (rowids are reused by SQLite, vectors replaced by updates)."""
    words = np.ascontiguousarray(vectors, dtype=np.float32).view(np.uint32)
    weights = _fingerprint_weights(words.shape[1])
    out = np.empty(len(words), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, len(words), _FINGERPRINT_CHUNK):
            chunk = words[start : start + _FINGERPRINT_CHUNK].astype(np.uint64)
            out[start : start + _FINGERPRINT_CHUNK] = (chunk * weights).sum(axis=1)
    return out


class AnnGraph:
    """An hnswlib graph over rowid labels with the lock hnswlib needs: add_items, mark_deleted
    and resize_index are not safe alongside knn_query."""

    def __init__(self, index, ef_search: int):
        self.index = index
        self.ef_search = ef_search
        self.lock = threading.Lock()

    def query(self, vector: np.ndarray, k: int) -> np.ndarray | None:
        with self.lock:
            k = min(k, self.index.get_current_count())
            if k == 0:
                return None
            self.index.set_ef(max(self.ef_search, k))
            try:
                labels, _ = self.index.knn_query(vector, k=k)
            except RuntimeError:  # fewer live elements than k (many marked deleted)
                return None
        return labels[0]


class DenseIndex:
    """Rows are kept contiguous so that a scope's search is one matrix-vector product.

    An HNSW graph (tiers/vector/ann_index.py maintains it in the background) may lead the dense
    ranking. A row is trusted to the graph only while `_indexed` says the graph holds its current
    vector; every other row (new, replaced, or the whole scope before the graph exists) is scanned
    exactly, so the graph can lag behind writes without any row being missed. Exact search takes
    over when filters leave too few graph candidates.
    """

    def __init__(self, dimensions: int, capacity: int = 1024, track_fingerprints: bool = False):
        self.dimensions = dimensions
        self._track_fingerprints = track_fingerprints
        self.graph: AnnGraph | None = None
        self._matrix = np.zeros((max(capacity, 16), dimensions), dtype=np.float32)
        self._rowids = np.zeros(self._matrix.shape[0], dtype=np.int64)
        self._valid_from = np.zeros(self._matrix.shape[0], dtype=np.float64)
        self._valid_to = np.zeros(self._matrix.shape[0], dtype=np.float64)
        self._expires = np.zeros(self._matrix.shape[0], dtype=np.float64)  # INFINITY: never
        self._indexed = np.zeros(self._matrix.shape[0], dtype=bool)
        self._fingerprint = np.zeros(self._matrix.shape[0] if track_fingerprints else 0, dtype=np.uint64)
        self._before = np.full(self._matrix.shape[0], -1, dtype=np.int64)  # see `adjacent`
        self._after = np.full(self._matrix.shape[0], -1, dtype=np.int64)
        self._size = 0
        self._position: dict[int, int] = {}
        self._touched: set[int] | None = None  # rowids changed while the ANN maintainer copied rows
        self.removed: list[int] = []  # rowids whose graph entries the maintainer must mark deleted
        # keyword-ranker cache, valid until the rows change:
        # term -> (count, counted up to, the table's matches when few)
        self.term_counts: dict[str, tuple[int, int, int | None]] = {}
        # big scopes' terms counted only as far as telling whether they are common (`relevance.is_common`)
        self.common_terms: dict[str, bool] = {}
        self.version = 0  # bumped on every change, so caches derived from the rows know they are stale

    def __len__(self) -> int:
        return self._size

    def __contains__(self, rowid: int) -> bool:
        return rowid in self._position

    def _arrays(self) -> tuple[str, ...]:
        validity = ("_valid_from", "_valid_to", "_expires")
        return ("_matrix", "_rowids", *validity, "_indexed", "_before", "_after") + (
            ("_fingerprint",) if self._track_fingerprints else ()
        )

    def _grow(self, needed: int) -> None:
        capacity = self._matrix.shape[0]
        if needed <= capacity:
            return
        new_capacity = max(needed, capacity * 2)
        for name in self._arrays():
            old = getattr(self, name)
            new = np.zeros((new_capacity, *old.shape[1:]), dtype=old.dtype)
            new[: self._size] = old[: self._size]
            setattr(self, name, new)

    @property
    def nbytes(self) -> int:
        """Approximate memory held: the arrays plus the rowid -> position map (about 100 bytes an entry)."""
        arrays = sum(
            getattr(self, name).nbytes
            for name in (
                "_matrix",
                "_rowids",
                "_valid_from",
                "_valid_to",
                "_expires",
                "_indexed",
                "_before",
                "_after",
                "_fingerprint",
            )
        )
        return arrays + 100 * len(self._position)

    def _changed(self, rowids) -> None:
        self.term_counts.clear()
        self.common_terms.clear()
        self.version += 1
        if self._touched is not None:
            self._touched.update(rowids)

    def add(
        self,
        rowids: np.ndarray,
        vectors: np.ndarray,
        valid_from: np.ndarray,
        valid_to: np.ndarray,
        expires: np.ndarray | None = None,
    ) -> None:
        """Append rows; `expires` are their expiry times (None: none of them expires)."""
        self._changed(rowids.tolist())
        count = len(rowids)
        self._grow(self._size + count)
        end = self._size + count
        self._matrix[self._size : end] = vectors
        self._rowids[self._size : end] = rowids
        self._valid_from[self._size : end] = valid_from
        self._valid_to[self._size : end] = valid_to
        self._expires[self._size : end] = INFINITY if expires is None else expires
        self._indexed[self._size : end] = False
        if self._track_fingerprints:
            self._fingerprint[self._size : end] = fingerprints(vectors)
        for offset, rowid in enumerate(rowids.tolist()):
            self._position[rowid] = self._size + offset
        self._link(rowids, np.arange(self._size, end), rows_before=self._size > 0)
        self._size = end

    def _link(self, rowids: np.ndarray, positions: np.ndarray, rows_before: bool) -> None:
        """Make new rows and the rows at rowid - 1 and + 1, if the scope has them, each other's
        neighbours: within the batch at once, and one by one with the rows held before it."""
        order = np.argsort(rowids, kind="stable")
        sorted_rowids, sorted_positions = rowids[order], positions[order]
        self._before[positions] = -1
        self._after[positions] = -1
        consecutive = np.flatnonzero(np.diff(sorted_rowids) == 1)
        self._before[sorted_positions[consecutive + 1]] = sorted_positions[consecutive]
        self._after[sorted_positions[consecutive]] = sorted_positions[consecutive + 1]
        if not rows_before or not len(positions):
            return
        first_new = int(positions[0])
        for own, other, step in ((self._before, self._after, -1), (self._after, self._before, 1)):
            # only a row with no neighbour on that side within the batch can have one held before it
            loose = own[positions] < 0
            for rowid, position in zip(rowids[loose].tolist(), positions[loose].tolist(), strict=True):
                neighbour = self._position.get(rowid + step, -1)
                if 0 <= neighbour < first_new:
                    own[position] = neighbour
                    other[neighbour] = position

    def set(
        self, rowid: int, vector: np.ndarray | None, valid_from: float, valid_to: float, expires: float
    ) -> None:
        position = self._position[rowid]
        self._changed([] if vector is None else [rowid])  # only a new vector makes the graph's copy stale
        if vector is not None:
            self._matrix[position] = vector
            self._indexed[position] = False  # the graph holds the old vector until re-added
            if self._track_fingerprints:
                self._fingerprint[position] = fingerprints(vector[None, :])[0]
        self._valid_from[position] = valid_from
        self._valid_to[position] = valid_to
        self._expires[position] = expires

    def set_expiry(self, rowid: int, expires: float) -> None:
        self._expires[self._position[rowid]] = expires

    def remove(self, rowid: int) -> None:
        position = self._position.pop(rowid, None)
        if position is None:
            return
        self._changed([rowid])
        if self.graph is not None or self._touched is not None:
            self.removed.append(rowid)
        for pointers, neighbour in (
            (self._after, self._before[position]),
            (self._before, self._after[position]),
        ):
            if neighbour >= 0:
                pointers[neighbour] = -1
        last = self._size - 1
        if position != last:
            moved = int(self._rowids[last])
            for name in self._arrays():
                array = getattr(self, name)
                array[position] = array[last]
            self._position[moved] = position
            for pointers, neighbour in (
                (self._after, self._before[position]),
                (self._before, self._after[position]),
            ):
                if neighbour >= 0:
                    pointers[neighbour] = position
        self._size = last

    def positions(self, rowids: list[int]) -> list[int | None]:
        return [self._position.get(r) for r in rowids]

    def adjacent(self) -> tuple[np.ndarray, np.ndarray]:
        """For each position, the positions of the rows whose rowids are one less and one more (-1
        where the scope has no such row): a memory's neighbouring turns, kept up to date by writes."""
        return self._before[: self._size], self._after[: self._size]

    def rowid_at(self, positions: np.ndarray) -> np.ndarray:
        return self._rowids[positions]

    def valid_from_at(self, positions: np.ndarray) -> np.ndarray:
        return self._valid_from[positions]

    def active_mask(self, as_of: float | None, now: float | None = None) -> np.ndarray:
        """Rows valid at `as_of` (with None, rows never invalidated) and, given `now`, not expired then."""
        if as_of is None:
            mask = self._valid_to[: self._size] == INFINITY
        else:
            mask = (self._valid_from[: self._size] <= as_of) & (self._valid_to[: self._size] > as_of)
        if now is not None:
            mask &= self._expires[: self._size] > now
        return mask

    def similarity_of(self, positions: np.ndarray, vector: np.ndarray) -> np.ndarray:
        return self._matrix[positions] @ vector

    def dense_ranking(
        self, vector: np.ndarray, allowed: np.ndarray, candidates: int
    ) -> tuple[list[int], np.ndarray | None]:
        """Positions of the `candidates` allowed rows most similar to `vector`, best first, and every
        row's similarity when the search computed them all (exact search), else None."""
        take = min(candidates, int(allowed.sum()))
        if take == 0:
            return [], None
        if self.graph is not None:
            ranked = self._ann_ranking(self.graph, vector, allowed, take)
            if ranked is not None:
                return ranked, None
        similarities = self._matrix[: self._size] @ vector
        ranking = (
            similarities if take == self._size or allowed.all() else np.where(allowed, similarities, -np.inf)
        )
        top = np.argpartition(-ranking, take - 1)[:take] if take < self._size else np.arange(self._size)
        top = top[np.argsort(-ranking[top], kind="stable")]
        return top[:take].tolist(), similarities

    def _ann_ranking(
        self, graph: AnnGraph, vector: np.ndarray, allowed: np.ndarray, take: int
    ) -> list[int] | None:
        """Graph candidates still holding their current vector, plus the rows the graph lacks
        (scanned exactly); None when those are too few or the unindexed tail is most of the scope."""
        unindexed = np.flatnonzero(~self._indexed[: self._size] & allowed)
        if 2 * len(unindexed) > self._size:
            return None
        labels = graph.query(vector, 2 * take + 16)
        if labels is None:
            return None
        found = [
            p for p in self.positions(labels.tolist()) if p is not None and self._indexed[p] and allowed[p]
        ]
        if len(found) + len(unindexed) < take:
            return None
        candidates = np.concatenate([np.asarray(found, dtype=np.int64), unindexed])
        similarities = self._matrix[candidates] @ vector
        order = np.argsort(-similarities, kind="stable")[:take]
        return [int(p) for p in candidates[order]]

    # -- what the ANN maintainer reads and writes, always under the store's lock ----------------

    def start_tracking(self) -> None:
        """Record rowids written from now on: rows copied for the graph may change before they land."""
        self._touched = set()

    def unindexed_rows(self, start: int, span: int, most: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Copies of at most `most` rows the graph lacks among positions [start, start + span), and
        the position to continue from."""
        end = min(self._size, start + span)
        positions = start + np.flatnonzero(~self._indexed[start:end])[:most]
        return self._rowids[positions].copy(), self._matrix[positions].copy(), end

    def mark_indexed(self, rowids: np.ndarray) -> None:
        """The graph now holds these rows' vectors as copied, unless a write touched them since."""
        touched = self._touched or set()
        positions = [
            p
            for r, p in zip(rowids.tolist(), self.positions(rowids.tolist()), strict=True)
            if p is not None and r not in touched
        ]
        self._indexed[positions] = True
        self._touched = None

    def adopt(self, graph: AnnGraph, labels: np.ndarray, saved_fingerprints: np.ndarray) -> None:
        """Trust a graph loaded from disk for the rows whose vectors are unchanged since it was saved."""
        positions = self.positions(labels.tolist())
        keep = np.array([p is not None for p in positions], dtype=bool)
        at = np.array([p for p in positions if p is not None], dtype=np.int64)
        same = self._fingerprint[at] == saved_fingerprints[keep]
        self._indexed[at[same]] = True
        self.graph = graph

    def indexed_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rowids and fingerprints of the rows the graph holds current: what a saved graph vouches for."""
        positions = np.flatnonzero(self._indexed[: self._size])
        return self._rowids[positions].copy(), self._fingerprint[positions].copy()

    def drop_graph(self) -> None:
        """Back to exact search over every row (the graph held rows that must be erased)."""
        self.graph = None
        self._indexed[:] = False
        self.removed = []

    def unindexed_count(self) -> int:
        return int(self._size - self._indexed[: self._size].sum())
