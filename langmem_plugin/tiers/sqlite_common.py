"""SQLite plumbing shared by the embedded tiers: WAL, busy timeout, write transactions, and files
that only their owner can read.

Every directory the embedded store creates is 0700 and every file it writes 0600, whatever the
process's umask: the files hold the users' memories, and another local account must not read them.
A directory that already exists keeps its mode (it may be the caller's own, such as the working
directory); the files inside are private all the same. SQLite creates a database's -wal and -shm
files with the database file's own mode, so creating that file 0600 covers them.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..errors import BackendError, StoreBusyError, StoreCorruptedError, StorePathError

BUSY_TIMEOUT_MS = 30_000
# The first pause before a busy checkpoint is tried again (doubled up to 0.2 s).
_CHECKPOINT_RETRY_SECONDS = 0.005
_CORRUPTION_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")  # extended codes add a suffix
_Class = TypeVar("_Class", bound=type)


def typed_sqlite_error(exc: sqlite3.Error, where: Any) -> BackendError:
    """A damaged file becomes StoreCorruptedError, any other SQLite failure BackendError."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    message = str(exc)
    if name.startswith(_CORRUPTION_CODES) or "malformed" in message or "not a database" in message:
        return StoreCorruptedError(
            f"{where} is damaged ({message}); restore the memory directory from a backup"
        )
    return BackendError(f"{where}: {message}")


def raise_typed_sqlite_errors(cls: _Class) -> _Class:
    """Wrap every public method (and __init__) of a SQLite-backed store so that no raw
    sqlite3 error escapes: the caller gets StoreCorruptedError or BackendError with the file named."""

    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise typed_sqlite_error(exc, getattr(self, "_path", cls.__name__)) from exc

        return wrapper

    methods: dict[str, Callable] = {}
    for klass in reversed(cls.__mro__[:-1]):  # inherited methods too, the class's own winning
        methods.update(
            (n, a)
            for n, a in vars(klass).items()
            if callable(a) and (n == "__init__" or not n.startswith("_"))
        )
    for name, method in methods.items():
        setattr(cls, name, wrap(method))
    return cls


PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600


def make_directory(path: Path, what: str) -> None:
    """Create `path` and each missing parent with mode 0700 (the umask could only narrow
    `mkdir`'s mode, and may remove the owner's own bits: chmod sets it exactly)."""
    missing = []
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        missing.append(ancestor)
        ancestor = ancestor.parent
    try:
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=PRIVATE_DIRECTORY)
            except FileExistsError:  # another process made it meanwhile
                continue
            directory.chmod(PRIVATE_DIRECTORY)
        if not path.is_dir():
            raise FileExistsError(path)
    except FileExistsError as exc:
        raise StorePathError(f"{what} {path} exists but is not a directory") from exc
    except OSError as exc:
        raise StorePathError(f"cannot create {what} {path}: {exc}") from exc


def create_private_file(path: Path) -> None:
    """Create `path` (empty) if it is missing, and make it readable by its owner alone either way;
    an existing file's content is left as it is. An existing file is never opened: closing any
    descriptor of a SQLite database drops every POSIX lock this process holds on it, so another
    process closing its last connection would delete the write-ahead log the open connections
    of this process still write to, and their commits would be lost to everyone else."""
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        Path(path).chmod(PRIVATE_FILE)
        return
    try:
        os.fchmod(descriptor, PRIVATE_FILE)
    finally:
        os.close(descriptor)


def _enter_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode. Switching a new database takes a lock that SQLite does not
    wait for (the busy handler is not called there), so processes opening one new file at the same
    moment can be told it is locked: that is retried until the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def open_sqlite(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open a connection that several threads (behind a lock) and processes can share safely."""
    make_directory(path.parent, "directory")
    if path.is_dir():
        raise StorePathError(f"{path} is a directory, expected a SQLite database file")
    try:
        create_private_file(path)
        for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if companion.exists():  # left by a store written before its files were private
                companion.chmod(PRIVATE_FILE)
    except OSError as exc:
        raise StorePathError(f"cannot create the SQLite database file {path}: {exc}") from exc
    try:
        conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enter_wal(conn)
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        # deleted rows are overwritten with zeros, so a purged scope leaves no bytes in free pages
        conn.execute("PRAGMA secure_delete = ON")
    except sqlite3.Error as exc:
        raise typed_sqlite_error(exc, f"SQLite database {path}") from exc
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue instead of deadlocking."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise typed_sqlite_error(exc, "cannot start a write transaction") from exc
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def truncate_wal(conn: sqlite3.Connection, wait_seconds: float = BUSY_TIMEOUT_MS / 1000) -> None:
    """Copy the write-ahead log into the database and empty it: the log still holds old page images.

    A checkpoint waits (busy timeout) for other connections' reads to end, but finds the log busy
    at once while another connection checkpoints it: a writer's automatic checkpoint, or another
    purge's. So it is repeated until `wait_seconds` have passed; a log still busy then keeps its
    frames, and this raises StoreBusyError instead of reporting the data as erased."""
    deadline = time.monotonic() + wait_seconds
    (busy_timeout_ms,) = conn.execute("PRAGMA busy_timeout").fetchone()
    pause = _CHECKPOINT_RETRY_SECONDS
    try:
        while True:
            left_ms = max(1, int((deadline - time.monotonic()) * 1000))
            conn.execute(f"PRAGMA busy_timeout = {min(busy_timeout_ms, left_ms)}")
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            if time.monotonic() + pause > deadline:
                break
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    raise StoreBusyError(
        f"could not empty the write-ahead log of {path} within {wait_seconds:g} s: other connections kept "
        "reading or checkpointing it; try again"
    )


def rewrite_without_deleted(conn: sqlite3.Connection) -> None:
    """Rebuild the database file from its live rows (VACUUM), then empty the write-ahead log.

    secure_delete zeroes deleted cells and freed pages, but a page that B-tree rebalancing
    rebuilt keeps its old bytes in the unused space between its cell pointers and its cells:
    copies of cells that lived there, deleted ones too (SQLite's rebuildPage does not clear it).
    Only a rebuilt file holds no copy of anything deleted. It costs a write of the whole file,
    holding the write lock meanwhile (docs/benchmarks.md, Forgetting)."""
    conn.execute("VACUUM")
    truncate_wal(conn)


def scope_clause(scope_filter: dict[str, str], table: str = "") -> tuple[str, list[str]]:
    """SQL restricting rows to a scope; the column names come from Scope, never from user input."""
    prefix = f"{table}." if table else ""
    clause = " AND ".join(f"{prefix}{column} = ?" for column in scope_filter)
    return clause, list(scope_filter.values())


MANIFEST_KEY = "manifest"
_SELECT_MANIFEST = "SELECT value FROM meta WHERE key = ?"


def read_manifest_row(conn: sqlite3.Connection) -> dict | None:
    """The store manifest (see manifest.py), kept as one row of a `meta (key, value)` table."""
    row = conn.execute(_SELECT_MANIFEST, (MANIFEST_KEY,)).fetchone()
    return json.loads(row[0]) if row else None


def add_manifest_row(conn: sqlite3.Connection, manifest: dict) -> dict:
    """Inside a write transaction: store the manifest unless one is there already; return the one
    stored."""
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (MANIFEST_KEY, json.dumps(manifest))
    )
    # the row is there: inserted now or kept from before, in this transaction
    return json.loads(conn.execute(_SELECT_MANIFEST, (MANIFEST_KEY,)).fetchone()[0])


def set_manifest_row(conn: sqlite3.Connection, manifest: dict) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (MANIFEST_KEY, json.dumps(manifest))
    )


class ManifestRow:
    """The manifest methods of a store whose one connection `_conn` is guarded by `_lock`."""

    _conn: sqlite3.Connection
    _lock: Any

    def read_manifest(self) -> dict | None:
        with self._lock:
            return read_manifest_row(self._conn)

    def add_manifest(self, manifest: dict) -> dict:
        """Store the manifest unless one is there already; return the one stored."""
        with self._lock, write_transaction(self._conn):
            return add_manifest_row(self._conn, manifest)

    def set_manifest(self, manifest: dict) -> None:
        with self._lock, write_transaction(self._conn):
            set_manifest_row(self._conn, manifest)
