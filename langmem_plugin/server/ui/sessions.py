"""Browser sessions of the inspector, kept in the store's key-value tier (UI_SESSIONS), so that
every `serve` process on one store knows them.

A session is opened by proving an API key once; the browser then holds only a random session
token (an HttpOnly, SameSite=Strict cookie), never the key. The store keeps a SHA-256 digest of
the token (a copy of the store lets nobody act as the browser), the key id the session acts as,
the CSRF token its forms carry, and its expiry. Each request reads the key and its grants again
(`Keyring.caller_of_key`), so revoking the key or a grant stops the session's next request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from ...tiers.keyvalue import KeyValueStore
from ..namespaces import UI_SESSIONS

SESSION_SECONDS = 8 * 3600
_TOKEN_BYTES = 32
_MAX_TOKEN_CHARS = 128


def _digest(token: str) -> str:
    return hashlib.sha256(f"langmem-ui-session|{token}".encode()).hexdigest()


def open_session(kv: KeyValueStore, key_id: str) -> str:
    """A new session acting as `key_id`: its token, for the cookie. Expired sessions are dropped."""
    now = time.time()
    stored = kv.get_many(UI_SESSIONS, kv.keys(UI_SESSIONS))
    expired = [digest for digest, record in stored.items() if record.get("expires_at", 0) <= now]
    if expired:
        kv.delete_many(UI_SESSIONS, expired)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    record = {
        "key_id": key_id,
        "csrf": secrets.token_urlsafe(_TOKEN_BYTES),
        "expires_at": now + SESSION_SECONDS,
    }
    kv.put_many(UI_SESSIONS, {_digest(token): record})
    return token


def find_session(kv: KeyValueStore, token: str | None) -> dict[str, Any] | None:
    """The live session of a cookie's token (key_id, csrf, expires_at), else None."""
    if not token or len(token) > _MAX_TOKEN_CHARS:
        return None
    record = kv.get(UI_SESSIONS, _digest(token))
    if record is None or record.get("expires_at", 0) <= time.time():
        return None
    return record


def close_session(kv: KeyValueStore, token: str | None) -> None:
    if token and len(token) <= _MAX_TOKEN_CHARS:
        kv.delete_many(UI_SESSIONS, [_digest(token)])
