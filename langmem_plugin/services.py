"""What a `Memory` runs on: its config, tiers, embedder and manager, and the state its calls
share within this process. This is the record only; langmem_plugin/builder.py builds it from a
config, and the pipeline (langmem_plugin/pipeline/) works on it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .config import MemoryConfig
from .embeddings.cache import CachedEmbeddings
from .managers.base import MemoryManager
from .records import ConversationMessage, MemoryRecord, utc_now
from .tiers.graph import GraphStore
from .tiers.keyvalue import KeyValueStore
from .tiers.vector import VectorStore


class FinishedKeys:
    """Keys whose entries are done with, collected to be deleted together later (thread-safe)."""

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        with self._lock:
            self._keys.append(key)

    def take(self) -> list[str]:
        """All keys collected so far; the caller deletes them (or gives them back on failure)."""
        with self._lock:
            keys, self._keys = self._keys, []
            return keys

    def give_back(self, keys: list[str]) -> None:
        with self._lock:
            self._keys[:0] = keys


# Failed calls kept for a retry; beyond it the oldest is forgotten (its retry then writes anew,
# as a call that was never seen: no loss, at worst a duplicate).
KEPT_CALLS = 256


@dataclass(frozen=True)
class GraphFollowUp:
    """A graph-tier write that completes a vector-tier write of the call (closing or deleting the
    relations of a memory it rewrote, invalidated or retired; adding the call's relations). Kept
    before that vector write, so that the retry of a failed call finishes it: it runs again when
    `committed` says the vector write is stored (given the stored records of `memory_ids`, None
    for an id not stored). Each is idempotent."""

    memory_ids: list[str]
    committed: Callable[[list[MemoryRecord | None]], bool]
    write: Callable[[GraphStore], Any]


@dataclass
class AddCall:
    fingerprint: str
    conversation: list[ConversationMessage]
    now: datetime  # the call's time: created_at / updated_at of what it writes, and of its events
    caller_ids: bool  # some message brought its own id: its verbatim memory may be stored already
    retry: bool = False  # taken over from a call that failed: some of its writes may be stored already
    follow_ups: list[GraphFollowUp] = field(default_factory=list)


class FailedCalls:
    """The calls of `add` that raised, most recent last (thread-safe, at most `KEPT_CALLS`)."""

    def __init__(self, capacity: int = KEPT_CALLS) -> None:
        self._calls: OrderedDict[str, AddCall] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def start(self, fingerprint: str, conversation: list[ConversationMessage], caller_ids: bool) -> AddCall:
        """The failed call this one retries (taken out: one retry at a time repeats it), or a new call."""
        with self._lock:
            failed = self._calls.pop(fingerprint, None)
        if failed is not None:
            return failed
        return AddCall(fingerprint, conversation, utc_now(), caller_ids=caller_ids)

    def failed(self, call: AddCall) -> None:
        call.retry = True
        with self._lock:
            self._calls[call.fingerprint] = call
            while len(self._calls) > self._capacity:
                self._calls.popitem(last=False)


@dataclass
class MemoryServices:
    config: MemoryConfig
    vector: VectorStore
    graph: GraphStore | None
    kv: KeyValueStore
    embedder: CachedEmbeddings
    manager: MemoryManager
    # the tiers this record opened, which `close` closes; tiers the caller passed in stay theirs
    owned: tuple[Any, ...] = ()
    # journal entries whose write is complete: removed with the next journaled write (pipeline/audit.py)
    finished_journal: FinishedKeys = field(default_factory=FinishedKeys)
    # calls of add that raised, for their retry to repeat the same write (pipeline/retries.py)
    failed_adds: FailedCalls = field(default_factory=FailedCalls)

    def close(self) -> None:
        for tier in self.owned:
            tier.close()
