"""Per-scope search data kept in memory, bounded by bytes: with thousands of users, the least
recently searched scopes are dropped (and reloaded with one query when searched again)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ...records import Scope
from .dense_index import DenseIndex
from .scope_keywords import ScopeKeywords


class SmallScopeRows:
    """A small scope's stored rows by rowid (the columns a hit is built from), kept in step by this
    process's writes, and the keyword statistics of their texts, extended or rebuilt from them (never
    from the table) when a search finds the rows changed.

    `synced_version` is the DenseIndex version the rows match: every write updates the index and
    then the rows, so a search that finds them apart (a write that did not update the rows) reads
    the scope's rows again instead of trusting these.
    """

    def __init__(
        self,
        rows: dict[int, tuple],
        text_of: Callable[[tuple], str],
        nbytes_of: Callable[[tuple], int],
        index: DenseIndex,
    ):
        self.rows = rows
        self._text_of = text_of
        self._nbytes_of = nbytes_of
        self.rows_nbytes = sum(map(nbytes_of, rows.values()))
        self.synced_version = index.version
        self._keywords: ScopeKeywords | None = None
        self._keywords_version = -1
        self._only_added = False  # since the keywords were built, rows were only appended to the index

    def has_keywords_of(self, index: DenseIndex) -> bool:
        return self._keywords is not None and self._keywords_version == index.version

    def keywords(self, index: DenseIndex) -> ScopeKeywords:
        """Keyword statistics numbered by the index's positions."""
        keywords = self._keywords
        if keywords is not None and self._keywords_version == index.version:
            return keywords
        if keywords is None or not self._only_added:
            keywords = ScopeKeywords(self._texts(index, 0))
        else:
            keywords = keywords.extended(self._texts(index, len(keywords)))
        self._keywords, self._keywords_version = keywords, index.version
        self._only_added = True
        return keywords

    def _texts(self, index: DenseIndex, start: int) -> list[str]:
        """Texts of the index's positions from `start` on ("" for a row these rows lack)."""
        rows = self.rows
        return [
            self._text_of(rows[r]) if r in rows else ""
            for r in index.rowid_at(np.arange(start, len(index))).tolist()
        ]

    def added(self, rows: list[tuple], index: DenseIndex) -> None:
        """Rows the index just appended."""
        for row in rows:
            self.rows[row[0]] = row
        self.rows_nbytes += sum(map(self._nbytes_of, rows))
        self.synced_version = index.version

    def replaced(self, row: tuple, index: DenseIndex) -> None:
        """A row whose columns changed in place (its position did not)."""
        old = self.rows.get(row[0])
        self.rows_nbytes += self._nbytes_of(row) - (0 if old is None else self._nbytes_of(old))
        self.rows[row[0]] = row
        self._only_added = False
        self.synced_version = index.version

    def removed(self, rowids: list[int], index: DenseIndex) -> None:
        """Rows the index dropped (moving its last rows into their positions)."""
        if index.version != self.synced_version:  # some were in the index: positions moved
            self._only_added = False
        for rowid in rowids:
            old = self.rows.pop(rowid, None)
            if old is not None:
                self.rows_nbytes -= self._nbytes_of(old)
        self.synced_version = index.version

    @property
    def nbytes(self) -> int:
        return self.rows_nbytes + (0 if self._keywords is None else self._keywords.nbytes)


@dataclass
class CachedScope:
    """A scope's dense index and, for small scopes, its rows and keyword statistics."""

    index: DenseIndex
    small: SmallScopeRows | None = None
    ann_watched: bool = False  # registered with the ANN maintainer (by the scope's first search)

    def current_small(self) -> SmallScopeRows | None:
        """The small scope's rows, unless a write changed the index without them."""
        small = self.small
        return small if small is not None and small.synced_version == self.index.version else None

    @property
    def nbytes(self) -> int:
        return self.index.nbytes + (0 if self.small is None else self.small.nbytes)


class ScopeCache:
    """Least-recently-used map of Scope -> CachedScope holding at most `max_bytes` in total.

    Sizes are re-read whenever a scope is used or grown by a write; the scope just loaded always
    stays, even alone over the bound (it is being searched). A loaded scope that does not fit and
    was not missed lately goes in on probation, as the next to drop (see `put`), so that searching
    more users in turn than fit costs a few loads per round instead of one for every user.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Scope, CachedScope] = OrderedDict()
        self._sizes: dict[Scope, int] = {}
        self._total = 0
        self._missed: OrderedDict[Scope, None] = OrderedDict()  # scopes put on probation lately, oldest first

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

    def peek(self, scope: Scope) -> CachedScope | None:
        """The scope's entry, if cached, without counting it as used (for writes keeping it in step)."""
        return self._entries.get(scope)

    def put(self, scope: Scope, entry: CachedScope) -> None:
        """Cache a scope that a search loaded, dropping the least recently used ones to make room.

        One that does not fit goes in first in line to be dropped unless it was put on probation
        lately (and dropped since): under plain LRU a round over more users than fit drops each
        user just before it is searched again, so every search loads. On probation, one newcomer
        at a time takes the place of the last, and the resident scopes stay; a scope searched again
        while cached, or missed again while remembered, is kept like any other.
        """
        size = entry.nbytes
        fits = self._total + size <= self.max_bytes
        while self._total + size > self.max_bytes and self._entries:
            oldest, _ = self._entries.popitem(last=False)
            self._total -= self._sizes.pop(oldest)
        self._entries[scope] = entry
        self._sizes[scope] = size
        self._total += size
        if fits or scope in self._missed:
            self._missed.pop(scope, None)
            return
        self._entries.move_to_end(scope, last=False)
        self._missed[scope] = None
        while len(self._missed) > len(self._entries):
            self._missed.popitem(last=False)

    def offer(self, scope: Scope, entry: CachedScope) -> None:
        """Cache a scope that a write created only if it fits: a bulk import of many scopes must not
        push out the ones searches use (nor those it cached itself, in favour of its latest)."""
        size = entry.nbytes
        if self._total + size <= self.max_bytes:
            self._entries[scope] = entry
            self._sizes[scope] = size
            self._total += size

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

    def items(self) -> Iterator[tuple[Scope, CachedScope]]:
        """Each cached scope with its data, for writes to keep them in step."""
        return iter(list(self._entries.items()))

    def clear(self) -> None:
        self._entries.clear()
        self._sizes.clear()
        self._missed.clear()
        self._total = 0
