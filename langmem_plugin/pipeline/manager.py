"""Memory manager protocol: the seam where the offline manager and LLM managers plug in.

A manager turns messages into facts and decides, fact by fact, what to do with the nearest
existing memories of the same scope. The pipeline (pipeline/ingest.py) does all storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..records import ConversationMessage, EventType, Fact, MemoryRecord
from ..tiers.graph import RelationMention


@dataclass(frozen=True)
class Neighbour:
    memory: MemoryRecord
    similarity: float


@dataclass(frozen=True)
class Decision:
    """ADD the fact; UPDATE `target` to the fact's text; INVALIDATE `target` and ADD the fact; or NOOP."""

    event: EventType
    target: MemoryRecord | None = None
    text: str | None = None  # final text for ADD/UPDATE (defaults to the fact's text)
    also_invalidate: list[MemoryRecord] = field(default_factory=list)


class MemoryManager(Protocol):
    name: str

    def extract_facts(self, messages: list[ConversationMessage]) -> list[Fact]: ...

    def decide(self, fact: Fact, neighbours: list[Neighbour]) -> Decision: ...

    def extract_relations(self, fact: Fact, memory_id: str) -> list[RelationMention]: ...
