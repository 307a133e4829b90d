"""The content model: every input form parsed once into typed parts (parts.py).

Content is read as LangChain v1 `content_blocks`, which converts the shapes real clients send:
v1 standard blocks (`text`, `text-plain`, `image`, `file`, `audio`; url / base64 / file id),
OpenAI chat parts (`text`, `image_url`, `input_audio`, `file`), Anthropic blocks (`source`
images and documents, `document` text) and LangChain v0 data blocks. OpenAI Responses input
parts (`input_text`, `input_image`, `input_file`) and LangChain JS data blocks (agent-chat-ui's
images and PDFs), which `content_blocks` leaves as they are, are first rewritten into the shapes
it converts. Reasoning, tool calls
and tool results are no part of what a message says. Every other module reads messages through
`message_parts` / `content_parts` and the text of the parts (`parts_text`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage

from .errors import InputTooLargeError, InvalidInputError
from .parts import Attachment, AudioPart, DataPart, FilePart, ImagePart, MediaPart, Part, TextPart

TEXT_BLOCK_TYPES = frozenset({"text", "text-plain"})
_MEDIA = {"image": ImagePart, "file": FilePart, "audio": AudioPart}
# Keys under which clients send a file name, and alt text or a caption, on a media block or its extras.
_NAME_KEYS = ("filename", "name", "title")
_CAPTION_KEYS = ("alt", "alt_text", "caption", "context", "description")
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w-]+=[^;,]*)*;base64,(?P<data>.*)", re.S)
_NOUNS = {
    "image": ("a photo", "photos"),
    "file": ("a file", "files"),
    "audio": ("an audio clip", "audio clips"),
}
# Parsing without a limit (content read only for its text: recall, write-back) refuses nothing.
UNLIMITED = None


def _client_part(block: Mapping[str, Any]) -> Mapping[str, Any]:
    """A block `content_blocks` leaves non-standard, as the equivalent it converts: an OpenAI
    Responses input part as its chat-completions equivalent, a LangChain JS data block (what
    agent-chat-ui sends: `data`, `mimeType`, `metadata.name`) as a v1 block; any other unchanged."""
    kind = block.get("type")
    if kind in _MEDIA and "data" in block and "mimeType" in block:
        extras = block.get("metadata") if isinstance(block.get("metadata"), Mapping) else {}
        return {"type": kind, "base64": block["data"], "mime_type": block["mimeType"], "extras": extras}
    if kind == "input_text":
        return {"type": "text", "text": block.get("text")}
    if kind == "input_image":
        if block.get("image_url"):
            return {"type": "image_url", "image_url": {"url": block["image_url"]}}
        return {"type": "image", "file_id": block.get("file_id")}
    if kind == "input_file":
        if block.get("file_url"):
            return {"type": "file", "url": block["file_url"], "filename": block.get("filename")}
        if block.get("file_data"):
            return {
                "type": "file",
                "file": {"file_data": block["file_data"], "filename": block.get("filename")},
            }
        return {"type": "file", "file_id": block.get("file_id"), "filename": block.get("filename")}
    if kind == "image_url" and set(block) - {"type", "image_url"}:  # extra keys make it non-standard
        return {"type": "image_url", "image_url": block["image_url"]}
    return block


def _decoded(encoded: str, limit: int | None, what: str) -> bytes:
    if limit is not None and len(encoded) * 3 // 4 > limit + 2:  # before decoding anything
        raise InputTooLargeError(f"{what}: the attachment exceeds the limit of {limit} bytes")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(f"{what}: the attachment's base64 data is not valid base64") from exc
    if limit is not None and len(data) > limit:
        raise InputTooLargeError(f"{what}: the attachment is {len(data)} bytes, over the limit of {limit}")
    return data


def _first_str(block: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    extras = block.get("extras")
    for source in (block, extras if isinstance(extras, Mapping) else {}):
        for key in keys:
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _media_part(block: Mapping[str, Any], limit: int | None, what: str) -> MediaPart:
    kind = block["type"]
    url, encoded, mime = block.get("url"), block.get("base64"), block.get("mime_type")
    if isinstance(url, str) and (data_url := _DATA_URL.fullmatch(url)):
        url, encoded, mime = None, data_url["data"], mime or data_url["mime"]
    # an Anthropic `file` source arrives as the block's `id` (LangChain's own ids start with lc_)
    file_id = block.get("file_id")
    if file_id is None and not url and not encoded and not str(block.get("id", "lc_")).startswith("lc_"):
        file_id = block["id"]
    if not (url or encoded or file_id):
        raise InvalidInputError(f"{what}: an {kind} block needs a url, base64 data or a file id")
    return _MEDIA[kind](
        data=_decoded(encoded, limit, what) if isinstance(encoded, str) else None,
        url=url if isinstance(url, str) else None,
        file_id=str(file_id) if file_id is not None else None,
        mime_type=mime if isinstance(mime, str) else None,
        name=_first_str(block, _NAME_KEYS),
        caption=_first_str(block, _CAPTION_KEYS),
    )


def _block_parts(blocks: Sequence[Mapping[str, Any]], limit: int | None, what: str) -> list[Part]:
    parts: list[Part] = []
    for block in blocks:
        kind = block.get("type")
        if kind in TEXT_BLOCK_TYPES:
            text = block.get("text")
            if isinstance(text, str) and text.strip():
                parts.append(TextPart(text))
        elif kind in _MEDIA:
            parts.append(_media_part(block, limit, what))
    return parts


def message_parts(message: BaseMessage, limit: int | None = UNLIMITED, what: str = "message") -> list[Part]:
    """The parts of a LangChain message; `limit` bounds each attachment's bytes."""
    if isinstance(message.content, str):  # what content_blocks would give, without converting
        return [TextPart(message.content)] if message.content.strip() else []
    if not any(isinstance(b, dict) and b.get("type", "") not in TEXT_BLOCK_TYPES for b in message.content):
        return _block_parts(message.content_blocks, limit, what)
    content = [_client_part(b) if isinstance(b, dict) else b for b in message.content]
    converted = message.model_copy(update={"content": content})
    return _block_parts(converted.content_blocks, limit, what)


def content_parts(content: Any, what: str = "message", limit: int | None = UNLIMITED) -> list[Part]:
    """The parts of raw message content: a string, a list of strings and content blocks, or
    structured data (a dict), which is one DataPart."""
    if isinstance(content, str):
        return [TextPart(content)] if content.strip() else []
    if isinstance(content, dict):
        return [DataPart(content)]
    if not isinstance(content, list):
        raise InvalidInputError(
            f"{what}: content must be text or a list of content blocks, got {type(content).__name__}"
        )
    for part in content:
        if not isinstance(part, (str, dict)):
            raise InvalidInputError(
                f"{what}: a content block is a string or a dict, got {type(part).__name__}"
            )
    return message_parts(HumanMessage(content=content), limit, what)


def parts_text(parts: Sequence[Part]) -> str:
    """The text parts joined by newlines ("" when there are none)."""
    return "\n".join(part.text for part in parts if isinstance(part, TextPart))


def message_text(message: BaseMessage) -> str:
    """The text of a LangChain message (its text parts)."""
    return parts_text(message_parts(message))


def shared_text(speaker: str, text: str, attachments: Sequence[Attachment]) -> str:
    """What a memory of a turn with attachments says, with no model to look at them: who shared
    what, named, then what was said about it (the text, else the captions):
    "Alice shared a photo (dog.png): This is my new dog Biscuit, a beagle." """
    if not attachments:
        return text
    kinds = {a.kind for a in attachments}
    if len(attachments) == 1:
        noun = _NOUNS[attachments[0].kind][0]
    else:
        noun = f"{len(attachments)} {_NOUNS[kinds.pop()][1] if len(kinds) == 1 else 'attachments'}"
    names = ", ".join(a.name for a in attachments if a.name)
    said = text.strip() or " ".join(a.caption for a in attachments if a.caption)
    head = f"{speaker} shared {noun}" + (f" ({names})" if names else "")
    return f"{head}: {said}" if said else f"{head}."
