"""The key-value tier of an encrypted store: the one point where entries are sealed before any
key-value backend stores them and opened after it returns them.

Every value of every namespace but the keyring's own is sealed with AES-SIV (deterministic
authenticated encryption: an `append` of an entry held already still adds nothing) under a data
key, bound to its namespace and key:
- an entry of a list whose items name their scope (history events) under that scope's key;
- any other value under the key of the scope its key names (`<scope key>` or `<scope key>/...`:
  profiles, caches, access logs), else under the store's key (journals, server credentials).
The caches' keys are hashes of the text they cache: their part after the scope is replaced by a
keyed hash. Any new namespace or value passes through the same point; a value's scope decides
which purge shreds it. A sealed value names its data key: one sealed under a key that a purge
destroyed since (a write racing the purge) reads as absent, as a memory does (vector.py).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any

import pydantic_core
from cryptography.exceptions import InvalidTag

from ..errors import UndecryptableError
from ..namespaces import DATA_KEYS, ENCRYPTION, NAMESPACES, SCOPE_INDEX
from ..records import Scope
from ..tiers.keyvalue import KeyValueStore
from .keyring import STORE_KEYS, WRITES_RACING_A_PURGE, Keyring
from .wrapping import EncryptingTier

_KEYRING = frozenset({DATA_KEYS, ENCRYPTION})
# caches keyed by hashes of the texts they hold
_HASH_KEYED = frozenset(name for name, namespace in NAMESPACES.items() if namespace.expires)
_BLINDED = "~"  # starts the part of a cache key that is a keyed hash
# what a value sealed under a data key a purge destroyed opens to: read as absent (see vector.py)
_SHREDDED = object()


def _scope_name(namespace: str, key: str) -> str:
    """The keyring name of the scope a key names (see namespaces.PurgeRule.BY_SCOPE_KEY). The scope
    index's keys name one id of a scope, and its entries hold memory ids: the store's keys."""
    if namespace == SCOPE_INDEX:
        return STORE_KEYS
    scope_part = key.partition("/")[0]
    return _key_scope_name(scope_part) if "=" in scope_part else STORE_KEYS  # a memory id names none


@lru_cache(maxsize=4096)
def _key_scope_name(scope_part: str) -> str:
    scope = Scope.from_key(scope_part)
    return scope.key() if scope.as_filter() else STORE_KEYS


def _named_scope(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("scope"), dict):
        try:
            return _scope_key(tuple(value["scope"].items()))
        except TypeError:  # an id that is no string (unhashable)
            return None
    return None


@lru_cache(maxsize=4096)
def _scope_key(ids: tuple[tuple[Any, Any], ...]) -> str | None:
    """The key of the scope with these ids, None when they name none (cached: every history event and
    journal entry names its scope)."""
    try:
        scope = Scope.model_validate(dict(ids))
    except ValueError:
        return None
    return scope.key() if scope.as_filter() else None


def _value_scope_name(value: Any, default: str) -> str:
    """The scope a value names: its own `scope` (a history event), or the one scope of all its
    `events` (a write's journal entry), else `default`."""
    named = _named_scope(value)
    if named is None and isinstance(value, dict) and isinstance(value.get("events"), list):
        scopes = {_named_scope(event) for event in value["events"]}
        named = scopes.pop() if len(scopes) == 1 else None
    return default if named is None else named


def _encoded(value: Any) -> bytes:
    """The value's bytes: JSON in the value's own key order (NaN, infinities and integers of any size
    kept, as the key-value tier keeps them unencrypted), so that a value encodes the same each time
    and AES-SIV seals it alike (an event replayed from the journal is the event appended before)."""
    if isinstance(value, bytes):
        return b"b" + value
    return b"j" + pydantic_core.to_json(value, inf_nan_mode="constants")


def _decoded(data: bytes) -> Any:
    return data[1:] if data[:1] == b"b" else json.loads(data[1:])


def _sealing_scopes(sealed: Mapping[str, Any]) -> set[str]:
    """The scopes whose keys sealed these values (as `_sealed_items` returns them)."""
    return {
        item["scope"] for value in sealed.values() for item in (value if isinstance(value, list) else [value])
    }


class EncryptedKeyValueStore(EncryptingTier):
    """Any KeyValueStore, with every value sealed on its way in and opened on its way out."""

    def __init__(self, inner: KeyValueStore, keyring: Keyring):
        super().__init__(inner, keyring)

    # -- keys --------------------------------------------------------------------------------

    def _stored_key(self, namespace: str, key: str) -> str:
        if namespace not in _HASH_KEYED:
            return key
        scope_part, slash, rest = key.partition("/")
        if not slash or rest.startswith(_BLINDED):  # listed by `keys`: stored as it is
            return key
        name = _scope_name(namespace, key)
        keys = self._keys.named([name])[name]
        return f"{scope_part}/{_BLINDED}{hmac.new(keys.blind, rest.encode(), hashlib.sha256).hexdigest()}"

    # -- values ------------------------------------------------------------------------------

    def _sealed_items(self, namespace: str, items: Mapping[str, Any]) -> dict[str, Any]:
        """The values as stored, by stored key: sealed with data keys read afresh, all in one read
        (another process may have purged a scope since this one cached its key)."""
        stored = {self._stored_key(namespace, key): value for key, value in items.items()}
        names = {  # each value's item by item (a value that is no list: one item)
            key: [_value_scope_name(item, _scope_name(namespace, key)) for item in value]
            if isinstance(value, list)
            else [_value_scope_name(value, _scope_name(namespace, key))]
            for key, value in stored.items()
        }
        keys = self._keys.named([n for entry in names.values() for n in entry], fresh=True)

        def sealed(key: str, item: Any, name: str) -> dict[str, str]:
            data = keys[name].values.encrypt(_encoded(item), [namespace.encode(), key.encode()])
            return {"sealed": self._sealed_bytes(data), "scope": name, "key": keys[name].key_id}

        return {
            key: [sealed(key, item, n) for item, n in zip(value, names[key], strict=True)]
            if isinstance(value, list)
            else sealed(key, value, names[key][0])
            for key, value in stored.items()
        }

    @staticmethod
    def _sealed_bytes(data: bytes) -> str:
        return binascii.b2a_base64(data, newline=False).decode("ascii")

    def _open(self, namespace: str, key: str, value: Any) -> Any:
        """The value as it was before sealing, or _SHREDDED when it was sealed under a destroyed key:
        of a list, its items that were not (_SHREDDED when none of a non-empty list is left)."""
        if isinstance(value, list):
            opened = [self._open_one(namespace, key, item) for item in value]
            kept = [item for item in opened if item is not _SHREDDED]
            return kept if kept or not value else _SHREDDED
        return self._open_one(namespace, key, value)

    def _open_one(self, namespace: str, key: str, sealed: Any) -> Any:
        if not isinstance(sealed, dict) or "sealed" not in sealed:
            raise UndecryptableError(f"{namespace}/{key} is stored unencrypted in an encrypted store")
        keys = self._keys.sealed_under(sealed["scope"], sealed.get("key"))  # no key: sealed before ids
        if keys is None:
            return _SHREDDED
        try:
            data = keys.values.decrypt(
                binascii.a2b_base64(sealed["sealed"]), [namespace.encode(), key.encode()]
            )
        except (InvalidTag, ValueError, TypeError):  # binascii.Error is a ValueError
            raise UndecryptableError(f"{namespace}/{key} was altered: it does not decrypt") from None
        return _decoded(data)

    # -- the protocol ------------------------------------------------------------------------

    def get(self, namespace: str, key: str) -> Any | None:
        stored = self._stored_key(namespace, key)
        value = self._inner.get(namespace, stored)
        if value is None or namespace in _KEYRING:
            return value
        opened = self._open(namespace, stored, value)
        return None if opened is _SHREDDED else opened

    def get_many(self, namespace: str, keys: Iterable[str]) -> dict[str, Any]:
        stored = {self._stored_key(namespace, key): key for key in keys}
        found = self._inner.get_many(namespace, stored)
        if namespace in _KEYRING:
            return {stored[k]: v for k, v in found.items()}
        opened = {stored[k]: self._open(namespace, k, v) for k, v in found.items()}
        return {key: value for key, value in opened.items() if value is not _SHREDDED}

    def put_many(self, namespace: str, items: Mapping[str, Any], remove: Iterable[str] = ()) -> None:
        removed = [self._stored_key(namespace, k) for k in remove]
        if namespace in _KEYRING:
            self._inner.put_many(namespace, items, removed)
            return
        for _ in range(WRITES_RACING_A_PURGE):
            sealed = self._sealed_items(namespace, items)
            self._inner.put_many(namespace, sealed, removed)
            if self._keys.still_current(_sealing_scopes(sealed)):
                return

    def delete_many(self, namespace: str, keys: Iterable[str]) -> None:
        keys = list(keys)
        self._inner.delete_many(namespace, [self._stored_key(namespace, k) for k in keys])
        if namespace == DATA_KEYS:
            self._keys.forget(keys)  # a purge destroyed them: never encrypt with them again

    def append(self, namespace: str, entries: Mapping[str, list[Any]]) -> None:
        if namespace in _KEYRING:
            self._inner.append(namespace, entries)
            return
        for _ in range(WRITES_RACING_A_PURGE):
            sealed = self._sealed_items(namespace, entries)
            self._inner.append(namespace, sealed)
            if self._keys.still_current(_sealing_scopes(sealed)):
                return

    def keys(self, namespace: str, prefix: str = "") -> list[str]:
        return self._inner.keys(namespace, prefix)

    def lock(self, name: str, wait_seconds: float) -> AbstractContextManager[None]:
        return self._inner.lock(name, wait_seconds)

    def clear(self) -> None:
        """Remove everything, data keys included, and mark the store encrypted again."""
        self._inner.clear()
        self._keys.forget_all()
        self._keys.stamp()
