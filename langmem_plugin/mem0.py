"""Mem0's `Memory` and `AsyncMemory` as a drop-in: `from langmem_plugin.mem0 import Memory`.

The methods, keywords and return values are Mem0 1.0's: `add`, `search` and `get_all` return
`{"results": [...], "relations": [...]}`, `update` / `delete` / `delete_all` a `{"message": ...}`,
`get` a memory dict or None, `history` a list of dicts; Mem0 2.0's `filters={"user_id": ...}` and
`top_k=` are accepted too. Each method is one plain function over `MemoryServices`, called by
`Memory` and run in a worker thread by `AsyncMemory`. The full API (typed records, statements,
valid time) stays one attribute away: `m.langmem` is the `langmem_plugin.Memory` underneath.
See docs/coming-from-mem0.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from . import memory as core, operations
from .config import MemoryConfig
from .errors import (
    ConfigurationError,
    InvalidFilterError,
    InvalidInputError,
    InvalidScopeError,
    MemoryNotFoundError,
)
from .managers.base import MemoryManager
from .mem0_compat import SCOPE_KEYS, as_mem0_result, config_from_mem0, filters_from_mem0, relations_of
from .pipeline.validation import check_scope
from .records import EventType, Scope
from .services import MemoryServices

__all__ = ["AsyncMemory", "Memory"]

UPDATED = {"message": "Memory updated successfully!"}
DELETED = {"message": "Memory deleted successfully!"}
ALL_DELETED = {"message": "Memories deleted successfully!"}


def _config(config: Any) -> MemoryConfig:
    """Mem0's `Memory()` builds from defaults: here they are read from LANGMEM_* variables, so a
    script can be pointed at a store without touching its code; a dict is Mem0's shape or ours."""
    if config is None:
        return MemoryConfig.from_env()
    if isinstance(config, MemoryConfig):
        return config
    if isinstance(config, Mapping):
        return config_from_mem0(config)
    raise ConfigurationError(
        "config must be a dict (Mem0's shape or ours) or a langmem_plugin MemoryConfig, "
        f"got {type(config).__name__}"
    )


def _scope(
    services: MemoryServices, user_id: Any, agent_id: Any, run_id: Any, filters: Any
) -> tuple[Scope, dict | None]:
    """The scope from the id keywords and from the ids Mem0 2.0 puts in `filters` (they must agree),
    and the remaining metadata filters."""
    named, metadata = filters_from_mem0(filters)
    ids = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
    for key in SCOPE_KEYS:
        if key in named:
            if ids[key] is not None and ids[key] != named[key]:
                raise InvalidScopeError(f"{key} is {ids[key]!r} but filters give {named[key]!r}")
            ids[key] = named[key]
    return check_scope(services.config.limits, **ids), metadata or None


def _merged(filters: Any, metadata_filters: Any) -> Any:
    """Mem0's AsyncMemory.search takes metadata conditions in a second mapping too."""
    if metadata_filters is None:
        return filters
    if not isinstance(filters, (Mapping, type(None))) or not isinstance(metadata_filters, Mapping):
        raise InvalidFilterError("filters and metadata_filters must be mappings")
    shared = sorted(set(filters or {}) & set(metadata_filters))
    if shared:
        raise InvalidFilterError(f"{', '.join(shared)} given in both filters and metadata_filters")
    return {**(filters or {}), **metadata_filters}


def add(
    services: MemoryServices,
    messages: Any,
    user_id: Any = None,
    agent_id: Any = None,
    run_id: Any = None,
    metadata: Mapping[str, Any] | None = None,
    infer: bool = True,
    memory_type: Any = None,
    prompt: Any = None,
    llm: Any = None,
) -> dict:
    if memory_type is not None or llm is not None:
        raise InvalidInputError("procedural memories (memory_type, llm) are not supported: leave them out")
    if prompt is not None:
        raise InvalidInputError(
            "prompt= per call is not supported: set custom_fact_extraction_prompt in the config"
        )
    scope = check_scope(services.config.limits, user_id, agent_id, run_id)
    done = operations.add(services, messages, scope, metadata, infer)
    stored = [op.memory for op in done if op.event in (EventType.ADD, EventType.UPDATE)]
    return as_mem0_result(done, relations_of(services, stored))


def get(services: MemoryServices, memory_id: Any) -> dict | None:
    try:
        return operations.get(services, memory_id).to_dict()
    except MemoryNotFoundError:
        return None


def get_all(
    services: MemoryServices,
    user_id: Any = None,
    agent_id: Any = None,
    run_id: Any = None,
    filters: Any = None,
    limit: int = 100,
    top_k: int | None = None,
) -> dict:
    scope, metadata = _scope(services, user_id, agent_id, run_id, filters)
    records = operations.get_all(services, scope, limit if top_k is None else top_k, metadata)
    return as_mem0_result(records, relations_of(services, records))


def search(
    services: MemoryServices,
    query: Any,
    user_id: Any = None,
    agent_id: Any = None,
    run_id: Any = None,
    limit: int = 100,
    filters: Any = None,
    threshold: float | None = None,
    rerank: bool = True,
    top_k: int | None = None,
    metadata_filters: Any = None,
) -> dict:
    """`rerank` asks Mem0 to use a configured reranker; none is configured here (results are ordered
    by relevance), as in Mem0 without a `reranker` section."""
    scope, metadata = _scope(services, user_id, agent_id, run_id, _merged(filters, metadata_filters))
    hits = operations.search(services, query, scope, limit if top_k is None else top_k, metadata, threshold)
    return as_mem0_result(hits, relations_of(services, [hit.memory for hit in hits]))


def update(
    services: MemoryServices, memory_id: Any, data: Any, metadata: Mapping[str, Any] | None = None
) -> dict:
    """Mem0 keeps the metadata keys the update does not name."""
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise InvalidInputError(f"metadata must be a mapping, got {type(metadata).__name__}")
        metadata = {**operations.get(services, memory_id).metadata, **metadata}
    operations.update(services, memory_id, data, metadata)
    return UPDATED


def delete(services: MemoryServices, memory_id: Any) -> dict:
    operations.delete(services, memory_id)
    return DELETED


def delete_all(
    services: MemoryServices, user_id: Any = None, agent_id: Any = None, run_id: Any = None
) -> dict:
    operations.delete_all(services, check_scope(services.config.limits, user_id, agent_id, run_id))
    return ALL_DELETED


def history(services: MemoryServices, memory_id: Any) -> list[dict]:
    """Mem0 answers an id without history with an empty list."""
    try:
        return [event.to_dict() for event in operations.history(services, memory_id)]
    except MemoryNotFoundError:
        return []


class _Facade:
    _core: type[core.Memory | core.AsyncMemory]

    def __init__(
        self,
        config: Any = None,
        *,
        embeddings: Embeddings | None = None,
        llm: BaseChatModel | None = None,
        manager: MemoryManager | None = None,
    ):
        self.langmem = self._core(_config(config), embeddings=embeddings, llm=llm, manager=manager)
        self.services: MemoryServices = self.langmem.services
        self.config = self.langmem.config

    @classmethod
    def from_config(cls, config_dict: Mapping[str, Any], **kwargs: Any):
        """Mem0's config dict; every setting that cannot be honoured is named in one ConfigurationError."""
        return cls(config_from_mem0(config_dict), **kwargs)

    def close(self) -> None:
        self.langmem._close()  # noqa: SLF001 - the synchronous close both facades share


class Memory(_Facade):
    """Mem0's `Memory`, on langmem-plugin's tiers and memory manager."""

    _core = core.Memory

    def add(
        self,
        messages: Any,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        infer: bool = True,
        memory_type: str | None = None,
        prompt: str | None = None,
    ) -> dict:
        return add(self.services, messages, user_id, agent_id, run_id, metadata, infer, memory_type, prompt)

    def get(self, memory_id: str) -> dict | None:
        return get(self.services, memory_id)

    def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        top_k: int | None = None,
    ) -> dict:
        return get_all(self.services, user_id, agent_id, run_id, filters, limit, top_k)

    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        threshold: float | None = None,
        rerank: bool = True,
        top_k: int | None = None,
        metadata_filters: Mapping[str, Any] | None = None,
    ) -> dict:
        return search(
            self.services,
            query,
            user_id,
            agent_id,
            run_id,
            limit,
            filters,
            threshold,
            rerank,
            top_k,
            metadata_filters,
        )

    def update(self, memory_id: str, data: str, metadata: Mapping[str, Any] | None = None) -> dict:
        return update(self.services, memory_id, data, metadata)

    def delete(self, memory_id: str) -> dict:
        return delete(self.services, memory_id)

    def delete_all(
        self, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> dict:
        return delete_all(self.services, user_id, agent_id, run_id)

    def history(self, memory_id: str) -> list[dict]:
        return history(self.services, memory_id)

    def reset(self) -> None:
        operations.reset(self.services)

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMemory(_Facade):
    """Mem0's `AsyncMemory`: the same methods awaitable, each run in a worker thread."""

    _core = core.AsyncMemory

    async def _run(self, function, *args: Any) -> Any:
        return await asyncio.to_thread(function, self.services, *args)

    async def add(
        self,
        messages: Any,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        infer: bool = True,
        memory_type: str | None = None,
        prompt: str | None = None,
        llm: Any = None,
    ) -> dict:
        return await self._run(
            add, messages, user_id, agent_id, run_id, metadata, infer, memory_type, prompt, llm
        )

    async def get(self, memory_id: str) -> dict | None:
        return await self._run(get, memory_id)

    async def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        top_k: int | None = None,
    ) -> dict:
        return await self._run(get_all, user_id, agent_id, run_id, filters, limit, top_k)

    async def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        threshold: float | None = None,
        metadata_filters: Mapping[str, Any] | None = None,
        rerank: bool = True,
        top_k: int | None = None,
    ) -> dict:
        return await self._run(
            search,
            query,
            user_id,
            agent_id,
            run_id,
            limit,
            filters,
            threshold,
            rerank,
            top_k,
            metadata_filters,
        )

    async def update(self, memory_id: str, data: str, metadata: Mapping[str, Any] | None = None) -> dict:
        return await self._run(update, memory_id, data, metadata)

    async def delete(self, memory_id: str) -> dict:
        return await self._run(delete, memory_id)

    async def delete_all(
        self, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> dict:
        return await self._run(delete_all, user_id, agent_id, run_id)

    async def history(self, memory_id: str) -> list[dict]:
        return await self._run(history, memory_id)

    async def reset(self) -> None:
        await self._run(operations.reset)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
