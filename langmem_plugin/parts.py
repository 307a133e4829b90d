"""The typed parts of a message, as content.py parses every input form into them, and the
attachment record a media part leaves on the memories made from its turn.

A message is text parts (what was said), media parts (images, files, audio: kept as attachments,
shown to a vision model) and data parts (structured content). Parts are plain frozen records: the
parsing lives in content.py, the storing of bytes in pipeline/attachments.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict

MediaKind = Literal["image", "file", "audio"]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class MediaPart:
    """A non-text part: bytes given inline (`data`), a URL, or a provider's file id; `name` is its
    file name, `caption` the alt text or caption the client sent with it."""

    kind: MediaKind
    data: bytes | None = field(default=None, repr=False)
    url: str | None = None
    file_id: str | None = None
    mime_type: str | None = None
    name: str | None = None
    caption: str | None = None

    def attachment(self) -> Attachment:
        """The record the memories of this part's turn carry: the bytes by their sha256 (stored in
        the key-value tier), or the URL / file id the client gave."""
        digest = hashlib.sha256(self.data).hexdigest() if self.data is not None else None
        return Attachment(
            kind=self.kind,
            name=self.name or url_file_name(self.url),
            mime_type=self.mime_type,
            size=len(self.data) if self.data is not None else None,
            sha256=digest,
            url=self.url,
            file_id=self.file_id,
            caption=self.caption,
        )


@dataclass(frozen=True, slots=True)
class ImagePart(MediaPart):
    kind: MediaKind = "image"


@dataclass(frozen=True, slots=True)
class FilePart(MediaPart):
    kind: MediaKind = "file"


@dataclass(frozen=True, slots=True)
class AudioPart(MediaPart):
    kind: MediaKind = "audio"


@dataclass(frozen=True, slots=True)
class DataPart:
    """Structured content (a dict or list) as the client sent it."""

    value: Any


# ImagePart, FilePart and AudioPart are the MediaParts
Part = TextPart | MediaPart | DataPart


class Attachment(BaseModel):
    """An image, file or audio clip a memory's turn carried. Stored bytes are named by `sha256`
    (read them with `Memory.get_attachment`); a reference keeps the client's `url` or `file_id`."""

    model_config = ConfigDict(frozen=True)

    kind: MediaKind
    name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    sha256: str | None = None
    url: str | None = None
    file_id: str | None = None
    caption: str | None = None

    def label(self) -> str:
        """How a prompt or a listing names it: `photo dog.png (https://...)`."""
        noun = {"image": "photo", "file": "file", "audio": "audio"}[self.kind]
        where = f" ({self.url})" if self.url else ""
        return f"{noun} {self.name}{where}" if self.name else f"{noun}{where}"


def shared_note(attachments: Sequence[Attachment]) -> str:
    """Attachments as a prompt or a listing names them after a memory's text:
    ` [shared: photo dog.png (https://...)]`, or "" when there are none."""
    return f" [shared: {'; '.join(a.label() for a in attachments)}]" if attachments else ""


def url_file_name(url: str | None) -> str | None:
    """The last path segment of an http(s) URL (`https://x/a/dog.png` -> `dog.png`); None for a
    data URL or a URL ending in `/`."""
    if not url or url.startswith("data:"):
        return None
    segment = unquote(urlsplit(url).path.rpartition("/")[2])
    return segment or None
