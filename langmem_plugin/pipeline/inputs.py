"""What `add` takes, sorted before the pipeline runs: a conversation's messages go to
`ingest.add`; structured data (pipeline/structured.py) and the readable files a message carries
(pipeline/files.py) become pieces of their own, every piece checked before the first write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import BaseMessage

from ..content import TEXT_BLOCK_TYPES, content_parts, message_parts
from ..parts import FilePart
from ..records import MemoryOperation, Scope
from ..services import MemoryServices
from . import ingest
from .files import message_file_pieces
from .messages import MessagesInput
from .structured import Piece, add_pieces, data_of, data_pieces
from .validation import check_metadata


def _is_text(block: Any) -> bool:
    return isinstance(block, str) or (isinstance(block, Mapping) and block.get("type") in TEXT_BLOCK_TYPES)


def _file_parts(message: Any, index: int, limit: int) -> list[FilePart]:
    """The files a message carries as bytes (a URL or a provider's file id is kept as an
    attachment only: nothing is downloaded)."""
    what = f"message {index}"
    content = message.content if isinstance(message, BaseMessage) else None
    if isinstance(message, Mapping):
        content = message.get("content")
    if not isinstance(content, list) or all(_is_text(block) for block in content):
        return []  # text only: nothing to parse twice
    if isinstance(message, BaseMessage):
        parts = message_parts(message, limit, what)
    else:
        parts = content_parts(content, what, limit)
    return [part for part in parts if isinstance(part, FilePart) and part.data is not None]


def _speaker_fields(message: Any) -> dict[str, Any]:
    if isinstance(message, BaseMessage):
        return {"role": message.type, "name": message.name}
    return {key: message.get(key) for key in ("role", "name", "timestamp") if message.get(key) is not None}


def add(
    services: MemoryServices,
    messages: MessagesInput,
    scope: Scope,
    metadata: Mapping[str, Any] | None = None,
    infer: bool = True,
    timestamp: Any = None,
    expires_at: Any = None,
    ttl: Any = None,
) -> list[MemoryOperation]:
    """`ingest.add` for any input: the conversation first, as one add (a message that shares a
    file stays in it, the file its attachment), then, for each data message, its records
    (data_pieces), and for each readable file a message carries, its chunks or records
    (pipeline/files.py), which carry the file as their attachment."""
    listed = [messages] if isinstance(messages, (str, Mapping, BaseMessage)) else messages
    if not isinstance(listed, (list, tuple)):
        return ingest.add(services, messages, scope, metadata, infer, timestamp, expires_at, ttl)
    clean_metadata = check_metadata(services.config.limits, metadata)
    conversation, pieces = [], []
    for index, message in enumerate(listed):
        found = data_of(message, index, parse_json=infer)
        if found is not None:
            what = f"message {index} data"
            pieces += data_pieces(services, found.value, found.fields, scope, clean_metadata, infer, what)
            continue
        conversation.append(message)
        for part in _file_parts(message, index, services.config.limits.max_attachment_bytes):
            fields = _speaker_fields(message)
            pieces += message_file_pieces(services, part, fields, scope, clean_metadata, infer)
    if not pieces:
        return ingest.add(services, messages, scope, metadata, infer, timestamp, expires_at, ttl)
    if conversation:
        pieces.insert(0, Piece(conversation, clean_metadata, infer, joinable=False))
    return add_pieces(services, pieces, scope, timestamp, expires_at, ttl)
