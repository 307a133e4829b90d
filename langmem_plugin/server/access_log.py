"""The access log: who read or changed which memories, when, and through which door.

One entry per call and per scope that owns what it touched, keyed `<scope key>/<time>-<random>`
in ACCESS_LOG: a purge of a scope erases its entries with the rest of its data (the namespace is
scope-keyed, pipeline/forget.py). An entry holds the principal, its key id, the action, the
scope, the memory ids and the time; never memory text, queries or profile values. Refused calls
leave no entry: they read and write nothing, the store included.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ..pipeline.forget import scope_keyed_entries
from ..records import MemoryRecord, Scope, utc_now
from ..services import MemoryServices
from .grants import Caller
from .namespaces import ACCESS_LOG


def entry_key(scope: Scope) -> str:
    """Keys sort by time within a scope: nanoseconds, zero-padded, then a random tie-break."""
    return f"{scope.key()}/{time.time_ns():020d}-{secrets.token_hex(4)}"


def log_access(
    services: MemoryServices,
    caller: Caller,
    via: str,
    action: str,
    touched: dict[Scope, list[str]],
) -> None:
    """One entry per scope in `touched` (scope -> ids of its memories the call read or changed)."""
    at = utc_now().isoformat()
    entries = {
        entry_key(scope): {
            "at": at,
            "principal": caller.principal,
            "key_id": caller.key_id,
            "via": via,
            "action": action,
            "scope": scope.as_filter(),
            "memory_ids": memory_ids,
        }
        for scope, memory_ids in touched.items()
    }
    if entries:
        services.kv.put_many(ACCESS_LOG, entries)


def by_owner(records: Iterable[MemoryRecord], scope: Scope) -> dict[Scope, list[str]]:
    """The ids of the records by the scope that owns each, or the call's scope alone when there
    are none (a search that found nothing is still logged)."""
    owners: dict[Scope, list[str]] = defaultdict(list)
    for record in records:
        owners[record.scope].append(record.id)
    return dict(owners) or {scope: []}


def read_access_log(services: MemoryServices, scope: Scope, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` entries of the scope and its sub-scopes, newest first."""
    keys = scope_keyed_entries(services, ACCESS_LOG, scope)
    newest = sorted(keys, key=lambda key: key.rpartition("/")[2], reverse=True)[:limit]
    entries = services.kv.get_many(ACCESS_LOG, newest)
    return [entries[key] for key in newest if key in entries]
