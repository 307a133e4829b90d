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
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from ..errors import UndecryptableError
from ..records import Entity, Neighbourhood, Relation, Scope
from ..tiers.graph import GraphStore
from ..tiers.graph.base import EntityMention, RelationMention, normalize_name, relation_type
from .keyring import WRITES_RACING_A_PURGE, Keyring, ScopeKeys, root_scope, root_scope_name, scope_name
from .wrapping import EncryptingTier

_NAME, _TYPE, _RELATION = [b"entity name"], [b"entity type"], [b"relation type"]
_Opened = TypeVar("_Opened", Entity, Relation)


def _sealed(cipher: AESSIV, text: str, context: list[bytes]) -> str:
    return base64.b32encode(cipher.encrypt(text.encode("utf-8"), context)).decode("ascii").rstrip("=")


def _opened(cipher: AESSIV, sealed: str, context: list[bytes]) -> str:
    data = sealed.upper()
    try:
        return cipher.decrypt(base64.b32decode(data + "=" * (-len(data) % 8)), context).decode("utf-8")
    except (InvalidTag, ValueError):
        raise UndecryptableError("a graph name does not decrypt with its scope's data key") from None


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

    def _opened_with_keys(self, scope: Scope, open_with: Callable[[ScopeKeys], _Opened]) -> _Opened | None:
        """What `open_with` opens with the keys of the scope's root, read afresh when the cached ones
        do not open it (another process purged the scope and a write made it a new key); None when
        the root has no key or its key does not open it either: a name sealed under a key that a
        purge destroyed (a write racing the purge) is shredded. Graph names carry no key id, so
        such a name cannot be told from an altered one: both are left out."""
        name = root_scope_name(scope)

        def candidates() -> Iterator[ScopeKeys]:
            cached = self._keys.existing(name)
            if cached is not None:
                yield cached
            fresh = self._keys.existing(name, fresh=True)
            if fresh is not None and fresh is not cached:
                yield fresh

        for keys in candidates():
            try:
                return open_with(keys)
            except UndecryptableError:
                continue
        return None

    def _entity(self, entity: Entity) -> Entity | None:
        def opened(keys: ScopeKeys) -> Entity:
            name = _opened_name(keys.names, keys.blind, entity.name, _NAME)
            return entity.model_copy(
                update={
                    "name": name,
                    "normalized_name": normalize_name(name),
                    "type": _opened_name(keys.names, keys.blind, entity.type, _TYPE),
                }
            )

        return self._opened_with_keys(entity.scope, opened)

    def _relation(self, relation: Relation) -> Relation | None:
        def opened(keys: ScopeKeys) -> Relation:
            return relation.model_copy(update={"relation": _opened(keys.names, relation.relation, _RELATION)})

        return self._opened_with_keys(relation.scope, opened)

    def _relations(self, relations: list[Relation]) -> list[Relation]:
        opened = (self._relation(r) for r in relations)
        return [r for r in opened if r is not None]

    def _entities(self, entities: list[Entity]) -> list[Entity]:
        opened = (self._entity(e) for e in entities)
        return [e for e in opened if e is not None]

    def add_relations(self, scope: Scope, mentions: list[RelationMention]) -> list[Relation]:
        root = root_scope(scope)
        for _ in range(WRITES_RACING_A_PURGE):
            # the scope's own key too: a read across users finds the scope's root through it (spanned_roots)
            keys = self._keys.keys([scope, root], fresh=True)[root]
            added = self._inner.add_relations(scope, [self._sealed_mention(keys, m) for m in mentions])
            if self._keys.still_current([scope_name(scope), scope_name(root)]):
                break
        return self._relations(added)

    @staticmethod
    def _sealed_mention(keys: ScopeKeys, mention: RelationMention) -> RelationMention:
        def entity(named: EntityMention) -> EntityMention:
            return EntityMention(
                _sealed_name(keys.names, keys.blind, named.name, _NAME),
                _sealed_name(keys.names, keys.blind, named.type, _TYPE),
            )

        return replace(
            mention,
            source=entity(mention.source),
            relation=_sealed(keys.names, relation_type(mention.relation), _RELATION),
            target=entity(mention.target),
        )

    def invalidate_memory_relations(self, memory_ids: list[str], at: datetime) -> list[Relation]:
        return self._relations(self._inner.invalidate_memory_relations(memory_ids, at))

    def delete_memory_relations(self, memory_ids: list[str]) -> None:
        self._inner.delete_memory_relations(memory_ids)

    def entities(self, scope: Scope) -> list[Entity]:
        # in the backend's order of names (it could only order the sealed ones)
        return sorted(self._entities(self._inner.entities(scope)), key=lambda e: e.name)

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
            entities=self._entities(found.entities),
            relations=self._relations(found.relations),
        )

    def may_have_entities(self, scope: Scope) -> bool:
        return self._inner.may_have_entities(scope)

    def delete_scope(self, scope: Scope) -> None:
        self._inner.delete_scope(scope)

    def reset(self) -> None:
        self._inner.reset()
