"""What every encrypting tier shares: the backend it seals values for and the store's keyring."""

from __future__ import annotations

import dataclasses
from typing import Any

from .keyring import Keyring


class EncryptingTier:
    """A tier that stores through `inner`, any backend of the tier's protocol. What the backend
    offers beyond the protocol (its manifest, `wait_for_ann`, ...) is reached through this tier."""

    def __init__(self, inner: Any, keyring: Keyring, **capabilities: bool):
        self._inner = inner
        self._keys = keyring
        self.capabilities = dataclasses.replace(inner.capabilities, encryption=True, **capabilities)

    @property
    def keyring(self) -> Keyring:
        return self._keys

    @property
    def inner(self) -> Any:
        """The backend this tier encrypts for."""
        return self._inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def erase_deleted(self) -> None:
        self._inner.erase_deleted()

    def close(self) -> None:
        self._inner.close()
