"""Typed exceptions: every bad input is reported as one of these, never as a crash deep inside."""

from __future__ import annotations


class LangMemError(Exception):
    """Base class of every error raised on purpose by langmem-plugin."""


class InvalidInputError(LangMemError, ValueError):
    """An argument was rejected before anything was stored."""


class EmptyContentError(InvalidInputError):
    """Text or messages were empty or whitespace only."""


class MissingScopeError(InvalidInputError):
    """No user_id, agent_id or run_id was given: every memory must belong to a scope."""


class InvalidScopeError(InvalidInputError):
    """A scope id is not a usable string."""


class ForbiddenScopeError(InvalidScopeError):
    """A run authenticated as one user named another user's scope (or a reserved scope id); nothing
    was read or written."""


class NotGrantedError(ForbiddenScopeError):
    """A server caller's grants do not give the right a call needs over the scope it names (or
    that scope is outside them); nothing was read or written."""


class UnauthenticatedError(LangMemError):
    """A server call came without an API key, or with one that is malformed, unknown or revoked;
    nothing was read or written."""


class ForgedRequestError(LangMemError):
    """A browser form of the inspector came without this session's CSRF token (another site
    posting it, or a stale page); nothing was read or written."""


class CrossUserDeleteError(InvalidInputError):
    """A bulk delete without user_id would remove the data of several users and across_users=True
    was not given."""


class InvalidMetadataError(InvalidInputError):
    """Metadata is not a flat mapping of string keys to JSON scalar values."""


class InvalidFilterError(InvalidInputError):
    """A search or listing filter is malformed or uses an unknown operator."""


class InvalidTextError(InvalidInputError):
    """A string is not storable Unicode (a lone surrogate cannot be encoded as UTF-8)."""


class ValueOutOfRangeError(InvalidInputError):
    """A number or date lies outside what the tiers can store (64-bit integers, years 1-9999)."""


class InvalidExpiryError(InvalidInputError):
    """An expiry (`expires_at` or `ttl`) that is malformed, not in the future, or given twice."""


class ImportFormatError(InvalidInputError):
    """A file given to import is not JSON / JSONL or not a shape the importer recognises."""


class SensitiveDataError(InvalidInputError):
    """Text holds personal data of a category the privacy policy refuses (privacy.pii); nothing
    was stored. The message names the category, never the value."""


class InputTooLargeError(InvalidInputError):
    """An input exceeds a configured size limit; nothing is silently truncated."""


class UnsupportedFileError(InvalidInputError):
    """A file of a kind `add_file` does not read (it reads PDF, text, Markdown, CSV and JSON)."""


class UnreadableFileError(InvalidInputError):
    """A file that cannot be read: corrupt, not in its declared encoding, or without any text;
    nothing of it was stored."""


class EncryptedFileError(UnreadableFileError):
    """A PDF that needs a password to be read; nothing of it was stored."""


class DimensionMismatchError(LangMemError):
    """The embedder's vector size differs from the size the store was created with."""


class InvalidEmbeddingError(LangMemError):
    """The embedder returned a vector with no direction (all zeros) or with NaN / infinite values."""


class MemoryNotFoundError(LangMemError, KeyError):
    """No memory has the given id."""

    def __init__(self, memory_id: str):
        super().__init__(memory_id)
        self.memory_id = memory_id

    def __str__(self) -> str:
        return f"no memory with id {self.memory_id!r}"


class AttachmentNotFoundError(LangMemError, KeyError):
    """No attachment with the given sha256 was stored within the scope asked for."""

    def __init__(self, sha256: str):
        super().__init__(sha256)
        self.sha256 = sha256

    def __str__(self) -> str:
        return f"no attachment with sha256 {self.sha256!r} in this scope"


class NoClearMatchError(LangMemError, LookupError):
    """A description given instead of a memory id matches no memory clearly enough to act on, so
    nothing was changed. `candidates` holds the closest memories (`SearchHit`s), best first."""

    def __init__(self, message: str, candidates: list | None = None):
        super().__init__(message)
        self.candidates = list(candidates or [])


class ImportInterruptedError(LangMemError):
    """An import stopped part-way because storing a batch failed (a backend or the manager).

    The messages before `resume_at` (a 1-based position in the import's message order) are
    stored; importing again from there (`langmem-plugin import --start N`) adds the rest."""

    def __init__(self, message: str, resume_at: int):
        super().__init__(message)
        self.resume_at = resume_at


class ConfigurationError(LangMemError):
    """The configuration names an unknown backend or an unusable setting."""


class MissingDependencyError(ConfigurationError):
    """An optional package a command needs is not installed; the message names the extra to install."""


def install_hint(extras: str) -> str:
    """How to install the extras (comma-separated), from the package index or in a checkout: what every
    message about a missing optional package ends with."""
    return f'pip install "langmem-plugin[{extras}]" (in a checkout: pip install -e ".[{extras}]")'


class StorePathError(ConfigurationError):
    """The memory directory (or a tier's file or folder in it) cannot be created or opened."""


class EncryptionKeyError(ConfigurationError):
    """The master key is missing, malformed or not the one the store was encrypted with, or an
    encrypted store is opened without encryption: raised before any memory is read or written."""


class EncryptionMismatchError(ConfigurationError):
    """Encryption is asked of a store that already holds unencrypted data: the two are never mixed."""


class BackendError(LangMemError):
    """A storage backend failed (disk full, locked database, server down)."""


class StoreBusyError(BackendError):
    """Another process kept a part of the store busy for longer than the bounded wait: the
    deletion lock past `delete_all_wait_seconds`, or a write-ahead log that a purge must empty.
    Nothing is half done: a journaled deletion finishes with the next `delete_all` or open."""


class StoreCorruptedError(BackendError):
    """A tier's files are damaged or the tiers disagree about the store they belong to.

    Raised instead of serving a partial or empty store; restore the directory from a backup.
    """


class UndecryptableError(BackendError):
    """A stored value does not decrypt: its scope's data key was destroyed (a purge shredded it)
    or the value was altered."""
