"""Vector tier protocol: memory records with their vectors, hybrid (dense + keyword) search.

Every read and write takes a `Scope`; a backend must never return a record outside it. A backend
finds a search's candidates and their raw signals (`candidates`); one ranker, `relevance.rank`,
scores and orders them for every backend (`search`).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ...records import MemoryRecord, Scope, ScopeKind, SearchHit
from ..capabilities import Capabilities

if TYPE_CHECKING:
    from .relevance import Candidates


@dataclass(frozen=True)
class SearchParams:
    limit: int = 10
    candidates: int = 50
    rrf_k: int = 60
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    keyword_max_docs: int = 2000
    # memories the graph tier links to the query, best first, with the link's specificity in [0, 1]
    graph_links: Mapping[str, float] = field(default_factory=dict)
    graph_weight: float = 1.0
    threshold: float | None = None  # minimum relevance (SearchHit.score), in [0, 1]
    context: bool = True  # neighbouring turns add evidence (see relevance.CONTEXT_WEIGHT)
    filters: Mapping[str, Any] | None = None
    as_of: datetime | None = None  # None: only memories valid now
    include_expired: bool = False  # also memories whose `expires_at` has passed


@dataclass(frozen=True)
class AgeRule:
    """Memories of any scope created at or before `created_before`, of the scope kind given (None:
    any; see `Scope.kind`) whose metadata match `filters` (None: any): a retention limit reached."""

    created_before: datetime
    kind: ScopeKind | None = None
    filters: Mapping[str, Any] | None = None


@runtime_checkable
class VectorStore(Protocol):
    capabilities: Capabilities

    @property
    def dimensions(self) -> int | None:
        """Vector size fixed by the first write; None while the store is empty and new."""
        ...

    def insert(self, records: list[MemoryRecord], vectors: np.ndarray) -> None: ...

    def replace(self, record: MemoryRecord, vector: np.ndarray | None = None) -> None:
        """Overwrite a stored record (text, metadata, validity, sources) and optionally its vector."""
        ...

    def get(self, memory_ids: list[str]) -> list[MemoryRecord]:
        """Records of the ids that exist, in the order asked."""
        ...

    def find_by_hash(self, scope: Scope, content_hash: str) -> MemoryRecord | None:
        """A currently valid, unexpired memory of the scope with this content hash."""
        ...

    def list(
        self,
        scope: Scope,
        *,
        limit: int,
        filters: Mapping[str, Any] | None = None,
        include_invalidated: bool = False,
        include_expired: bool = False,
    ) -> list[MemoryRecord]:
        """Newest first; expired memories (`expires_at` passed) only with `include_expired`."""
        ...

    def set_expiry(self, memory_ids: builtins.list[str], expires_at: datetime | None) -> builtins.list[str]:
        """Set (None: clear) the expiry of the stored memories among the ids, changing nothing else,
        and return those ids, in the order given."""
        ...

    def expired(
        self, now: datetime, limit: int, rules: builtins.list[AgeRule] | None = None
    ) -> builtins.list[MemoryRecord]:
        """Up to `limit` memories of any scope due for erasure: those whose `expires_at` is at or
        before `now` (soonest first), then those any of `rules` matches."""
        ...

    def common_terms(self, scope: Scope, terms: builtins.list[str]) -> builtins.list[str]:
        """The query terms (`relevance.keyword_terms`) found in most of the scope's memories
        (`relevance.is_common`), counted as keyword coverage matches them: search gives them no
        weight, and the caller leaves them out of the query it embeds."""
        ...

    def candidates(
        self, scope: Scope, vector: np.ndarray, query: str, params: SearchParams
    ) -> Candidates[str]:
        """What each ranker (dense; keyword, on the query's terms that are not common; graph, the
        `params.graph_links` found) finds among the scope's memories valid now (or at `params.as_of`),
        unexpired now (unless `params.include_expired`), that pass `params.filters`, keyed by memory
        id, with every candidate's raw signals and, with `params.context`, its neighbouring turns
        (see `relevance.Candidates`)."""
        ...

    def search(
        self, scope: Scope, vector: np.ndarray, query: str, params: SearchParams
    ) -> builtins.list[SearchHit]:
        """`relevance.rank` of `candidates`, as hits: computed otherwise only if equal bit for bit."""
        ...

    def delete(self, memory_ids: builtins.list[str]) -> None: ...

    def delete_scope(self, scope: Scope) -> builtins.list[MemoryRecord]:
        """Delete every memory in the scope and return what was deleted."""
        ...

    def count(self, scope: Scope) -> int: ...

    def erase_deleted(self) -> None:
        """Make deleted records unrecoverable from the backend's own files (after a purge)."""
        ...

    def reset(self) -> None: ...

    def close(self) -> None: ...
