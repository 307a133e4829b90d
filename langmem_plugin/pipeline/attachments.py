"""The bytes of attachments, content-addressed in the key-value tier.

Each scope keeps its own copy, under `<scope key>/<sha256>` in the `attachments` namespace: the
same bytes shared twice in a scope are stored once, a purge of the scope erases them with its
other scope-keyed entries, erasing memories erases those no other memory of their scope names
(pipeline/forget.py), and no scope can read another's bytes by knowing their hash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import AttachmentNotFoundError, InvalidInputError
from ..namespaces import ATTACHMENTS
from ..records import ConversationMessage, Scope, SourceRef
from ..services import MemoryServices
from .forget import scope_keyed_entries


def store_attachments(
    services: MemoryServices,
    scope: Scope,
    conversation: list[ConversationMessage],
    cited: Iterable[SourceRef],
) -> None:
    """Store the bytes of the attachments the `cited` sources carry (those of the memories an add
    is about to write), read from the messages that brought them."""
    wanted = {a.sha256 for source in cited for a in source.attachments if a.sha256 is not None}
    store_bytes(
        services,
        scope,
        {
            attachment.sha256: part.data
            # a message's own media come first in its attachments; any after, it only names
            for message in conversation
            for attachment, part in zip(message.attachments[: len(message.media)], message.media, strict=True)
            if attachment.sha256 in wanted and part.data is not None
        },
    )


def store_bytes(services: MemoryServices, scope: Scope, contents: dict[str, bytes]) -> None:
    """Store attachment bytes of `scope` by their sha256 (the same bytes again overwrite themselves)."""
    if contents:
        services.kv.put_many(
            ATTACHMENTS, {f"{scope.key()}/{digest}": data for digest, data in contents.items()}
        )


_SHA256 = re.compile(r"[0-9a-f]{64}")


def read_attachment(services: MemoryServices, sha256: str, scope: Scope) -> bytes:
    """The bytes stored under `sha256` by an add of `scope` or one of its sub-scopes."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise InvalidInputError("an attachment is named by its sha256: 64 lowercase hex digits")
    own = f"{scope.key()}/{sha256}"
    found = services.kv.get(ATTACHMENTS, own)
    if found is None:
        within = [k for k in scope_keyed_entries(services, ATTACHMENTS, scope) if k.endswith(f"/{sha256}")]
        found = next(iter(services.kv.get_many(ATTACHMENTS, within[:1]).values()), None)
    if found is None:
        raise AttachmentNotFoundError(sha256)
    return bytes(found)
