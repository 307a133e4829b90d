"""Memory manager protocol: the seam where the offline manager and LLM managers plug in.

A manager turns messages into facts, decides for every fact what to do with the nearest
existing memories of the same scope, and extracts graph relations. It never writes: the
pipeline (operations.add) asks it everything first and stores only when every answer is in,
so a failing manager leaves nothing partial behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..content import shared_text
from ..records import ConversationMessage, EventType, Fact, MemoryRecord, Scope
from ..tiers.graph import RelationMention

# roles whose messages speak about the scope's user (the facts a manager extracts are theirs)
SPEAKER_ROLES = frozenset({"user"})
ANONYMOUS_SPEAKER = "User"


def speaker_name(name: str | None, scope: Scope) -> str:
    """Who a user message is about: its name, else the scope's user id written as a name
    ("alice" -> "Alice"), so that an unnamed message still yields "Alice loves ...", not "User ...".
    Only a scope without a user (agent or run memories) falls back to "User"."""
    if name:
        return name
    if scope.user_id:
        return scope.user_id[:1].upper() + scope.user_id[1:]
    return ANONYMOUS_SPEAKER


def reads_data(manager: object) -> bool:
    """Whether the manager extracts facts from structured data given as JSON text (a manager
    that declares `reads_data = True`, as LLM managers do); the others are given the facts
    pipeline/structured.py writes for each record."""
    return getattr(manager, "reads_data", False) is True


def message_speaker(message: ConversationMessage, scope: Scope) -> str:
    """Who said a message: `speaker_name` for a user's, else its name or role ("assistant")."""
    return (
        speaker_name(message.name, scope) if message.role in SPEAKER_ROLES else (message.name or message.role)
    )


def described_text(message: ConversationMessage, scope: Scope) -> str:
    """What a message says with no model looking at its attachments: its text, or for a turn that
    shared images, files or audio, who shared what and what was said about it (content.shared_text)."""
    if not message.attachments:
        return message.content
    speaker = message_speaker(message, scope)
    return shared_text(speaker[:1].upper() + speaker[1:], message.content, message.attachments)


@dataclass(frozen=True)
class Neighbour:
    memory: MemoryRecord
    similarity: float


@dataclass(frozen=True)
class Decision:
    """What to do with one fact.

    ADD it; ADD it and INVALIDATE each of `also_invalidate` (it contradicts them, from the fact's
    time on); UPDATE `target` to the fact's text; NOOP (already known: `target` gains the fact's
    sources); or DELETE: retire `target` and each of `also_delete` and store nothing, the answer
    to a request to forget (`Fact.forget`). A retired memory leaves search but keeps its history,
    as `Memory.delete` does.
    """

    event: EventType
    target: MemoryRecord | None = None
    text: str | None = None  # final text for ADD/UPDATE (defaults to the fact's text)
    also_invalidate: list[MemoryRecord] = field(default_factory=list)
    also_delete: list[MemoryRecord] = field(default_factory=list)

    def targets(self) -> list[MemoryRecord]:
        """Every existing memory the decision acts on."""
        return ([self.target] if self.target is not None else []) + self.also_invalidate + self.also_delete


class MemoryManager(Protocol):
    name: str

    def extract_facts(self, messages: list[ConversationMessage], scope: Scope) -> list[Fact]: ...

    def reconcile(self, facts: list[Fact], neighbours: list[list[Neighbour]], scope: Scope) -> list[Decision]:
        """One decision per fact; targets must come from that fact's neighbours."""
        ...

    def extract_relations(self, facts: list[tuple[Fact, str]], scope: Scope) -> list[RelationMention]:
        """Relations stated by each (fact, id of the memory it becomes). Every method gets the
        scope it works for, so anything it caches can be erased by a purge of that scope."""
        ...


@runtime_checkable
class TurnSummariser(Protocol):
    """A manager that condenses old verbatim turns into facts when a scope is consolidated
    (pipeline/consolidate.py); managers without it leave verbatim turns as they are."""

    def summarise_turns(self, turns: list[ConversationMessage], scope: Scope) -> list[Fact]:
        """The lasting facts of these turns (one batch, oldest first), each citing its turns."""
        ...
