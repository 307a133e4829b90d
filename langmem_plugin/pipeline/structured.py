"""Structured data (dicts, lists of records, JSON text) turned into readable facts.

A record becomes one sentence that keeps every value: `{"order": 17, "items": ["kayak",
"paddle"], "total": 899}` from Alice is "Alice's order 17: items kayak, paddle; total 899." The
first key holding a scalar names the record; the other keys follow in their order, nested objects
in parentheses. The record itself goes on the memory's metadata under `data`, so nothing of it is
lost to the wording. The wording is deterministic: the same record always reads the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage

from ..content import content_parts
from ..errors import InvalidInputError, InvalidMetadataError
from ..managers.base import reads_data, speaker_name
from ..parts import DataPart
from ..privacy import screen_value
from ..records import MemoryOperation, Scope
from ..services import MemoryServices
from . import ingest
from .attachments import store_bytes
from .messages import normalize_messages
from .validation import check_metadata, check_text, load_json

# The metadata key that holds a memory's structured data.
DATA_KEY = "data"


@dataclass(frozen=True)
class DataMessage:
    """One message of an `add` whose content is structured data."""

    value: Any  # a JSON object or array
    fields: dict[str, Any]  # the message's other fields: role, name, id, timestamp...


def _is_records(content: Any) -> bool:
    """A list of records, not of content blocks (which all name their `type`)."""
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(item, Mapping) and "type" not in item for item in content)
    )


def _parsed_json(text: str, what: str) -> Any:
    """The object or array a JSON text holds; None for any other text (it stays text)."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        value = load_json(stripped, what)
    except InvalidInputError:
        return None
    return value if isinstance(value, (dict, list)) and value else None


def data_of(message: Any, index: int, parse_json: bool) -> DataMessage | None:
    """The structured data a message of `add` carries, or None for a conversation message.

    Data is: a dict with neither `role` nor `content` (the data itself, said by the user); a
    message whose content is a dict or a list of records; and, when `parse_json`, a text or a
    message whose content is a JSON object or array."""
    what = f"message {index}"
    if isinstance(message, str):
        value = _parsed_json(message, what) if parse_json else None
        return None if value is None else DataMessage(value, {"role": "user"})
    content: Any
    if isinstance(message, BaseMessage):
        content = message.content
        extra = {**message.response_metadata, **message.additional_kwargs}
        fields = {"role": message.type, "name": message.name, "id": message.id}
        fields |= {key: extra[key] for key in ("timestamp", "turn_id") if key in extra}
    elif isinstance(message, Mapping):
        if "role" not in message and "content" not in message:
            return DataMessage(dict(message), {"role": "user"})
        content = message.get("content")
        fields = {key: item for key, item in message.items() if key != "content"}
    else:
        return None
    if isinstance(content, dict) and content:  # the content model's DataPart (content.py)
        [part] = content_parts(content, what)
        assert isinstance(part, DataPart)
        return DataMessage(dict(part.value), fields)
    if _is_records(content):
        return DataMessage(list(content), fields)
    if parse_json and isinstance(content, str):
        value = _parsed_json(content, what)
        return None if value is None else DataMessage(value, fields)
    return None


_NAMING_KEYS = frozenset({"name", "title"})


def _label(key: str) -> str:
    return key.replace("_", " ").strip() or key


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _phrase(value: Any) -> str:
    """A value as words: scalars as they are, lists joined by commas, objects in parentheses."""
    if isinstance(value, Mapping):
        return f"({_pairs(value)})"
    if isinstance(value, list):
        return ", ".join(_phrase(item) for item in value if item is not None)
    return _scalar(value)


def _pairs(record: Mapping[str, Any]) -> str:
    """`key value; key value` for every key whose value is not null or empty."""
    parts = []
    for key, value in record.items():
        words = _phrase(value) if value is not None else ""
        if words:
            parts.append(f"{_label(str(key))} {words}")
    return "; ".join(parts)


def record_fact(record: Any, subject: str) -> str:
    """One sentence holding every non-null value of a record (or of a list of scalars)."""
    if not isinstance(record, Mapping):
        return f"{subject}'s data: {_phrase(record)}."
    name_key = next((key for key, value in record.items() if _is_scalar(value)), None)
    if name_key is None:
        return f"{subject}'s data: {_pairs(record)}."
    rest = {key: value for key, value in record.items() if key != name_key}
    # a record named by its name or title reads "Alice's Biscuit", any other as "Alice's order 17"
    label = "" if str(name_key).lower() in _NAMING_KEYS else f"{_label(str(name_key))} "
    heading = f"{subject}'s {label}{_scalar(record[name_key])}"
    details = _pairs(rest)
    return f"{heading}: {details}." if details else f"{heading}."


def records_of(value: Any) -> list[Any]:
    """The records a value holds: each object of a list on its own, the list's scalars together,
    an object as one record."""
    if isinstance(value, Mapping):
        return [value]
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InvalidInputError(f"structured data is an object or a list, got {type(value).__name__}")
    objects = [item for item in value if isinstance(item, Mapping)]
    others = [item for item in value if not isinstance(item, Mapping) and item is not None]
    return objects + ([others] if others else [])


def with_data(metadata: Mapping[str, Any], value: Any) -> dict[str, Any]:
    """The caller's metadata with the structured data under DATA_KEY, which it may not use."""
    if DATA_KEY in metadata:
        raise InvalidMetadataError(
            f"metadata key {DATA_KEY!r} holds the structured data of a memory; name yours otherwise"
        )
    return {**metadata, DATA_KEY: value}


def _subject(fields: Mapping[str, Any], scope: Scope) -> str:
    name = fields.get("name") if isinstance(fields.get("name"), str) else None
    role = str(fields.get("role") or "user").lower()
    return speaker_name(name, scope) if role in ("user", "human") else name or role.capitalize()


def _record_id(fields: Mapping[str, Any], record: Any, index: int) -> str:
    """A record's message id: the message's own id and the record's place in it, else the
    record's digest, so the same record added again is the same memory (answered NOOP)."""
    if fields.get("id"):
        return f"{fields['id']}:{index}"
    canonical = json.dumps(record, ensure_ascii=False, sort_keys=True)
    return "data:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Piece:
    """One add of a call that is stored in pieces (data records, file chunks), checked."""

    messages: list[Any]
    metadata: dict[str, Any]
    infer: bool
    # a verbatim piece of ours (one message per memory, none skipped as empty) may be written in
    # one add with its neighbours, each message with its own metadata; a caller's conversation not
    joinable: bool = True
    # attachment bytes by sha256 that the piece's messages name (pipeline/attachments.py)
    contents: Mapping[str, bytes] = field(default_factory=dict)


def data_pieces(
    services: MemoryServices,
    value: Any,
    fields: Mapping[str, Any],
    scope: Scope,
    metadata: Mapping[str, Any],
    infer: bool,
    what: str,
) -> list[Piece]:
    """The adds that store one message's structured data, each checked: one per record, its fact
    said by the message's speaker, or the whole value as JSON text for a manager that reads data."""
    limits = services.config.limits
    value = screen_value(services.config.privacy, value, what)
    if infer and reads_data(services.manager):
        text = check_text(limits, json.dumps(value, ensure_ascii=False), f"{what} as JSON")
        return [
            Piece([{**fields, "content": text}], check_metadata(limits, with_data(metadata, value)), True)
        ]
    pieces = []
    for position, record in enumerate(records_of(value)):
        fact = check_text(limits, record_fact(record, _subject(fields, scope)), what)
        message = {**fields, "content": fact, "id": _record_id(fields, record, position)}
        pieces.append(Piece([message], check_metadata(limits, with_data(metadata, record)), False))
    return pieces


def add_pieces(
    services: MemoryServices,
    pieces: list[Piece],
    scope: Scope,
    timestamp: Any,
    expires_at: Any = None,
    ttl: Any = None,
) -> list[MemoryOperation]:
    """The pieces' adds, in order; neighbouring verbatim pieces go in one add (each message with
    its piece's metadata), so a document's chunks are written together. Every piece's messages
    are checked first (normalize_messages: their text, its bounds, the privacy policy), so a piece
    refused there refuses the call before anything is written. An add that raises leaves those
    before it stored: the same call again stores the rest (every memory is named after its message
    id, so those stored already are answered NOOP)."""
    for checked in pieces:
        normalize_messages(checked.messages, services.config.limits, services.config.privacy)
    # the bytes first: no memory names an attachment whose bytes are missing
    store_bytes(services, scope, {digest: data for held in pieces for digest, data in held.contents.items()})
    operations: list[MemoryOperation] = []
    run: list[Piece] = []
    ending: list[Piece | None] = [*pieces, None]
    for piece in ending:
        if piece is not None and piece.joinable and not piece.infer:
            run.append(piece)
            continue
        if run:
            messages = [message for joined in run for message in joined.messages]
            each = [joined.metadata for joined in run for _ in joined.messages]
            operations += ingest.add(
                services, messages, scope, None, False, timestamp, expires_at, ttl, message_metadata=each
            )
            run = []
        if piece is not None:
            operations += ingest.add(
                services, piece.messages, scope, piece.metadata, piece.infer, timestamp, expires_at, ttl
            )
    return operations
