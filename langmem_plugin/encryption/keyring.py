"""The keyring of an encrypted store: one data key per scope, wrapped by the master key and kept in
the key-value tier (namespace `data_keys`, keyed by `Scope.key()`), and the store's marker.

A purge of a scope deletes its data keys with its other scope-keyed entries (namespaces.py), so
every copy of its values left behind (WAL pages, Redis AOF/RDB, Neo4j logs, Weaviate segments,
backups) no longer decrypts: crypto-shredding. The marker (namespace `encryption`) records that
the store is encrypted and holds a value only the right master key opens: opening checks it before
any memory is read or written.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import EncryptionKeyError, EncryptionMismatchError, UndecryptableError
from ..namespaces import DATA_KEYS, ENCRYPTION, HISTORY, PROFILES, SCOPE_INDEX
from ..records import Scope
from ..tiers.keyvalue import KeyValueStore
from .blind import BLIND_INDEX
from .keys import MARKER

# beside the data keys, so that a rotation re-wraps them and the check in one write (never a scope key)
CHECK_KEY = "master-key-check"
_CHECK = b"langmem-plugin master key check"
_NONCE_BYTES = 12
CIPHER = "AES-256-GCM"
# the keys of values that belong to no scope (write journals, server credentials): never shredded
STORE_KEYS = "store"
# A write whose keys a purge of its scope destroyed between its reading them and storing (see
# Keyring.still_current) goes again under the scope's new keys, once: it is kept, as when the purge
# came first. When that raced a purge too, what it stored is shredded, as when the purge came after.
WRITES_RACING_A_PURGE = 2


def _derive(key: bytes, purpose: str, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(key)


def _seal(key: bytes, plaintext: bytes, context: bytes) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext, context)).decode("ascii")


def _open(key: bytes, sealed: str, context: bytes) -> bytes:
    raw = base64.b64decode(sealed)
    return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context)


@dataclass(frozen=True)
class ScopeKeys:
    """The keys derived from one scope's data key, each for one use."""

    data_key: bytes
    wrapped: str  # the data key as stored, wrapped by the master key

    @cached_property
    def key_id(self) -> str:
        """A short name of this data key (a one-way hash of it: the same under any master key),
        stored beside what it seals: a value whose scope's key has another name (or none) was
        sealed under a key a purge destroyed, and is shredded, not altered."""
        return hashlib.blake2b(self.data_key, digest_size=6, person=b"langmem key id").hexdigest()

    @cached_property
    def records(self) -> AESGCM:
        """Memory records' text, metadata, sources and hash (random nonces)."""
        return AESGCM(_derive(self.data_key, "langmem-plugin records", 32))

    @cached_property
    def values(self) -> AESSIV:
        """Key-value entries: deterministic, so that an append of an entry held already adds nothing."""
        return AESSIV(_derive(self.data_key, "langmem-plugin values", 64))

    @cached_property
    def names(self) -> AESSIV:
        """Graph entity names and relation types: deterministic, so that equal names match."""
        return AESSIV(_derive(self.data_key, "langmem-plugin names", 64))

    @cached_property
    def blind(self) -> bytes:
        """The key of the blind index (keyword tokens, metadata keys and values, content hashes)."""
        return _derive(self.data_key, "langmem-plugin blind index", 32)


def scope_name(scope: Scope) -> str:
    """`scope.key()`, the keyring's name of the scope's keys, computed once per scope (cached by its
    ids: hashing and comparing the ids costs a fraction of hashing the model)."""
    return _scope_name(scope.user_id, scope.agent_id, scope.run_id)


@lru_cache(maxsize=65536)
def _scope_name(user_id: str | None, agent_id: str | None, run_id: str | None) -> str:
    return Scope(user_id=user_id, agent_id=agent_id, run_id=run_id).key()


def root_scope(scope: Scope) -> Scope:
    """The scope whose keys blind a scope's searchable values: its user's (else its agent's, else
    its run's), so that a search of a user finds the terms of every agent and run of the user.
    An empty scope raises MissingScopeError, as every tier does."""
    scope.required_filter()
    if scope.user_id is not None:
        return Scope(user_id=scope.user_id)
    if scope.agent_id is not None:
        return Scope(agent_id=scope.agent_id)
    return Scope(run_id=scope.run_id)


def root_scope_name(scope: Scope) -> str:
    """`scope_name(root_scope(scope))`, cached by the scope's ids (every read asks it)."""
    return _root_scope_name(scope.user_id, scope.agent_id, scope.run_id)


@lru_cache(maxsize=65536)
def _root_scope_name(user_id: str | None, agent_id: str | None, run_id: str | None) -> str:
    return scope_name(root_scope(Scope(user_id=user_id, agent_id=agent_id, run_id=run_id)))


class Keyring:
    """The data keys of one encrypted store, unwrapped on first use and cached in this process."""

    def __init__(self, kv: KeyValueStore, master_key: bytes, *, legacy_blind_index: bool = False):
        self._kv = kv
        self._master = master_key
        self._cache: dict[str, ScopeKeys] = {}
        self._lock = threading.Lock()
        self._unmatched = secrets.token_bytes(32)
        # the store was encrypted before blind.BLIND_INDEX 2: it may hold memories of the older tokens
        self.legacy_blind_index = legacy_blind_index

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, kv: KeyValueStore, master_key: bytes) -> Keyring:
        """The keyring of the store whose key-value tier is `kv`, after checking that the store and
        the key agree: EncryptionKeyError for a wrong key, EncryptionMismatchError for a store that
        holds unencrypted data. Reads only the marker and the check value (and, for a new
        encrypted store, whether any memory was written)."""
        marker = kv.get(ENCRYPTION, MARKER)
        if marker is None:
            if any(kv.keys(namespace) for namespace in (SCOPE_INDEX, HISTORY, PROFILES)):
                raise EncryptionMismatchError(
                    "this store holds unencrypted memories: encryption cannot be turned on for it "
                    "(export it and import into a new encrypted store)"
                )
            keyring = cls(kv, master_key)
            keyring.stamp()
            return keyring
        try:
            if _open(master_key, (kv.get(DATA_KEYS, CHECK_KEY) or [""])[0], b"check") != _CHECK:
                raise InvalidTag
        except (InvalidTag, TypeError, ValueError):
            raise EncryptionKeyError(
                "the master key does not open this store: it was encrypted with another key"
            ) from None
        blind_index = marker.get("blind_index", 1)  # the first index's marker did not name it
        if blind_index > BLIND_INDEX:
            raise EncryptionMismatchError(
                f"this store's blind index is of version {blind_index}, written by a newer langmem-plugin "
                f"(this one knows up to {BLIND_INDEX}): open it with that version"
            )
        return cls(kv, master_key, legacy_blind_index=blind_index < BLIND_INDEX)

    def stamp(self) -> None:
        """Record that the store is encrypted, and the check value of the master key."""
        self._kv.put_many(DATA_KEYS, {CHECK_KEY: self._check()})
        self._kv.put_many(ENCRYPTION, {MARKER: {"cipher": CIPHER, "blind_index": BLIND_INDEX}})
        self.legacy_blind_index = False

    def _check(self) -> list[str]:
        return [_seal(self._master, _CHECK, b"check")]

    # -- data keys ---------------------------------------------------------------------------

    def _unwrap(self, scope_key: str, wrapped: list) -> ScopeKeys:
        try:
            # concurrent creators may each have appended a key: the first one is the scope's
            return ScopeKeys(_open(self._master, wrapped[0], b"data key|" + scope_key.encode()), wrapped[0])
        except (InvalidTag, ValueError, IndexError, TypeError):
            raise UndecryptableError(
                f"the data key of {scope_key} does not open with the master key"
            ) from None

    def _unwrapped(self, scope_key: str, wrapped: list) -> ScopeKeys:
        """The keys of a wrapped data key read afresh: the cached ones while it is the key cached (the
        keys derived from it are kept), else newly unwrapped."""
        cached = self._cache.get(scope_key)
        if cached is not None and wrapped and cached.wrapped == wrapped[0]:
            return cached
        return self._unwrap(scope_key, wrapped)

    def named(self, names: Iterable[str], *, fresh: bool = False) -> dict[str, ScopeKeys]:
        """The keys of each named scope (`Scope.key()`, or STORE_KEYS for values of no scope),
        created when it has none. `fresh` reads them from the store again (before a write:
        another process may have purged the scope, destroying its key)."""
        names = list(dict.fromkeys(names))
        wanted = [k for k in names if fresh or k not in self._cache]
        if wanted:
            stored = self._kv.get_many(DATA_KEYS, wanted)
            missing = [k for k in wanted if not stored.get(k)]
            if missing:
                self._kv.append(
                    DATA_KEYS,
                    {
                        k: [_seal(self._master, secrets.token_bytes(32), b"data key|" + k.encode())]
                        for k in missing
                    },
                )
                stored.update(self._kv.get_many(DATA_KEYS, missing))
            unwrapped = {k: self._unwrapped(k, stored[k]) for k in wanted}
            with self._lock:
                self._cache.update(unwrapped)
        return {k: self._cache[k] for k in names}

    def keys(self, scopes: Iterable[Scope], *, fresh: bool = False) -> dict[Scope, ScopeKeys]:
        scopes = list(dict.fromkeys(scopes))
        named = self.named([scope_name(scope) for scope in scopes], fresh=fresh)
        return {scope: named[scope_name(scope)] for scope in scopes}

    def existing(self, name: str, *, fresh: bool = False) -> ScopeKeys | None:
        """The named scope's keys when it has a data key (None after a purge destroyed it). `fresh`
        reads them from the store again (another process may have purged the scope and a write
        made it a new key since this one cached it)."""
        cached = None if fresh else self._cache.get(name)
        if cached is not None:
            return cached
        wrapped = self._kv.get(DATA_KEYS, name)
        if not wrapped:
            if fresh:
                self.forget([name])
            return None
        keys = self._unwrapped(name, wrapped)
        with self._lock:
            self._cache[name] = keys
        return keys

    def sealed_under(self, name: str, key_id: str | None) -> ScopeKeys | None:
        """The named scope's keys when `key_id` names them, read afresh when the cached ones are
        others; None when the scope's key is no longer that one: what it sealed was shredded by a
        purge (a write that read the key before the purge destroyed it stored it after). A value
        sealed before keys had ids (`key_id` empty) is the scope's current key's."""
        keys = self.existing(name)
        if not key_id or (keys is not None and keys.key_id == key_id):
            return keys
        keys = self.existing(name, fresh=True)
        return keys if keys is not None and keys.key_id == key_id else None

    def blind_for_read(self, scope: Scope) -> bytes:
        """The blind-index key a read of the scope compares with: its root scope's, or, when the
        root has no data key (nothing was written, or a purge destroyed it), a key of this process
        alone, which matches nothing stored: a read never creates a key."""
        keys = self.existing(root_scope_name(scope))
        return self._unmatched if keys is None else keys.blind

    def spanned_roots(self, scope: Scope) -> list[ScopeKeys]:
        """The keys of every root scope whose data a read of `scope` may reach: its own root's when it
        names a user; else (a read by agent or run, across users) the roots of every keyed scope
        it matches, found by listing the keyring."""
        scope.required_filter()
        if scope.user_id is not None:
            names = [root_scope_name(scope)]
        else:
            spanned = (Scope.from_key(name) for name in self._kv.keys(DATA_KEYS))
            names = sorted({root_scope_name(s) for s in spanned if s.as_filter() and scope.matches(s)})
        found = (self.existing(name) for name in names)
        return [keys for keys in found if keys is not None]

    def still_current(self, names: Iterable[str]) -> bool:
        """After a write sealed with the named scopes' cached keys: whether each is still its scope's
        key in the store. A scope's key that is not (another process purged the scope between the
        write's reading the key and storing) is dropped from the cache: what was sealed with it
        is shredded, and the write goes again under the scope's new key (the tiers do it)."""
        cached = {
            name: keys
            for name in names
            if name != STORE_KEYS and (keys := self._cache.get(name)) is not None  # the store's: never purged
        }
        if not cached:
            return True
        stored = self._kv.get_many(DATA_KEYS, list(cached))
        destroyed = [
            name for name, keys in cached.items() if not stored.get(name) or stored[name][0] != keys.wrapped
        ]
        self.forget(destroyed)
        return not destroyed

    def forget(self, scope_keys: Iterable[str]) -> None:
        """Drop cached keys that the store deleted (a purge)."""
        with self._lock:
            for key in scope_keys:
                self._cache.pop(key, None)

    def forget_all(self) -> None:
        with self._lock:
            self._cache.clear()

    # -- rotation ----------------------------------------------------------------------------

    def rotate(self, new_master_key: bytes) -> int:
        """Re-wrap every data key and the marker under `new_master_key`, in one write of the key
        namespace; the data itself is untouched. Returns how many data keys were re-wrapped. Run it
        while no other process writes to the store."""
        scope_keys = [k for k in self._kv.keys(DATA_KEYS) if k != CHECK_KEY]
        stored = self._kv.get_many(DATA_KEYS, scope_keys)
        rewrapped = {
            k: [_seal(new_master_key, self._unwrap(k, wrapped).data_key, b"data key|" + k.encode())]
            for k, wrapped in stored.items()
        }
        self._master = new_master_key
        self._kv.put_many(DATA_KEYS, {**rewrapped, CHECK_KEY: self._check()})
        return len(rewrapped)
