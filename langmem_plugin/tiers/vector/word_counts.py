"""Word statistics of a remote backend's scopes, kept client-side and bounded by bytes.

A search weighs each query word by how many of the scope's memories contain it, and leaves out
the words most of them contain (`relevance.is_common`). Counting each word with a server query
costs a round trip per word and per search; a scope's texts, read once and counted here as the
embedded backend counts them (`ScopeKeywords`), answer every word of every search until the
scope changes, which the backend tells by a fingerprint it reads with one query per search.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Hashable

from ...records import Scope
from .scope_keywords import ScopeKeywords

CACHE_BYTES = 64 * 2**20  # default bound on the counted texts of every scope held


class ScopeWordCounts:
    """Each scope's `ScopeKeywords` under the fingerprint of the scope it was counted from, least
    recently used dropped first."""

    def __init__(self, cache_bytes: int = CACHE_BYTES):
        self._cache_bytes = cache_bytes
        self._held: OrderedDict[Scope, tuple[Hashable, ScopeKeywords, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, scope: Scope, fingerprint: Hashable) -> ScopeKeywords | None:
        """The scope's counts if they were made from the scope as the fingerprint says it is."""
        with self._lock:
            held = self._held.get(scope)
            if held is None or held[0] != fingerprint:
                return None
            self._held.move_to_end(scope)
            return held[1]

    def put(self, scope: Scope, fingerprint: Hashable, keywords: ScopeKeywords) -> None:
        with self._lock:
            old = self._held.pop(scope, None)
            if old is not None:
                self._bytes -= old[2]
            size = keywords.nbytes
            self._held[scope] = (fingerprint, keywords, size)
            self._bytes += size
            while self._bytes > self._cache_bytes and len(self._held) > 1:
                _, (_, _, dropped) = self._held.popitem(last=False)
                self._bytes -= dropped

    def held(self) -> list[tuple[Scope, Hashable, ScopeKeywords]]:
        """Every scope held, with its fingerprint and counts."""
        with self._lock:
            return [(scope, held[0], held[1]) for scope, held in self._held.items()]

    def drop(self, scope: Scope) -> None:
        with self._lock:
            held = self._held.pop(scope, None)
            if held is not None:
                self._bytes -= held[2]

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self._bytes = 0
