"""Recognising the retry of an `add` that failed, so that it repeats the same write.

An `add` that raises (a server went down, the process lost a tier mid-write) may have stored part
or all of its batch before failing. Its caller cannot tell, and calls again with the same
arguments. Each call is identified by a fingerprint of its scope, metadata, `infer`, `timestamp`
and of what its messages gave (roles, texts, names, and the ids, turn ids and times they brought;
never what was generated for them). A call that fails is kept here under its fingerprint with
what it generated: the normalised messages (their generated ids, turn ids and default times) and
its clock reading `now`, and the graph-tier writes that follow its vector-tier writes. The next
call with that fingerprint takes it over and writes exactly what the failed one meant to write,
so every write it repeats lands on the same ids with the same content, and nothing is stored
twice (pipeline/ingest.py says how each kind of write repeats).

A call that succeeded leaves nothing here: the same text said again later is a new statement,
with new generated ids and a new time. Kept calls live in this process only; across processes,
messages that bring their own ids (LangChain / LangGraph messages do) make the retry idempotent
(verbatim memories are named after their message, see `ingest.message_memory_ids`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

from ..records import ConversationMessage, MemoryRecord, Scope, utc_now
from ..tiers.graph import GraphStore
from .messages import NormalizedMessages

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


def call_fingerprint(
    scope: Scope,
    metadata: Mapping[str, Any],
    infer: bool,
    timestamp: datetime | None,
    given: NormalizedMessages,
) -> str:
    header = json.dumps(
        [scope.key(), metadata, infer, None if timestamp is None else timestamp.isoformat()], sort_keys=True
    )
    return hashlib.sha256(f"{header}\x1e{given.fingerprint}".encode("utf-8")).hexdigest()


class FailedCalls:
    """The calls of `add` that raised, most recent last (thread-safe, at most `KEPT_CALLS`)."""

    def __init__(self, capacity: int = KEPT_CALLS) -> None:
        self._calls: OrderedDict[str, AddCall] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def start(self, fingerprint: str, given: NormalizedMessages) -> AddCall:
        """The failed call this one retries (taken out: one retry at a time repeats it), or a new call."""
        with self._lock:
            failed = self._calls.pop(fingerprint, None)
        if failed is not None:
            return failed
        return AddCall(fingerprint, given.messages, utc_now(), caller_ids=given.caller_ids)

    def failed(self, call: AddCall) -> None:
        call.retry = True
        with self._lock:
            self._calls[call.fingerprint] = call
            while len(self._calls) > self._capacity:
                self._calls.popitem(last=False)
