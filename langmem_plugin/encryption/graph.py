"""The graph tier of an encrypted store: the one point where entity names, entity types and
relation types are sealed before any graph backend stores them and opened after it returns them.

They are sealed deterministically (AES-SIV under the root scope's data key, see
keyring.root_scope), so that the backend still matches a mention to a known entity and a query's
names to the graph by equality. A name is sealed in its normalised form (`normalize_name`):
entities of an encrypted store come back with lower-case names. Sealed names are base32, which the
backends' own normalisation (lower-case names, UPPER_SNAKE relation types) leaves as it is.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from ..errors import UndecryptableError
from ..records import Entity, Neighbourhood, Relation, Scope
from ..tiers.graph import GraphStore
from ..tiers.graph.base import EntityMention, RelationMention, normalize_name, relation_type
from .keyring import Keyring, root_scope

_NAME, _TYPE, _RELATION = [b"entity name"], [b"entity type"], [b"relation type"]


def _sealed(cipher: AESSIV, text: str, context: list[bytes]) -> str:
    return base64.b32encode(cipher.encrypt(text.encode("utf-8"), context)).decode("ascii").rstrip("=")


def _opened(cipher: AESSIV, sealed: str, context: list[bytes]) -> str:
    data = sealed.upper()
    try:
        return cipher.decrypt(base64.b32decode(data + "=" * (-len(data) % 8)), context).decode("utf-8")
    except (InvalidTag, ValueError):
        raise UndecryptableError(
            "a graph name does not decrypt: its scope's data key was destroyed"
        ) from None


class EncryptedGraphStore:
    """Any GraphStore, with names and types sealed on their way in and opened on their way out."""

    def __init__(self, inner: GraphStore, keyring: Keyring):
        self._inner = inner
        self._keys = keyring
        self.capabilities = inner.capabilities

    @property
    def keyring(self) -> Keyring:
        return self._keys

    def __getattr__(self, name: str) -> Any:
        # what the backend offers beyond the protocol (its manifest, ...)
        return getattr(self._inner, name)

    def _cipher(self, scope: Scope) -> AESSIV | None:
        """The names cipher of the scope's root, for a read: None when it has no data key."""
        keys = self._keys.existing(root_scope(scope).key())
        return None if keys is None else keys.names

    def _entity(self, entity: Entity) -> Entity:
        cipher = self._cipher(entity.scope)
        if cipher is None:
            raise UndecryptableError(
                f"entity {entity.id} cannot be decrypted: its scope's data key was destroyed"
            )
        name = _opened(cipher, entity.name, _NAME)
        return entity.model_copy(
            update={"name": name, "normalized_name": name, "type": _opened(cipher, entity.type, _TYPE)}
        )

    def _relation(self, relation: Relation) -> Relation:
        cipher = self._cipher(relation.scope)
        if cipher is None:
            raise UndecryptableError(
                f"relation {relation.id} cannot be decrypted: its scope's data key was destroyed"
            )
        return relation.model_copy(update={"relation": _opened(cipher, relation.relation, _RELATION)})

    def add_relations(self, scope: Scope, mentions: list[RelationMention]) -> list[Relation]:
        root = root_scope(scope)
        cipher = self._keys.keys([root], fresh=True)[root].names

        def entity(mention: EntityMention) -> EntityMention:
            return EntityMention(
                _sealed(cipher, normalize_name(mention.name), _NAME), _sealed(cipher, mention.type, _TYPE)
            )

        sealed = [
            replace(
                m,
                source=entity(m.source),
                relation=_sealed(cipher, relation_type(m.relation), _RELATION),
                target=entity(m.target),
            )
            for m in mentions
        ]
        return [self._relation(r) for r in self._inner.add_relations(scope, sealed)]

    def invalidate_memory_relations(self, memory_ids: list[str], at: datetime) -> list[Relation]:
        return [self._relation(r) for r in self._inner.invalidate_memory_relations(memory_ids, at)]

    def delete_memory_relations(self, memory_ids: list[str]) -> None:
        self._inner.delete_memory_relations(memory_ids)

    def entities(self, scope: Scope) -> list[Entity]:
        return [self._entity(e) for e in self._inner.entities(scope)]

    def neighbourhood(
        self, scope: Scope, names: list[str], *, hops: int = 1, as_of: datetime | None = None
    ) -> Neighbourhood:
        cipher = self._cipher(scope)
        if cipher is None:  # nothing of the scope's root was ever stored
            return Neighbourhood(entities=[], relations=[])
        found = self._inner.neighbourhood(
            scope, [_sealed(cipher, normalize_name(n), _NAME) for n in names], hops=hops, as_of=as_of
        )
        return Neighbourhood(
            entities=[self._entity(e) for e in found.entities],
            relations=[self._relation(r) for r in found.relations],
        )

    def may_have_entities(self, scope: Scope) -> bool:
        return self._inner.may_have_entities(scope)

    def delete_scope(self, scope: Scope) -> None:
        self._inner.delete_scope(scope)

    def erase_deleted(self) -> None:
        self._inner.erase_deleted()

    def reset(self) -> None:
        self._inner.reset()

    def close(self) -> None:
        self._inner.close()
