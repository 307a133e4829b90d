"""Grants: which scopes a principal may act on and with which rights, and how the ids a call
names resolve to one scope within them.

A grant names scopes (each a `Scope` with at least one id) and rights. It covers every scope
within one of its scopes: the grant `user_id=alice` covers `user_id=alice, agent_id=bot7`, and
the grant `agent_id=support` covers every user of that agent. The ids a call gives are added to
a grant's scope, so they can only narrow it; an id that contradicts the grant's (another user)
leaves the call outside it. A call that names no ids acts on its key's one scope; a key with
several must be told which.

A read-only grant may also carry metadata filters (the `filters` of search): it then covers only
the memories whose metadata match them, and a call through it sees no others.

These are plain functions over plain records: they read and write nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import InvalidFilterError, InvalidInputError, MissingScopeError, NotGrantedError
from ..filters import compile_filters, matches_filters
from ..records import Scope


class Right(StrEnum):
    READ = "read"  # search, list, get, history, the profile
    WRITE = "write"  # add, update, delete one memory, set the profile, receive a handoff
    FORGET = "forget"  # delete a whole scope, purge it, or erase one memory
    SHARE = "share"  # give another principal read access to the scope
    ADMIN = "admin"  # every right above, and the scope's access log and grants


# Rights a grant given over the REST API may carry: a sharer gives read access; an admin any
# right but admin, which only the command line gives.
SHAREABLE = {Right.SHARE: frozenset({Right.READ}), Right.ADMIN: frozenset(Right) - {Right.ADMIN}}

# Principal names: what a key acts as, and what grants are given to.
_PRINCIPAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}")


def check_principal(name: Any) -> str:
    if not isinstance(name, str) or not _PRINCIPAL.fullmatch(name):
        raise InvalidInputError(
            "a principal is 1 to 128 letters, digits or _ . @ : - (starting with a letter or digit), "
            f"got {name!r}"
        )
    return name


def parse_rights(names: Iterable[Any]) -> frozenset[Right]:
    rights = set()
    for name in names:
        try:
            rights.add(Right(name))
        except ValueError:
            raise InvalidInputError(
                f"unknown right {name!r}: rights are {', '.join(r.value for r in Right)}"
            ) from None
    if not rights:
        raise InvalidInputError("a grant needs at least one right")
    return frozenset(rights)


class Grant(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    principal: str
    scopes: tuple[Scope, ...]
    rights: frozenset[Right]
    filters: dict[str, Any] | None = None
    granted_by: str
    created_at: datetime

    def gives(self, right: Right) -> bool:
        return right in self.rights or Right.ADMIN in self.rights

    def covers(self, scope: Scope) -> bool:
        """Whether `scope` (a memory's, or a call's) lies within one of the grant's scopes."""
        return any(own.matches(scope) for own in self.scopes)

    def admits(self, metadata: Mapping[str, Any] | None) -> bool:
        """Whether a memory with this metadata is visible through the grant; None (a deleted
        memory, whose metadata is gone) passes only a grant without filters."""
        if self.filters is None:
            return True
        return metadata is not None and matches_filters(metadata, self.filters)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "principal": self.principal,
            "scopes": [scope.as_filter() for scope in self.scopes],
            "rights": sorted(right.value for right in self.rights),
            "filters": self.filters,
            "granted_by": self.granted_by,
            "created_at": self.created_at.isoformat(),
        }


def check_grant(grant: Grant) -> Grant:
    """Refuse a grant that could not be enforced as written: no scope, an empty scope (every
    user's memories), filters on a grant that writes (its writes would escape them)."""
    check_principal(grant.principal)
    if not grant.scopes:
        raise InvalidInputError("a grant needs at least one scope")
    for scope in grant.scopes:
        scope.required_filter()
    if grant.filters is not None:
        compile_filters(grant.filters)  # InvalidFilterError for a malformed filter
        if not grant.filters:
            raise InvalidFilterError("a grant's filters must name at least one metadata key")
        if grant.rights != {Right.READ}:
            raise InvalidInputError("a grant with metadata filters gives read access only")
    return grant


class Caller(BaseModel):
    """Who makes a call: the principal its key acts as, and the grants it holds at this call
    (read afresh for every call, so that a revoked grant or key stops the next one)."""

    model_config = ConfigDict(frozen=True)

    principal: str
    key_id: str | None  # None for the stdio server, bound to its scope by its command line
    grants: tuple[Grant, ...]


class Access(BaseModel):
    """The scope a call acts on, and the metadata filters its grant confines it to."""

    model_config = ConfigDict(frozen=True)

    scope: Scope
    filters: dict[str, Any] | None = None


def _narrowed(own: Scope, ids: Scope | None) -> Scope | None:
    """The grant's scope with the call's ids added; None when an id contradicts it."""
    merged = own.as_filter()
    for field, value in (ids.as_filter() if ids is not None else {}).items():
        if merged.setdefault(field, value) != value:
            return None
    return Scope(**merged)


def _describe(scope: Scope | None) -> str:
    ids = scope.as_filter() if scope is not None else {}
    return ", ".join(f"{field}={value!r}" for field, value in ids.items()) or "its own scope"


def resolve(caller: Caller, right: Right, ids: Scope | None) -> Access:
    """The scope a call with these ids acts on, within the caller's grants that give `right`.

    Each such grant's scope narrowed by the ids is a candidate; the call acts on the candidate
    that contains all others (its grant covers them), or is refused as ambiguous.
    Raises NotGrantedError (no grant reaches the ids with the right) or MissingScopeError."""
    candidates: dict[Scope, list[Grant]] = {}
    for grant in caller.grants:
        if grant.gives(right):
            for own in grant.scopes:
                scope = _narrowed(own, ids)
                if scope is not None:
                    candidates.setdefault(scope, []).append(grant)
    if not candidates:
        raise NotGrantedError(f"{caller.principal!r} has no {right.value} grant over {_describe(ids)}")
    widest = [scope for scope in candidates if all(scope.matches(other) for other in candidates)]
    if not widest:
        reach = "; ".join(_describe(scope) for scope in candidates)
        raise MissingScopeError(
            f"{caller.principal!r} can {right.value} several scopes ({reach}): name one with "
            "user_id, agent_id or run_id"
        )
    grants = candidates[widest[0]]
    unfiltered = any(grant.filters is None for grant in grants)
    return Access(scope=widest[0], filters=None if unfiltered else grants[0].filters)


def check_reach(caller: Caller, ids: Scope | None) -> None:
    """Refuse ids that no grant of the caller reaches (a by-id call naming another user), before
    anything is read. Raises NotGrantedError."""
    if ids is not None and not any(_narrowed(own, ids) for grant in caller.grants for own in grant.scopes):
        raise NotGrantedError(f"{caller.principal!r} has no grant over {_describe(ids)}")


def may_touch(caller: Caller, right: Right, scope: Scope, metadata: Mapping[str, Any] | None) -> bool:
    """Whether one of the caller's grants gives `right` over a memory of `scope` with this metadata."""
    return any(g.gives(right) and g.covers(scope) and g.admits(metadata) for g in caller.grants)


def confined_filters(access: Access, filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A call's metadata filters within its grant's: both apply. A condition on a key the grant
    fixes must be the grant's own (anything else would read outside it)."""
    if access.filters is None:
        return None if filters is None else dict(filters)
    if filters is None:
        return dict(access.filters)
    if not isinstance(filters, Mapping):
        raise InvalidFilterError(f"filters must be a mapping, got {type(filters).__name__}")
    clashes = sorted(key for key in filters if key in access.filters and filters[key] != access.filters[key])
    if clashes:
        raise NotGrantedError(f"this grant fixes the metadata {', '.join(clashes)}: filter on other keys")
    return {**filters, **access.filters}


def shareable(caller: Caller, scope: Scope) -> frozenset[Right]:
    """The rights the caller may give others over `scope` (through the REST API)."""
    given: set[Right] = set()
    for grant in caller.grants:
        if grant.covers(scope) and grant.filters is None:
            for right, rights in SHAREABLE.items():
                if right in grant.rights:
                    given |= rights
    return frozenset(given)
