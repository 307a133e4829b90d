"""Word statistics of a remote backend's scopes, kept client-side and bounded by bytes.

A search weighs each query word by how many of the scope's memories contain it, and leaves out
the words most of them contain (`relevance.is_common`). Counting each word with a server query
costs a round trip per word and per search; a scope's texts, read once and counted here as the
embedded backend counts them (`ScopeKeywords`), answer every word of every search until the
scope changes, which the backend tells by a fingerprint it reads with one query per search. A
scope too big to read is counted by the server word by word (`ServerCounts`), and each count kept
until the scope changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from ...records import Scope
from .relevance import term_matches

CACHE_BYTES = 64 * 2**20  # default bound on the counted texts of every scope held
COUNT_ENTRY_BYTES = 100  # a word and its count in a dict, roughly

Fingerprint = TypeVar("Fingerprint", bound=Hashable)  # what a backend reads to tell a scope changed


class WordCounts(Protocol):
    """How many of a scope's memories contain a word (any inflection, `relevance.term_matches`)."""

    def __len__(self) -> int: ...

    def document_count(self, term: str) -> int: ...

    def extended(self, texts: list[str]) -> WordCounts:
        """The counts once the texts are added as further memories."""
        ...

    @property
    def nbytes(self) -> int: ...


class ServerCounts:
    """A big scope's word counts, each asked of the server once (`count`) and kept."""

    def __init__(self, total: int, count: Callable[[str], int], known: dict[str, int] | None = None):
        self._total = total
        self._count = count
        self._known = dict(known or {})

    def __len__(self) -> int:
        return self._total

    def document_count(self, term: str) -> int:
        if term not in self._known:
            self._known[term] = self._count(term)
        return self._known[term]

    def extended(self, texts: list[str]) -> ServerCounts:
        lowered = [t.lower() for t in texts]
        known = {term: n + sum(term_matches(term, t) for t in lowered) for term, n in self._known.items()}
        return ServerCounts(self._total + len(texts), self._count, known)

    @property
    def nbytes(self) -> int:
        return COUNT_ENTRY_BYTES * (len(self._known) + 1)


class ScopeWordCounts(Generic[Fingerprint]):
    """Each scope's `WordCounts` under the fingerprint of the scope they were counted from, least
    recently used dropped first."""

    def __init__(self, cache_bytes: int = CACHE_BYTES):
        self._cache_bytes = cache_bytes
        self._held: OrderedDict[Scope, tuple[Fingerprint, WordCounts, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, scope: Scope, fingerprint: Fingerprint) -> WordCounts | None:
        """The scope's counts if they were made from the scope as the fingerprint says it is."""
        with self._lock:
            held = self._held.get(scope)
            if held is None or held[0] != fingerprint:
                return None
            self._held.move_to_end(scope)
            return held[1]

    def put(self, scope: Scope, fingerprint: Fingerprint, keywords: WordCounts) -> None:
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

    def held(self) -> list[tuple[Scope, Fingerprint, WordCounts]]:
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
