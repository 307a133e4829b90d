"""Namespaces written by the diskcache backend: read through diskcache's public API.

That backend kept a namespace in `<namespace>/cache.db` too, in tables of diskcache's own (values
pickled; those over its file-size threshold in files under subdirectories), the store manifest
under a bytes key. The key-value store moves such a file's entries into its own table in place,
in one transaction of that file (`SQLiteKeyValueStore`), with what this module reads.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

DATABASE_NAME = "cache.db"
# The store manifest's key: not a str, so no namespace's own keys ever met it.
MANIFEST_KEY = b"langmem-manifest"


def foreign_tables(conn: sqlite3.Connection, own_tables: Collection[str]) -> list[str]:
    """The tables of the file besides `own_tables` and SQLite's own: diskcache's, while its entries
    have not been moved."""
    names = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return [name for name in names if name not in own_tables and not name.startswith("sqlite_")]


@contextmanager
def entries(directory: Path) -> Iterator[Iterator[tuple[str | bytes, Any]]]:
    """Every (key, value) of the diskcache namespace in `directory`, read through its own
    connection while the block runs. Opening the cache writes its settings, so it comes before the
    caller's write transaction; reading inside it needs no lock. A value whose file was lost
    before this read reads as None."""
    import diskcache

    cache = diskcache.Cache(str(directory), eviction_policy="none")
    try:
        yield ((key, cache.get(key)) for key in cache.iterkeys())
    finally:
        cache.close()


def remove_value_files(directory: Path) -> None:
    """Remove the value files diskcache kept in subdirectories: nothing refers to them once the
    entries were moved. Another process removing them at the same time is no failure."""
    for child in directory.iterdir():
        if child.is_dir():
            for parent, folders, files in os.walk(child, topdown=False):
                for name in files:
                    (Path(parent) / name).unlink(missing_ok=True)
                for name in folders:
                    _remove_folder(Path(parent) / name)
            _remove_folder(child)


def _remove_folder(path: Path) -> None:
    with suppress(FileNotFoundError):
        path.rmdir()
