"""Key-value tier protocol: audit log, embedding cache, per-scope profiles.

Values are JSON-compatible objects or bytes, so that a network backend (Redis) can hold them too.
Keys live in namespaces; `append` is atomic and idempotent so that concurrent writers never lose
log entries and a replayed append never duplicates them. The tier also holds the store's named
locks, which every process sharing the store sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from ..capabilities import Capabilities


@runtime_checkable
class KeyValueStore(Protocol):
    capabilities: Capabilities

    def get(self, namespace: str, key: str) -> Any | None: ...

    def get_many(self, namespace: str, keys: Iterable[str]) -> dict[str, Any]:
        """Values of the keys that exist; missing keys are absent from the result."""
        ...

    def put_many(self, namespace: str, items: Mapping[str, Any], remove: Iterable[str] = ()) -> None:
        """Store the items and delete the keys in `remove`, all in one atomic write."""
        ...

    def delete_many(self, namespace: str, keys: Iterable[str]) -> None: ...

    def append(self, namespace: str, entries: Mapping[str, list[Any]]) -> None:
        """Atomically extend the list stored under each key (created when missing) with the items
        it does not hold yet, so that replaying an append after a crash never duplicates entries."""
        ...

    def keys(self, namespace: str, prefix: str = "") -> list[str]:
        """Every key of the namespace that starts with `prefix` (rare, whole-scope operations only)."""
        ...

    def lock(self, name: str, wait_seconds: float) -> AbstractContextManager[None]:
        """Hold the lock `name`, shared by every thread and process using this store, for the
        `with` block. Waits up to `wait_seconds` for it, then raises StoreBusyError. A process that
        dies holding it lets go of it (at once on disk, within a lease on a server)."""
        ...

    def erase_deleted(self) -> None:
        """Make deleted keys and values unrecoverable from the backend's own files (after a purge)."""
        ...

    def clear(self) -> None:
        """Remove every key of every namespace."""
        ...

    def close(self) -> None: ...


def with_new_items(existing: Iterable[Any], items: Iterable[Any]) -> list[Any]:
    """`existing` extended by the items it does not already hold (what `append` stores)."""
    merged = list(existing)
    for item in items:
        if item not in merged:
            merged.append(item)
    return merged
