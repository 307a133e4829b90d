"""The text of a message: the one way every part of the library reads it.

Content is read as LangChain v1 `content_blocks`, which also converts the shapes real clients
send: OpenAI chat parts (`text`, `image_url`), Anthropic blocks, LangChain v0 data blocks. The
text is every `text` and `text-plain` block, plus OpenAI Responses `input_text` parts (which
`content_blocks` leaves as non-standard blocks); images, audio, files without text, reasoning,
tool calls and tool results carry no text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage

from .errors import InvalidInputError

TEXT_BLOCK_TYPES = frozenset({"text", "text-plain"})
# OpenAI Responses input parts that hold text; content_blocks keeps them as `non_standard`.
RESPONSES_TEXT_TYPES = frozenset({"input_text"})


def _block_text(block: Mapping[str, object]) -> str | None:
    if block.get("type") == "non_standard":
        value = block.get("value")
        if isinstance(value, dict) and value.get("type") in RESPONSES_TEXT_TYPES:
            block = value
        else:
            return None
    elif block.get("type") not in TEXT_BLOCK_TYPES:
        return None
    text = block.get("text")
    return text if isinstance(text, str) else None


def message_text(message: BaseMessage) -> str:
    """The text parts of a LangChain message, joined by newlines ("" when it has none)."""
    if isinstance(message.content, str):  # what content_blocks would give, without converting
        return message.content
    parts = (_block_text(block) for block in message.content_blocks)
    return "\n".join(part for part in parts if part is not None and part.strip())


def content_text(content: Any, what: str = "message") -> str:
    """The text of raw message content: a string, or a list of strings and content blocks."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidInputError(
            f"{what}: content must be text or a list of content blocks, got {type(content).__name__}"
        )
    for part in content:
        if not isinstance(part, (str, dict)):
            raise InvalidInputError(
                f"{what}: a content block is a string or a dict, got {type(part).__name__}"
            )
    return message_text(HumanMessage(content=content))
