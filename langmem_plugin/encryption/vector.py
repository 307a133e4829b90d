"""The vector tier of an encrypted store: the one point where memory records are sealed before any
vector backend stores them and opened after it returns them.

A record reaches the backend as: its text replaced by its blind tokens (blind.py), its content
hash by a keyed hash, its metadata by the blind metadata plus `sealed` (AES-256-GCM of the text,
metadata, sources and hash under the scope's data key, bound to the memory's id and scope), its
sources empty. Ids, scope ids, times and the dense vector stay as they are: the backend searches,
filters by scope and validity and ranks on them. Any field added to MemoryRecord that holds user
data must be added to the payload of `seal_record` (and read back in `_opened`) to be sealed.
"""

from __future__ import annotations

import binascii
import builtins
import secrets
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from cryptography.exceptions import InvalidTag
from pydantic import TypeAdapter

from ..errors import InvalidFilterError, UndecryptableError
from ..records import MemoryRecord, Scope, SearchHit, SourceRef
from ..tiers.vector import VectorStore
from ..tiers.vector.base import AgeRule, SearchParams
from ..tiers.vector.relevance import Candidates
from .blind import blind_filters, blind_hash, blind_metadata, blind_query, blind_terms, blind_text
from .keyring import Keyring, ScopeKeys, root_scope, scope_name
from .wrapping import EncryptingTier

SEALED = "sealed"
_NONCE_BYTES = 12
_SOURCES = TypeAdapter(list[SourceRef])


def _context(record: MemoryRecord) -> bytes:
    return f"{record.id}|{scope_name(record.scope)}".encode()


def seal_record(record: MemoryRecord, keys: ScopeKeys, blind: bytes) -> MemoryRecord:
    payload = orjson.dumps(
        [record.text, record.metadata, _SOURCES.dump_json(record.sources).decode(), record.hash]
    )
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = binascii.b2a_base64(
        nonce + keys.records.encrypt(nonce, payload, _context(record)), newline=False
    )
    return record.model_copy(
        update={
            "text": blind_text(blind, record.text),
            "hash": blind_hash(blind, record.hash),
            "metadata": {SEALED: sealed.decode("ascii"), **blind_metadata(blind, record.metadata)},
            "sources": [],
        }
    )


class EncryptedVectorStore(EncryptingTier):
    """Any VectorStore, with every record sealed on its way in and opened on its way out."""

    def __init__(self, inner: VectorStore, keyring: Keyring):
        super().__init__(inner, keyring, range_filters=False)

    @property
    def dimensions(self) -> int | None:
        return self._inner.dimensions

    # -- sealing -----------------------------------------------------------------------------

    def _sealed(self, records: builtins.list[MemoryRecord]) -> builtins.list[MemoryRecord]:
        # the records of one add share their Scope object: its keys are looked up once, by identity
        # (hashing and comparing the model for each record costs a fifth as much as sealing it)
        scopes = {id(record.scope): record.scope for record in records}
        roots = {at: root_scope(scope) for at, scope in scopes.items()}
        keys = self._keys.keys([*scopes.values(), *roots.values()], fresh=True)
        sealing = {at: (keys[scope], keys[roots[at]].blind) for at, scope in scopes.items()}
        return [seal_record(r, *sealing[id(r.scope)]) for r in records]

    def _opened(self, record: MemoryRecord) -> MemoryRecord:
        sealed = record.metadata.get(SEALED)
        keys = self._keys.existing(scope_name(record.scope))
        if not isinstance(sealed, str) or keys is None:
            raise UndecryptableError(
                f"memory {record.id} cannot be decrypted: "
                + ("it is stored unencrypted" if keys is not None else "its scope's data key was destroyed")
            )
        try:
            raw = binascii.a2b_base64(sealed)
            plain = keys.records.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _context(record))
        except (InvalidTag, ValueError):  # binascii.Error is a ValueError
            raise UndecryptableError(f"memory {record.id} was altered: it does not decrypt") from None
        text, metadata, sources, content_hash = orjson.loads(plain)
        return record.model_copy(
            update={
                "text": text,
                "metadata": metadata,
                "sources": [] if sources == "[]" else _SOURCES.validate_json(sources),
                "hash": content_hash,
            }
        )

    def _blind(self, scope: Scope) -> bytes:
        """The blind-index key a read of the scope compares with (see Keyring.blind_for_read)."""
        return self._keys.blind_for_read(scope)

    def _query(self, scope: Scope, query: str) -> str:
        return blind_query(self._blind(scope), query, legacy=self._keys.legacy_blind_index)

    def _params(self, scope: Scope, params: SearchParams) -> SearchParams:
        return replace(params, filters=blind_filters(self._blind(scope), params.filters))

    # -- the protocol ------------------------------------------------------------------------

    def insert(self, records: builtins.list[MemoryRecord], vectors: np.ndarray) -> None:
        self._inner.insert(self._sealed(records), vectors)

    def replace(self, record: MemoryRecord, vector: np.ndarray | None = None) -> None:
        self._inner.replace(self._sealed([record])[0], vector)

    def get(self, memory_ids: builtins.list[str]) -> builtins.list[MemoryRecord]:
        return [self._opened(record) for record in self._inner.get(memory_ids)]

    def find_by_hash(self, scope: Scope, content_hash: str) -> MemoryRecord | None:
        found = self._inner.find_by_hash(scope, blind_hash(self._blind(scope), content_hash))
        return None if found is None else self._opened(found)

    def list(
        self,
        scope: Scope,
        *,
        limit: int,
        filters: Mapping[str, Any] | None = None,
        include_invalidated: bool = False,
        include_expired: bool = False,
    ) -> builtins.list[MemoryRecord]:
        records = self._inner.list(
            scope,
            limit=limit,
            filters=blind_filters(self._blind(scope), filters),
            include_invalidated=include_invalidated,
            include_expired=include_expired,
        )
        return [self._opened(record) for record in records]

    def set_expiry(self, memory_ids: builtins.list[str], expires_at: datetime | None) -> builtins.list[str]:
        return self._inner.set_expiry(memory_ids, expires_at)

    def expired(
        self, now: datetime, limit: int, rules: builtins.list[AgeRule] | None = None
    ) -> builtins.list[MemoryRecord]:
        """The due memories, opened. A rule on metadata is an InvalidFilterError: the stored metadata
        is hashed with each user's key, so no rule over every scope can read it (builder.py refuses
        such retention settings at open)."""
        if any(rule.filters for rule in rules or ()):
            raise InvalidFilterError("retention rules on metadata cannot apply to an encrypted store")
        return [self._opened(record) for record in self._inner.expired(now, limit, rules)]

    def common_terms(self, scope: Scope, terms: builtins.list[str]) -> builtins.list[str]:
        blinded = blind_terms(self._blind(scope), terms, legacy=self._keys.legacy_blind_index)
        return [blinded[token] for token in self._inner.common_terms(scope, builtins.list(blinded))]

    def candidates(
        self, scope: Scope, vector: np.ndarray, query: str, params: SearchParams
    ) -> Candidates[str]:
        return self._inner.candidates(scope, vector, self._query(scope, query), self._params(scope, params))

    def search(
        self, scope: Scope, vector: np.ndarray, query: str, params: SearchParams
    ) -> builtins.list[SearchHit]:
        hits = self._inner.search(scope, vector, self._query(scope, query), self._params(scope, params))
        for hit in hits:  # made by this search for this call: each gets its memory opened in place
            hit.memory = self._opened(hit.memory)
        return hits

    def delete(self, memory_ids: builtins.list[str]) -> None:
        self._inner.delete(memory_ids)

    def delete_scope(self, scope: Scope) -> builtins.list[MemoryRecord]:
        return [self._opened(record) for record in self._inner.delete_scope(scope)]

    def count(self, scope: Scope) -> int:
        return self._inner.count(scope)

    def reset(self) -> None:
        self._inner.reset()
