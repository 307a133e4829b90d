"""Normalise str / dict / LangChain message input into `ConversationMessage` records."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeAlias

from langchain_core.messages import BaseMessage
from pydantic import TypeAdapter

from ..config import LimitsConfig, PrivacyConfig
from ..content import content_parts, message_parts, parts_text
from ..errors import EmptyContentError, InputTooLargeError, InvalidInputError, ValueOutOfRangeError
from ..managers.base import SPEAKER_ROLES
from ..parts import Attachment, DataPart, MediaPart, Part
from ..privacy import screen_text
from ..records import ConversationMessage, new_uuids, utc_now
from ..storable import check_encodable
from .validation import check_text

_ROLES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
}
_MESSAGES = TypeAdapter(list[ConversationMessage])


def parse_timestamp(value: Any, what: str = "timestamp") -> datetime:
    """datetime (naive = UTC), ISO-8601 string or epoch seconds."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            moment = datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueOutOfRangeError(
                f"{what} {value!r} is not a representable epoch time (years 1-9999)"
            ) from exc
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidInputError(f"{what} {value!r} is not an ISO-8601 date/time") from exc
    else:
        raise InvalidInputError(
            f"{what} must be a datetime, ISO string or epoch seconds, got {type(value).__name__}"
        )
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        datetime.fromtimestamp(moment.timestamp(), tz=UTC)  # the tiers store epoch seconds
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueOutOfRangeError(
            f"{what} {value!r} is outside the storable range (years 1-9999 UTC)"
        ) from exc
    return moment


def _fields(message: Any, index: int, limits: LimitsConfig) -> dict[str, Any]:
    """The message's fields, its content parsed into parts (content.py)."""
    what = f"message {index}"
    if isinstance(message, str):
        return {"role": "user", "parts": content_parts(message, what)}
    if isinstance(message, BaseMessage):
        extra = {**message.response_metadata, **message.additional_kwargs}
        return {
            "role": message.type,
            "parts": message_parts(message, limits.max_attachment_bytes, what),
            "name": message.name,
            "id": message.id,
            "timestamp": extra.get("timestamp"),
            "turn_id": extra.get("turn_id"),
        }
    if isinstance(message, dict):
        if "content" not in message:
            raise InvalidInputError(f"message {index}: a message dict needs a 'content' key")
        return {
            **message,
            "parts": content_parts(message["content"], what, limits.max_attachment_bytes),
            "timestamp": message.get("timestamp", message.get("created_at")),
        }
    raise InvalidInputError(
        f"message {index}: expected str, dict or LangChain message, got {type(message).__name__}"
    )


# What add() takes: a text, one message (a role/content dict or a LangChain message), or a list of them.
MessagesInput: TypeAlias = str | dict[str, Any] | BaseMessage | Sequence[Any]


@dataclass(frozen=True)
class NormalizedMessages:
    messages: list[ConversationMessage]
    # digest of what the caller gave: roles, texts, names, and the ids, turn ids and times the
    # messages brought; what was generated for them (ids, turn ids, the default time) is left out,
    # so calling again with the same arguments gives the same digest
    fingerprint: str
    caller_ids: bool  # some message brought its own id


def normalize_messages(
    messages: MessagesInput,
    limits: LimitsConfig,
    privacy: PrivacyConfig,
    default_timestamp: datetime | None = None,
) -> NormalizedMessages:
    """Validate every message and apply the privacy policy to its text (privacy.py), so nothing
    after this point (manager, LLM, tiers, the failed-add journal) sees what the policy redacts;
    empty assistant/tool/system messages (tool calls) carry nothing and are skipped."""
    if isinstance(messages, (str, dict, BaseMessage)):
        messages = [messages]
    if not isinstance(messages, Sequence) or not messages:
        raise EmptyContentError("no messages given")
    if len(messages) > limits.max_messages:
        raise InputTooLargeError(
            f"{len(messages)} messages exceed the limit of {limits.max_messages} per call"
        )
    batch = uuid.uuid4().hex[:12]
    default_timestamp = default_timestamp or utc_now()
    normalized = []
    given = []  # per message, the fields the caller gave
    caller_ids = False
    fallback_ids = new_uuids(len(messages))  # for messages that bring no id of their own
    for index, raw in enumerate(messages):
        fields = _fields(raw, index, limits)
        role = _ROLES.get(str(fields.get("role") or "user").lower())
        if role is None:
            raise InvalidInputError(
                f"message {index}: unknown role {fields.get('role')!r}; use one of {sorted(_ROLES)}"
            )
        parts: list[Part] = fields["parts"]
        if any(isinstance(part, DataPart) for part in parts):
            raise InvalidInputError(
                f"message {index}: content must be text or a list of content blocks, got dict"
            )
        text = parts_text(parts)
        media = [_checked_part(limits, privacy, part, index) for part in parts if isinstance(part, MediaPart)]
        if not text.strip() and not media and role not in SPEAKER_ROLES:
            continue
        # what a memory of the turn may quote (managers/base.py: described_text) stays within the limit
        quoted = len(text) + sum(len(p.name or "") + len(p.caption or "") for p in media)
        if media and quoted > limits.max_text_chars:
            raise InputTooLargeError(
                f"message {index}: its text, attachment names and captions have {quoted} characters, "
                f"more than the limit of {limits.max_text_chars}"
            )
        if text.strip() or not media:  # a turn that only shares attachments says nothing
            text = screen_text(privacy, check_text(limits, text, f"message {index}"), f"message {index}")
        attachments = tuple(part.attachment() for part in media) + _cited(fields.get("attachments"), index)
        name = fields.get("name")
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"message {index}: name must be a string")
        caller_id, caller_turn = fields.get("id"), fields.get("turn_id")
        for what, value in (("name", name), ("id", caller_id), ("turn_id", caller_turn)):
            if isinstance(value, str):
                check_encodable(value, f"message {index} {what}")
        timestamp = fields.get("timestamp")
        moment = None if timestamp is None else parse_timestamp(timestamp, f"message {index} timestamp")
        content = text.strip()
        caller_ids = caller_ids or bool(caller_id)
        given.append(_given(role, content, name, caller_id, caller_turn, moment, attachments))
        normalized.append(
            {
                "role": role,
                "content": content,
                "name": name or None,
                "message_id": str(caller_id or fallback_ids[index].replace("-", "")),
                "turn_id": str(caller_turn or f"{batch}:{index}"),
                "timestamp": default_timestamp if moment is None else moment,
                **({"attachments": attachments, "media": tuple(media)} if attachments else {}),
            }
        )
    if not normalized:
        raise EmptyContentError("every message is empty")
    return NormalizedMessages(
        messages=_MESSAGES.validate_python(normalized),  # every field checked above: one call for the batch
        fingerprint=hashlib.sha256("\x1e".join(given).encode("utf-8")).hexdigest(),
        caller_ids=caller_ids,
    )


def _cited(attachments: Any, index: int) -> tuple[Attachment, ...]:
    """Attachments a message dict names without carrying them (`"attachments"`: Attachment
    records, built in Python, never parsed from a client's JSON): the chunks of a document name the
    document, whose bytes the add stores once (pipeline/files.py)."""
    if attachments is None:
        return ()
    if not isinstance(attachments, tuple) or not all(isinstance(a, Attachment) for a in attachments):
        raise InvalidInputError(f"message {index}: 'attachments' is a tuple of Attachment records")
    return attachments


def _checked_part(limits: LimitsConfig, privacy: PrivacyConfig, part: MediaPart, index: int) -> MediaPart:
    """The part with its strings checked (storable, within `max_text_chars`) and the privacy
    policy applied to the texts a memory may quote: its name and caption."""
    what = f"message {index} attachment"
    for field in ("name", "caption", "url", "file_id", "mime_type"):
        value = getattr(part, field)
        if value is None:
            continue
        check_encodable(value, f"{what} {field}")
        if len(value) > limits.max_text_chars:
            raise InputTooLargeError(f"{what} {field} is longer than {limits.max_text_chars} characters")
    name = part.name and screen_text(privacy, part.name, f"{what} name")
    caption = part.caption and screen_text(privacy, part.caption, f"{what} caption")
    return replace(part, name=name, caption=caption)


def _given(
    role: str,
    content: str,
    name: Any,
    caller_id: Any,
    turn: Any,
    moment: datetime | None,
    attachments: tuple[Attachment, ...],
) -> str:
    """One message's caller-given fields as one string; each field is length-prefixed, so no
    text can pass for another field."""
    time = moment.isoformat() if moment else ""
    shared = "".join(a.model_dump_json() for a in attachments)
    parts = [role, content, name or "", str(caller_id or ""), str(turn or ""), time, shared]
    return "".join(f"{len(part)}:{part}" for part in parts)
