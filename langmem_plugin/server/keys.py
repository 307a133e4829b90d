"""API keys and grants, kept in the store's key-value tier (namespaces.py), so that every server
process on one store, and the command line, share them.

A key is `lmk_<key id>_<secret>`: the key id finds its record, the secret (256 random bits from
`secrets`) proves it. Only a SHA-256 digest of the secret is stored, compared in constant time;
a slow password hash would add nothing against guessing 256 random bits and would cost every
call. The key is shown once, when it is created.

Grants are kept per principal (one value: a call reads its caller's grants with one lookup).
Every call reads its key and grants again, so that revoking either stops the next call.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InvalidInputError, UnauthenticatedError
from ..records import Scope, utc_now
from ..tiers.keyvalue import KeyValueStore
from .grants import Caller, Grant, Right, check_grant, check_principal
from .namespaces import API_KEYS, GRANTS

KEY_PREFIX = "lmk"
_KEY_ID_BYTES = 8
_SECRET_BYTES = 32
_MAX_KEY_CHARS = 128
# The grants namespace is rewritten under this lock of the store (all processes).
GRANTS_LOCK = "grants"
GRANTS_WAIT_SECONDS = 30.0


def _digest(key_id: str, secret: str) -> str:
    return hashlib.sha256(f"langmem-api-key|{key_id}|{secret}".encode()).hexdigest()


# Compared against when the key id is unknown, so that an unknown id costs what a known one does.
_NO_DIGEST = _digest("", "")


def _parse(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    if len(token) > _MAX_KEY_CHARS:
        return None
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or len(key_id) != 2 * _KEY_ID_BYTES or not secret:
        return None
    if any(c not in "0123456789abcdef" for c in key_id):
        return None
    return key_id, secret


class Keyring:
    """Keys and grants of one store."""

    def __init__(self, kv: KeyValueStore):
        self.kv = kv

    # -- keys ---------------------------------------------------------------------------------

    def create_key(self, principal: str, label: str | None = None) -> tuple[str, dict[str, Any]]:
        """A new key acting as `principal`: (the key, to show once; its record, without secret)."""
        check_principal(principal)
        if label is not None and (not isinstance(label, str) or len(label) > 200):
            raise InvalidInputError("a key's label is a string of at most 200 characters")
        key_id, secret = secrets.token_hex(_KEY_ID_BYTES), secrets.token_urlsafe(_SECRET_BYTES)
        record = {
            "principal": principal,
            "hash": _digest(key_id, secret),
            "label": label,
            "created_at": utc_now().isoformat(),
        }
        self.kv.put_many(API_KEYS, {key_id: record})
        return f"{KEY_PREFIX}_{key_id}_{secret}", self._public(key_id, record)

    @staticmethod
    def _public(key_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
        return {"key_id": key_id, **{k: v for k, v in record.items() if k != "hash"}}

    def keys(self) -> list[dict[str, Any]]:
        records = self.kv.get_many(API_KEYS, self.kv.keys(API_KEYS))
        listed = [self._public(key_id, record) for key_id, record in records.items()]
        return sorted(listed, key=lambda k: (k["principal"], k["created_at"]))

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        record = self.kv.get(API_KEYS, key_id) if isinstance(key_id, str) else None
        if record is None:
            raise InvalidInputError(f"no key with id {key_id!r} (keys list shows them)")
        self.kv.delete_many(API_KEYS, [key_id])
        return self._public(key_id, record)

    def authenticate(self, token: str | None) -> Caller:
        """The caller a presented key stands for, with its grants as they are now.

        Raises UnauthenticatedError for a missing, malformed, unknown or revoked key."""
        if not token:
            raise UnauthenticatedError("this call needs an API key: Authorization: Bearer <key>")
        parsed = _parse(token)
        record = self.kv.get(API_KEYS, parsed[0]) if parsed else None
        expected = record["hash"] if record else _NO_DIGEST
        presented = _digest(*parsed) if parsed else _digest("", "-")
        # compared even for a malformed or unknown key, which then takes as long as a wrong secret
        matches = hmac.compare_digest(expected, presented)
        if not matches or parsed is None or record is None:
            raise UnauthenticatedError("the API key is not valid (unknown, revoked or mistyped)")
        return self._caller(parsed[0], record)

    def caller_of_key(self, key_id: str) -> Caller:
        """The caller of a key proven earlier (a browser session holds its key id), with its
        grants as they are now. Raises UnauthenticatedError once the key is revoked."""
        record = self.kv.get(API_KEYS, key_id)
        if record is None:
            raise UnauthenticatedError("the API key of this session was revoked: log in again")
        return self._caller(key_id, record)

    def _caller(self, key_id: str, record: Mapping[str, Any]) -> Caller:
        principal = record["principal"]
        return Caller(principal=principal, key_id=key_id, grants=tuple(self.grants_of(principal)))

    # -- grants -------------------------------------------------------------------------------

    def grants_of(self, principal: str) -> list[Grant]:
        entry = self.kv.get(GRANTS, principal) or {}
        return [Grant.model_validate(grant) for grant in entry.get("grants", ())]

    def all_grants(self) -> list[Grant]:
        entries = self.kv.get_many(GRANTS, self.kv.keys(GRANTS))
        return [Grant.model_validate(g) for entry in entries.values() for g in entry.get("grants", ())]

    def grant(
        self,
        principal: str,
        scopes: Iterable[Scope],
        rights: Iterable[Right],
        granted_by: str,
        filters: Mapping[str, Any] | None = None,
    ) -> Grant:
        grant = check_grant(
            Grant(
                id="g_" + secrets.token_hex(8),
                principal=principal,
                scopes=tuple(scopes),
                rights=frozenset(rights),
                filters=None if filters is None else dict(filters),
                granted_by=granted_by,
                created_at=utc_now(),
            )
        )
        with self.kv.lock(GRANTS_LOCK, GRANTS_WAIT_SECONDS):
            held = self.grants_of(principal)
            self._store(principal, [*held, grant])
        return grant

    def revoke_grant(self, grant_id: str) -> Grant:
        with self.kv.lock(GRANTS_LOCK, GRANTS_WAIT_SECONDS):
            for grant in self.all_grants():
                if grant.id == grant_id:
                    self._store(
                        grant.principal, [g for g in self.grants_of(grant.principal) if g.id != grant_id]
                    )
                    return grant
        raise InvalidInputError(f"no grant with id {grant_id!r}")

    def find_grant(self, grant_id: str) -> Grant | None:
        return next((grant for grant in self.all_grants() if grant.id == grant_id), None)

    def _store(self, principal: str, grants: list[Grant]) -> None:
        if grants:
            self.kv.put_many(GRANTS, {principal: {"grants": [g.model_dump(mode="json") for g in grants]}})
        else:
            self.kv.delete_many(GRANTS, [principal])
