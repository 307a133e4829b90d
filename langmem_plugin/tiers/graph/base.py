"""Graph tier protocol: entities and typed, time-bounded relations between them, per scope."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, runtime_checkable

from ...records import Entity, Neighbourhood, Relation, Scope, derived_uuids
from ..capabilities import Capabilities


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
    # the relation's id, when the writer names it (`with_relation_ids`); else the backend draws one
    id: str | None = None


def normalize_name(name: str) -> str:
    return " ".join(name.lower().split())


def relation_type(label: str) -> str:
    """Relation labels are stored as UPPER_SNAKE_CASE ('lives in' -> 'LIVES_IN')."""
    return "_".join("".join(c if c.isalnum() else " " for c in label).upper().split()) or "RELATED_TO"


def with_relation_ids(mentions: list[RelationMention], written_at: datetime) -> list[RelationMention]:
    """The mentions, each with the id its relation gets when the write at `written_at` stores it:
    derived from its memory, that time, its normalised endpoints, its type and its start, so a
    retried add that writes the same relations again (at the same time, see pipeline/retries.py)
    names the same relations, which `add_relations` stores once. A later write of the same memory
    (another time) names new relations."""
    keys = (
        "".join(
            f"{len(part)}:{part}"
            for part in (
                m.memory_id,
                written_at.isoformat(),
                normalize_name(m.source.name),
                relation_type(m.relation),
                normalize_name(m.target.name),
                m.valid_from.isoformat(),
            )
        )
        for m in mentions
    )
    return [
        replace(m, id=relation_id)
        for m, relation_id in zip(mentions, derived_uuids("relation", keys), strict=True)
    ]


@runtime_checkable
class GraphStore(Protocol):
    capabilities: Capabilities

    def add_relations(self, scope: Scope, mentions: list[RelationMention]) -> list[Relation]:
        """Upsert both endpoints (matched by normalised name within the scope) and add the relations.
        A mention whose `id` names a stored relation adds nothing and leaves that relation open
        (a retried write: see `with_relation_ids`). Returns the relations the mentions name."""
        ...

    def invalidate_memory_relations(self, memory_ids: list[str], at: datetime) -> list[Relation]:
        """Close (valid_to = at) the open relations that came from these memories; they stay
        queryable as of earlier times."""
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
