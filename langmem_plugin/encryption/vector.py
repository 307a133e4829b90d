"""The vector tier of an encrypted store: the one point where memory records are sealed before any
vector backend stores them and opened after it returns them.

A record reaches the backend as: its text replaced by its blind tokens (blind.py), its content
hash by a keyed hash, its metadata by the blind metadata plus `sealed` (AES-256-GCM of the text,
metadata, sources and hash under the scope's data key, bound to the memory's id and scope), its
sources empty. Ids, scope ids, times and the dense vector stay as they are: the backend searches,
filters by scope and validity and ranks on them. Any field added to MemoryRecord that holds user
data must be added to the payload of `seal_record` (and read back in `_opened`) to be sealed.

`sealed` starts with the id of the data key it was sealed under. A record sealed under a key that
a purge destroyed since (a write racing the purge, see keyring.WRITES_RACING_A_PURGE; a backup
restored) is shredded: reads leave it out and a later purge deletes it. A record sealed under its
scope's key that does not open was altered: UndecryptableError.
"""

from __future__ import annotations

import binascii
import builtins
import secrets
from collections.abc import Callable, Mapping
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
from .keyring import WRITES_RACING_A_PURGE, Keyring, ScopeKeys, root_scope, scope_name
from .wrapping import EncryptingTier

SEALED = "sealed"
_NONCE_BYTES = 12
# `sealed` is the data key's id, this, and the base64 of nonce and ciphertext (no base64 character)
_KEY_ID_END = "."
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
            "metadata": {
                SEALED: f"{keys.key_id}{_KEY_ID_END}{sealed.decode('ascii')}",
                **blind_metadata(blind, record.metadata),
            },
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

    def _written(
        self, records: builtins.list[MemoryRecord], write: Callable[[builtins.list[MemoryRecord]], None]
    ) -> bool:
        """`write` the records sealed with their scopes' keys read afresh; whether those keys were
        still the scopes' keys once written (see Keyring.still_current)."""
        # the records of one add share their Scope object: its keys are looked up once, by identity
        # (hashing and comparing the model for each record costs a fifth as much as sealing it)
        scopes = {id(record.scope): record.scope for record in records}
        roots = {at: root_scope(scope) for at, scope in scopes.items()}
        keys = self._keys.keys([*scopes.values(), *roots.values()], fresh=True)
        sealing = {at: (keys[scope], keys[roots[at]].blind) for at, scope in scopes.items()}
        write([seal_record(r, *sealing[id(r.scope)]) for r in records])
        return self._keys.still_current(scope_name(scope) for scope in keys)

    def _opened(self, record: MemoryRecord) -> MemoryRecord | None:
        """The record as it was before sealing; None when it was sealed under a data key a purge has
        destroyed since (shredded: a read leaves it out, as the purge would have deleted it)."""
        sealed = record.metadata.get(SEALED)
        if not isinstance(sealed, str):
            raise UndecryptableError(f"memory {record.id} cannot be decrypted: it is stored unencrypted")
        key_id, _, body = sealed.rpartition(_KEY_ID_END)  # key_id "": sealed before keys had ids
        keys = self._keys.sealed_under(scope_name(record.scope), key_id)
        if keys is None:
            return None
        try:
            raw = binascii.a2b_base64(body)
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
        for attempt in range(WRITES_RACING_A_PURGE):
            if attempt:  # what the write stored under the destroyed keys, unless the purge deleted it
                self._inner.delete([record.id for record in records])
            if self._written(records, lambda sealed: self._inner.insert(sealed, vectors)):
                return

    def replace(self, record: MemoryRecord, vector: np.ndarray | None = None) -> None:
        for _ in range(WRITES_RACING_A_PURGE):
            if self._written([record], lambda sealed: self._inner.replace(sealed[0], vector)):
                return

    def _all_opened(self, records: builtins.list[MemoryRecord]) -> builtins.list[MemoryRecord]:
        opened = (self._opened(record) for record in records)
        return [record for record in opened if record is not None]

    def get(self, memory_ids: builtins.list[str]) -> builtins.list[MemoryRecord]:
        return self._all_opened(self._inner.get(memory_ids))

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
        return self._all_opened(records)

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
        return self._all_opened(self._inner.expired(now, limit, rules))

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
        opened = []
        for hit in hits:  # made by this search for this call: each gets its memory opened in place
            memory = self._opened(hit.memory)
            if memory is not None:
                hit.memory = memory
                opened.append(hit)
        return opened

    def delete(self, memory_ids: builtins.list[str]) -> None:
        self._inner.delete(memory_ids)

    def delete_scope(self, scope: Scope) -> builtins.list[MemoryRecord]:
        return self._all_opened(self._inner.delete_scope(scope))

    def count(self, scope: Scope) -> int:
        return self._inner.count(scope)

    def reset(self) -> None:
        self._inner.reset()
