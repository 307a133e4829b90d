"""Typed records that flow between the pipeline, the tiers and the public API."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal
from urllib.parse import quote, unquote

from pydantic import BaseModel, ConfigDict, Field, JsonValue, computed_field

from .errors import MissingScopeError
from .parts import Attachment, MediaPart

# Metadata is JSON: scalars, lists and objects, nested (pipeline/validation.py bounds it).
MetadataValue = JsonValue
# What a scope is about, by its most specific id: a run's memories, an agent's (no run), a user's.
ScopeKind = Literal["user", "agent", "run"]


def utc_now() -> datetime:
    return datetime.now(UTC)


# The RFC 4122 variant puts 10 in the top two bits of the 17th hex digit.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_uuids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as `str(uuid.uuid4())` writes them, drawn with one
    `os.urandom` call: `uuid.uuid4()` costs several µs each, paid per message of a large add."""
    digits = os.urandom(16 * count).hex()
    ids = []
    for start in range(0, 32 * count, 32):
        h = digits[start : start + 32]
        ids.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:]}")
    return ids


def derived_uuids(namespace: str, keys: Iterable[str]) -> list[str]:
    """UUID-shaped ids (version 8, RFC 9562) that are a function of `namespace` and each key: the
    same key always gives the same id, distinct keys distinct ids (SHA-256, truncated to 122 bits)."""
    head = f"{len(namespace)}:{namespace}".encode()
    ids = []
    for key in keys:
        h = hashlib.sha256(head + key.encode("utf-8")).hexdigest()
        ids.append(f"{h[:8]}-{h[8:12]}-8{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}")
    return ids


# Timestamps make a round trip through float epoch seconds in the tiers.
SAME_INSTANT_SECONDS = 1e-3


def same_instant(first: datetime, second: datetime) -> bool:
    """Whether two timestamps, one of them read back from a tier, denote the same moment."""
    return abs((first - second).total_seconds()) < SAME_INSTANT_SECONDS


def content_hash(text: str) -> str:
    """Hash of the normalised text, used to short-circuit exact duplicates."""
    normalised = " ".join(text.lower().split()).rstrip(".!;, ")
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


# Key order: user first, so every scope within one user's shares the prefix `user_id=<id>`.
SCOPE_FIELDS = ("user_id", "agent_id", "run_id")


def encode_scope_id(value: str) -> str:
    """Percent-encode every character but [A-Za-z0-9_.~-]: the result never holds `|`, `=`, `/` or
    `:`, so keys built from it cannot be confused with one another, and plain ids stay readable."""
    return quote(value, safe="")


class Scope(BaseModel):
    """Who a memory belongs to. A query scope matches every record that has each id it gives;
    ids it leaves out match anything (so agent_id alone spans every user of that agent)."""

    model_config = ConfigDict(frozen=True)

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    def as_filter(self) -> dict[str, str]:
        return {field: value for field in SCOPE_FIELDS if (value := getattr(self, field)) is not None}

    @property
    def kind(self) -> ScopeKind:
        return "run" if self.run_id is not None else "agent" if self.agent_id is not None else "user"

    def required_filter(self) -> dict[str, str]:
        """as_filter(), refusing an empty scope: a backend must never read or write across users."""
        scope_filter = self.as_filter()
        if not scope_filter:
            raise MissingScopeError("at least one of user_id, agent_id, run_id is required")
        return scope_filter

    def matches(self, other: Scope) -> bool:
        """True when `other` (a record's scope) satisfies every id given in self (a query scope)."""
        return all(getattr(other, k) == v for k, v in self.as_filter().items())

    def key(self) -> str:
        """The scope as one unambiguous string (`user_id=alice|agent_id=bot7`), ids percent-encoded.

        Distinct scopes always give distinct keys, and a key never contains `/`, so
        `key() + "/" + suffix` can be split back into its scope (see `from_key`)."""
        ids = self.as_filter()
        return "|".join(f"{field}={encode_scope_id(ids[field])}" for field in SCOPE_FIELDS if field in ids)

    @classmethod
    def from_key(cls, key: str) -> Scope:
        """Inverse of `key()`; a string that is not a scope key gives an empty Scope (matches nothing
        useful)."""
        ids: dict[str, str] = {}
        for pair in key.split("|"):
            field, _, value = pair.partition("=")
            if field not in SCOPE_FIELDS or field in ids:
                return cls()
            ids[field] = unquote(value)
        return cls(**ids)


class SourceRef(BaseModel):
    """Provenance: which conversation turn a memory came from."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    turn_id: str
    role: str
    name: str | None = None
    timestamp: datetime
    # the images, files and audio the turn carried (a tuple: a source is hashable)
    attachments: tuple[Attachment, ...] = ()


def sources_attachments(sources: Iterable[SourceRef]) -> list[Attachment]:
    """The attachments of every source, each once, in order."""
    return list(dict.fromkeys(a for source in sources for a in source.attachments))


class MemoryRecord(BaseModel):
    id: str
    text: str
    scope: Scope
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    valid_from: datetime
    valid_to: datetime | None = None
    hash: str
    sources: list[SourceRef] = Field(default_factory=list)
    score: float | None = None
    # When the memory stops being served and becomes due for erasure by the sweeper (None: never).
    expires_at: datetime | None = None

    @property
    def is_valid(self) -> bool:
        return self.valid_to is None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    @computed_field  # type: ignore[prop-decorator]
    @property
    def attachments(self) -> list[Attachment]:
        """The images, files and audio of the turns this memory was made from."""
        return sources_attachments(self.sources)

    def to_dict(self) -> dict:
        """Mem0's item shape ("memory" holds the text, scope ids at the top level), JSON-ready,
        plus the valid time and provenance Mem0 has no field for."""
        data = self.model_dump(mode="json")
        return {
            "id": self.id,
            "memory": self.text,
            "hash": self.hash,
            "metadata": data["metadata"],
            "created_at": data["created_at"],
            "updated_at": data["updated_at"],
            **self.scope.as_filter(),
            "valid_from": data["valid_from"],
            "valid_to": data["valid_to"],
            "expires_at": data["expires_at"],
            "sources": data["sources"],
            "attachments": [a.model_dump(mode="json", exclude_none=True) for a in self.attachments],
        }


class SearchHit(BaseModel):
    """A ranked memory with the signals that produced its rank.

    `score` is the relevance in [0, 1] that `threshold` filters on (see
    `tiers/vector/relevance.py`); the other fields are each ranker's evidence, for debugging.
    """

    memory: MemoryRecord
    score: float
    similarity: float  # cosine of the memory and the query (less words common in the scope) vectors
    keyword_score: float | None = None  # share of the query's IDF-weighted keywords in the memory
    graph_score: float | None = None  # specificity of the query entities the graph links to it
    context_score: float | None = None  # best relevance of its neighbouring turns
    fused_score: float | None = None  # reciprocal-rank-fusion value of the rankers that found it
    dense_rank: int | None = None
    keyword_rank: int | None = None
    graph_rank: int | None = None

    def to_dict(self) -> dict:
        """The memory's Mem0 item with its `score`, as in Mem0's search results."""
        return {**self.memory.to_dict(), "score": self.score}


class EventType(StrEnum):
    ADD = "ADD"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    INVALIDATE = "INVALIDATE"
    NOOP = "NOOP"


class HistoryEvent(BaseModel):
    """One audit-log entry; NOOP decisions are returned by add() but not logged."""

    memory_id: str
    event: EventType
    old_text: str | None = None
    new_text: str | None = None
    actor: str
    at: datetime
    scope: Scope
    sources: list[SourceRef] = Field(default_factory=list)
    # the memory that took this one's place: the survivor a consolidation merged it into, or the
    # later fact that superseded it
    replaced_by: str | None = None

    def to_dict(self) -> dict:
        """Mem0's history item (old_memory / new_memory / created_at = when it was logged)."""
        data = self.model_dump(mode="json")
        return {
            "memory_id": self.memory_id,
            "old_memory": self.old_text,
            "new_memory": self.new_text,
            "event": self.event.value,
            "created_at": data["at"],
            "is_deleted": self.event is EventType.DELETE,
            "actor_id": self.actor,
            **self.scope.as_filter(),
            "sources": data["sources"],
            "replaced_by": self.replaced_by,
        }


class MemoryOperation(BaseModel):
    """What add() did with one extracted fact."""

    event: EventType
    memory: MemoryRecord
    previous_text: str | None = None

    def to_dict(self) -> dict:
        """Mem0's add() item: id, memory, event, and previous_memory for an UPDATE."""
        item = {"id": self.memory.id, "memory": self.memory.text, "event": self.event.value}
        if self.previous_text is not None:
            item["previous_memory"] = self.previous_text
        return item


class Entity(BaseModel):
    id: str
    name: str
    normalized_name: str
    type: str
    scope: Scope
    created_at: datetime


class Relation(BaseModel):
    id: str
    source_id: str
    relation: str
    target_id: str
    scope: Scope
    memory_id: str | None = None
    valid_from: datetime
    valid_to: datetime | None = None


class Neighbourhood(BaseModel):
    entities: list[Entity]
    relations: list[Relation]


class ConversationMessage(BaseModel):
    """A message normalised from str / dict / LangChain message input."""

    role: str
    content: str  # the text said ("" for a turn that only shared attachments)
    name: str | None = None
    message_id: str
    turn_id: str
    timestamp: datetime
    attachments: tuple[Attachment, ...] = ()
    # the media parts themselves, bytes included, for a manager that shows them to a model;
    # never serialised (the bytes are stored once, in the key-value tier)
    media: tuple[MediaPart, ...] = Field(default=(), exclude=True, repr=False)

    def source(self) -> SourceRef:
        return SourceRef(**self.source_fields())

    def source_fields(self) -> dict:
        """The fields of `source()`, for validating many at once (see pipeline/ingest.py)."""
        return {
            "message_id": self.message_id,
            "turn_id": self.turn_id,
            "role": self.role,
            "name": self.name,
            "timestamp": self.timestamp,
            "attachments": self.attachments,
        }


class FactRelation(BaseModel):
    """A relation a fact states, as a memory manager extracts it together with the fact."""

    source: str = Field(description="entity the relation starts from, named as in the fact")
    relation: str = Field(description='short verb phrase, e.g. "lives in", "works at", "sister of"')
    target: str = Field(description="entity the relation points to")
    source_type: str = Field(default="entity", description="person, place, organisation, thing, ...")
    target_type: str = Field(default="entity", description="person, place, organisation, thing, ...")


class Fact(BaseModel):
    """A candidate memory produced by a memory manager, before reconciliation."""

    text: str
    sources: list[SourceRef]
    slot: str | None = None  # single-valued attribute key, e.g. "the user|lives in"
    event_date: str | None = None  # ISO date the fact refers to, when the manager knows it
    # The speaker asked to forget this ("forget that I love jazz" -> "Alice loves jazz"): the
    # manager's reconcile answers DELETE for the memories it names, and the text is never stored.
    forget: bool = False
    # The graph relations the manager extracted with the fact, so that its extract_relations
    # needs no further work; None when they were not extracted (a text given to Memory.update).
    relations: list[FactRelation] | None = None
