"""Files turned into memories: PDF text (pypdf, the `files` extra), text and Markdown cut into
chunks, CSV rows and JSON records as structured data (pipeline/structured.py).

A file is read whole, and every chunk checked, before the first memory is written: a corrupt,
encrypted, over-limit or textless file stores nothing. Each memory says where it came from in
`metadata["file"]`: the file's name, media type, size and sha256, and its page (PDFs), chunk or
record. A chunk never spans two pages, so its page is exact.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from ..config import FilesConfig
from ..errors import (
    EmptyContentError,
    EncryptedFileError,
    InputTooLargeError,
    InvalidInputError,
    UnreadableFileError,
    UnsupportedFileError,
)
from ..extras import require
from ..managers.base import reads_data
from ..parts import Attachment, FilePart
from ..records import MemoryOperation, Scope
from ..services import MemoryServices
from .structured import Piece, add_pieces, data_pieces, records_of
from .validation import check_metadata, load_json

FileSource = str | os.PathLike[str] | bytes

PDF = "application/pdf"
# media type of each file name extension read; text kinds are UTF-8
MEDIA_TYPES = {
    ".pdf": PDF,
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
}
READABLE = frozenset(MEDIA_TYPES.values())
# media types that say nothing of the kind: the name or the bytes tell it
_UNTYPED = frozenset({"application/octet-stream", "binary/octet-stream"})
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# where a long paragraph is best cut: after a sentence, else at a space
_SENTENCE_END = re.compile(r"[.!?…](?=\s)")


@dataclass(frozen=True)
class FileBytes:
    """A file read whole: its bytes, name and the media type it is read as."""

    name: str
    media_type: str
    content: bytes
    # the attachment record of a file a message carried (the turn's memory carries the same one)
    shared_as: Attachment | None = None

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def provenance(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.media_type, "size": len(self.content), "sha256": self.sha256}

    def attachment(self) -> Attachment:
        """The file as the attachment its memories carry (its bytes stored once, by sha256)."""
        if self.shared_as is not None:
            return self.shared_as
        return Attachment(
            kind="file", name=self.name, mime_type=self.media_type, size=len(self.content), sha256=self.sha256
        )


def read_source(
    source: FileSource, name: str | None, media_type: str | None, limits: FilesConfig
) -> FileBytes:
    """The file's bytes, name and media type (from `media_type`, else the name's extension, else
    the bytes: a PDF header, or UTF-8 text), checked against `limits.max_bytes` before reading."""
    if isinstance(source, bytes):
        content = source
        name = name or "upload"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            size = path.stat().st_size
            if size > limits.max_bytes:
                raise _too_large(size, limits)
            with path.open("rb") as handle:
                content = handle.read(limits.max_bytes + 1)
        except OSError as exc:
            raise InvalidInputError(f"cannot read file {str(path)!r}: {exc.strerror or exc}") from exc
        name = name or path.name
    else:
        raise InvalidInputError(f"a file is a path or bytes, got {type(source).__name__}")
    if len(content) > limits.max_bytes:
        raise _too_large(len(content), limits)
    if not content:
        raise EmptyContentError(f"file {name!r} is empty")
    return FileBytes(name, _media_type(name, media_type, content), content)


def _too_large(size: int, limits: FilesConfig) -> InputTooLargeError:
    return InputTooLargeError(
        f"the file has {size} bytes, more than the limit of {limits.max_bytes} (raise files.max_bytes)"
    )


def readable_type(name: str, media_type: str | None, content: bytes, sniff: bool = True) -> str | None:
    """The media type a file is read as: the one given, else its extension's, else (when `sniff`)
    a PDF by its header or text if it is UTF-8; None for a kind this module does not read."""
    given = media_type.split(";")[0].strip().lower() if media_type else None
    if given is not None and given not in _UNTYPED:
        return given if given in READABLE or given.startswith("text/") else None
    known = MEDIA_TYPES.get(Path(name).suffix.lower())
    if known:
        return known
    if not sniff:
        return None
    if content.startswith(b"%PDF-"):
        return PDF
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain"


def _media_type(name: str, media_type: str | None, content: bytes) -> str:
    readable = readable_type(name, media_type, content)
    if readable is None:
        raise UnsupportedFileError(
            f"{name!r} ({media_type or 'neither a PDF nor UTF-8 text'}) is not a kind add_file reads: "
            f"{', '.join(sorted(READABLE))} and any text/*"
        )
    return readable


def pdf_pages(file: FileBytes, limits: FilesConfig) -> list[str]:
    """The text of each page. An encrypted PDF that does not open with the empty password, a
    corrupt one, or more than `limits.max_pages` pages raise before any text is used."""
    require([("pypdf", "pypdf", "files")], "reading a PDF")
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(file.content))
        if reader.is_encrypted and not reader.decrypt(""):
            raise EncryptedFileError(f"{file.name!r} is an encrypted PDF that needs a password")
        count = len(reader.pages)
        if count > limits.max_pages:
            raise InputTooLargeError(
                f"{file.name!r} has {count} pages, more than the limit of {limits.max_pages} "
                "(raise files.max_pages)"
            )
        return [page.extract_text() or "" for page in reader.pages]
    except (EncryptedFileError, InputTooLargeError):
        raise
    # pypdf parses untrusted bytes: any failure of it means the file is unreadable
    except Exception as exc:
        raise UnreadableFileError(f"{file.name!r} is not a readable PDF: {exc}") from exc


def decoded(file: FileBytes) -> str:
    try:
        return file.content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(f"{file.name!r} is not UTF-8 text: {exc}") from exc


def chunk_text(text: str, size: int) -> list[str]:
    """Paragraphs (split at blank lines, their whitespace collapsed) packed into chunks of at most
    `size` characters; a paragraph longer than that is cut after a sentence, else at a space,
    else (a word longer than a chunk) anywhere. Every character of the text but whitespace is in
    exactly one chunk, in order."""
    pieces: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        rest = " ".join(paragraph.split())
        while len(rest) > size:
            window = rest[: size + 1]
            ends = [m.end() for m in _SENTENCE_END.finditer(window)]
            cut = ends[-1] if ends else window.rfind(" ")
            cut = cut if cut > 0 else size
            pieces.append(rest[:cut].strip())
            rest = rest[cut:].strip()
        if rest:
            pieces.append(rest)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 2 + len(piece) <= size:
            chunks[-1] += "\n\n" + piece
        else:
            chunks.append(piece)
    return chunks


def _file_fields(file: FileBytes, fields: Mapping[str, Any], index: int) -> dict[str, Any]:
    """A piece's message fields: its speaker's, an id naming the file and the place, and the file
    as an attachment it names (pipeline/messages.py: the add stores the bytes once)."""
    return {**fields, "id": f"file:{file.sha256[:32]}:{index}", "attachments": (file.attachment(),)}


def _chunk_pieces(
    pages: list[tuple[int | None, str]],
    file: FileBytes,
    fields: Mapping[str, Any],
    metadata: Mapping[str, Any],
    size: int,
    infer: bool,
) -> list[Piece]:
    located = [(page, chunk) for page, text in pages for chunk in chunk_text(text, size)]
    if not located:
        raise UnreadableFileError(
            f"{file.name!r} holds no text (a scanned PDF needs OCR first); nothing was stored"
        )
    pieces = []
    for index, (page, chunk) in enumerate(located):
        where = {"page": page, "pages": len(pages)} if page is not None else {}
        place = {**file.provenance(), **where, "chunk": index, "chunks": len(located)}
        message = {**_file_fields(file, fields, index), "content": chunk}
        pieces.append(Piece([message], {**metadata, "file": place}, infer))
    return pieces


def _record_pieces(
    services: MemoryServices,
    records: list[Any],
    file: FileBytes,
    fields: Mapping[str, Any],
    scope: Scope,
    metadata: Mapping[str, Any],
    infer: bool,
) -> list[Piece]:
    pieces = []
    for index, record in enumerate(records):
        place = {**file.provenance(), "record": index, "records": len(records)}
        what = f"{file.name!r} record {index}"
        own = _file_fields(file, fields, index)
        pieces += data_pieces(services, record, own, scope, {**metadata, "file": place}, infer, what)
    return pieces


def csv_rows(file: FileBytes) -> list[dict[str, str]]:
    """Each row as a record named by the header row; a blank header cell, and a cell beyond the
    header, is named by its column ("column 4")."""
    try:
        table = list(csv.reader(io.StringIO(decoded(file), newline="")))
    except csv.Error as exc:
        raise UnreadableFileError(f"{file.name!r} is not CSV: {exc}") from exc
    rows = [row for row in table if any(cell.strip() for cell in row)]
    if not rows:
        return []
    header, *body = rows
    width = max(len(row) for row in rows)
    names = [(header[i].strip() if i < len(header) else "") or f"column {i + 1}" for i in range(width)]
    return [{names[i]: cell for i, cell in enumerate(row) if cell.strip()} for row in body]


def file_pieces(
    services: MemoryServices,
    file: FileBytes,
    fields: Mapping[str, Any],
    scope: Scope,
    metadata: Mapping[str, Any],
    infer: bool,
) -> list[Piece]:
    """The pieces that store a file said by `fields`' speaker, read and checked whole; the first
    holds the file's bytes (Piece.contents)."""
    config = services.config
    if "file" in metadata:
        raise InvalidInputError("metadata key 'file' holds a file memory's provenance; name yours otherwise")
    size = min(config.files.chunk_chars, config.limits.max_text_chars)
    # chunks go to a manager that reads documents (an LLM); the offline one would reword them
    chunk_infer = infer and reads_data(services.manager)
    if file.media_type == PDF:
        pages: list[tuple[int | None, str]] = list(enumerate(pdf_pages(file, config.files), start=1))
        pieces = _chunk_pieces(pages, file, fields, metadata, size, chunk_infer)
    elif file.media_type == "application/json":
        value = load_json(decoded(file), repr(file.name), UnreadableFileError)
        records = records_of(value) if isinstance(value, (dict, list)) else [[value]]
        pieces = _record_pieces(services, records, file, fields, scope, metadata, infer)
    elif file.media_type == "text/csv":
        pieces = _record_pieces(services, csv_rows(file), file, fields, scope, metadata, infer)
    else:
        pieces = _chunk_pieces([(None, decoded(file))], file, fields, metadata, size, chunk_infer)
    if not pieces:
        raise UnreadableFileError(f"{file.name!r} holds no records; nothing was stored")
    for piece in pieces:  # the provenance fits the metadata bounds, checked before the first write
        check_metadata(config.limits, piece.metadata)
    return [replace(pieces[0], contents={file.sha256: file.content}), *pieces[1:]]


def message_file_pieces(
    services: MemoryServices,
    part: FilePart,
    fields: Mapping[str, Any],
    scope: Scope,
    metadata: Mapping[str, Any],
    infer: bool,
) -> list[Piece]:
    """The pieces of a file a message carries, when it is a kind this module reads (any other
    stays the turn's attachment only)."""
    assert part.data is not None
    name = part.name or "upload"
    # bytes a client sent neither typed nor named stay an attachment: their kind is not guessed
    media_type = readable_type(name, part.mime_type, part.data, sniff=part.name is not None)
    if media_type is None:
        return []
    if len(part.data) > services.config.files.max_bytes:
        raise _too_large(len(part.data), services.config.files)
    file = FileBytes(name, media_type, part.data, shared_as=part.attachment())
    return file_pieces(services, file, fields, scope, metadata, infer)


def add_file(
    services: MemoryServices,
    source: FileSource,
    scope: Scope,
    name: str | None = None,
    media_type: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    infer: bool = False,
    timestamp: Any = None,
) -> list[MemoryOperation]:
    """Remember a file (see `Memory.add_file`): read and checked whole, then stored piece by piece."""
    clean_metadata = check_metadata(services.config.limits, metadata)
    file = read_source(source, name, media_type, services.config.files)
    pieces = file_pieces(services, file, {"role": "user"}, scope, clean_metadata, infer)
    return add_pieces(services, pieces, scope, timestamp)
