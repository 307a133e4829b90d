"""Embedded key-value tier on diskcache: one SQLite-backed cache directory per namespace.

diskcache is process-safe (SQLite locking) and `transact()` makes a read-modify-write atomic,
which is what the audit log's append needs.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any, Iterable, Mapping

import diskcache

from ...errors import BackendError
from ..sqlite_common import BUSY_TIMEOUT_MS, make_directory, raise_typed_sqlite_errors, truncate_wal
from .base import with_new_items

_NAMESPACE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
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


@raise_typed_sqlite_errors
class DiskCacheKeyValueStore:
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
                cache = diskcache.Cache(str(self._directory / namespace), size_limit=2**40, sqlite_secure_delete=1)
                self._caches[namespace] = cache
            return cache

    def get(self, namespace: str, key: str) -> Any | None:
        return self._cache(namespace).get(key)

    def get_many(self, namespace: str, keys: Iterable[str]) -> dict[str, Any]:
        cache = self._cache(namespace)
        found = {}
        for key in keys:
            value = cache.get(key)
            if value is not None:
                found[key] = value
        return found

    def put_many(self, namespace: str, items: Mapping[str, Any]) -> None:
        cache = self._cache(namespace)
        with cache.transact():
            for key, value in items.items():
                cache.set(key, value)

    def delete_many(self, namespace: str, keys: Iterable[str]) -> None:
        cache = self._cache(namespace)
        with cache.transact():
            for key in keys:
                cache.delete(key)

    def append(self, namespace: str, entries: Mapping[str, list[Any]]) -> None:
        cache = self._cache(namespace)
        with cache.transact():
            for key, items in entries.items():
                cache.set(key, with_new_items(cache.get(key, ()), items))

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

    def erase_deleted(self) -> None:
        """Empty each namespace's write-ahead log, which still holds the old images of deleted rows."""
        for child in self._directory.iterdir():
            if _NAMESPACE.match(child.name) and (child / diskcache.core.DBNAME).is_file():
                with closing(self._connect(child.name)) as conn:
                    truncate_wal(conn)

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
