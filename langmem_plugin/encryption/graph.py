"""The graph tier of an encrypted store: the one point where entity names, entity types and
relation types are sealed before any graph backend stores them and opened after it returns them.

They are sealed deterministically (AES-SIV under the root scope's data key, see
keyring.root_scope), so that the backend still matches a mention to a known entity and a query's
names to the graph by equality. A name is sealed in its normalised form (`normalize_name`), as
base32, which the backends' own normalisation (lower-case names, UPPER_SNAKE relation types)
leaves as it is; the letter case of the displayed name rides in the case of the base32 letters,
masked by a keystream of the ciphertext, which the backend's normalised name drops.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from ..errors import UndecryptableError
from ..records import Entity, Neighbourhood, Relation, Scope
from ..tiers.graph import GraphStore
from ..tiers.graph.base import EntityMention, RelationMention, normalize_name, relation_type
from .keyring import Keyring, ScopeKeys, root_scope, root_scope_name
from .wrapping import EncryptingTier

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


def _case_mask(mask_key: bytes, token: str, length: int) -> list[bool]:
    stream = hashlib.shake_256(mask_key + token.lower().encode("ascii")).digest((length + 7) // 8)
    return [bool(stream[i // 8] >> (i % 8) & 1) for i in range(length)]


def _sealed_name(cipher: AESSIV, mask_key: bytes, name: str, context: list[bytes]) -> str:
    """The normalised name sealed, its letters' case carrying (masked) which characters of the
    displayed name are upper case."""
    normalized = normalize_name(name)
    token = _sealed(cipher, normalized, context).lower()
    displayed = " ".join(name.split())
    if len(displayed) != len(normalized):  # a character whose lower case is longer: shown normalised
        return token
    upper = [d != n and d == n.upper() for d, n in zip(displayed, normalized, strict=True)]
    letters = [i for i, c in enumerate(token) if c.isalpha()][: len(upper)]
    mask = _case_mask(mask_key, token, len(letters))
    chars = list(token)
    for j, at in enumerate(letters):
        if upper[j] != mask[j]:
            chars[at] = chars[at].upper()
    return "".join(chars)


def _opened_name(cipher: AESSIV, mask_key: bytes, sealed: str, context: list[bytes]) -> str:
    normalized = _opened(cipher, sealed, context)
    letters = [i for i, c in enumerate(sealed) if c.isalpha()][: len(normalized)]
    mask = _case_mask(mask_key, sealed, len(letters))
    shown = list(normalized)
    for j, at in enumerate(letters):
        if sealed[at].isupper() != mask[j] and len(normalized[j].upper()) == 1:
            shown[j] = normalized[j].upper()
    return "".join(shown)


class EncryptedGraphStore(EncryptingTier):
    """Any GraphStore, with names and types sealed on their way in and opened on their way out."""

    def __init__(self, inner: GraphStore, keyring: Keyring):
        super().__init__(inner, keyring)

    def _keys_of(self, scope: Scope) -> ScopeKeys | None:
        """The keys of the scope's root, for a read: None when it has no data key."""
        return self._keys.existing(root_scope_name(scope))

    def _entity(self, entity: Entity) -> Entity:
        keys = self._keys_of(entity.scope)
        if keys is None:
            raise UndecryptableError(
                f"entity {entity.id} cannot be decrypted: its scope's data key was destroyed"
            )
        name = _opened_name(keys.names, keys.blind, entity.name, _NAME)
        return entity.model_copy(
            update={
                "name": name,
                "normalized_name": normalize_name(name),
                "type": _opened_name(keys.names, keys.blind, entity.type, _TYPE),
            }
        )

    def _relation(self, relation: Relation) -> Relation:
        keys = self._keys_of(relation.scope)
        if keys is None:
            raise UndecryptableError(
                f"relation {relation.id} cannot be decrypted: its scope's data key was destroyed"
            )
        return relation.model_copy(update={"relation": _opened(keys.names, relation.relation, _RELATION)})

    def add_relations(self, scope: Scope, mentions: list[RelationMention]) -> list[Relation]:
        root = root_scope(scope)
        # the scope's own key too: a read across users finds the scope's root through it (spanned_roots)
        keys = self._keys.keys([scope, root], fresh=True)[root]
        cipher = keys.names

        def entity(mention: EntityMention) -> EntityMention:
            return EntityMention(
                _sealed_name(cipher, keys.blind, mention.name, _NAME),
                _sealed_name(cipher, keys.blind, mention.type, _TYPE),
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
        # in the backend's order of names (it could only order the sealed ones)
        return sorted((self._entity(e) for e in self._inner.entities(scope)), key=lambda e: e.name)

    def neighbourhood(
        self, scope: Scope, names: list[str], *, hops: int = 1, as_of: datetime | None = None
    ) -> Neighbourhood:
        spanned = self._keys.spanned_roots(scope)
        if not spanned:  # nothing the scope reaches was ever stored
            return Neighbourhood(entities=[], relations=[])
        found = self._inner.neighbourhood(
            scope,
            [_sealed(keys.names, normalize_name(n), _NAME).lower() for keys in spanned for n in names],
            hops=hops,
            as_of=as_of,
        )
        return Neighbourhood(
            entities=[self._entity(e) for e in found.entities],
            relations=[self._relation(r) for r in found.relations],
        )

    def may_have_entities(self, scope: Scope) -> bool:
        return self._inner.may_have_entities(scope)

    def delete_scope(self, scope: Scope) -> None:
        self._inner.delete_scope(scope)

    def reset(self) -> None:
        self._inner.reset()
