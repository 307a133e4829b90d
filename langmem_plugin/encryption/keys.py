"""Where the master key comes from: a key provider. The master key only wraps the per-scope data
keys (keyring.py); a KMS, a secrets manager or a test supplies it by implementing `KeyProvider`."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..config import EncryptionConfig
from ..errors import EncryptionKeyError

KEY_BYTES = 32
MARKER = "store"  # the key of the encrypted store's marker in the `encryption` namespace


@runtime_checkable
class KeyProvider(Protocol):
    def master_key(self) -> bytes:
        """The 32-byte master key; raise EncryptionKeyError when it cannot be had."""
        ...


def generate_master_key() -> str:
    """A new master key: 32 random bytes, URL-safe base64 (what a key file or the variable holds)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_master_key(encoded: str, source: str) -> bytes:
    """The 32 bytes of a URL-safe base64 master key read from `source`, or EncryptionKeyError."""
    try:
        key = base64.urlsafe_b64decode(encoded.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise EncryptionKeyError(f"the master key in {source} is not URL-safe base64") from None
    if len(key) != KEY_BYTES:
        raise EncryptionKeyError(
            f"the master key in {source} holds {len(key)} bytes, not {KEY_BYTES} "
            "(make one with `langmem-plugin encryption generate-key`)"
        )
    return key


class StaticKey:
    """A master key given as its URL-safe base64 text (or its 32 bytes)."""

    def __init__(self, key: str | bytes, source: str = "the given key"):
        self._key = key if isinstance(key, bytes) and len(key) == KEY_BYTES else b""
        if not self._key:
            text = key.decode("ascii", "replace") if isinstance(key, bytes) else key
            self._key = parse_master_key(text, source)

    def master_key(self) -> bytes:
        return self._key


class KeyFile:
    """The master key in a file (its URL-safe base64 text)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    def master_key(self) -> bytes:
        try:
            text = self.path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise EncryptionKeyError(f"cannot read the master key file {self.path}: {exc}") from None
        return parse_master_key(text, str(self.path))


class EnvironmentKey:
    """The master key in an environment variable."""

    def __init__(self, name: str, environ: Mapping[str, str] | None = None):
        self.name = name
        self._environ = environ

    def master_key(self) -> bytes:
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(self.name)
        if not value:
            raise EncryptionKeyError(
                f"the store is set to be encrypted but no master key was given: set {self.name}, "
                "encryption.key_file, or pass key_provider="
            )
        return parse_master_key(value, self.name)


def configured_key_provider(config: EncryptionConfig) -> KeyProvider:
    """The key file when the config names one, else the environment variable it names."""
    if config.key_file is not None:
        return KeyFile(config.key_file)
    return EnvironmentKey(config.key_env)
