"""The public facades. They validate scope ids and delegate to `operations`; no logic lives here."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping, Sequence

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from . import operations
from .builder import build_services
from .config import MemoryConfig
from .managers.base import MemoryManager
from .manifest import check_manifest
from .mem0_compat import config_from_mem0
from .pipeline.audit import remove_finished_journal, settle_journal
from .pipeline.forget import finish_interrupted_deletions
from .pipeline.validation import check_optional_scope, check_scope
from .records import HistoryEvent, MemoryOperation, MemoryRecord, Neighbourhood, Scope, SearchHit
from .services import MemoryServices
from .tiers.graph import GraphStore
from .tiers.keyvalue import KeyValueStore
from .tiers.vector import VectorStore


class _Facade:
    def __init__(
        self,
        config: MemoryConfig | Mapping[str, Any] | None = None,
        *,
        embeddings: Embeddings | None = None,
        llm: BaseChatModel | None = None,
        manager: MemoryManager | None = None,
        vector: VectorStore | None = None,
        graph: GraphStore | None = None,
        kv: KeyValueStore | None = None,
    ):
        """config (a MemoryConfig or a dict of one) names the backends to open; `vector`, `graph`
        and `kv` are tier instances to use instead (any object implementing the tier's protocol,
        langmem_plugin.tiers). Tiers passed in stay the caller's: `close` leaves them open, so
        that one instance can serve memory after memory; the caller closes it after the last."""
        if config is None:
            config = MemoryConfig()
        elif not isinstance(config, MemoryConfig):
            config = MemoryConfig.from_dict(config)
        self.config = config
        self.services: MemoryServices = build_services(
            config, embeddings, manager, llm, vector=vector, graph=graph, kv=kv
        )
        try:
            check_manifest(self.services)  # never serve an empty tier next to surviving ones
            settle_journal(self.services)  # audit what a crashed writer committed but did not log
            finish_interrupted_deletions(self.services)  # a crash never leaves half a scope deleted
        except BaseException:
            self.services.close()
            raise

    def _close(self) -> None:
        try:
            remove_finished_journal(self.services)
        finally:
            self.services.close()

    @classmethod
    def from_env(cls, **kwargs: Any):
        return cls(MemoryConfig.from_env(), **kwargs)

    @classmethod
    def from_config(cls, config_dict: Mapping[str, Any], **kwargs: Any):
        """Mem0's constructor: a Mem0-shaped config dict (or our own); see docs/coming-from-mem0.md."""
        return cls(config_from_mem0(config_dict), **kwargs)

    def _scope(self, user_id: Any, agent_id: Any, run_id: Any) -> Scope:
        return check_scope(self.config.limits, user_id, agent_id, run_id)

    def _optional_scope(self, user_id: Any, agent_id: Any, run_id: Any) -> Scope | None:
        """By-id calls: no ids means any scope (Mem0's behaviour); given ids must match the record."""
        return check_optional_scope(self.config.limits, user_id, agent_id, run_id)


class Memory(_Facade):
    """Long-term memory over the vector, graph and key-value tiers.

    >>> memory = Memory({"path": "/tmp/mem"})
    >>> memory.add("I moved to Berlin last week", user_id="alice")
    >>> memory.search("where does alice live?", user_id="alice")
    """

    def add(
        self,
        messages: str | Sequence[Any],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        infer: bool = True,
        timestamp: Any = None,
    ) -> list[MemoryOperation]:
        """Remember messages. infer=False stores each message verbatim; infer=True lets the manager
        extract facts.

        A call that raised (a server went down mid-write) may have stored part of its batch;
        calling it again with the same arguments stores each memory exactly once. Messages that
        bring their own id are recognised across processes too: a message (id and text) stored
        before answers NOOP. The same text said again after a successful call is a new statement.
        See docs/architecture.md, "Server failures and retried adds"."""
        scope = self._scope(user_id, agent_id, run_id)
        return operations.add(self.services, messages, scope, metadata, infer, timestamp)

    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        threshold: float | None = None,
        as_of: Any = None,
    ) -> list[SearchHit]:
        scope = self._scope(user_id, agent_id, run_id)
        return operations.search(self.services, query, scope, limit, filters, threshold, as_of)

    def get(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> MemoryRecord:
        """The memory with this id. Given scope ids must match it, else MemoryNotFoundError, as for a missing id."""
        return operations.get(self.services, memory_id, self._optional_scope(user_id, agent_id, run_id))

    def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        include_invalidated: bool = False,
    ) -> list[MemoryRecord]:
        scope = self._scope(user_id, agent_id, run_id)
        return operations.get_all(self.services, scope, limit, filters, include_invalidated)

    def update(
        self,
        memory_id: str | None = None,
        text: str | None = None,
        *,
        data: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> MemoryRecord | list[MemoryOperation]:
        """`update(memory_id, text)` (or Mem0's `update(memory_id=..., data=...)`) rewrites that memory
        and returns it. `update(statement, user_id=...)`, a statement alone, is an authoritative
        correction ("User now works at Google (previously at Microsoft)"): the manager records its
        facts over what they contradict, and the operations are returned (operations.correct)."""
        return operations.update_by_id_or_statement(
            self.services, memory_id, text, data, metadata, user_id, agent_id, run_id
        )

    def delete(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> MemoryRecord | list[MemoryRecord]:
        """`delete(memory_id)` retires that memory and returns it. `delete(description, user_id=...)`,
        any text that is not a memory id, retires the scope's memories it clearly matches and returns
        them, or raises NoClearMatchError naming the closest ones (operations.clear_matches)."""
        return operations.delete_by_id_or_description(self.services, memory_id, user_id, agent_id, run_id)

    def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        purge: bool = False,
        across_users: bool = False,
    ) -> int:
        """Delete every memory within the scope (sub-scopes included); see operations.delete_all."""
        return operations.delete_all(self.services, self._scope(user_id, agent_id, run_id), purge, across_users)

    def history(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> list[HistoryEvent]:
        return operations.history(self.services, memory_id, self._optional_scope(user_id, agent_id, run_id))

    def related(
        self,
        names: list[str],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        hops: int = 1,
        as_of: Any = None,
    ) -> Neighbourhood:
        """Entities within `hops` relations of the named ones, from the graph tier."""
        return operations.neighbourhood(self.services, self._scope(user_id, agent_id, run_id), names, hops, as_of)

    def get_profile(self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None) -> dict:
        return operations.get_profile(self.services, self._scope(user_id, agent_id, run_id))

    def set_profile(
        self, values: Mapping[str, Any], *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> dict:
        return operations.set_profile(self.services, self._scope(user_id, agent_id, run_id), values)

    def reset(self) -> None:
        operations.reset(self.services)

    def close(self) -> None:
        self._close()

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMemory(_Facade):
    """The same operations as `Memory`, awaitable; each runs the shared implementation in a worker thread."""

    async def _run(self, function, *args: Any) -> Any:
        return await asyncio.to_thread(function, self.services, *args)

    async def add(
        self,
        messages: str | Sequence[Any],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        infer: bool = True,
        timestamp: Any = None,
    ) -> list[MemoryOperation]:
        scope = self._scope(user_id, agent_id, run_id)
        return await self._run(operations.add, messages, scope, metadata, infer, timestamp)

    async def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        threshold: float | None = None,
        as_of: Any = None,
    ) -> list[SearchHit]:
        scope = self._scope(user_id, agent_id, run_id)
        return await self._run(operations.search, query, scope, limit, filters, threshold, as_of)

    async def get(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> MemoryRecord:
        return await self._run(operations.get, memory_id, self._optional_scope(user_id, agent_id, run_id))

    async def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        include_invalidated: bool = False,
    ) -> list[MemoryRecord]:
        scope = self._scope(user_id, agent_id, run_id)
        return await self._run(operations.get_all, scope, limit, filters, include_invalidated)

    async def update(
        self,
        memory_id: str | None = None,
        text: str | None = None,
        *,
        data: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> MemoryRecord | list[MemoryOperation]:
        return await self._run(
            operations.update_by_id_or_statement, memory_id, text, data, metadata, user_id, agent_id, run_id
        )

    async def delete(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> MemoryRecord | list[MemoryRecord]:
        return await self._run(operations.delete_by_id_or_description, memory_id, user_id, agent_id, run_id)

    async def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        purge: bool = False,
        across_users: bool = False,
    ) -> int:
        return await self._run(operations.delete_all, self._scope(user_id, agent_id, run_id), purge, across_users)

    async def history(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> list[HistoryEvent]:
        return await self._run(operations.history, memory_id, self._optional_scope(user_id, agent_id, run_id))

    async def related(
        self,
        names: list[str],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        hops: int = 1,
        as_of: Any = None,
    ) -> Neighbourhood:
        return await self._run(operations.neighbourhood, self._scope(user_id, agent_id, run_id), names, hops, as_of)

    async def get_profile(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> dict:
        return await self._run(operations.get_profile, self._scope(user_id, agent_id, run_id))

    async def set_profile(
        self, values: Mapping[str, Any], *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> dict:
        return await self._run(operations.set_profile, self._scope(user_id, agent_id, run_id), values)

    async def reset(self) -> None:
        await self._run(operations.reset)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close)

    async def __aenter__(self) -> "AsyncMemory":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
