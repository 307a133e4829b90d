"""Embedded vector tier: SQLite rows + FTS5 keyword index + numpy dense search, ranked by relevance.

One file in the memory directory. WAL mode lets several processes read while one writes;
`PRAGMA data_version` tells us when another process committed, so our in-memory dense
matrices are dropped and reloaded instead of going stale.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from itertools import combinations
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from ...errors import DimensionMismatchError, MemoryNotFoundError
from ...filters import compile_filters
from ...records import MemoryRecord, Scope, SearchHit, SourceRef
from ..capabilities import Capabilities
from ..sqlite_common import (
    ManifestRow,
    open_sqlite,
    raise_typed_sqlite_errors,
    rewrite_without_deleted,
    scope_clause,
    write_transaction,
)
from ..timestamps import from_epoch, to_epoch
from .ann_index import AnnMaintainer
from .base import AgeRule, SearchParams
from .dense_index import INFINITY, DenseIndex
from .relevance import (
    MAX_TERM_SHARE,
    Candidates,
    ScopeCandidates,
    TermEvidence,
    first_occurrences,
    fts_term,
    is_common,
    keyword_terms,
    rank_scope,
    term_evidence,
)
from .scope_cache import CachedScope, ScopeCache, SmallScopeRows
from .scope_keywords import ScopeKeywords

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memories (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT, agent_id TEXT, run_id TEXT,
    text TEXT NOT NULL,
    hash TEXT NOT NULL,
    metadata TEXT NOT NULL,
    sources TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL,
    valid_from REAL NOT NULL, valid_to REAL,
    expires_at REAL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS memories_user ON memories (user_id, agent_id, run_id);
CREATE INDEX IF NOT EXISTS memories_agent ON memories (agent_id, run_id) WHERE agent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_run ON memories (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_hash ON memories (hash);
CREATE VIRTUAL TABLE IF NOT EXISTS memory_fts USING fts5 (
    text, scope, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""
# After `_SCHEMA` and the column a store written before expiries existed lacks (`_add_expiry_column`).
_EXPIRY_INDEX = (
    "CREATE INDEX IF NOT EXISTS memories_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL"
)

# An insert's statements: a `memories` row (rowid, then the `_rows` columns) and its keyword entry.
INSERT_ROW = (
    "INSERT INTO memories (rowid, id, user_id, agent_id, run_id, text, hash, metadata, sources, "
    "created_at, updated_at, valid_from, valid_to, expires_at, vector) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
INSERT_FTS = "INSERT INTO memory_fts (rowid, text, scope) VALUES (?, ?, ?)"
_COLUMNS = (
    "rowid, id, user_id, agent_id, run_id, text, hash, metadata, sources, created_at, updated_at, "
    "valid_from, valid_to, expires_at"
)
# The rows of each kind of scope (`Scope.kind`).
_KIND_CLAUSES = {
    "run": ("run_id IS NOT NULL",),
    "agent": ("run_id IS NULL", "agent_id IS NOT NULL"),
    "user": ("run_id IS NULL", "agent_id IS NULL"),
}
# Rows not expired at the time given as the parameter.
_UNEXPIRED = "(expires_at IS NULL OR expires_at > ?)"
# Default bound on the memory of cached per-scope search data (vectors, validity, small scopes' rows).
CACHE_BYTES = 256 * 2**20
# Scopes up to this many memories are keyword-ranked in memory (see scope_keywords.py), and their
# rows kept for building hits; bigger ones by FTS5, whose posting lists beat scanning their texts.
KEYWORD_SCAN_MAX_ROWS = 5000
# Python's memory for one cached row besides its text, metadata and sources: the tuple, its
# floats, the id, scope id and hash strings (~500 bytes by tracemalloc) and its dict entry.
CACHED_ROW_BYTES = 600
# Adjacent memories further apart than this belong to different conversations: no shared context.
CONTEXT_SECONDS = 3600.0


def scope_tokens(scope: Scope) -> list[str]:
    """Opaque FTS tokens for each scope id, so the keyword index filters by scope natively."""
    return [
        field[0] + hashlib.sha256(value.encode("utf-8")).hexdigest()[:20]
        for field, value in sorted(scope.as_filter().items())
    ]


_SOURCES = TypeAdapter(list[SourceRef])
_HITS = TypeAdapter(list[SearchHit])


def _record_fields(row: sqlite3.Row | tuple, score: float | None = None) -> dict[str, Any]:
    """A `memories` row as MemoryRecord fields; sources parsed by pydantic from their JSON (faster than
    json.loads and then validating the dicts)."""
    (
        _,
        memory_id,
        user_id,
        agent_id,
        run_id,
        text,
        content_hash,
        metadata,
        sources,
        created,
        updated,
        valid_from,
        valid_to,
        expires_at,
    ) = row
    created_at = from_epoch(created)
    return {
        "id": memory_id,
        "text": text,
        "scope": {"user_id": user_id, "agent_id": agent_id, "run_id": run_id},
        "metadata": {} if metadata == "{}" else json.loads(metadata),
        "created_at": created_at,
        "updated_at": created_at if updated == created else from_epoch(updated),
        "valid_from": from_epoch(valid_from),
        "valid_to": from_epoch(valid_to),
        "expires_at": from_epoch(expires_at),
        "hash": content_hash,
        "sources": [] if sources == "[]" else _SOURCES.validate_json(sources),
        "score": score,
    }


def _record(row: sqlite3.Row | tuple) -> MemoryRecord:
    return MemoryRecord.model_validate(_record_fields(row))


_VALID_FROM, _VALID_TO, _EXPIRES, _VECTOR = 10, 11, 12, 13  # positions in a `_rows` tuple
_TEXT, _METADATA, _SOURCES_JSON = 5, 7, 8  # positions in a `_COLUMNS` row
_COLUMN_NAMES = tuple(name.strip() for name in _COLUMNS.split(","))


def _updated_row(row: tuple, assignments: Mapping[str, Any]) -> tuple:
    """A `_COLUMNS` row with the values an UPDATE assigned."""
    return tuple(assignments.get(name, value) for name, value in zip(_COLUMN_NAMES, row, strict=True))


def _row_nbytes(row: tuple) -> int:
    """Memory held by a cached `_COLUMNS` row, roughly."""
    return len(row[_TEXT]) + len(row[_METADATA]) + len(row[_SOURCES_JSON]) + CACHED_ROW_BYTES


def _small_scope_rows(rows: Iterable[tuple], index: DenseIndex) -> SmallScopeRows:
    """`SmallScopeRows` of the `_COLUMNS` rows of a scope, which `index` holds."""
    return SmallScopeRows({row[0]: row for row in rows}, itemgetter(_TEXT), _row_nbytes, index)


def _rows(records: list[MemoryRecord], vectors: np.ndarray) -> list[tuple]:
    """The `memories` columns after rowid, in insert order."""
    rows = []
    to_json = _SOURCES.serializer.to_json  # `_SOURCES.dump_json` less its per-call keyword handling
    for record, vector in zip(records, vectors, strict=True):
        scope = record.scope
        rows.append(
            (
                record.id,
                scope.user_id,
                scope.agent_id,
                scope.run_id,
                record.text,
                record.hash,
                json.dumps(record.metadata, ensure_ascii=False) if record.metadata else "{}",
                to_json(record.sources).decode(),
                to_epoch(record.created_at),
                to_epoch(record.updated_at),
                to_epoch(record.valid_from),
                to_epoch(record.valid_to),
                to_epoch(record.expires_at),
                vector.tobytes(),
            )
        )
    return rows


def _cached_rows(rows: list[tuple], positions: list[int], rowids: list[int]) -> list[tuple]:
    """The `_COLUMNS` rows (what a small scope keeps) of the `_rows` tuples at `positions`, given
    their rowids."""
    return [(rowid, *rows[p][:_VECTOR]) for p, rowid in zip(positions, rowids, strict=True)]


def _positions_by_scope(records: list[MemoryRecord]) -> dict[Scope, list[int]]:
    """The records' positions by scope, in order. One add's records share their Scope object: it
    is hashed once per run of records, not once each."""
    by_scope: dict[Scope, list[int]] = {}
    previous = None
    for position, record in enumerate(records):
        if record.scope is not previous:
            previous = record.scope
            positions = by_scope.setdefault(previous, [])
        positions.append(position)
    return by_scope


def _validity(rows: list[tuple], positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Valid-from, valid-to (infinity while valid) and expiry (infinity: never) times of the `_rows`
    tuples at `positions`."""
    valid_from = np.array([rows[p][_VALID_FROM] for p in positions.tolist()], dtype=np.float64)
    valid_to, expires = (
        np.array(
            [INFINITY if rows[p][column] is None else rows[p][column] for p in positions.tolist()],
            dtype=np.float64,
        )
        for column in (_VALID_TO, _EXPIRES)
    )
    return valid_from, valid_to, expires


def _finite_or_infinity(rows: list, column: int) -> np.ndarray:
    """The rows' times in `column`, infinity where NULL (never invalidated / never expires)."""
    return np.fromiter(
        (INFINITY if r[column] is None else r[column] for r in rows), dtype=np.float64, count=len(rows)
    )


def _epoch_or_infinity(moment: datetime | None) -> float:
    return INFINITY if moment is None else moment.timestamp()


_NO_POSITIONS = np.zeros(0, dtype=np.int64)


def _ranked_term(count: int, total: int, max_docs: int) -> bool:
    """Whether the keyword ranker takes a query term found in `count` of the scope's `total` memories:
    not a common one, nor one in more than `max_docs` of them (unless in at most one)."""
    return not is_common(count, total) and (count <= 1 or count <= max_docs)


@raise_typed_sqlite_errors
class SQLiteVectorStore(ManifestRow):
    capabilities = Capabilities(manifest=True, keyword_search=True)

    def __init__(
        self,
        path: str | Path,
        synchronous: str = "FULL",
        ann_min_rows: int | None = None,
        ann_ef_search: int = 1024,
        cache_bytes: int = CACHE_BYTES,
    ):
        self._path = Path(path)
        self._lock = threading.RLock()
        self._ann = (
            None
            if ann_min_rows is None
            else AnnMaintainer(
                self._path.with_suffix(".ann"), ann_min_rows, ann_ef_search, self._lock, self._store_id
            )
        )
        self._conn = open_sqlite(self._path, synchronous)
        with write_transaction(self._conn):
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._conn.execute(statement)
            self._add_expiry_column()
            self._conn.execute(_EXPIRY_INDEX)
        self._indexes = ScopeCache(cache_bytes)
        self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        self._dimensions = self._read_dimensions()

    # -- bookkeeping -------------------------------------------------------------------------

    def _add_expiry_column(self) -> None:
        """Give a store written before memories could expire its `expires_at` column (all NULL)."""
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(memories)")}
        if "expires_at" not in columns:
            self._conn.execute("ALTER TABLE memories ADD COLUMN expires_at REAL")

    def _read_dimensions(self) -> int | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'dimensions'").fetchone()
        return int(row[0]) if row else None

    @property
    def dimensions(self) -> int | None:
        return self._dimensions

    def _check_dimensions(self, vectors: np.ndarray) -> None:
        width = vectors.shape[-1]
        if self._dimensions is None:
            self._dimensions = self._read_dimensions()
        if self._dimensions is None:
            self._conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('dimensions', ?)", (str(width),)
            )
            self._dimensions = self._read_dimensions()
        if width != self._dimensions:
            raise DimensionMismatchError(
                f"vectors have {width} dimensions but this store holds "
                f"{self._dimensions}-dimensional vectors; "
                "use the embedder the store was created with, or a new path"
            )

    def _sync_with_other_processes(self) -> None:
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._indexes.clear()
            self._dimensions = self._read_dimensions()
            self._data_version = version

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that first catches up with other processes' commits.

        The version check runs after BEGIN IMMEDIATE, while we hold the write lock: no other
        commit can slip in between the check and our write, and our own commits never change
        `data_version`, so the recorded version stays exact.
        """
        with write_transaction(self._conn) as conn:
            self._sync_with_other_processes()
            yield conn

    def _cached(self, scope: Scope) -> CachedScope | None:
        """The scope's cached search data (keyed by the frozen Scope itself), loaded with one query on
        first use; a search registers it with the ANN maintainer (see `_cached_scope`)."""
        cached = self._indexes.get(scope)
        if cached is None:
            if self._dimensions is None:
                return None
            clause, params = scope_clause(scope.required_filter())
            small = (
                self._conn.execute(f"SELECT count(*) FROM memories WHERE {clause}", params).fetchone()[0]
                <= KEYWORD_SCAN_MAX_ROWS
            )
            # both column lists start with rowid and end with valid_from, valid_to, expires_at
            columns = _COLUMNS if small else "rowid, valid_from, valid_to, expires_at"
            rows = self._conn.execute(
                f"SELECT vector, {columns} FROM memories WHERE {clause}", params
            ).fetchall()
            cached = self._cached_scope(
                np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)),
                np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32).reshape(
                    len(rows), self._dimensions
                ),
                np.fromiter((r[-3] for r in rows), dtype=np.float64, count=len(rows)),
                _finite_or_infinity(rows, -2),
                _finite_or_infinity(rows, -1),
                [r[1:] for r in rows] if small else None,
            )
            self._indexes.put(scope, cached)
        if self._ann is not None and not cached.ann_watched:
            self._ann.watch(scope, cached.index)
            cached.ann_watched = True
        return cached

    def _cached_scope(
        self,
        rowids: np.ndarray,
        vectors: np.ndarray,
        valid_from: np.ndarray,
        valid_to: np.ndarray,
        expires: np.ndarray,
        rows: list[tuple] | None,
    ) -> CachedScope:
        """A scope's search data from its rows, given whole: loaded by `_cached`, or written by the
        insert that created the scope; `rows` are their `_COLUMNS` tuples, kept if the scope is small
        (None: not read). Its graph is left to its first search: a bulk import would otherwise build
        graphs of scopes the cache drops before any search (`_cached` registers them)."""
        # room for a few more rows (an eighth): slack in every cached scope would cost the cache whole scopes
        index = DenseIndex(
            vectors.shape[1],
            capacity=len(rowids) + len(rowids) // 8,
            track_fingerprints=self._ann is not None,
        )
        if len(rowids):
            index.add(rowids, vectors, valid_from, valid_to, expires)
        cached = CachedScope(index)
        if rows is not None and len(rows) <= KEYWORD_SCAN_MAX_ROWS:
            cached.small = _small_scope_rows(rows, index)
            cached.small.keywords(index)
        return cached

    def _has_rows(self, scope: Scope) -> bool:
        clause, params = scope_clause(scope.required_filter())
        return (
            self._conn.execute(f"SELECT 1 FROM memories WHERE {clause} LIMIT 1", params).fetchone()
            is not None
        )

    def _small_scope(self, scope: Scope, cached: CachedScope) -> SmallScopeRows | None:
        """A small scope's rows (read again if a write left them behind its index, or a scope that
        grew past the bound shrank back); None for big scopes."""
        if len(cached.index) > KEYWORD_SCAN_MAX_ROWS:
            return None
        small = cached.current_small()
        if small is None:
            clause, params = scope_clause(scope.required_filter())
            small = cached.small = _small_scope_rows(
                self._conn.execute(f"SELECT {_COLUMNS} FROM memories WHERE {clause}", params), cached.index
            )
        if not small.has_keywords_of(cached.index):
            small.keywords(cached.index)
            self._indexes.account(scope)  # they count once built
        return small

    def _cached_scopes_holding(self, scope: Scope) -> list[tuple[Scope, CachedScope]]:
        """The cached scopes whose rows include `scope`'s: those asking for some of its ids, looked up
        (at most seven, however many scopes are cached: a write of one user's memories must not cost
        a pass over thousands of cached users)."""
        ids = list(scope.as_filter().items())
        holders = []
        for size in range(1, len(ids) + 1):
            for subset in combinations(ids, size):
                candidate = Scope(**dict(subset))
                cached = self._indexes.peek(candidate)
                if cached is not None:
                    holders.append((candidate, cached))
        return holders

    def _rowid(self, memory_id: str) -> int | None:
        row = self._conn.execute("SELECT rowid FROM memories WHERE id = ?", (memory_id,)).fetchone()
        return row[0] if row else None

    # -- writes ------------------------------------------------------------------------------

    def insert(self, records: list[MemoryRecord], vectors: np.ndarray) -> None:
        """One transaction and a few statements for the whole batch: rowids are assigned here
        (we hold the write lock), so rows and FTS entries go in with one executemany each."""
        if not records:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(records), -1)
        by_scope = _positions_by_scope(records)
        for scope in by_scope:
            scope.required_filter()
        token_at = [""] * len(records)  # each record's scope tokens
        for scope, positions in by_scope.items():
            token = " ".join(scope_tokens(scope))
            for position in positions:
                token_at[position] = token
        rows = _rows(records, vectors)
        with self._lock:
            with self._write():
                self._check_dimensions(vectors)
                # a scope this insert creates is cached from the rows in hand: its first search need not
                # load them
                created = [
                    scope
                    for scope in by_scope
                    if self._indexes.get(scope) is None and not self._has_rows(scope)
                ]
                first = self._conn.execute("SELECT coalesce(max(rowid), 0) + 1 FROM memories").fetchone()[0]
                rowids = range(first, first + len(records))
                self._conn.executemany(
                    INSERT_ROW, [(rowid, *row) for rowid, row in zip(rowids, rows, strict=True)]
                )
                self._conn.executemany(
                    INSERT_FTS,
                    [
                        (rowid, r.text, token)
                        for rowid, r, token in zip(rowids, records, token_at, strict=True)
                    ],
                )
            rowid_array = np.fromiter(rowids, dtype=np.int64, count=len(records))
            self._add_to_cached_indexes(by_scope, rowid_array, vectors, rows)
            for scope in created:
                take = np.array(
                    [p for p, record in enumerate(records) if scope.matches(record.scope)], dtype=np.int64
                )
                validity = _validity(rows, take)
                columns = _cached_rows(rows, take.tolist(), rowid_array[take].tolist())
                self._indexes.offer(
                    scope, self._cached_scope(rowid_array[take], vectors[take], *validity, columns)
                )
            self._wake_ann()

    def _add_to_cached_indexes(
        self, by_scope: dict[Scope, list[int]], rowids: np.ndarray, vectors: np.ndarray, rows: list[tuple]
    ) -> None:
        """Append new rows (positions by scope) to every cached matrix whose scope they fall in, one
        block per scope."""
        for scope, positions in by_scope.items():
            holders = self._cached_scopes_holding(scope)
            if not holders:
                continue
            take = np.asarray(positions)
            validity = _validity(rows, take)
            added = _cached_rows(rows, positions, rowids[take].tolist())
            for cached_scope, cached in holders:
                small = cached.current_small()  # in step before this write: kept in step
                cached.index.add(rowids[take], vectors[take], *validity)
                if len(cached.index) > KEYWORD_SCAN_MAX_ROWS:
                    cached.small = None  # no longer small: FTS5 ranks it, its hits are read
                elif small is not None:
                    small.added(added, cached.index)
                self._indexes.account(
                    cached_scope, keep=False
                )  # a write-only process stays within the bound too

    def replace(self, record: MemoryRecord, vector: np.ndarray | None = None) -> None:
        with self._lock:
            with self._write():
                rowid = self._rowid(record.id)
                if rowid is None:
                    raise MemoryNotFoundError(record.id)
                assignments = {
                    "text": record.text,
                    "hash": record.hash,
                    "metadata": json.dumps(record.metadata, ensure_ascii=False),
                    "sources": json.dumps([s.model_dump(mode="json") for s in record.sources]),
                    "updated_at": to_epoch(record.updated_at),
                    "valid_from": to_epoch(record.valid_from),
                    "valid_to": to_epoch(record.valid_to),
                    "expires_at": to_epoch(record.expires_at),
                }
                if vector is not None:
                    vector = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
                    self._check_dimensions(vector[None, :])
                    assignments["vector"] = vector.tobytes()
                self._conn.execute(
                    f"UPDATE memories SET {', '.join(f'{c} = ?' for c in assignments)} WHERE rowid = ?",
                    (*assignments.values(), rowid),
                )
                self._conn.execute("UPDATE memory_fts SET text = ? WHERE rowid = ?", (record.text, rowid))
            for _, cached in self._cached_scopes_holding(record.scope):
                if rowid in cached.index:
                    small = cached.current_small()
                    cached.index.set(
                        rowid,
                        vector,
                        record.valid_from.timestamp(),
                        _epoch_or_infinity(record.valid_to),
                        _epoch_or_infinity(record.expires_at),
                    )
                    if small is not None and rowid in small.rows:
                        small.replaced(_updated_row(small.rows[rowid], assignments), cached.index)
            self._wake_ann()

    def set_expiry(self, memory_ids: list[str], expires_at: datetime | None) -> list[str]:
        with self._lock:
            changed: list[tuple[int, str, tuple]] = []
            with self._write():
                for start in range(0, len(memory_ids), 500):
                    chunk = memory_ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows = self._conn.execute(
                        f"SELECT rowid, id, user_id, agent_id, run_id FROM memories WHERE id IN ({marks})",
                        chunk,
                    ).fetchall()
                    self._conn.execute(
                        f"UPDATE memories SET expires_at = ? WHERE id IN ({marks})",
                        (to_epoch(expires_at), *chunk),
                    )
                    changed += [(row[0], row[1], row[2:]) for row in rows]
            expires = _epoch_or_infinity(expires_at)
            for rowid, _, (user_id, agent_id, run_id) in changed:
                scope = Scope(user_id=user_id, agent_id=agent_id, run_id=run_id)
                for _, cached in self._cached_scopes_holding(scope):
                    if rowid in cached.index:
                        cached.index.set_expiry(rowid, expires)
                        small = cached.current_small()
                        if small is not None and rowid in small.rows:
                            assigned = {"expires_at": to_epoch(expires_at)}
                            small.replaced(_updated_row(small.rows[rowid], assigned), cached.index)
            found = {memory_id for _, memory_id, _ in changed}
            return [memory_id for memory_id in memory_ids if memory_id in found]

    def _delete_rowids(self, rowids: list[int]) -> None:
        for start in range(0, len(rowids), 500):
            chunk = rowids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            self._conn.execute(f"DELETE FROM memories WHERE rowid IN ({marks})", chunk)
            self._conn.execute(f"DELETE FROM memory_fts WHERE rowid IN ({marks})", chunk)

    def _remove_from_cached_scopes(self, rowids: list[int]) -> None:
        for _, cached in self._indexes.items():  # noqa: PERF102 - a ScopeCache, whose items() is a snapshot
            small = cached.current_small()
            for rowid in rowids:
                cached.index.remove(rowid)
            if small is not None:
                small.removed(rowids, cached.index)

    def delete(self, memory_ids: list[str]) -> None:
        with self._lock:
            with self._write():
                rowids = [r for r in (self._rowid(i) for i in memory_ids) if r is not None]
                self._delete_rowids(rowids)
            self._remove_from_cached_scopes(rowids)
            self._wake_ann()

    def delete_scope(self, scope: Scope) -> list[MemoryRecord]:
        clause, params = scope_clause(scope.required_filter())
        with self._lock:
            with self._write():
                rows = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM memories WHERE {clause}", params
                ).fetchall()
                self._delete_rowids([r[0] for r in rows])
            self._remove_from_cached_scopes([r[0] for r in rows])
            self._wake_ann()
            return [_record(r) for r in rows]

    def erase_deleted(self) -> None:
        """Rewrite the FTS index without the entries of deleted rows (FTS5 keeps them in its
        segments until a merge), then the file without any copy of a deleted row, and empty the
        WAL. VACUUM keeps every rowid: both tables have an INTEGER PRIMARY KEY."""
        with self._lock:
            with write_transaction(self._conn):
                self._conn.execute("INSERT INTO memory_fts (memory_fts) VALUES ('optimize')")
            rewrite_without_deleted(self._conn)
            if self._ann is not None:
                live = self._conn.execute("SELECT rowid FROM memories").fetchall()
                self._ann.erase(np.fromiter((r[0] for r in live), dtype=np.int64, count=len(live)))

    def reset(self) -> None:
        with self._lock:
            with write_transaction(self._conn):
                self._conn.execute("DELETE FROM memories")
                self._conn.execute("DELETE FROM memory_fts")
                self._conn.execute("DELETE FROM meta")
            self._indexes.clear()
            self._dimensions = None
            if self._ann is not None:
                self._ann.reset()

    # -- reads -------------------------------------------------------------------------------

    def get(self, memory_ids: list[str]) -> list[MemoryRecord]:
        if not memory_ids:
            return []
        with self._lock:
            found: dict[str, MemoryRecord] = {}
            for start in range(0, len(memory_ids), 500):
                chunk = memory_ids[start : start + 500]
                rows = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM memories WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                found.update((r[1], _record(r)) for r in rows)
        return [found[i] for i in memory_ids if i in found]

    def find_by_hash(self, scope: Scope, content_hash: str) -> MemoryRecord | None:
        clause, params = scope_clause(scope.required_filter())
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM memories WHERE hash = ? AND valid_to IS NULL AND {clause} "
                f"AND {_UNEXPIRED} LIMIT 1",
                (content_hash, *params, time.time()),
            ).fetchone()
        return _record(row) if row else None

    def list(
        self,
        scope: Scope,
        *,
        limit: int,
        filters: Mapping[str, Any] | None = None,
        include_invalidated: bool = False,
        include_expired: bool = False,
    ) -> list[MemoryRecord]:
        clause, params = scope_clause(scope.required_filter())
        filter_sql, filter_params = compile_filters(filters)
        where = (
            [clause]
            + ([filter_sql] if filter_sql else [])
            + ([] if include_invalidated else ["valid_to IS NULL"])
            + ([] if include_expired else [_UNEXPIRED])
        )
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM memories WHERE {' AND '.join(where)} "
                "ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (*params, *filter_params, *([] if include_expired else [time.time()]), limit),
            ).fetchall()
        return [_record(r) for r in rows]

    def expired(
        self, now: datetime, limit: int, rules: builtins.list[AgeRule] | None = None
    ) -> builtins.list[MemoryRecord]:
        queries: builtins.list[tuple[str, builtins.list[Any]]] = [("expires_at <= ?", [now.timestamp()])]
        for rule in rules or ():
            filter_sql, filter_params = compile_filters(rule.filters)
            kind = _KIND_CLAUSES[rule.kind] if rule.kind else ()
            conditions = ["created_at <= ?", *kind, *([filter_sql] if filter_sql else [])]
            queries.append((" AND ".join(conditions), [rule.created_before.timestamp(), *filter_params]))
        found: dict[str, MemoryRecord] = {}
        with self._lock:
            for where, params in queries:
                rows = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM memories WHERE {where} ORDER BY expires_at, rowid LIMIT ?",
                    (*params, limit - len(found)),
                ).fetchall()
                found.update((r[1], _record(r)) for r in rows if r[1] not in found)
                if len(found) >= limit:
                    break
        return list(found.values())

    def count(self, scope: Scope) -> int:
        clause, params = scope_clause(scope.required_filter())
        with self._lock:
            return self._conn.execute(f"SELECT count(*) FROM memories WHERE {clause}", params).fetchone()[0]

    def search(
        self, scope: Scope, vector: np.ndarray, query: str, params: SearchParams
    ) -> builtins.list[SearchHit]:
        """`relevance.rank_scope` of the scope's candidates: `relevance.rank` of `candidates`, over arrays."""
        with self._lock:
            found = self._scope_candidates(scope, vector, params, query)
            if found is None:
                return []
            candidates, index, small = found
            ranked = rank_scope(candidates, params)
            rowids = index.rowid_at(np.array([r.key for r in ranked], dtype=np.int64)).tolist()
            rows = self._rows_by_rowid(rowids, {} if small is None else small.rows)
        # one validation of plain values: faster than building each model
        return _HITS.validate_python(
            [
                {"memory": _record_fields(rows[rowid], score=r.score), **r.hit_fields()}
                for r, rowid in zip(ranked, rowids, strict=True)
            ]
        )

    def candidates(
        self, scope: Scope, vector: np.ndarray, query: str, params: SearchParams
    ) -> Candidates[str]:
        with self._lock:
            found = self._scope_candidates(scope, vector, params, query)
            if found is None:
                return Candidates()
            candidates, index, small = found
            lists = (candidates.dense, candidates.keyword, candidates.graph, candidates.scored)
            listed = first_occurrences(np.concatenate([np.asarray(p, dtype=np.int64) for p in lists]))
            rowids = index.rowid_at(listed).tolist()
            rows = self._rows_by_rowid(rowids, {} if small is None else small.rows)
            return candidates.keyed({p: rows[r][1] for p, r in zip(listed.tolist(), rowids, strict=True)})

    def _scope_candidates(
        self, scope: Scope, vector: np.ndarray, params: SearchParams, query: str
    ) -> tuple[ScopeCandidates, DenseIndex, SmallScopeRows | None] | None:
        """What each ranker finds among the scope's memories valid now (or at `params.as_of`) that
        pass the filters, with their signals; the scope's index and rows (None: not small) to build
        hits from; None for a scope without memories."""
        scope_filter = scope.required_filter()
        vector = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        self._sync_with_other_processes()
        if self._dimensions is not None and vector.shape[0] != self._dimensions:
            raise DimensionMismatchError(
                f"query vector has {vector.shape[0]} dimensions, the store holds {self._dimensions}"
            )
        cached = self._cached(scope)
        if cached is None or len(cached.index) == 0:
            return None
        index = cached.index
        as_of = None if params.as_of is None else params.as_of.timestamp()
        allowed = index.active_mask(as_of, None if params.include_expired else time.time())
        if params.filters:
            allowed &= self._filter_mask(index, scope_filter, params.filters)
        dense, similarities = (
            index.dense_ranking(vector, allowed, params.candidates) if params.dense_weight else ([], None)
        )
        small = self._small_scope(scope, cached)
        keywords = None if small is None else small.keywords(index)
        if keywords is not None:
            keyword, counts = self._scanned_keyword_ranking(
                keywords, query, allowed, params.candidates, params.keyword_max_docs
            )
        else:
            keyword, counts = self._keyword_ranking(
                index, scope, query, allowed, params.candidates, params.keyword_max_docs
            )
        specificity = self._graph_evidence(index, params.graph_links, allowed)
        weighted = [
            (dense, params.dense_weight),
            (keyword, params.keyword_weight),
            (list(specificity), params.graph_weight),
        ]
        candidates = first_occurrences(
            np.array([p for ranked, weight in weighted if weight for p in ranked], dtype=np.int64)
        )
        neighbours = (
            self._neighbours(index, candidates, allowed) if params.context else (_NO_POSITIONS, _NO_POSITIONS)
        )
        scored = first_occurrences(np.concatenate([candidates, neighbours[1]]))
        similarity = (
            index.similarity_of(scored, vector) if similarities is None else similarities[scored]
        ).astype(np.float64)
        terms: list[TermEvidence[int]] = []
        if params.keyword_weight and counts:
            if keywords is not None:
                terms = [TermEvidence(t, count, keywords.occurrences(t)[0]) for t, count in counts]
            else:
                terms = term_evidence(counts, self._texts(index, scored))
        found = ScopeCandidates(
            size=len(index),
            dense=dense,
            keyword=keyword,
            graph=list(specificity),
            specificity=specificity,
            scored=scored,
            similarity=similarity,
            terms=terms,
            total=len(index),
            neighbours=neighbours,
        )
        return found, index, small

    def common_terms(self, scope: Scope, terms: builtins.list[str]) -> builtins.list[str]:
        with self._lock:
            self._sync_with_other_processes()
            cached = self._cached(scope)
            if cached is None or not len(cached.index) or not terms:
                return []
            small = self._small_scope(scope, cached)
            if small is not None:
                keywords = small.keywords(cached.index)
                return [t for t in terms if is_common(keywords.document_count(t), len(keywords))]
            scope_match = f"{{scope}}: ({' '.join(scope_tokens(scope))})"
            return [t for t in terms if self._is_common(cached.index, t, scope_match)]

    def _scanned_keyword_ranking(
        self, keywords: ScopeKeywords, query: str, allowed: np.ndarray, candidates: int, max_docs: int
    ) -> tuple[builtins.list[int], builtins.list[tuple[str, int]]]:
        """`_keyword_ranking` for a small scope, from its in-memory statistics instead of FTS5."""
        counts = [(t, keywords.document_count(t)) for t in keyword_terms(query)]
        counts = [(t, count) for t, count in counts if _ranked_term(count, len(keywords), max_docs)]
        if not counts:
            return [], []
        return keywords.ranking([t for t, _ in counts], allowed, candidates), counts

    def _keyword_ranking(
        self, index: DenseIndex, scope: Scope, query: str, allowed: np.ndarray, candidates: int, max_docs: int
    ) -> tuple[builtins.list[int], builtins.list[tuple[str, int]]]:
        """BM25 ranking of the allowed rows, with the query terms kept and how many of the scope's
        rows have each.

        FTS5 confines a ranking to the scope by joining the terms with the scope's token, whose
        posting list holds every row of the scope: in a scope of a million rows that join costs
        tens of milliseconds. When each kept term matches at most `max_docs` rows of the whole
        table (its count found out), the terms alone are ranked instead, over those few rows, and
        other scopes' rows are dropped here: the same rows in the same BM25 order (the scope
        column weighs nothing in it), without the join.
        """
        scope_match = f"{{scope}}: ({' '.join(scope_tokens(scope))})"
        counts = {t: self._document_count(index, t, scope_match, max_docs) for t in keyword_terms(query)}
        terms = [t for t, (count, _) in counts.items() if _ranked_term(count, len(index), max_docs)]
        if not terms:
            return [], []
        match = f"{{text}}: ({' OR '.join(fts_term(t) for t in terms)})"
        table_matches = [counts[t][1] for t in terms]
        counted = [n for n in table_matches if n is not None]
        if len(counted) < len(table_matches):
            match, limit = f"{match} AND {scope_match}", candidates * 4
        else:
            limit = sum(counted)
        rows = self._conn.execute(
            "SELECT rowid FROM memory_fts WHERE memory_fts MATCH ? "
            "ORDER BY bm25(memory_fts, 1.0, 0.0) LIMIT ?",
            (match, limit),
        ).fetchall()
        ranked = [p for p in index.positions([r[0] for r in rows]) if p is not None and allowed[p]]
        return ranked[:candidates], [(t, counts[t][0]) for t in terms]

    def _neighbours(
        self, index: DenseIndex, positions: np.ndarray, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (candidate, neighbour): the memories stored right before or after a candidate in the
        same conversation.

        Neighbours are the scope's rows with adjacent rowids (one add() writes its messages in
        order, in one transaction) whose times are at most `CONTEXT_SECONDS` apart. The relation
        is symmetric: a turn next to a candidate becomes a candidate itself. Pairs come in the
        order: every candidate's predecessor, then every candidate's successor.
        """
        if not len(positions):
            return _NO_POSITIONS, _NO_POSITIONS
        before, after = index.adjacent()
        own = np.concatenate([positions, positions])
        near = np.concatenate([before[positions], after[positions]])
        keep = near >= 0
        own, near = own[keep], near[keep]
        keep = allowed[near] & (
            np.abs(index.valid_from_at(own) - index.valid_from_at(near)) <= CONTEXT_SECONDS
        )
        return own[keep], near[keep]

    def _texts(self, index: DenseIndex, positions: np.ndarray) -> dict[int, str]:
        """The stored texts of the positions' rows, by position."""
        rowids = index.rowid_at(positions).tolist()
        text_of = dict(
            self._conn.execute(
                f"SELECT rowid, text FROM memories WHERE rowid IN ({','.join('?' * len(rowids))})", rowids
            )
        )
        return {p: text_of.get(r, "") for p, r in zip(positions.tolist(), rowids, strict=True)}

    def _graph_evidence(
        self, index: DenseIndex, links: Mapping[str, float], allowed: np.ndarray
    ) -> dict[int, float]:
        """Positions of the memories the graph links to the query, with the links' specificity, best first."""
        if not links:
            return {}
        memory_ids = list(links)
        rowid_of = dict(
            self._conn.execute(
                f"SELECT id, rowid FROM memories WHERE id IN ({','.join('?' * len(memory_ids))})", memory_ids
            ).fetchall()
        )
        evidence: dict[int, float] = {}
        for memory_id in memory_ids:
            rowid = rowid_of.get(memory_id)
            position = None if rowid is None else index.positions([rowid])[0]
            if position is not None and allowed[position] and position not in evidence:
                evidence[position] = links[memory_id]
        return evidence

    def _document_count(
        self, index: DenseIndex, term: str, scope_match: str, max_docs: int
    ) -> tuple[int, int | None]:
        """How many of the scope's memories match the term, counted up to `max_docs + 1`, and how
        many rows of the whole table match it when that is at most `max_docs` (else None); both
        cached until the scope's rows change.

        Terms in most of the scope's memories (typically the user's own name) or in more than
        `max_docs` of them are left out of the keyword ranker: they carry almost no BM25 weight but
        make FTS5 score every matching row. Counting stops past `max_docs`, so a first look at such
        a term in a scope of a million memories does not walk its whole posting list.

        The term's matches in the whole table are read first, up to `max_docs + 1` rowids: the
        scope's share of them is its count when there are no more, or when every one is the
        scope's (it then has more than `max_docs`). Only otherwise does FTS5 count the term joined
        with the scope's token (see `_keyword_ranking` for what that join costs).
        """
        cached = index.term_counts.get(term)
        if cached is None or (cached[0] > cached[1] and cached[1] < max_docs):  # capped lower than now asked
            rowids = [
                r
                for (r,) in self._conn.execute(
                    "SELECT rowid FROM memory_fts WHERE memory_fts MATCH ? LIMIT ?",
                    (f"{{text}}: {fts_term(term)}", max_docs + 1),
                )
            ]
            inside = sum(p is not None for p in index.positions(rowids))
            if len(rowids) <= max_docs or inside > max_docs:
                count = inside
            else:
                count = self._conn.execute(
                    "SELECT count(*) FROM (SELECT 1 FROM memory_fts WHERE memory_fts MATCH ? LIMIT ?)",
                    (f"{{text}}: {fts_term(term)} AND {scope_match}", max_docs + 1),
                ).fetchone()[0]
            cached = index.term_counts[term] = (
                count,
                max_docs,
                len(rowids) if len(rowids) <= max_docs else None,
            )
        return cached[0], cached[2]

    def _is_common(self, index: DenseIndex, term: str, scope_match: str) -> bool:
        """`relevance.is_common` for a term of a big scope: decided by the keyword ranker's count when
        that is exact or already past the share, else by FTS5 counting the scope's rows with the term
        up to one more than `MAX_TERM_SHARE` of them; cached until the scope's rows change."""
        bound = int(MAX_TERM_SHARE * len(index))
        counted = index.term_counts.get(term)
        if counted is not None and (counted[0] <= counted[1] or counted[0] > bound):
            return is_common(counted[0], len(index))
        if term not in index.common_terms:
            count = self._conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM memory_fts WHERE memory_fts MATCH ? LIMIT ?)",
                (f"{{text}}: {fts_term(term)} AND {scope_match}", bound + 1),
            ).fetchone()[0]
            index.common_terms[term] = is_common(count, len(index))
        return index.common_terms[term]

    def _filter_mask(
        self, index: DenseIndex, scope_filter: dict[str, str], filters: Mapping[str, Any]
    ) -> np.ndarray:
        clause, params = scope_clause(scope_filter)
        filter_sql, filter_params = compile_filters(filters)
        rows = self._conn.execute(
            f"SELECT rowid FROM memories WHERE {clause} AND {filter_sql}", (*params, *filter_params)
        ).fetchall()
        mask = np.zeros(len(index), dtype=bool)
        positions = [p for p in index.positions([r[0] for r in rows]) if p is not None]
        mask[positions] = True
        return mask

    def _rows_by_rowid(self, rowids: builtins.list[int], cached: Mapping[int, tuple]) -> dict[int, tuple]:
        """The full rows of the hits: those of a small scope from its cached rows, any other in one query."""
        found = {rowid: cached[rowid] for rowid in rowids if rowid in cached}
        missing = [rowid for rowid in rowids if rowid not in found]
        if missing:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM memories WHERE rowid IN ({','.join('?' * len(missing))})", missing
            )
            found.update((r[0], r) for r in rows)
        return found

    def close(self) -> None:
        if self._ann is not None:
            self._ann.close()  # before the connection: the thread may still read the store id
        with self._lock:
            self._conn.close()
            self._indexes.clear()

    # -- the ANN index (tiers/vector/ann_index.py) --------------------------------------------

    def _store_id(self) -> str | None:
        manifest = self.read_manifest()
        return None if manifest is None else manifest["store_id"]

    def _wake_ann(self) -> None:
        if self._ann is not None:
            self._ann.wake()

    def wait_for_ann(self, timeout: float | None = None) -> bool:
        """Block until the background ANN work queued so far is done (benchmarks, tests); False
        if `timeout` seconds passed first. Searches never need this: they stay exact meanwhile."""
        return True if self._ann is None else self._ann.wait_idle(timeout)

    # -- for inspection (tests, benchmarks) ------------------------------------------------------

    @property
    def scope_cache(self) -> ScopeCache:
        """The scopes held in memory between searches, within `cache_bytes`: each one's matrix
        (and its ANN graph), keyword statistics and, for a small scope, its rows; what the next
        search of a scope finds ready. The store keeps it in step with its writes."""
        return self._indexes

    @property
    def ann(self) -> AnnMaintainer | None:
        """The background ANN maintainer, None without `ann_min_rows`: its `builds` and `loads`
        count the graphs built from rows and loaded from their files."""
        return self._ann
