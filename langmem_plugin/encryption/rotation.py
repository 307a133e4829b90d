"""Key rotation: the data keys re-wrapped under a new master key. The memories themselves are not
rewritten (they are sealed by the data keys), so a rotation takes one write whatever the store's
size. Once the old master key is destroyed, every copy of the keyring made before the rotation
(a backup of the key-value tier, its WAL pages, a Redis dump) no longer opens."""

from __future__ import annotations

from pathlib import Path

from ..backends import open_backend
from ..config import MemoryConfig
from ..errors import EncryptionKeyError
from ..namespaces import ENCRYPTION
from . import open_keyring
from .keys import MARKER, KeyProvider, configured_key_provider


def rotate_master_key(
    config: MemoryConfig, new_key: KeyProvider, current_key: KeyProvider | None = None
) -> int:
    """Re-wrap the data keys of the store `config` names under `new_key`'s master key; the current
    key is `current_key`'s, else the configured one (encryption.key_file or its variable). Returns
    how many data keys were re-wrapped. Raises EncryptionKeyError for an unencrypted store or a
    wrong current key. Run it while no other process writes to the store."""
    current = (current_key or configured_key_provider(config.encryption)).master_key()
    new = new_key.master_key()
    kv = open_backend("kv", config, Path(config.path).expanduser())
    try:
        if kv.get(ENCRYPTION, MARKER) is None:
            raise EncryptionKeyError("this store is not encrypted: there is no key to rotate")
        keyring = open_keyring(kv, current)
        assert keyring is not None  # a master key was given
        return keyring.rotate(new)
    finally:
        kv.close()
