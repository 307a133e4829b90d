"""A LangGraph `BaseStore` backed by `Memory`, so store-using graphs (and LangMem) run on our tiers.

Each namespace is its own scope: user_id `ns:["a","b"]`, a `NamespaceUserId` that only this
module builds; a plain user id starting with `ns:` is refused by every `Memory` call, so no id a
caller or a client chooses can reach a namespace. The hard scope filter of every tier keeps
namespaces apart. An item is one verbatim memory whose text is what gets embedded; the
value itself travels in the metadata. Which text: the `index_fields` paths (LangGraph's path
syntax, `a.b`, `a[0]`, `arr[*].text`, read with LangGraph's own `get_text_at_path`), or a put's
own `index=[...]`; by default the first of `content.content`, `content`, `text` that holds text
(LangMem's manager, LangMem's tools, plain notes), else the whole value as JSON. Several texts
are stored as one memory but scored one by one (the best wins), as LangGraph does. An item put
with `index=False` (or whose paths hold no text) is stored but never ranked: a query search
returns it only after the ranked items, with score None, as `InMemoryStore` does.
Filters use the store's semantics (equality or $eq/$ne/$gt/$gte/$lt/$lte on fields; a dotted
key reaches into nested dicts, as in LangGraph's SQLite and Postgres stores).
Puts and deletes of one key are serialised by a lock, so concurrent writers of a key leave
exactly one item (within one process; see docs/integrations/store.md).
Every operation of a batch is checked before the first one runs: a value that is not JSON (bytes,
sets, objects, non-string keys, NaN) or nests deeper than MAX_VALUE_DEPTH is an
InvalidInputError and nothing of the batch is written; so is a value holding personal data the
privacy policy refuses (SensitiveDataError), and the policy's redactions apply to the whole value.
In a run the LangGraph API server authenticated, a client-supplied user id that is not the
authenticated user's is refused (ForbiddenScopeError) before any operation.
LangGraph's TTL (a TTLConfig, `put(..., ttl=minutes)`, refresh on read, `sweep_ttl`, the
sweeper) is the memory's own expiry: an item's TTL is its memory's `expires_at`, hidden at once
when it passes, and the sweep is `Memory.sweep`, which erases as a purge does.
`langgraph_store` is the factory langgraph.json's `"store": {"path": ...}` names, so that the
LangGraph API server keeps its own store (its /store routes, the store of every run) here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import os
import threading
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta
from typing import Any, Literal, cast

import numpy as np
from langgraph.config import get_config
from langgraph.runtime import get_runtime
from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)
from langgraph.store.base.embed import get_text_at_path, tokenize_path

from .. import operations
from ..errors import ConfigurationError, InvalidExpiryError, InvalidInputError, MemoryNotFoundError
from ..filters import matches_filters, value_at
from ..memory import Memory
from ..namespaces import STORE_NAMESPACES as NAMESPACES
from ..pipeline.expiry import ttl_delta
from ..pipeline.periodic import PeriodicTask
from ..pipeline.store_namespaces import namespace_scope
from ..pipeline.sweep import background_sweeper
from ..privacy import screen_value
from ..records import MemoryRecord, Scope
from ..services import MemoryServices
from ..storable import check_encodable
from .calls import AnyMemory, Step, arun, call, check_memory, run
from .scoping import check_claimed_users

# Where LangMem and most apps keep the text of a value: create_memory_store_manager's
# {"kind", "content": {"content": ...}}, the LangMem tools' {"content": ...}, plain {"text": ...}.
DEFAULT_TEXT_PATHS = ("content.content", "content", "text")
KEY_LOCKS = 64
# How deep a stored value may nest (dicts and lists): far beyond any document a graph keeps,
# far below what reading it back (json, recursive) can take.
MAX_VALUE_DEPTH = 100
# How often an async put waiting for its key's lock looks again (it never blocks the event loop).
LOCK_POLL_SECONDS = 0.002
# LangGraph's TTLConfig keys, and the sweep interval its stores use when none is configured.
TTL_CONFIG_KEYS = frozenset({"refresh_on_read", "default_ttl", "sweep_interval_minutes", "omit_expired"})
DEFAULT_SWEEP_INTERVAL_MINUTES = 5.0
# The environment variable through which the LangGraph API server passes langgraph.json's "store".
SERVER_STORE_VARIABLE = "LANGGRAPH_STORE"

log = logging.getLogger(__name__)


def check_value(value: Any) -> None:
    """A put's value must be JSON: dicts with string keys, lists, strings, finite numbers,
    booleans and None, at most MAX_VALUE_DEPTH deep. Walked without recursion, so a hostile
    depth is an InvalidInputError, never a RecursionError."""
    if not isinstance(value, dict):
        raise InvalidInputError(f"store values are dicts, got {type(value).__name__}")
    pending: list[tuple[Any, int, str]] = [(value, 1, "value")]
    while pending:
        node, depth, path = pending.pop()
        if isinstance(node, (dict, list, tuple)) and depth > MAX_VALUE_DEPTH:
            raise InvalidInputError(
                f"store value nests deeper than {MAX_VALUE_DEPTH} levels (at {path[:200]})"
            )
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise InvalidInputError(
                        f"store value keys are strings, got {type(key).__name__} at {path[:200]}"
                    )
                check_encodable(key, f"store value key at {path[:200]}")
                pending.append((child, depth + 1, f"{path}.{key}"))
        elif isinstance(node, (list, tuple)):
            pending.extend((child, depth + 1, f"{path}[{index}]") for index, child in enumerate(node))
        elif isinstance(node, str):
            check_encodable(node, f"store value at {path[:200]}")
        elif isinstance(node, float) and not math.isfinite(node):
            raise InvalidInputError(f"store values are JSON: {node} at {path[:200]} is not a JSON number")
        elif node is not None and not isinstance(node, (bool, int, float)):
            raise InvalidInputError(
                f"store values are JSON: {type(node).__name__} at {path[:200]} is not storable"
            )


def _minutes(value: Any, what: str) -> float:
    """A positive, finite number of minutes (LangGraph's unit for TTLs and sweep intervals)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidExpiryError(f"{what} is a number of minutes, got {value!r}")
    if value <= 0:
        raise InvalidExpiryError(f"{what} must be positive, got {value!r}")
    return float(value)


def ttl_of(minutes: Any, what: str = "ttl") -> timedelta:
    """A store TTL in minutes as the memory's TTL: positive, not so small that it rounds to no
    time, at most the memory's longest TTL."""
    checked = _minutes(minutes, what)
    try:
        return ttl_delta(checked * 60)
    except InvalidExpiryError as exc:
        raise InvalidExpiryError(f"{what} of {minutes!r} minutes: {exc}") from exc


def check_ttl_config(ttl: Any) -> TTLConfig | None:
    """LangGraph's TTLConfig, checked: only its keys, minutes positive, flags booleans.
    InvalidExpiryError names what is wrong; nothing is guessed."""
    if ttl is None:
        return None
    if not isinstance(ttl, Mapping):
        raise InvalidExpiryError(f"ttl is a TTLConfig (a mapping), got {type(ttl).__name__}")
    unknown = sorted(str(key) for key in set(ttl) - TTL_CONFIG_KEYS)
    if unknown:
        raise InvalidExpiryError(f"unknown TTLConfig keys {unknown}; known: {sorted(TTL_CONFIG_KEYS)}")
    for flag in ("refresh_on_read", "omit_expired"):
        if flag in ttl and not isinstance(ttl[flag], bool):
            raise InvalidExpiryError(f"TTLConfig {flag} is a boolean, got {ttl[flag]!r}")
    if ttl.get("default_ttl") is not None:
        ttl_of(ttl["default_ttl"], "TTLConfig default_ttl")
    if ttl.get("sweep_interval_minutes") is not None:
        _minutes(ttl["sweep_interval_minutes"], "TTLConfig sweep_interval_minutes")
    return cast(TTLConfig, dict(ttl))


def _restart_expiries(services: MemoryServices, ids_by_ttl: Mapping[float, list[str]]) -> None:
    """Expire each memory its TTL (minutes) from now. One that expired or was erased since it was
    read keeps its end: a read never brings an expired item back."""
    for minutes, ids in ids_by_ttl.items():
        ttl = ttl_of(minutes, "stored ttl")
        try:
            operations.set_expiry(services, ids, ttl=ttl)
        except MemoryNotFoundError:
            for memory_id in ids:
                with suppress(MemoryNotFoundError):
                    operations.set_expiry(services, memory_id, ttl=ttl)


def _check_op(op: Op) -> None:
    """Everything about one operation that can be checked without reading the store."""
    if isinstance(op, (GetOp, PutOp)):
        namespace_scope(op.namespace)
        if not isinstance(op.key, str):
            raise InvalidInputError(f"store keys are strings, got {type(op.key).__name__}")
        check_encodable(op.key, "store key")
    if isinstance(op, PutOp) and op.value is not None:
        check_value(op.value)
        if op.ttl is not None:
            ttl_of(op.ttl)
    elif not isinstance(op, (GetOp, PutOp, SearchOp, ListNamespacesOp)):
        raise InvalidInputError(f"unsupported store operation {type(op).__name__}")


def _check_run_user() -> None:
    """In a run the API server authenticated, refuse client-supplied user ids of another user."""
    try:
        config = get_config()
    except RuntimeError:  # not inside a run (a script, the server's own store endpoints)
        return
    runtime = get_runtime()
    check_claimed_users(getattr(runtime, "context", None), config)


@asynccontextmanager
async def _held(lock: threading.Lock) -> AsyncIterator[None]:
    """A key lock taken from async code: polled, so that the event loop never blocks and a
    cancelled wait holds nothing; the same lock serialises sync and async writers."""
    while not lock.acquire(blocking=False):  # noqa: ASYNC110 - a threading.Lock has no awaitable wait
        await asyncio.sleep(LOCK_POLL_SECONDS)
    try:
        yield
    finally:
        lock.release()


def _namespace_matches(namespace: tuple[str, ...], condition) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    pairs = (
        zip(namespace, path, strict=False)
        if condition.match_type == "prefix"
        else zip(reversed(namespace), reversed(path), strict=False)
    )
    return all(p == "*" or k == p for k, p in pairs)


def _value_at(value: Mapping[str, Any], key: str) -> Any:
    """A store filter key's value in an item's value: a key absent at the top level is read as a
    dotted path (`{"user.level": ...}`), as LangGraph's SQLite and Postgres stores do."""
    return value.get(key) if key in value or "." not in key else value_at(value, tuple(key.split(".")))


def texts_at(value: Mapping[str, Any], paths: Sequence[str]) -> list[str]:
    """Every non-empty text at the given paths, with LangGraph's path semantics ("$" = whole value)."""
    texts: list[str] = []
    for path in paths:
        tokens = path if path == "$" else tokenize_path(path)
        texts.extend(t for t in get_text_at_path(value, tokens) if t.strip())
    return texts


class MemoryStoreBase(BaseStore):
    """LangGraph `BaseStore` on a `Memory` (or an `AsyncMemory`, for `abatch` and the async
    methods; `batch` given an AsyncMemory raises ConfigurationError). `index_fields`: the paths
    embedded for every put (LangGraph's `index={"fields": ...}`); None picks the first of
    DEFAULT_TEXT_PATHS that holds text. `ttl`: LangGraph's TTLConfig. An item's TTL is its
    memory's expiry (`expires_at`), the one expiry of the product: the sweeper that erases expired
    store items is the memory's `sweep`. `MemoryStore` and `AsyncMemoryStore` add the sweeper's
    sync and async controls, as LangGraph's SqliteStore and AsyncSqliteStore do."""

    supports_ttl = True

    def __init__(
        self,
        memory: AnyMemory,
        *,
        index_fields: Sequence[str] | None = None,
        ttl: TTLConfig | None = None,
    ):
        self.memory = check_memory(memory, type(self).__name__)
        self.index_fields = list(index_fields) if index_fields else None
        self.ttl_config = check_ttl_config(ttl)
        self._key_locks = [threading.Lock() for _ in range(KEY_LOCKS)]

    def _sweep_interval_seconds(self, minutes: float | None) -> float:
        configured = self.ttl_config.get("sweep_interval_minutes") if self.ttl_config else None
        seconds = 60 * _minutes(minutes or configured or DEFAULT_SWEEP_INTERVAL_MINUTES, "sweep interval")
        return min(seconds, threading.TIMEOUT_MAX)  # a wait longer than that overflows

    def _sweep_step(self) -> Step[int]:
        """Erase every expired memory of the memory, store items among them; how many."""
        return (yield call("sweep"))

    @property
    def embeddings(self):
        """The LangChain `Embeddings` the memory embeds with (as on LangGraph's stores)."""
        return self.memory.services.embedder.embeddings

    @property
    def index_config(self) -> dict[str, Any]:
        """LangGraph's IndexConfig shape: dims, embed, fields ("$" stands for the JSON fallback)."""
        dims = getattr(self.embeddings, "dimensions", None) or len(self.embeddings.embed_query("dimensions"))
        return {
            "dims": dims,
            "embed": self.embeddings,
            "fields": self.index_fields or [*DEFAULT_TEXT_PATHS, "$"],
        }

    # -- mapping -----------------------------------------------------------------------------

    def _texts(self, value: Mapping[str, Any], index: list[str] | Literal[False] | None) -> list[str]:
        """The texts a put indexes; none when the item is stored unindexed."""
        if index is False:
            return []
        if index is not None:
            return texts_at(value, index)
        if self.index_fields:
            return texts_at(value, self.index_fields)
        for path in DEFAULT_TEXT_PATHS:
            texts = texts_at(value, [path])
            if texts:
                return texts
        return [json.dumps(value, ensure_ascii=False, sort_keys=True)]

    def _embed(self, texts: list[str], scope: str) -> np.ndarray:
        """Vectors through the memory's embedding cache (a blocking call: a model or an API)."""
        return self.memory.services.embedder.embed(texts, Scope(user_id=scope))

    def _scores_step(self, query: str, records: list[MemoryRecord], scope: str) -> Step[list[float]]:
        """LangGraph's score: the best cosine similarity between the query and any one text of
        the item (vectors come from the embedding cache, filled at put time)."""
        per_record = [
            json.loads(str(r.metadata["store_texts"])) if "store_texts" in r.metadata else [r.text]
            for r in records
        ]
        vectors = yield call(self._embed, [query] + [t for texts in per_record for t in texts], scope)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms == 0, 1, norms)
        similarities = vectors[1:] @ vectors[0]
        scores, start = [], 0
        for texts in per_record:
            scores.append(float(similarities[start : start + len(texts)].max()))
            start += len(texts)
        return scores

    def _lock(self, namespace: tuple[str, ...], key: str) -> threading.Lock:
        return self._key_locks[hash((namespace, key)) % KEY_LOCKS]

    def _find_step(self, namespace: tuple[str, ...], key: str) -> Step[MemoryRecord | None]:
        found = yield call("get_all", user_id=namespace_scope(namespace), filters={"store_key": key}, limit=1)
        return found[0] if found else None

    def _refresh_step(self, records: Sequence[MemoryRecord], refresh: bool) -> Step[None]:
        """LangGraph's refresh on read: the items read that have a TTL expire a TTL from now, when
        the read asks (`refresh_ttl`) and the TTLConfig turns `refresh_on_read` on, as in
        LangGraph's SqliteStore (whose TTL tests this store passes)."""
        enabled = refresh and bool(self.ttl_config and self.ttl_config.get("refresh_on_read"))
        by_ttl: dict[float, list[str]] = {}
        for record in records if enabled else ():
            minutes = record.metadata.get("store_ttl")
            if isinstance(minutes, (int, float)) and not isinstance(minutes, bool):
                by_ttl.setdefault(float(minutes), []).append(record.id)
        if by_ttl:
            yield call(_restart_expiries, self.memory.services, by_ttl)

    @staticmethod
    def _item(
        namespace: tuple[str, ...], record: MemoryRecord, score: float | None = None, search: bool = False
    ):
        fields: dict[str, Any] = {
            "namespace": namespace,
            "key": str(record.metadata["store_key"]),
            "value": json.loads(str(record.metadata["store_value"])),
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        }
        return SearchItem(**fields, score=score) if search else Item(**fields)

    def _namespaces_step(self) -> Step[list[tuple[str, ...]]]:
        keys = yield call(self.memory.services.kv.keys, NAMESPACES)
        return sorted(tuple(json.loads(k)) for k in keys)

    # -- operations (each a step: one implementation for batch and abatch) -------------------

    def _get_step(self, op: GetOp) -> Step[Item | None]:
        record = yield from self._find_step(op.namespace, op.key)
        if record is None:
            return None
        yield from self._refresh_step([record], op.refresh_ttl)
        return self._item(op.namespace, record)

    def _put_step(self, op: PutOp) -> Step[None]:
        """Run with the key's lock held: the lookup and the write of one key are atomic. An
        expired item is gone for a put as for a read: the put writes a new item, and the sweep
        erases the expired one."""
        scope = namespace_scope(op.namespace)
        existing = yield from self._find_step(op.namespace, op.key)
        if op.value is None:
            if existing is not None:
                yield call(
                    "delete", existing.id, user_id=scope
                )  # the namespace stays listed, as in InMemoryStore
            return None
        texts = self._texts(op.value, op.index)
        metadata: dict[str, Any] = {
            "store_key": op.key,
            "store_value": json.dumps(op.value, ensure_ascii=False),
            "store_indexed": bool(texts),
        }
        if op.ttl is not None:  # kept to refresh the expiry on read
            metadata["store_ttl"] = op.ttl
        expiry = None if op.ttl is None else ttl_of(op.ttl)
        if len(texts) > 1:  # one memory holds them all; each is still scored on its own
            metadata["store_texts"] = json.dumps(texts, ensure_ascii=False)
            yield call(self._embed, texts, scope)
        # An unindexed item still needs a text to be a memory; it is never ranked (store_indexed).
        text = "\n".join(texts) if texts else json.dumps(op.value, ensure_ascii=False, sort_keys=True)
        if existing is not None:
            yield call("update", existing.id, text, metadata=metadata, user_id=scope)
            if expiry is not None or existing.expires_at is not None:
                yield call("set_expiry", existing.id, ttl=expiry)  # no TTL: the expiry ends
            return None
        message = {"role": "user", "content": text, "id": op.key}
        yield call("add", [message], user_id=scope, metadata=metadata, infer=False, ttl=expiry)
        yield call(self.memory.services.kv.put_many, NAMESPACES, {json.dumps(list(op.namespace)): 1})
        return None

    def _search_step(self, op: SearchOp) -> Step[list[SearchItem]]:
        prefix = tuple(op.namespace_prefix)
        namespaces = [ns for ns in (yield from self._namespaces_step()) if ns[: len(prefix)] == prefix]
        wanted = op.offset + op.limit
        everything = self.memory.config.limits.max_limit
        ranked: list[tuple[float, MemoryRecord, SearchItem]] = []
        unranked: list[tuple[datetime, MemoryRecord, SearchItem]] = []
        for namespace in namespaces:
            scope = namespace_scope(namespace)
            if op.query:
                limit = min(everything, max(wanted * 4, 20))
                hits = yield call("search", op.query, user_id=scope, limit=limit)
                # unindexed items are never ranked; items stored before store_indexed existed are indexed
                records = [h.memory for h in hits if h.memory.metadata.get("store_indexed") is not False]
                scores = (yield from self._scores_step(op.query, records, scope)) if records else []
                for record, score in zip(records, scores, strict=True):
                    item = self._item(namespace, record, score, search=True)
                    if matches_filters(item.value, op.filter, _value_at):
                        ranked.append((score, record, item))
            unindexed = None if not op.query else {"store_indexed": False}
            records = yield call("get_all", user_id=scope, limit=everything, filters=unindexed)
            for record in records:
                item = self._item(namespace, record, None, search=True)
                if matches_filters(item.value, op.filter, _value_at):
                    unranked.append((record.updated_at, record, item))
        ranked.sort(key=lambda r: -r[0])
        unranked.sort(key=lambda r: r[0], reverse=True)
        # unindexed after ranked, as InMemoryStore
        results = [(record, item) for _, record, item in ranked]
        results += [(record, item) for _, record, item in unranked]
        results = results[op.offset : wanted]
        yield from self._refresh_step([record for record, _ in results], op.refresh_ttl)
        return [item for _, item in results]

    def _list_namespaces_step(self, op: ListNamespacesOp) -> Step[list[tuple[str, ...]]]:
        namespaces = [
            ns
            for ns in (yield from self._namespaces_step())
            if all(_namespace_matches(ns, c) for c in (op.match_conditions or ()))
        ]
        if op.max_depth is not None:
            namespaces = sorted({ns[: op.max_depth] for ns in namespaces})
        return namespaces[op.offset : op.offset + op.limit]

    def _step(self, op: GetOp | SearchOp | ListNamespacesOp) -> Step[Result]:
        if isinstance(op, GetOp):
            return self._get_step(op)
        if isinstance(op, SearchOp):
            return self._search_step(op)
        return self._list_namespaces_step(op)

    def _checked(self, ops: Iterable[Op]) -> list[Op]:
        """The batch, every operation checked before the first runs, and every put's value with
        the privacy policy applied to its strings (the value is stored whole, in the metadata)."""
        ops = list(ops)
        for op in ops:
            _check_op(op)
        _check_run_user()
        privacy = self.memory.services.config.privacy
        return [
            op._replace(value=screen_value(privacy, op.value, "store value"))
            if isinstance(op, PutOp) and op.value is not None
            else op
            for op in ops
        ]

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        results: list[Result] = []
        for op in self._checked(ops):
            if isinstance(op, PutOp):
                with self._lock(op.namespace, op.key):
                    results.append(run(self.memory, self._put_step(op)))
            else:
                results.append(run(self.memory, self._step(op)))
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        results: list[Result] = []
        for op in self._checked(ops):
            if isinstance(op, PutOp):
                async with _held(self._lock(op.namespace, op.key)):
                    results.append(await arun(self.memory, self._put_step(op)))
            else:
                results.append(await arun(self.memory, self._step(op)))
        return results


class MemoryStore(MemoryStoreBase):
    """`MemoryStoreBase` with LangGraph's synchronous TTL sweeper, as on `SqliteStore`: the
    memory's own background sweeper (a daemon thread) every `sweep_interval_minutes`."""

    _sweeper: tuple[PeriodicTask, concurrent.futures.Future[None]] | None = None

    def sweep_ttl(self) -> int:
        """Erase the expired items now (the memory's `sweep`: every expired memory of the memory);
        returns how many were erased."""
        return run(self.memory, self._sweep_step())

    def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> concurrent.futures.Future[None]:
        """Sweep every `sweep_interval_minutes` (else the TTLConfig's, else 5) until
        `stop_ttl_sweeper`; the future completes when it stops. Without a TTLConfig nothing
        starts (the future is already done); a running sweeper's future is returned as it is."""
        if self._sweeper is not None:
            return self._sweeper[1]
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        if not self.ttl_config:
            future.set_result(None)
            return future
        sweeper = background_sweeper(
            self.memory.services, self._sweep_interval_seconds(sweep_interval_minutes)
        )
        sweeper.start()
        self._sweeper = (sweeper, future)
        return future

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper; True once it has stopped (or none ran), False if `timeout` seconds
        passed first (a sweep still running)."""
        if self._sweeper is None:
            return True
        sweeper, future = self._sweeper
        if not sweeper.stop(timeout):
            return False
        self._sweeper = None
        future.set_result(None)
        return True


class AsyncMemoryStore(MemoryStoreBase):
    """`MemoryStoreBase` with LangGraph's asynchronous TTL sweeper, as on `AsyncSqliteStore`:
    `sweep_ttl`, `start_ttl_sweeper` and `stop_ttl_sweeper` are coroutines, the sweeper a task
    on the running event loop. Over an `AsyncMemory` or a `Memory` (its calls then run in worker
    threads, so the sync methods of the store keep working too)."""

    _sweeper: tuple[asyncio.Task[None], asyncio.Event] | None = None

    async def sweep_ttl(self) -> int:
        """Erase the expired items now (the memory's `sweep`); returns how many were erased."""
        return await arun(self.memory, self._sweep_step())

    async def start_ttl_sweeper(self, sweep_interval_minutes: float | None = None) -> asyncio.Task[None]:
        """Sweep every `sweep_interval_minutes` (else the TTLConfig's, else 5) in a task until
        `stop_ttl_sweeper`. Without a TTLConfig the task is one that does nothing; a running
        sweeper's task is returned as it is."""
        if self._sweeper is not None and not self._sweeper[0].done():
            return self._sweeper[0]
        if not self.ttl_config:
            return asyncio.create_task(asyncio.sleep(0))
        stop = asyncio.Event()
        interval = self._sweep_interval_seconds(sweep_interval_minutes)

        async def sweep_until_stopped() -> None:
            while not await _stopped_within(stop, interval):
                try:
                    swept = await self.sweep_ttl()
                except Exception:  # one failed sweep (a server down) must not end the sweeper
                    log.exception("store TTL sweep failed; the next one runs in %.0f s", interval)
                else:
                    log.debug("store TTL sweep erased %d expired items", swept)

        task = asyncio.create_task(sweep_until_stopped(), name="AsyncMemoryStore TTL sweeper")
        self._sweeper = (task, stop)
        return task

    async def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - LangGraph's signature
        """Stop the sweeper task; True once it has stopped (or none ran), False if `timeout`
        seconds passed first (a sweep still running)."""
        if self._sweeper is None:
            return True
        task, stop = self._sweeper
        stop.set()
        done, _ = await asyncio.wait([task], timeout=timeout)
        if not done:
            return False
        self._sweeper = None
        return True


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Whether `stop` is set within `seconds`."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


def server_ttl_config() -> TTLConfig | None:
    """The `ttl` of langgraph.json's `store` section, which the LangGraph API server passes as
    JSON in LANGGRAPH_STORE; ConfigurationError when that is not JSON."""
    raw = os.environ.get(SERVER_STORE_VARIABLE)
    if not raw:
        return None
    try:
        section = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{SERVER_STORE_VARIABLE} is not JSON: {exc}") from exc
    if not isinstance(section, dict):
        raise ConfigurationError(f"{SERVER_STORE_VARIABLE} is a JSON object, got {raw[:100]!r}")
    return check_ttl_config(section.get("ttl"))


@asynccontextmanager
async def langgraph_store() -> AsyncIterator[AsyncMemoryStore]:
    """The LangGraph API server's store, for langgraph.json:
    `"store": {"path": "langmem_plugin.integrations.store.langgraph_store", "ttl": {...}}`.

    The server enters it once at start-up and exits it at shutdown. The memory comes from the
    LANGMEM_* variables (`Memory.from_env()`), as the graphs' memories do, so the items clients
    put through /store are the ones a `MemoryStore` on the same path reads. A `Memory` (not an
    `AsyncMemory`): the server awaits the async methods, which run its calls in worker threads,
    while a sync node of a graph may still call the store's sync methods. `ttl` is LangGraph's
    TTLConfig; with `sweep_interval_minutes` the sweeper runs on the server's event loop (the
    server starts no sweeper for a custom store)."""
    ttl = server_ttl_config()
    memory = await asyncio.to_thread(Memory.from_env)
    try:
        store = AsyncMemoryStore(memory, ttl=ttl)
        if ttl and ttl.get("sweep_interval_minutes"):
            _ = await store.start_ttl_sweeper()  # the task runs until stop_ttl_sweeper
        try:
            yield store
        finally:
            await store.stop_ttl_sweeper()
    finally:
        await asyncio.to_thread(memory.close)
