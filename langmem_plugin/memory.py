"""The public facades. They validate scope ids and delegate to `operations`; no logic lives here."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from . import operations
from .builder import build_services
from .config import MemoryConfig
from .encryption import KeyProvider
from .managers.base import MemoryManager
from .manifest import check_manifest
from .mem0_compat import config_from_mem0
from .pipeline.audit import remove_finished_journal, settle_journal
from .pipeline.consolidate import ConsolidationReport, Reversal, background_consolidator
from .pipeline.files import FileSource
from .pipeline.forget import finish_interrupted_deletions
from .pipeline.messages import MessagesInput
from .pipeline.sweep import background_sweeper
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
        key_provider: KeyProvider | None = None,
    ):
        """config (a MemoryConfig or a dict of one) names the backends to open; `vector`, `graph`
        and `kv` are tier instances to use instead (any object implementing the tier's protocol,
        langmem_plugin.tiers). Tiers passed in stay the caller's: `close` leaves them open, so
        that one instance can serve memory after memory; the caller closes it after the last.
        `key_provider` supplies the master key of an encrypted store (a KMS; see docs/security.md)."""
        if config is None:
            config = MemoryConfig()
        elif not isinstance(config, MemoryConfig):
            config = MemoryConfig.from_dict(config)
        self.config = config
        self.services: MemoryServices = build_services(
            config, embeddings, manager, llm, vector=vector, graph=graph, kv=kv, key_provider=key_provider
        )
        try:
            check_manifest(self.services)  # never serve an empty tier next to surviving ones
            settle_journal(self.services)  # audit what a crashed writer committed but did not log
            finish_interrupted_deletions(self.services)  # a crash never leaves half a scope deleted
        except BaseException:
            self.services.close()
            raise
        self._maintenance = [
            start(self.services, interval)
            for start, interval in (
                (background_sweeper, config.retention.sweep_interval_seconds),
                (background_consolidator, config.consolidation.interval_seconds),
            )
            if interval is not None
        ]
        for task in self._maintenance:
            task.start()

    def _close(self) -> None:
        try:
            for task in self._maintenance:
                task.stop()
            remove_finished_journal(self.services)
        finally:
            self.services.close()

    @classmethod
    def from_env(cls, **kwargs: Any):
        """A memory configured by the environment: LANGMEM_PATH and LANGMEM_<SECTION>__<FIELD>
        (MemoryConfig.from_env); `kwargs` as for the constructor. Raises ConfigurationError."""
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

    Scope ids (user_id, agent_id, run_id) are strings, and an id left out matches any (Mem0's
    rule): `search(q, agent_id="bot")` reaches every user's memories of that agent, so a
    multi-user application always passes user_id (docs/scopes.md). A call on a scope needs at
    least one id (MissingScopeError); a call by memory id takes them optionally, and reports a
    memory outside the ids given exactly as a missing one. Every bad argument raises an
    InvalidInputError subclass before anything is read or written (InvalidScopeError for an id
    that is not a usable string, ForbiddenScopeError for a reserved one); a failing tier raises
    BackendError.

    >>> memory = Memory({"path": "/tmp/mem"})
    >>> memory.add("I moved to Berlin last week", user_id="alice")
    >>> memory.search("where does alice live?", user_id="alice")
    """

    def add(
        self,
        messages: MessagesInput,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        infer: bool = True,
        timestamp: Any = None,
        expires_at: Any = None,
        ttl: Any = None,
    ) -> list[MemoryOperation]:
        """Remember messages: a string, a message dict ("role", "content", optionally "name", "id",
        "timestamp"), a LangChain message, or a list of them, in exactly the scope given.
        Structured data (a dict with neither "role" nor "content", a message whose content is a
        dict or a list of records, JSON text when infer=True) is stored as one readable fact per
        record with the record under metadata["data"] (docs/files-and-data.md).

        infer=True lets the manager extract facts and reconcile each with the memories of exactly
        this scope (never a run's, an agent's or another user's): it adds, updates, invalidates or
        keeps. infer=False stores each message verbatim. `metadata` goes on every memory written;
        `timestamp` is when messages that carry none were said (default: now). `expires_at` (a
        datetime, naive = UTC, or an ISO string) or `ttl` (a timedelta or seconds) makes the memories
        it adds expire: hidden from every read from then on, erased by `sweep`; it must lie in the
        future (InvalidExpiryError). A memory it updates or keeps (NOOP) keeps its own expiry. Returns one
        MemoryOperation per fact or message, with what was done (ADD, UPDATE, INVALIDATE, NOOP).
        Raises for bad messages (EmptyContentError, InputTooLargeError, InvalidMetadataError, ...)
        before anything is written.

        A call that raised (a server went down mid-write) may have stored part of its batch;
        calling it again with the same arguments stores each memory exactly once. Messages that
        bring their own id are recognised across processes too: a message (id and text) stored
        before answers NOOP. The same text said again after a successful call is a new statement.
        See docs/architecture.md, "Server failures and retried adds"."""
        scope = self._scope(user_id, agent_id, run_id)
        return operations.add(self.services, messages, scope, metadata, infer, timestamp, expires_at, ttl)

    def add_file(
        self,
        source: FileSource,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        name: str | None = None,
        media_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        infer: bool = False,
        timestamp: Any = None,
    ) -> list[MemoryOperation]:
        """Remember a file, given as a path or as bytes (`name` then names it): a PDF (the
        `files` extra) or text and Markdown cut into chunks, CSV rows and JSON records as
        structured data. Each memory's metadata["file"] says which file, page and chunk or record
        it holds. infer=False stores the chunks as they are; infer=True hands each to the manager.
        The file is read and checked whole first: an encrypted, corrupt, textless or over-limit
        file raises (EncryptedFileError, UnreadableFileError, InputTooLargeError, ...) and stores
        nothing. See docs/files-and-data.md."""
        scope = self._scope(user_id, agent_id, run_id)
        return operations.add_file(self.services, source, scope, name, media_type, metadata, infer, timestamp)

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
        include_expired: bool = False,
    ) -> list[SearchHit]:
        """The memories within the scope (at least one id) most relevant to `query`, best first:
        at most `limit` SearchHits, each with its relevance `score` in [0, 1] and the evidence it
        came from. `threshold` drops hits scoring below it; `filters` matches metadata
        (InvalidFilterError when malformed). Facts that stopped being true are left out; with
        `as_of` (a datetime or ISO string), the facts true at that moment are searched instead.
        Expired memories are left out unless `include_expired`."""
        scope = self._scope(user_id, agent_id, run_id)
        return operations.search(
            self.services, query, scope, limit, filters, threshold, as_of, include_expired
        )

    def get(
        self,
        memory_id: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        include_expired: bool = False,
    ) -> MemoryRecord:
        """The MemoryRecord with this id. Scope ids are optional; given ones must match the memory,
        else MemoryNotFoundError, exactly as for an id that does not exist; so is an expired memory,
        unless `include_expired`."""
        scope = self._optional_scope(user_id, agent_id, run_id)
        return operations.get(self.services, memory_id, scope, include_expired)

    def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        include_invalidated: bool = False,
        include_expired: bool = False,
    ) -> list[MemoryRecord]:
        """The memories within the scope (at least one id), newest first, at most `limit`;
        `filters` matches metadata. Facts that stopped being true are left out unless
        `include_invalidated`, expired memories unless `include_expired`."""
        scope = self._scope(user_id, agent_id, run_id)
        return operations.get_all(self.services, scope, limit, filters, include_invalidated, include_expired)

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
        and returns it; scope ids are optional and, given, must match it (else MemoryNotFoundError).
        `update(statement, user_id=...)`, a statement alone, is an authoritative correction ("User
        now works at Google (previously at Microsoft)") of the scope's memories, which needs scope
        ids (MissingScopeError): the manager records its facts over what they contradict, and the
        operations are returned (operations.correct); InvalidInputError when it finds no fact."""
        return operations.update_by_id_or_statement(
            self.services, memory_id, text, data, metadata, user_id, agent_id, run_id
        )

    def set_expiry(
        self,
        memory_ids: str | list[str],
        *,
        expires_at: Any = None,
        ttl: Any = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> list[str]:
        """Make the memories with these ids (one id or a list) expire at `expires_at` or after `ttl`
        from now; with neither, never. Returns their ids. Only the expiry changes (one write, no
        history event), so refreshing the expiry of many memories is cheap. Scope ids are optional
        and, given, must match every memory; MemoryNotFoundError, before anything changes, when one
        is missing, outside them or expired; InvalidExpiryError as for `add`."""
        scope = self._optional_scope(user_id, agent_id, run_id)
        return operations.set_expiry(self.services, memory_ids, expires_at, ttl, scope)

    def delete(
        self,
        memory_id: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        purge: bool = False,
    ) -> MemoryRecord | list[MemoryRecord]:
        """`delete(memory_id)` retires that memory and returns it (its history stays until a purge);
        scope ids are optional and, given, must match it (else MemoryNotFoundError).
        `delete(description, user_id=...)`, any text that is not a memory id, needs scope ids
        (MissingScopeError) and retires the scope's memories it clearly matches and returns them,
        or raises NoClearMatchError naming the closest ones (operations.clear_matches), and
        CrossUserDeleteError when, without user_id, they belong to several users.
        purge=True erases instead of retiring: the memory leaves no history, graph relation or
        cached data behind, and no byte in the embedded tiers (as `delete_all(purge=True)` does
        for a scope); an expired memory, or one retired earlier whose history is left, is erased
        too. Journaled: a crash is finished by the next open."""
        return operations.delete_by_id_or_description(
            self.services, memory_id, user_id, agent_id, run_id, purge
        )

    def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        purge: bool = False,
        across_users: bool = False,
    ) -> int:
        """Delete every memory within the scope (at least one id; sub-scopes included) and return
        how many. purge=True also erases their history, the profiles and the cached embeddings and
        LLM answers of the scope, leaving no byte of them in any tier (docs/scopes.md). Without
        user_id, deleting the data of several users raises CrossUserDeleteError unless
        across_users=True. Journaled: a crash leaves the scope whole or the next open finishes it;
        StoreBusyError when another process holds the deletion lock too long."""
        return operations.delete_all(
            self.services, self._scope(user_id, agent_id, run_id), purge, across_users
        )

    def history(
        self,
        memory_id: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> list[HistoryEvent]:
        """Every event of the memory with this id, oldest first (ADD, UPDATE, INVALIDATE, DELETE, with
        the text before and after), also after its delete and until a purge. Scope ids are
        optional; given ones must match the memory, else MemoryNotFoundError as for a missing id."""
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
        """The entities within `hops` (1 or 2) relations of the named ones, and those relations, from
        the graph tier of the scope (at least one id); `as_of` reads the relations true then.
        Empty when the graph tier is disabled."""
        return operations.neighbourhood(
            self.services, self._scope(user_id, agent_id, run_id), names, hops, as_of
        )

    def get_attachment(
        self,
        sha256: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> bytes:
        """The bytes of an image, file or audio clip stored with the scope's memories, named by the
        `sha256` of its `Attachment` (at least one id; an add of a sub-scope counts).
        AttachmentNotFoundError when the scope stored no such bytes, whoever else did."""
        return operations.get_attachment(self.services, sha256, self._scope(user_id, agent_id, run_id))

    def get_profile(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> dict:
        """The key-values stored for exactly this scope (at least one id; profiles are per exact
        scope, not matched like memories); {} when none."""
        return operations.get_profile(self.services, self._scope(user_id, agent_id, run_id))

    def set_profile(
        self,
        values: Mapping[str, Any],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> dict:
        """Merge `values` into exactly this scope's profile (at least one id) and return the
        profile; a None value removes its key. InvalidMetadataError unless `values` is a flat
        mapping of string keys to JSON scalars."""
        return operations.set_profile(self.services, self._scope(user_id, agent_id, run_id), values)

    def sweep(self) -> int:
        """Erase every memory whose expiry has passed or that outlived a retention period (config
        `retention`), as a purge erases (history, caches, graph relations; no byte left in the
        embedded tiers), and return how many this call erased. Processes sharing a store may sweep
        at once: each memory is erased by one of them. StoreBusyError when another process holds
        the deletion lock too long (`delete_all_wait_seconds`). Config
        `retention.sweep_interval_seconds` runs it in a background thread until `close`."""
        return operations.sweep(self.services)

    def consolidate(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> ConsolidationReport:
        """Tidy the memories within the scope (at least one id; each sub-scope on its own): merge
        near-duplicates into one survivor that gains their sources, retire facts superseded by
        later ones and, with an LLM manager, summarise old verbatim turns into facts (one call per
        chunk of turns). Every change is an audited event (actor "consolidation", `replaced_by`
        naming the survivor or the later fact) that `revert_consolidation` can undo. Returns what
        was done; StoreBusyError when another consolidation holds the store too long."""
        return operations.consolidate(self.services, self._scope(user_id, agent_id, run_id))

    def revert_consolidation(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> Reversal:
        """Undo the latest consolidation of the scope, read from its history: what it retired is
        valid again, survivors lose the sources folded into them, summary facts are retired.
        InvalidInputError when there is none left to undo."""
        return operations.revert_consolidation(self.services, self._scope(user_id, agent_id, run_id))

    def reset(self) -> None:
        """Erase the whole store: every user's memories, history, graph and profiles (no scope)."""
        operations.reset(self.services)

    def close(self) -> None:
        """Release the tiers (files, server connections); the memory is unusable afterwards."""
        self._close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMemory(_Facade):
    """The same operations as `Memory`, awaitable; each runs the shared implementation in a worker
    thread, with the scope rules, results and errors documented on its `Memory` namesake."""

    async def _run(self, function, *args: Any) -> Any:
        return await asyncio.to_thread(function, self.services, *args)

    async def add(
        self,
        messages: MessagesInput,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        infer: bool = True,
        timestamp: Any = None,
        expires_at: Any = None,
        ttl: Any = None,
    ) -> list[MemoryOperation]:
        """Awaitable `Memory.add`: remember messages in exactly the scope given; returns the operations."""
        scope = self._scope(user_id, agent_id, run_id)
        return await self._run(operations.add, messages, scope, metadata, infer, timestamp, expires_at, ttl)

    async def add_file(
        self,
        source: FileSource,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        name: str | None = None,
        media_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        infer: bool = False,
        timestamp: Any = None,
    ) -> list[MemoryOperation]:
        """Awaitable `Memory.add_file`: remember a file (path or bytes); returns the operations."""
        scope = self._scope(user_id, agent_id, run_id)
        return await self._run(
            operations.add_file, source, scope, name, media_type, metadata, infer, timestamp
        )

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
        include_expired: bool = False,
    ) -> list[SearchHit]:
        """Awaitable `Memory.search`: the scope's memories most relevant to `query`, best first."""
        scope = self._scope(user_id, agent_id, run_id)
        return await self._run(
            operations.search, query, scope, limit, filters, threshold, as_of, include_expired
        )

    async def get(
        self,
        memory_id: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        include_expired: bool = False,
    ) -> MemoryRecord:
        """Awaitable `Memory.get`: the memory with this id; given scope ids must match it."""
        scope = self._optional_scope(user_id, agent_id, run_id)
        return await self._run(operations.get, memory_id, scope, include_expired)

    async def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        include_invalidated: bool = False,
        include_expired: bool = False,
    ) -> list[MemoryRecord]:
        """Awaitable `Memory.get_all`: the scope's memories, newest first."""
        scope = self._scope(user_id, agent_id, run_id)
        return await self._run(
            operations.get_all, scope, limit, filters, include_invalidated, include_expired
        )

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
        """Awaitable `Memory.update`: rewrite a memory by id, or record a statement as a correction."""
        return await self._run(
            operations.update_by_id_or_statement, memory_id, text, data, metadata, user_id, agent_id, run_id
        )

    async def set_expiry(
        self,
        memory_ids: str | list[str],
        *,
        expires_at: Any = None,
        ttl: Any = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> list[str]:
        """Awaitable `Memory.set_expiry`: set or clear the expiry of memories by id."""
        scope = self._optional_scope(user_id, agent_id, run_id)
        return await self._run(operations.set_expiry, memory_ids, expires_at, ttl, scope)

    async def delete(
        self,
        memory_id: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        purge: bool = False,
    ) -> MemoryRecord | list[MemoryRecord]:
        """Awaitable `Memory.delete`: retire (purge=True: erase) a memory by id, or those a
        description clearly matches."""
        return await self._run(
            operations.delete_by_id_or_description, memory_id, user_id, agent_id, run_id, purge
        )

    async def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        purge: bool = False,
        across_users: bool = False,
    ) -> int:
        """Awaitable `Memory.delete_all`: delete (purge=True: erase) every memory of the scope."""
        return await self._run(
            operations.delete_all, self._scope(user_id, agent_id, run_id), purge, across_users
        )

    async def history(
        self,
        memory_id: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> list[HistoryEvent]:
        """Awaitable `Memory.history`: the events of the memory with this id, oldest first."""
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
        """Awaitable `Memory.related`: the graph neighbourhood of the named entities in the scope."""
        return await self._run(
            operations.neighbourhood, self._scope(user_id, agent_id, run_id), names, hops, as_of
        )

    async def get_attachment(
        self,
        sha256: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> bytes:
        """Awaitable `Memory.get_attachment`: the stored bytes of one of the scope's attachments."""
        return await self._run(operations.get_attachment, sha256, self._scope(user_id, agent_id, run_id))

    async def get_profile(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> dict:
        """Awaitable `Memory.get_profile`: exactly this scope's profile."""
        return await self._run(operations.get_profile, self._scope(user_id, agent_id, run_id))

    async def set_profile(
        self,
        values: Mapping[str, Any],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> dict:
        """Awaitable `Memory.set_profile`: merge values into exactly this scope's profile."""
        return await self._run(operations.set_profile, self._scope(user_id, agent_id, run_id), values)

    async def sweep(self) -> int:
        """Awaitable `Memory.sweep`: erase the expired memories and those past retention; how many."""
        return await self._run(operations.sweep)

    async def consolidate(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> ConsolidationReport:
        """Awaitable `Memory.consolidate`: merge, retire superseded facts, summarise old turns."""
        return await self._run(operations.consolidate, self._scope(user_id, agent_id, run_id))

    async def revert_consolidation(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> Reversal:
        """Awaitable `Memory.revert_consolidation`: undo the scope's latest consolidation."""
        return await self._run(operations.revert_consolidation, self._scope(user_id, agent_id, run_id))

    async def reset(self) -> None:
        """Awaitable `Memory.reset`: erase the whole store, every user's data."""
        await self._run(operations.reset)

    async def aclose(self) -> None:
        """Awaitable `Memory.close`: release the tiers; the memory is unusable afterwards."""
        await asyncio.to_thread(self._close)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
