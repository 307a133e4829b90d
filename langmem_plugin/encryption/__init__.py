"""Encryption at rest (docs/security.md): a master key from a key provider (keys.py) wraps one
data key per scope (keyring.py); one wrapper per tier seals what any backend of the tier stores
(vector.py, keyvalue.py, graph.py); a blind index keeps keyword search and metadata filters working
(blind.py). `open_encryption` puts them around a store's tiers.

Only keys.py and this module import without the `encryption` extra (cryptography, orjson): an unencrypted
store never needs it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import EncryptionKeyError, MissingDependencyError, install_hint
from ..namespaces import ENCRYPTION
from ..tiers.keyvalue import KeyValueStore
from .keys import (
    MARKER,
    EnvironmentKey,
    KeyFile,
    KeyProvider,
    StaticKey,
    configured_key_provider,
    generate_master_key,
    parse_master_key,
)

if TYPE_CHECKING:
    from .keyring import Keyring

__all__ = [
    "EnvironmentKey",
    "KeyFile",
    "KeyProvider",
    "StaticKey",
    "configured_key_provider",
    "generate_master_key",
    "open_keyring",
    "parse_master_key",
]


def open_keyring(kv: KeyValueStore, master_key: bytes | None) -> Keyring | None:
    """The keyring of the store whose key-value tier is `kv`, checked against `master_key`
    (Keyring.open); None for an unencrypted store opened without a key."""
    if master_key is None:
        if kv.get(ENCRYPTION, MARKER) is not None:
            raise EncryptionKeyError(
                "this store is encrypted: set encryption.enabled with its master key "
                "(LANGMEM_ENCRYPTION_KEY, encryption.key_file or key_provider=)"
            )
        return None
    try:
        import orjson  # noqa: F401  (the sealed records' JSON, vector.py)

        from .keyring import Keyring
    except ImportError as exc:
        raise MissingDependencyError(
            f"encryption needs the cryptography and orjson packages: {install_hint('encryption')}"
        ) from exc
    return Keyring.open(kv, master_key)


def encrypted_tiers(keyring: Keyring, vector, graph, kv):
    """The tiers, each wrapped by its encrypting tier."""
    from .graph import EncryptedGraphStore
    from .keyvalue import EncryptedKeyValueStore
    from .vector import EncryptedVectorStore

    return (
        EncryptedVectorStore(vector, keyring),
        None if graph is None else EncryptedGraphStore(graph, keyring),
        EncryptedKeyValueStore(kv, keyring),
    )
