"""Per-scope search data kept in memory, bounded by bytes: with thousands of users, the least
recently searched scopes are dropped (and reloaded with one query when searched again)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

from ...records import Scope
from .dense_index import DenseIndex
from .scope_keywords import ScopeKeywords


@dataclass
class CachedScope:
    """A scope's dense index and, for small scopes, its keyword statistics as of `keywords_version`."""

    index: DenseIndex
    keywords: ScopeKeywords | None = None
    keywords_version: int = -1
    ann_watched: bool = False  # registered with the ANN maintainer (by the scope's first search)

    def current_keywords(self) -> ScopeKeywords | None:
        """The keyword statistics, unless the scope's rows changed since they were built."""
        return self.keywords if self.keywords_version == self.index.version else None

    def set_keywords(self, keywords: ScopeKeywords) -> None:
        self.keywords = keywords
        self.keywords_version = self.index.version

    @property
    def nbytes(self) -> int:
        return self.index.nbytes + (0 if self.keywords is None else self.keywords.nbytes)


class ScopeCache:
    """Least-recently-used map of Scope -> CachedScope holding at most `max_bytes` in total.

    Sizes are re-read whenever a scope is used or grown by a write; the scope just loaded always
    stays, even alone over the bound (it is being searched).
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Scope, CachedScope] = OrderedDict()
        self._sizes: dict[Scope, int] = {}
        self._total = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return self._total

    def get(self, scope: Scope) -> CachedScope | None:
        entry = self._entries.get(scope)
        if entry is not None:
            self._entries.move_to_end(scope)
            self.account(scope)
        return entry

    def put(self, scope: Scope, entry: CachedScope) -> None:
        self._entries[scope] = entry
        self._entries.move_to_end(scope)
        self.account(scope)

    def account(self, scope: Scope, keep: bool = True) -> None:
        """Record the scope's current size and drop least recently used scopes beyond the bound;
        with `keep`, never the last one left (a search is using it), else down to none (a write grew it)."""
        if scope not in self._entries:  # dropped meanwhile
            return
        size = self._entries[scope].nbytes
        self._total += size - self._sizes.get(scope, 0)
        self._sizes[scope] = size
        while self._total > self.max_bytes and len(self._entries) > (1 if keep else 0):
            oldest, _ = self._entries.popitem(last=False)
            self._total -= self._sizes.pop(oldest)

    def items(self) -> Iterator[tuple[Scope, DenseIndex]]:
        """Each cached scope with its dense index, for writes to keep them in step."""
        return ((scope, entry.index) for scope, entry in list(self._entries.items()))

    def values(self) -> Iterator[DenseIndex]:
        return (entry.index for entry in list(self._entries.values()))

    def clear(self) -> None:
        self._entries.clear()
        self._sizes.clear()
        self._total = 0
