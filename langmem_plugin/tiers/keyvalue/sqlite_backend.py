"""Embedded key-value tier: one SQLite file per namespace, holding one plain `entries` table.

Each namespace is `<directory>/<namespace>/cache.db` (the file name diskcache gives its database:
stores that diskcache created open in place, see `diskcache_layout.py`), in WAL mode with
`synchronous=NORMAL` and `secure_delete`. A value is a BLOB when it is bytes (the embedding cache's
vectors) and JSON text otherwise, told apart by SQLite's storage class. Every batch operation is
one transaction of a few statements, whatever its size: the keys travel as one JSON array
(`json_each`), the rows go in with one `executemany`. BEGIN IMMEDIATE takes the file's write lock
up front, so an `append` is an atomic read-modify-write across threads and processes.

Each namespace has one connection, used by one thread at a time; other processes reach the same
file through their own.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import filelock

from ...errors import BackendError, InvalidInputError, StoreBusyError, StoreCorruptedError
from ..capabilities import Capabilities
from ..sqlite_common import (
    PRIVATE_FILE,
    add_manifest_row,
    make_directory,
    open_sqlite,
    raise_typed_sqlite_errors,
    read_manifest_row,
    rewrite_without_deleted,
    set_manifest_row,
    write_transaction,
)
from . import diskcache_layout
from .base import with_new_items

log = logging.getLogger(__name__)
_NAMESPACE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DATABASE_NAME = diskcache_layout.DATABASE_NAME
# The key is unique (an index beside the rowid table): values, up to a batch's journal entry, are
# too large for a WITHOUT ROWID table, whose b-tree holds whole rows.
_SCHEMA = {
    "entries": "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY NOT NULL, value NOT NULL)",
    "meta": "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
}
# The keys of a batch travel as one JSON array: one statement for any number of keys.
_KEY_IN_BATCH = "key IN (SELECT value FROM json_each(?))"
_UPSERT = (
    "INSERT INTO entries (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
# A key that exists already is left alone: `append` extends those few afterwards.
_INSERT_NEW = "INSERT INTO entries (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
_SET_VALUE = "UPDATE entries SET value = ? WHERE key = ?"
_DELETE_BATCH = f"DELETE FROM entries WHERE {_KEY_IN_BATCH}"
# Rows of a diskcache namespace written per statement while it is moved.
_ADOPTED_ROWS_PER_STATEMENT = 1000
# The lock that gives the move of diskcache namespaces to one process at a time, and how long
# another waits for it (a move reads and writes the whole namespace once).
_MOVE_LOCK = "diskcache_move"
_MOVE_WAIT_SECONDS = 600.0
# How often a waiter tries a held lock again (flock has no wait with a timeout).
_LOCK_POLL_SECONDS = 0.01
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_value(value: Any) -> str | bytes:
    """Bytes as they are (a BLOB), anything else as JSON text (UTF-8, so a file scan sees it)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return _JSON.encode(value)


def _decode_value(stored: str | bytes, where: Path) -> Any:
    if isinstance(stored, bytes):
        return stored
    try:
        return json.loads(stored)
    except ValueError as exc:
        raise StoreCorruptedError(
            f"{where} holds a value that is not JSON ({exc}); restore the memory directory from a backup"
        ) from exc


def _prefix_bound(prefix: str) -> str | None:
    """The least string above every string starting with `prefix` (None when there is none).
    SQLite compares TEXT as UTF-8 bytes, whose order is code point order."""
    while prefix:
        following = ord(prefix[-1]) + 1
        if following <= 0x10FFFF:
            return prefix[:-1] + chr(0xE000 if 0xD800 <= following <= 0xDFFF else following)
        prefix = prefix[:-1]
    return None


def _batch(keys: Iterable[str]) -> str:
    return json.dumps(list(keys), ensure_ascii=False)


def _check_keys(keys: Iterable[str]) -> None:
    """SQLite's `json_each`, which carries a batch's keys, ends a string at a NUL character: a key
    holding one could be written but never found by a batch read, so it is refused before any write."""
    if any("\x00" in key for key in keys):
        raise InvalidInputError(
            "a key-value key contains a NUL character, which the embedded store cannot batch"
        )


class _Namespace:
    """One namespace's file: its connection and the lock that gives it to one thread at a time."""

    def __init__(self, directory: Path, lock: Callable[[str, float], AbstractContextManager[None]]):
        make_directory(directory, "key-value namespace directory")
        self.path = directory / DATABASE_NAME
        self.conn = open_sqlite(self.path, synchronous="NORMAL")
        self.lock = threading.Lock()
        try:
            for statement in _SCHEMA.values():
                self.conn.execute(statement)
            self._adopt_diskcache_entries(directory, lock)
        except BaseException:
            self.conn.close()
            raise

    def _adopt_diskcache_entries(
        self, directory: Path, lock: Callable[[str, float], AbstractContextManager[None]]
    ) -> None:
        """Move the entries of a file that the diskcache backend wrote into `entries` and drop its
        tables, in one transaction: a crash at any point leaves the old layout whole (moved at the
        next open) or the new one. Its value files go after the commit (or at a later open).

        Opening diskcache writes its settings outside any transaction, so processes take turns
        under a lock, each looking again for the old tables once it holds it."""
        if diskcache_layout.foreign_tables(self.conn, _SCHEMA):
            with lock(_MOVE_LOCK, _MOVE_WAIT_SECONDS):
                if diskcache_layout.foreign_tables(self.conn, _SCHEMA):
                    with diskcache_layout.entries(directory) as legacy, write_transaction(self.conn):
                        self._write_adopted(legacy)
                        for table in diskcache_layout.foreign_tables(self.conn, _SCHEMA):
                            self.conn.execute('DROP TABLE "{}"'.format(table.replace('"', '""')))
        diskcache_layout.remove_value_files(directory)

    def _write_adopted(self, legacy: Iterator[tuple[str | bytes, Any]]) -> None:
        rows, lost = [], []
        for key, value in legacy:
            if key == diskcache_layout.MANIFEST_KEY:
                set_manifest_row(self.conn, value)
            elif not isinstance(key, str):
                raise BackendError(
                    f"{self.path} holds a key of type {type(key).__name__}, "
                    "which no namespace of this store has"
                )
            elif value is None:
                lost.append(key)
            else:
                try:
                    rows.append((key, encode_value(value)))
                except (TypeError, ValueError) as exc:
                    raise BackendError(
                        f"{self.path}: the value of {key!r} is not JSON ({exc}); nothing was moved"
                    ) from exc
                if len(rows) == _ADOPTED_ROWS_PER_STATEMENT:
                    self.conn.executemany(_UPSERT, rows)
                    rows = []
        self.conn.executemany(_UPSERT, rows)
        if lost:
            log.warning(
                "%s: %d entries had lost their value file before they were moved: %s",
                self.path,
                len(lost),
                lost,
            )

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            yield self.conn

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        with self.lock, write_transaction(self.conn):
            yield self.conn


@raise_typed_sqlite_errors
class SQLiteKeyValueStore:
    capabilities = Capabilities(manifest=True)

    def __init__(self, directory: str | Path):
        self._directory = self._path = Path(directory)
        make_directory(self._directory, "key-value directory")
        self._namespaces: dict[str, _Namespace] = {}
        self._lock = threading.Lock()

    def _namespace(self, namespace: str) -> _Namespace:
        if not _NAMESPACE.match(namespace):
            raise BackendError(f"invalid key-value namespace {namespace!r}")
        with self._lock:
            opened = self._namespaces.get(namespace)
            if opened is None:
                opened = self._namespaces[namespace] = _Namespace(self._directory / namespace, self.lock)
            return opened

    def _namespaces_on_disk(self) -> list[_Namespace]:
        """Every namespace of the directory, those this store has not opened yet too."""
        names = sorted(c.name for c in self._directory.iterdir() if c.is_dir() and _NAMESPACE.match(c.name))
        return [self._namespace(name) for name in names]

    def get(self, namespace: str, key: str) -> Any | None:
        opened = self._namespace(namespace)
        with opened.reading() as conn:
            row = conn.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else _decode_value(row[0], opened.path)

    def get_many(self, namespace: str, keys: Iterable[str]) -> dict[str, Any]:
        opened = self._namespace(namespace)
        with opened.reading() as conn:
            rows = conn.execute(
                f"SELECT key, value FROM entries WHERE {_KEY_IN_BATCH}", (_batch(keys),)
            ).fetchall()
        return {key: _decode_value(value, opened.path) for key, value in rows}

    def put_many(self, namespace: str, items: Mapping[str, Any], remove: Iterable[str] = ()) -> None:
        removed = [key for key in dict.fromkeys(remove) if key not in items]
        if not items and not removed:
            return
        _check_keys(items)
        rows = [(key, encode_value(value)) for key, value in items.items()]
        with self._namespace(namespace).writing() as conn:
            if removed:
                conn.execute(_DELETE_BATCH, (_batch(removed),))
            conn.executemany(_UPSERT, rows)

    def delete_many(self, namespace: str, keys: Iterable[str]) -> None:
        keys = list(dict.fromkeys(keys))
        if keys:
            with self._namespace(namespace).writing() as conn:
                conn.execute(_DELETE_BATCH, (_batch(keys),))

    def append(self, namespace: str, entries: Mapping[str, list[Any]]) -> None:
        """The keys are inserted with one statement that skips those already present (usually
        none: history keys are fresh memory ids); only those are then read and extended, in the
        same transaction."""
        if not entries:
            return
        _check_keys(entries)
        rows = [(key, encode_value(with_new_items((), items))) for key, items in entries.items()]
        opened = self._namespace(namespace)
        with opened.writing() as conn:
            # rows inserted below get rowids above this one: those at or under it were present
            (last_rowid,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM entries").fetchone()
            if conn.executemany(_INSERT_NEW, rows).rowcount == len(rows):
                return
            present = conn.execute(
                f"SELECT key, value FROM entries WHERE {_KEY_IN_BATCH} AND rowid <= ?",
                (_batch(entries), last_rowid),
            ).fetchall()
            extended = [
                (encode_value(with_new_items(_decode_value(value, opened.path), entries[key])), key)
                for key, value in present
            ]
            conn.executemany(_SET_VALUE, extended)

    def keys(self, namespace: str, prefix: str = "") -> list[str]:
        with self._namespace(namespace).reading() as conn:
            if not prefix:
                return [key for (key,) in conn.execute("SELECT key FROM entries")]
            # a range over the key's index reads only the keys with the prefix, not the whole namespace
            upper = _prefix_bound(prefix)
            query = "SELECT key FROM entries WHERE key >= ?" + (" AND key < ?" if upper else "")
            return [key for (key,) in conn.execute(query, (prefix, upper) if upper else (prefix,))]

    @contextmanager
    def lock(self, name: str, wait_seconds: float) -> Iterator[None]:
        """An advisory lock (flock) on `<name>.lock` beside the namespaces: the kernel releases it
        when its process dies. Each call opens the file anew, so threads exclude each other too."""
        if not _NAMESPACE.match(name):
            raise BackendError(f"invalid lock name {name!r}")
        path = self._directory / f"{name}.lock"
        held = filelock.FileLock(
            path, timeout=wait_seconds, mode=PRIVATE_FILE, poll_interval=_LOCK_POLL_SECONDS
        )
        try:
            held.acquire()
        except filelock.Timeout as exc:
            raise StoreBusyError(f"the {name} lock ({path}) stayed held for {wait_seconds:g} s") from exc
        try:
            yield
        finally:
            held.release()

    def erase_deleted(self) -> None:
        """Rewrite each namespace's file without any copy of a deleted row, and empty its
        write-ahead log."""
        for opened in self._namespaces_on_disk():
            with opened.reading() as conn:
                rewrite_without_deleted(conn)

    def read_manifest(self, namespace: str) -> dict | None:
        """The store manifest (see manifest.py) that this namespace's file carries."""
        with self._namespace(namespace).reading() as conn:
            return read_manifest_row(conn)

    def add_manifest(self, namespace: str, manifest: dict) -> dict:
        """Store the manifest unless one is there already; return the one stored."""
        with self._namespace(namespace).writing() as conn:
            return add_manifest_row(conn, manifest)

    def set_manifest(self, namespace: str, manifest: dict) -> None:
        with self._namespace(namespace).writing() as conn:
            set_manifest_row(conn, manifest)

    def clear(self) -> None:
        """Remove every key of every namespace (the manifests stay: they are not keys)."""
        for opened in self._namespaces_on_disk():
            with opened.writing() as conn:
                conn.execute("DELETE FROM entries")

    def close(self) -> None:
        with self._lock:
            for opened in self._namespaces.values():
                with opened.lock:
                    opened.conn.close()
            self._namespaces.clear()
