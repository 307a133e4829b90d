"""Every server call, written once for the REST routes, the MCP tools and the stdio server.

A call is checked against its caller's grants before anything is read or written: a call that
names a scope acts on the scope its grants resolve it to (grants.resolve), and a call that names
a memory acts on it only when a grant covers the memory, which is otherwise reported exactly as
an unknown id (no caller learns that another scope's memory exists). Then the memory operation
runs, and the access log gets its entry. Results are JSON-ready, in Mem0's item shapes.

The methods block (the store, the embedder): the REST routes run in FastAPI's thread pool, the
MCP tools hand them to a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import operations
from ..errors import InvalidInputError, MemoryNotFoundError, NotGrantedError
from ..memory import Memory
from ..pipeline.validation import check_limit, check_memory_id, check_optional_scope
from ..records import MemoryRecord, Scope
from .access_log import by_owner, log_access, read_access_log
from .grants import (
    Access,
    Caller,
    Right,
    check_reach,
    confined_filters,
    may_touch,
    parse_rights,
    resolve,
    shareable,
)
from .handoff import hand_off
from .keys import Keyring


class MemoryActions:
    """The calls one caller makes through one door (`via`: rest, mcp or stdio)."""

    def __init__(self, memory: Memory, caller: Caller, via: str):
        self.services = memory.services
        self.caller = caller
        self.via = via

    # -- checks ---------------------------------------------------------------------------------

    def _access(self, right: Right, user_id: Any, agent_id: Any, run_id: Any) -> Access:
        ids = check_optional_scope(self.services.config.limits, user_id, agent_id, run_id)
        return resolve(self.caller, right, ids)

    def _narrowing(self, user_id: Any, agent_id: Any, run_id: Any) -> Scope | None:
        """The ids a by-id call gives, which the memory must match; ids no grant reaches are refused."""
        narrowed = check_optional_scope(self.services.config.limits, user_id, agent_id, run_id)
        check_reach(self.caller, narrowed)
        return narrowed

    def _memory(
        self, memory_id: Any, right: Right, user_id: Any = None, agent_id: Any = None, run_id: Any = None
    ) -> MemoryRecord:
        """The memory, when a grant gives `right` over it. One no grant lets the caller read is
        unknown to it; one it may read but not change is refused (NotGrantedError)."""
        narrowed = self._narrowing(user_id, agent_id, run_id)
        record = operations.get(self.services, memory_id, narrowed)
        if not may_touch(self.caller, Right.READ, record.scope, record.metadata):
            raise MemoryNotFoundError(memory_id)
        if not may_touch(self.caller, right, record.scope, record.metadata):
            raise NotGrantedError(
                f"{self.caller.principal!r} has no {right.value} grant over memory {memory_id!r}"
            )
        return record

    def _log(self, action: str, touched: dict[Scope, list[str]]) -> None:
        log_access(self.services, self.caller, self.via, action, touched)

    # -- memories -------------------------------------------------------------------------------

    def add(
        self,
        messages: Any,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
        metadata: Mapping[str, Any] | None = None,
        infer: bool = True,
        timestamp: Any = None,
    ) -> dict:
        access = self._access(Right.WRITE, user_id, agent_id, run_id)
        done = operations.add(self.services, messages, access.scope, metadata, infer, timestamp)
        self._log("add", by_owner([op.memory for op in done], access.scope))
        return {"results": [op.to_dict() for op in done]}

    def search(
        self,
        query: Any,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        threshold: float | None = None,
    ) -> dict:
        access = self._access(Right.READ, user_id, agent_id, run_id)
        filters = confined_filters(access, filters)
        hits = operations.search(self.services, query, access.scope, limit, filters, threshold)
        self._log("search", by_owner([hit.memory for hit in hits], access.scope))
        return {"results": [hit.to_dict() for hit in hits]}

    def list(
        self,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        include_invalidated: bool = False,
    ) -> dict:
        access = self._access(Right.READ, user_id, agent_id, run_id)
        filters = confined_filters(access, filters)
        records = operations.get_all(self.services, access.scope, limit, filters, include_invalidated)
        self._log("list", by_owner(records, access.scope))
        return {"results": [record.to_dict() for record in records]}

    def get(self, memory_id: Any, user_id: Any = None, agent_id: Any = None, run_id: Any = None) -> dict:
        record = self._memory(memory_id, Right.READ, user_id, agent_id, run_id)
        self._log("get", {record.scope: [record.id]})
        return record.to_dict()

    def history(self, memory_id: Any, user_id: Any = None, agent_id: Any = None, run_id: Any = None) -> dict:
        """A deleted memory's history stays readable through a grant without metadata filters
        (its metadata went with it)."""
        events = operations.history(self.services, memory_id, self._narrowing(user_id, agent_id, run_id))
        live = self.services.vector.get([memory_id])
        if not may_touch(self.caller, Right.READ, events[0].scope, live[0].metadata if live else None):
            raise MemoryNotFoundError(memory_id)
        self._log("history", {events[0].scope: [memory_id]})
        return {"results": [event.to_dict() for event in events]}

    def update(
        self,
        memory_id: Any,
        text: Any,
        metadata: Mapping[str, Any] | None = None,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
    ) -> dict:
        record = self._memory(memory_id, Right.WRITE, user_id, agent_id, run_id)
        updated = operations.update(self.services, record.id, text, metadata, record.scope)
        self._log("update", {updated.scope: [updated.id]})
        return updated.to_dict()

    def delete(
        self,
        memory_id: Any,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
        purge: bool = False,
    ) -> dict:
        """Retire one memory (write right); with purge, erase it and its history (forget right)."""
        if not isinstance(purge, bool):
            raise InvalidInputError("purge is true or false")
        record = self._memory(memory_id, Right.FORGET if purge else Right.WRITE, user_id, agent_id, run_id)
        deleted = operations.delete(self.services, record.id, record.scope, purge)
        self._log("erase" if purge else "delete", {deleted.scope: [deleted.id]})
        return {**deleted.to_dict(), "purged": purge}

    def forget(
        self,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
        purge: bool = True,
        across_users: bool = False,
    ) -> dict:
        """Delete every memory of the scope; with purge (the default), erase its history,
        profile and access log too, so that no entry is left to say it was there."""
        access = self._access(Right.FORGET, user_id, agent_id, run_id)
        if not isinstance(purge, bool) or not isinstance(across_users, bool):
            raise InvalidInputError("purge and across_users are true or false")
        count = operations.delete_all(self.services, access.scope, purge, across_users)
        if not purge:
            self._log("delete_all", {access.scope: []})
        return {"deleted": count, "purged": purge, "scope": access.scope.as_filter()}

    def handoff(
        self,
        memory_ids: Any,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
    ) -> dict:
        """Copy memories the caller may read into a scope it may write (handoff.py)."""
        target = self._access(Right.WRITE, user_id, agent_id, run_id).scope
        if not isinstance(memory_ids, (list, tuple)) or not memory_ids:
            raise InvalidInputError("memory_ids is a non-empty list of memory ids")
        check_limit(self.services.config.limits, len(memory_ids))
        unique = list(dict.fromkeys(check_memory_id(memory_id) for memory_id in memory_ids))
        originals = [self._memory(memory_id, Right.READ) for memory_id in unique]
        inside = [record.id for record in originals if record.scope == target]
        if inside:
            raise InvalidInputError(f"memories {inside} are in the target scope already")
        done = hand_off(self.services, originals, target, self.caller.principal)
        self._log("handoff_out", by_owner(originals, target))
        self._log("handoff_in", {target: [op.memory.id for op in done]})
        results = [
            {**op.to_dict(), "from": original.id} for op, original in zip(done, originals, strict=True)
        ]
        return {"results": results}

    # -- profiles -------------------------------------------------------------------------------

    def get_profile(self, user_id: Any = None, agent_id: Any = None, run_id: Any = None) -> dict:
        access = self._access(Right.READ, user_id, agent_id, run_id)
        if access.filters is not None:
            raise NotGrantedError(
                "a grant confined to memories with given metadata does not show the profile"
            )
        self._log("get_profile", {access.scope: []})
        return {
            "scope": access.scope.as_filter(),
            "profile": operations.get_profile(self.services, access.scope),
        }

    def set_profile(self, values: Any, user_id: Any = None, agent_id: Any = None, run_id: Any = None) -> dict:
        access = self._access(Right.WRITE, user_id, agent_id, run_id)
        profile = operations.set_profile(self.services, access.scope, values)
        self._log("set_profile", {access.scope: []})
        return {"scope": access.scope.as_filter(), "profile": profile}

    # -- grants and the access log ----------------------------------------------------------------

    def grants(self) -> dict:
        """The caller's grants, and those it gave."""
        given = [g for g in Keyring(self.services.kv).all_grants() if g.granted_by == self.caller.principal]
        return {
            "principal": self.caller.principal,
            "grants": [grant.to_dict() for grant in self.caller.grants],
            "given": [grant.to_dict() for grant in given],
        }

    def share(
        self,
        principal: Any,
        rights: Any = ("read",),
        filters: Mapping[str, Any] | None = None,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
    ) -> dict:
        """Give `principal` rights over a scope the caller may share: read access with the
        share right, any right but admin with admin."""
        scope = self._access(Right.SHARE, user_id, agent_id, run_id).scope
        if isinstance(rights, str) or not isinstance(rights, (list, tuple)):
            raise InvalidInputError('rights is a list, e.g. ["read"]')
        wanted = parse_rights(rights)
        beyond = wanted - shareable(self.caller, scope)
        if beyond:
            names = ", ".join(sorted(right.value for right in beyond))
            raise NotGrantedError(f"{self.caller.principal!r} cannot give {names} over this scope")
        grant = Keyring(self.services.kv).grant(principal, [scope], wanted, self.caller.principal, filters)
        self._log("share", {scope: []})
        return grant.to_dict()

    def revoke_grant(self, grant_id: Any) -> dict:
        """Revoke a grant the caller gave, holds, or administers every scope of."""
        keyring = Keyring(self.services.kv)
        grant = keyring.find_grant(grant_id) if isinstance(grant_id, str) else None
        principal = self.caller.principal
        if grant is None or not (
            principal in (grant.granted_by, grant.principal)
            or all(may_touch(self.caller, Right.ADMIN, scope, None) for scope in grant.scopes)
        ):
            raise NotGrantedError(f"no grant {grant_id!r} that {principal!r} may revoke")
        revoked = keyring.revoke_grant(grant.id)
        self._log("revoke_grant", {scope: [] for scope in revoked.scopes})
        return revoked.to_dict()

    def access_log(
        self, user_id: Any = None, agent_id: Any = None, run_id: Any = None, limit: int = 100
    ) -> dict:
        access = self._access(Right.ADMIN, user_id, agent_id, run_id)
        limit = check_limit(self.services.config.limits, limit)
        return {"results": read_access_log(self.services, access.scope, limit)}
