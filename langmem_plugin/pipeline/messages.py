"""Normalise str / dict / LangChain message input into `ConversationMessage` records."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Sequence

from langchain_core.messages import BaseMessage
from pydantic import TypeAdapter

from ..config import LimitsConfig
from ..content import content_text, message_text
from ..errors import EmptyContentError, InputTooLargeError, InvalidInputError, ValueOutOfRangeError
from ..records import ConversationMessage, Scope, new_uuids, utc_now
from .validation import check_encodable, check_text

_ROLES = {"user": "user", "human": "user", "assistant": "assistant", "ai": "assistant", "system": "system", "tool": "tool"}
SPEAKER_ROLES = frozenset({"user"})
ANONYMOUS_SPEAKER = "User"
_MESSAGES = TypeAdapter(list[ConversationMessage])


def speaker_name(name: str | None, scope: Scope) -> str:
    """Who a user message is about: its name, else the scope's user id written as a name
    ("alice" -> "Alice"), so that an unnamed message still yields "Alice loves ...", not "User ...".
    Only a scope without a user (agent or run memories) falls back to "User"."""
    if name:
        return name
    if scope.user_id:
        return scope.user_id[:1].upper() + scope.user_id[1:]
    return ANONYMOUS_SPEAKER


def parse_timestamp(value: Any, what: str = "timestamp") -> datetime:
    """datetime (naive = UTC), ISO-8601 string or epoch seconds."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            moment = datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueOutOfRangeError(f"{what} {value!r} is not a representable epoch time (years 1-9999)") from exc
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidInputError(f"{what} {value!r} is not an ISO-8601 date/time") from exc
    else:
        raise InvalidInputError(f"{what} must be a datetime, ISO string or epoch seconds, got {type(value).__name__}")
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    try:
        datetime.fromtimestamp(moment.timestamp(), tz=timezone.utc)  # the tiers store epoch seconds
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueOutOfRangeError(f"{what} {value!r} is outside the storable range (years 1-9999 UTC)") from exc
    return moment


def _fields(message: Any, index: int) -> dict[str, Any]:
    if isinstance(message, str):
        return {"role": "user", "text": message}
    if isinstance(message, BaseMessage):
        extra = {**message.response_metadata, **message.additional_kwargs}
        return {
            "role": message.type,
            "text": message_text(message),
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
            "text": content_text(message["content"], f"message {index}"),
            "timestamp": message.get("timestamp", message.get("created_at")),
        }
    raise InvalidInputError(f"message {index}: expected str, dict or LangChain message, got {type(message).__name__}")


def normalize_messages(
    messages: str | Sequence[Any], limits: LimitsConfig, default_timestamp: datetime | None = None
) -> list[ConversationMessage]:
    """Validate every message; empty assistant/tool/system messages (tool calls) carry nothing and are skipped."""
    if isinstance(messages, (str, dict, BaseMessage)):
        messages = [messages]
    if not isinstance(messages, Sequence) or not messages:
        raise EmptyContentError("no messages given")
    if len(messages) > limits.max_messages:
        raise InputTooLargeError(f"{len(messages)} messages exceed the limit of {limits.max_messages} per call")
    batch = uuid.uuid4().hex[:12]
    default_timestamp = default_timestamp or utc_now()
    normalized = []
    fallback_ids = new_uuids(len(messages))  # for messages that bring no id of their own
    for index, raw in enumerate(messages):
        fields = _fields(raw, index)
        role = _ROLES.get(str(fields.get("role") or "user").lower())
        if role is None:
            raise InvalidInputError(f"message {index}: unknown role {fields.get('role')!r}; use one of {sorted(_ROLES)}")
        text = fields["text"]
        if not text.strip() and role not in SPEAKER_ROLES:
            continue
        check_text(limits, text, f"message {index}")
        name = fields.get("name")
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"message {index}: name must be a string")
        message_id = fields.get("id") or fallback_ids[index].replace("-", "")
        for what, value in (("name", name), ("id", message_id), ("turn_id", fields.get("turn_id"))):
            if isinstance(value, str):
                check_encodable(value, f"message {index} {what}")
        timestamp = fields.get("timestamp")
        normalized.append(
            {
                "role": role,
                "content": text.strip(),
                "name": name or None,
                "message_id": str(message_id),
                "turn_id": str(fields.get("turn_id") or f"{batch}:{index}"),
                "timestamp": default_timestamp if timestamp is None else parse_timestamp(timestamp, f"message {index} timestamp"),
            }
        )
    if not normalized:
        raise EmptyContentError("every message is empty")
    return _MESSAGES.validate_python(normalized)  # every field checked above: one call for the batch
