"""Embedded key-value tier on diskcache: one SQLite-backed cache directory per namespace.

diskcache is process-safe (SQLite locking) and its transactions make a read-modify-write atomic,
which is what the audit log's append needs.

diskcache has no batch API: its `set` costs a SELECT, an INSERT and an eviction check per key.
The batch operations here write the same rows in one transaction with a few statements: keys and
values are encoded by diskcache's own `Disk` (so `get` reads them back unchanged) on the
cache's own connection and transaction (diskcache 5 internals, hence the version pin). They skip
only the eviction check, which has nothing to do: no entry here expires, and the size limit is
1 TiB. For the same reason the caches have no eviction policy: diskcache's default
('least-recently-stored') indexes every entry's store time, an index each insert pays for and
nothing here reads.

Values are kept in the SQLite file up to `INLINE_MAX_BYTES` (diskcache's default moves those
over 32 KiB, such as the journal entry of a batch, to files of their own): written in the
transaction, fsynced with it and overwritten on delete (secure_delete) like every other row,
instead of a file created, unsynced, and unlinked with its directories per write.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import diskcache
import filelock

from ...errors import BackendError, StoreBusyError
from ..capabilities import Capabilities
from ..sqlite_common import BUSY_TIMEOUT_MS, make_directory, raise_typed_sqlite_errors, rewrite_without_deleted
from .base import with_new_items

_NAMESPACE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The keys of a batch travel as one JSON array: one statement for any number of keys.
_KEY_IN_BATCH = "raw = 1 AND key IN (SELECT value FROM json_each(?))"
_INSERT = (
    "INSERT INTO Cache (key, raw, store_time, expire_time, access_time, access_count, tag, size, mode, filename, value) "
    "VALUES (?, 1, ?, NULL, ?, 0, NULL, ?, ?, ?, ?)"
)
# A key that exists already is left alone: `append` extends those few afterwards.
_INSERT_NEW = _INSERT + " ON CONFLICT (key, raw) DO NOTHING"
_UPDATE = (
    "UPDATE Cache SET store_time = ?, expire_time = NULL, access_time = ?, access_count = 0, tag = NULL, "
    "size = ?, mode = ?, filename = ?, value = ? WHERE rowid = ?"
)
# Below SQLite's default 1e9-byte limit on a row.
INLINE_MAX_BYTES = 512 * 2**20
# How often a waiter tries a held lock again (flock has no wait with a timeout).
_LOCK_POLL_SECONDS = 0.01
# Not a str, so `keys()` and every namespace's own keys never meet it.
_MANIFEST_KEY = b"langmem-manifest"


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


@raise_typed_sqlite_errors
class DiskCacheKeyValueStore:
    capabilities = Capabilities(manifest=True)

    def __init__(self, directory: str | Path):
        self._directory = self._path = Path(directory)
        make_directory(self._directory, "key-value directory")
        self._caches: dict[str, diskcache.Cache] = {}
        self._lock = threading.Lock()

    def _cache(self, namespace: str) -> diskcache.Cache:
        if not _NAMESPACE.match(namespace):
            raise BackendError(f"invalid key-value namespace {namespace!r}")
        with self._lock:
            cache = self._caches.get(namespace)
            if cache is None:
                make_directory(self._directory / namespace, "key-value namespace directory")
                # secure_delete: a deleted entry's bytes are overwritten, not left in a free page
                cache = diskcache.Cache(
                    str(self._directory / namespace),
                    size_limit=2**40,
                    eviction_policy="none",
                    disk_min_file_size=INLINE_MAX_BYTES,
                    sqlite_secure_delete=1,
                )
                # namespaces created with the default policy carry its index: drop it once
                cache._sql("DROP INDEX IF EXISTS Cache_store_time")
                self._caches[namespace] = cache
            return cache

    def get(self, namespace: str, key: str) -> Any | None:
        return self._cache(namespace).get(key)

    def get_many(self, namespace: str, keys: Iterable[str]) -> dict[str, Any]:
        cache = self._cache(namespace)
        found = {}
        rows = cache._sql(
            f"SELECT key, mode, filename, value FROM Cache WHERE {_KEY_IN_BATCH} AND (expire_time IS NULL OR expire_time > ?)",
            (_batch(keys), time.time()),
        ).fetchall()
        for key, mode, filename, value in rows:
            try:
                found[key] = cache.disk.fetch(mode, filename, value, False)
            except OSError:  # its file was deleted (by another process) after the SELECT: gone
                pass
        return found

    def put_many(self, namespace: str, items: Mapping[str, Any], remove: Iterable[str] = ()) -> None:
        removed = [key for key in dict.fromkeys(remove) if key not in items]
        if items or removed:
            self._set_many(self._cache(namespace), list(items), lambda old: items, read_old=False, remove=removed)

    def delete_many(self, namespace: str, keys: Iterable[str]) -> None:
        cache = self._cache(namespace)
        keys = list(dict.fromkeys(keys))
        if not keys:
            return
        with cache._transact() as (sql, cleanup):
            for (filename,) in sql(f"DELETE FROM Cache WHERE {_KEY_IN_BATCH} RETURNING filename", (_batch(keys),)).fetchall():
                cleanup(filename)

    def append(self, namespace: str, entries: Mapping[str, list[Any]]) -> None:
        """The keys are inserted with one statement that skips those already present (usually
        none: history keys are fresh memory ids); only those are then read and extended, in the
        same transaction."""
        if not entries:
            return
        cache = self._cache(namespace)
        written: list[str] = []
        try:
            with cache._transact() as (sql, cleanup):
                (last_rowid,) = sql("SELECT coalesce(max(rowid), 0) FROM Cache").fetchone()
                now = time.time()
                rows, files = [], {}
                for key, items in entries.items():
                    size, mode, filename, db_value = cache.disk.store(with_new_items((), items), False, key=key)
                    if filename is not None:
                        written.append(filename)
                        files[key] = filename
                    rows.append((key, now, now, size, mode, filename, db_value))
                if cache._con.executemany(_INSERT_NEW, rows).rowcount == len(rows):
                    return
                present = [key for (key,) in sql(f"SELECT key FROM Cache WHERE {_KEY_IN_BATCH} AND rowid <= ?", (_batch(entries), last_rowid))]
                for key in present:
                    cleanup(files.get(key))  # its insert was skipped: the file belongs to no row

                def extended(old: dict[str, Any]) -> dict[str, Any]:
                    return {key: with_new_items(old.get(key, ()), entries[key]) for key in present}

                self._write_rows(cache, sql, cleanup, present, extended, True, written)
        except BaseException:
            for filename in written:
                cache.disk.remove(filename)
            raise

    def _set_many(
        self,
        cache: diskcache.Cache,
        keys: list[str],
        values_from: Callable[[dict[str, Any]], Mapping[str, Any]],
        read_old: bool,
        remove: list[str] = (),
    ) -> None:
        """diskcache's `set` for many keys in one transaction: read the keys' rows, then update the
        rows that exist and insert the others, with one statement each; the keys in `remove` are
        deleted in the same transaction.

        `values_from(old values)` runs inside the transaction, so a read-modify-write is atomic.
        Value files (values over diskcache's 32 KiB) of a failed transaction are removed at once,
        the files of replaced values after the commit.
        """
        written: list[str] = []
        try:
            with cache._transact() as (sql, cleanup):
                if remove:
                    for (filename,) in sql(f"DELETE FROM Cache WHERE {_KEY_IN_BATCH} RETURNING filename", (_batch(remove),)).fetchall():
                        cleanup(filename)
                self._write_rows(cache, sql, cleanup, keys, values_from, read_old, written)
        except BaseException:
            for filename in written:
                cache.disk.remove(filename)
            raise

    @staticmethod
    def _write_rows(
        cache: diskcache.Cache,
        sql: Callable,
        cleanup: Callable[[str | None], None],
        keys: list[str],
        values_from: Callable[[dict[str, Any]], Mapping[str, Any]],
        read_old: bool,
        written: list[str],
    ) -> None:
        """Inside the caller's transaction: read the keys' rows, then update the rows that exist
        and insert the others, one statement each; value files created go to `written`."""
        columns = "key, rowid, filename, mode, value" if read_old else "key, rowid, filename, NULL, NULL"
        now = time.time()
        existing: dict[str, tuple[int, str | None]] = {}
        old: dict[str, Any] = {}
        for key, rowid, filename, mode, value in sql(f"SELECT {columns} FROM Cache WHERE {_KEY_IN_BATCH}", (_batch(keys),)).fetchall():
            existing[key] = (rowid, filename)
            if read_old:
                old[key] = cache.disk.fetch(mode, filename, value, False)
        inserts, updates = [], []
        for key, value in values_from(old).items():
            size, mode, filename, db_value = cache.disk.store(value, False, key=key)
            if filename is not None:
                written.append(filename)
            if key in existing:
                rowid, replaced_file = existing[key]
                cleanup(replaced_file)
                updates.append((now, now, size, mode, filename, db_value, rowid))
            else:
                inserts.append((key, now, now, size, mode, filename, db_value))
        connection = cache._con
        if updates:
            connection.executemany(_UPDATE, updates)
        if inserts:
            connection.executemany(_INSERT, inserts)

    def _connect(self, namespace: str) -> sqlite3.Connection:
        """A plain connection to the namespace's diskcache database, for what diskcache has no API for."""
        database = self._directory / namespace / diskcache.core.DBNAME
        return sqlite3.connect(str(database), timeout=BUSY_TIMEOUT_MS / 1000)

    def keys(self, namespace: str, prefix: str = "") -> list[str]:
        cache = self._cache(namespace)
        if not prefix:
            return [key for key in cache.iterkeys() if isinstance(key, str)]
        # diskcache stores str keys as TEXT in its Cache table, indexed by (key, raw): a range over
        # that index reads only the keys with the prefix, not the whole namespace
        upper = _prefix_bound(prefix)
        query = "SELECT key FROM Cache WHERE key >= ?" + (" AND key < ?" if upper else "")
        with closing(self._connect(namespace)) as conn:
            rows = conn.execute(query, (prefix, upper) if upper else (prefix,)).fetchall()
        return [key for (key,) in rows if isinstance(key, str) and key.startswith(prefix)]

    @contextmanager
    def lock(self, name: str, wait_seconds: float) -> Iterator[None]:
        """An advisory lock (flock) on `<name>.lock` beside the namespaces: the kernel releases it
        when its process dies. Each call opens the file anew, so threads exclude each other too."""
        if not _NAMESPACE.match(name):
            raise BackendError(f"invalid lock name {name!r}")
        path = self._directory / f"{name}.lock"
        held = filelock.FileLock(path, timeout=wait_seconds, poll_interval=_LOCK_POLL_SECONDS)
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
        write-ahead log (VACUUM keeps diskcache's rowids: its table has an INTEGER PRIMARY KEY)."""
        for child in self._directory.iterdir():
            if _NAMESPACE.match(child.name) and (child / diskcache.core.DBNAME).is_file():
                with closing(self._connect(child.name)) as conn:
                    rewrite_without_deleted(conn)

    def read_manifest(self, namespace: str) -> dict | None:
        """The store manifest (see manifest.py) that this namespace's file carries."""
        return self._cache(namespace).get(_MANIFEST_KEY)

    def add_manifest(self, namespace: str, manifest: dict) -> dict:
        """Store the manifest unless one is there already; return the one stored."""
        cache = self._cache(namespace)
        cache.add(_MANIFEST_KEY, manifest)
        return cache.get(_MANIFEST_KEY)

    def set_manifest(self, namespace: str, manifest: dict) -> None:
        self._cache(namespace).set(_MANIFEST_KEY, manifest)

    def clear(self) -> None:
        for child in self._directory.iterdir():
            if child.is_dir() and _NAMESPACE.match(child.name):
                self._cache(child.name).clear()

    def close(self) -> None:
        with self._lock:
            for cache in self._caches.values():
                cache.close()
            self._caches.clear()
