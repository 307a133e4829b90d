"""SQLite plumbing shared by the embedded vector and graph tiers: WAL, busy timeout, write transactions."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import BackendError

BUSY_TIMEOUT_MS = 30_000


def open_sqlite(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open a connection that several threads (behind a lock) and processes can share safely."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        # deleted rows are overwritten with zeros, so a purged scope leaves no bytes in free pages
        conn.execute("PRAGMA secure_delete = ON")
    except sqlite3.Error as exc:
        raise BackendError(f"cannot open SQLite database {path}: {exc}") from exc
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue instead of deadlocking."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise BackendError(f"cannot start a write transaction: {exc}") from exc
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def truncate_wal(conn: sqlite3.Connection) -> None:
    """Copy the write-ahead log into the database and empty it: the log still holds old page images.

    SQLite waits (busy timeout) for other connections' reads to end; if one outlasts it, the log
    keeps its frames, so this raises instead of reporting the data as erased (the call can be repeated)."""
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        path = conn.execute("PRAGMA database_list").fetchone()[2]
        raise BackendError(f"could not empty the write-ahead log of {path}: another connection kept reading; try again")


def scope_clause(scope_filter: dict[str, str], table: str = "") -> tuple[str, list[str]]:
    """SQL restricting rows to a scope; the column names come from Scope, never from user input."""
    prefix = f"{table}." if table else ""
    clause = " AND ".join(f"{prefix}{column} = ?" for column in scope_filter)
    return clause, list(scope_filter.values())
