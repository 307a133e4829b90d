"""Graph tier protocol: entities and typed, time-bounded relations between them, per scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from ...records import Entity, Neighbourhood, Relation, Scope


@dataclass(frozen=True)
class EntityMention:
    name: str
    type: str = "entity"


@dataclass(frozen=True)
class RelationMention:
    """A relation as a memory manager extracts it, before entities are resolved to ids."""

    source: EntityMention
    relation: str
    target: EntityMention
    memory_id: str
    valid_from: datetime


def normalize_name(name: str) -> str:
    return " ".join(name.lower().split())


def relation_type(label: str) -> str:
    """Relation labels are stored as UPPER_SNAKE_CASE ('lives in' -> 'LIVES_IN')."""
    return "_".join("".join(c if c.isalnum() else " " for c in label).upper().split()) or "RELATED_TO"


@runtime_checkable
class GraphStore(Protocol):
    def add_relations(self, scope: Scope, mentions: list[RelationMention]) -> list[Relation]:
        """Upsert both endpoints (matched by normalised name within the scope) and add the relations."""
        ...

    def invalidate_memory_relations(self, memory_ids: list[str], at: datetime) -> list[Relation]:
        """Close (valid_to = at) the open relations that came from these memories; they stay queryable as of earlier times."""
        ...

    def delete_memory_relations(self, memory_ids: list[str]) -> None: ...

    def entities(self, scope: Scope) -> list[Entity]:
        """Every entity of exactly this scope (used to match new mentions to known nodes)."""
        ...

    def neighbourhood(
        self, scope: Scope, names: list[str], *, hops: int = 1, as_of: datetime | None = None
    ) -> Neighbourhood:
        """Entities within `hops` relations of the named entities, and the relations among them."""
        ...

    def may_have_entities(self, scope: Scope) -> bool:
        """False only when the scope (with its sub-scopes, as `neighbourhood` reads it) certainly has
        no entity: search then skips naming entities. A backend that cannot tell cheaply says True."""
        ...

    def delete_scope(self, scope: Scope) -> None: ...

    def erase_deleted(self) -> None:
        """Make deleted entities and relations unrecoverable from the backend's own files (after a purge)."""
        ...

    def reset(self) -> None: ...

    def close(self) -> None: ...
