"""Vector tier on Weaviate (weaviate-client v4, gRPC), for memories that outgrow one machine.

One collection holds every memory with a self-provided vector. Scopes are either filtered
properties (default) or native multi-tenancy (`multi_tenancy=True`: one tenant per user_id, which
then becomes mandatory; a plain side collection maps memory ids to tenants for by-id calls).
Search takes the dense, BM25 and graph-linked candidates from the server and orders them by the
relevance score every backend computes (tiers/vector/relevance.py). Validity is stored as numbers
with an open-ended sentinel, so "valid now" and "valid at t" are plain range filters. Metadata
filters are applied to candidates client-side (metadata is free-form JSON, not part of the
collection schema).

The query building is pure functions (tests/test_weaviate_queries.py); the contract suite and
tests/test_weaviate_memory.py run against real servers started by tests/servers.py.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import json
import math
import re
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import (
    BackendError,
    ConfigurationError,
    DimensionMismatchError,
    MemoryNotFoundError,
    MissingScopeError,
    install_hint,
)
from ...filters import matches_filters
from ...records import MemoryRecord, Scope, SearchHit, SourceRef
from ..capabilities import Capabilities
from ..failures import ServerBackend, reports_failures, server_address
from ..timestamps import from_epoch, to_epoch
from .base import AgeRule, SearchParams
from .relevance import (
    MIN_ROOT,
    Candidates,
    is_common,
    keyword_terms,
    rank,
    term_evidence,
    word_root,
)
from .scope_keywords import ScopeKeywords
from .word_counts import ScopeWordCounts, ServerCounts

if TYPE_CHECKING:
    from weaviate import WeaviateClient

PAGE = 500
MAX_SCOPE_DELETE = 1_000_000
# Scopes up to this many memories have their words counted client-side from their texts
# (word_counts.py); larger ones by the server, one aggregate query per query word.
COUNTED_SCOPE_MAX_ROWS = 5000
# a scope's size, and the sum and latest of its memories' update times (None when it is empty)
ScopeFingerprint = tuple[int, float | None, float | None]
OPEN = 1.0e15  # valid_to of a memory never invalidated (epoch seconds far in the future)
SCOPE_FIELDS = ("user_id", "agent_id", "run_id")
TEXT_PROPERTIES = (
    "memory_id",
    "user_id",
    "agent_id",
    "run_id",
    "text",
    "hash",
    "metadata_json",
    "sources_json",
)
# expires_at is OPEN for a memory that never expires
NUMBER_PROPERTIES = ("created_at", "updated_at", "valid_from", "valid_to", "expires_at")
# The scope ids each kind of scope (`Scope.kind`) leaves out ("" on an object) and gives.
_KIND_EMPTY = {"run": (), "agent": ("run_id",), "user": ("run_id", "agent_id")}
_KIND_SET = {"run": ("run_id",), "agent": ("agent_id",), "user": ()}
TENANT_AS_IS = re.compile(r"[a-z0-9_]{1,64}")


def scope_filter(scope: Scope, multi_tenancy: bool):
    """Equality on every given scope id. In multi-tenancy mode user_id also picks the tenant, and
    is still filtered on inside it, so a tenant could never serve another user's records."""
    ids = scope.required_filter()
    if multi_tenancy and "user_id" not in ids:
        raise MissingScopeError("with Weaviate multi-tenancy every call needs a user_id (the tenant)")
    from weaviate.classes.query import Filter

    return Filter.all_of([Filter.by_property(f).equal(v) for f, v in ids.items()])


def validity_filter(as_of: datetime | None):
    from weaviate.classes.query import Filter

    if as_of is None:
        return Filter.by_property("valid_to").greater_or_equal(OPEN)
    moment = to_epoch(as_of)
    return Filter.all_of(
        [
            Filter.by_property("valid_from").less_or_equal(moment),
            Filter.by_property("valid_to").greater_than(moment),
        ]
    )


def kind_filters(kind: str | None) -> list:
    """Equality filters selecting the objects of a kind of scope (None: every kind)."""
    from weaviate.classes.query import Filter

    if kind is None:
        return []
    return [Filter.by_property(f).equal("") for f in _KIND_EMPTY[kind]] + [
        Filter.by_property(f).not_equal("") for f in _KIND_SET[kind]
    ]


def unexpired_filter(now: float):
    from weaviate.classes.query import Filter

    return Filter.by_property("expires_at").greater_than(now)


def term_filter(term: str):
    """Memories with a word that `relevance.term_matches` finds for the query term: its root and
    any further letters, or a short root and at most two (Weaviate's `like` wildcards on the words
    of `text`)."""
    from weaviate.classes.query import Filter

    root = word_root(term)
    if len(root) >= MIN_ROOT:
        return Filter.by_property("text").like(root + "*")
    return Filter.any_of([Filter.by_property("text").like(root + "?" * extra) for extra in range(3)])


def combine(*filters):
    from weaviate.classes.query import Filter

    present = [f for f in filters if f is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else Filter.all_of(present)


def to_properties(record: MemoryRecord) -> dict[str, Any]:
    return {
        "memory_id": record.id,
        "user_id": record.scope.user_id or "",
        "agent_id": record.scope.agent_id or "",
        "run_id": record.scope.run_id or "",
        "text": record.text,
        "hash": record.hash,
        "metadata_json": json.dumps(record.metadata),
        "sources_json": json.dumps([s.model_dump(mode="json") for s in record.sources]),
        "created_at": to_epoch(record.created_at),
        "updated_at": to_epoch(record.updated_at),
        "valid_from": to_epoch(record.valid_from),
        "valid_to": OPEN if record.valid_to is None else to_epoch(record.valid_to),
        "expires_at": _expiry_property(record.expires_at),
    }


def _expiry_property(expires_at: datetime | None) -> float:
    return OPEN if expires_at is None else to_epoch(expires_at)


def from_properties(properties: Mapping[str, Any]) -> MemoryRecord:
    valid_to = properties["valid_to"]
    expires_at = properties["expires_at"]
    return MemoryRecord(
        id=properties["memory_id"],
        text=properties["text"],
        scope=Scope(**{f: properties.get(f) or None for f in SCOPE_FIELDS}),
        metadata=json.loads(properties["metadata_json"]),
        created_at=from_epoch(properties["created_at"]),
        updated_at=from_epoch(properties["updated_at"]),
        valid_from=from_epoch(properties["valid_from"]),
        valid_to=None if valid_to >= OPEN else from_epoch(valid_to),
        expires_at=None if expires_at >= OPEN else from_epoch(expires_at),
        hash=properties["hash"],
        sources=[SourceRef.model_validate(s) for s in json.loads(properties["sources_json"])],
    )


def object_uuid(memory_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"langmem:{memory_id}"))


def tenant_name(user_id: str) -> str:
    """Weaviate tenant of a user_id. Tenant names allow only [A-Za-z0-9_-]{1,64}: a user_id made of
    lowercase letters, digits and '_' is its own tenant (readable in Weaviate's tools); any other
    is 'h-' + 62 hex digits of its SHA-256. The '-' never occurs in the first form, and neither
    form depends on case, so two user_ids never share a tenant."""
    if TENANT_AS_IS.fullmatch(user_id):
        return user_id
    return "h-" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:62]


def _metadata_matches(record: MemoryRecord, filters: Mapping[str, Any] | None) -> bool:
    return matches_filters(record.metadata, filters)


def cosine(stored: Any, query: np.ndarray) -> float:
    stored = np.asarray(stored["default"] if isinstance(stored, dict) else stored, dtype=np.float32)
    denominator = (float(np.linalg.norm(stored)) or 1.0) * (float(np.linalg.norm(query)) or 1.0)
    return float(stored @ query / denominator)


def insert_pages(handle, objects: list) -> None:
    """Write `objects` through a collection (or tenant) handle, `PAGE` at a time: synchronous gRPC
    batch writes (the client's background batcher adds ~0.25 s per call). A page the server
    rejects raises; the pages before it stay written."""
    for start in range(0, len(objects), PAGE):
        result = handle.data.insert_many(objects[start : start + PAGE])
        if result.has_errors:
            errors = list(result.errors.values())
            raise BackendError(f"Weaviate rejected {len(errors)} objects: {errors[0].message}")


def _missing_tenant(exc: Exception) -> bool:
    return "tenant not found" in str(exc).lower() or "not found: tenant" in str(exc).lower()


def _failures() -> tuple[type[BaseException], ...]:
    import grpc
    import httpx
    from weaviate.exceptions import WeaviateBaseError

    return (WeaviateBaseError, grpc.RpcError, httpx.HTTPError, OSError)


def connect(url: str, *, api_key: str | None, grpc_port: int) -> WeaviateClient:
    """A client of the Weaviate server at `url` (https: TLS), its gRPC API on the same host at
    `grpc_port`; a URL without a host is a ConfigurationError, before any connection."""
    try:
        import weaviate
    except ImportError as exc:
        raise ConfigurationError(
            f"the weaviate vector backend needs weaviate-client: {install_hint('weaviate')}"
        ) from exc
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if not parsed.hostname:
        raise ConfigurationError(f"the Weaviate URL {url!r} names no host (e.g. http://127.0.0.1:8080)")
    secure = parsed.scheme == "https"
    return weaviate.connect_to_custom(
        http_host=parsed.hostname,
        http_port=parsed.port or (443 if secure else 8080),
        http_secure=secure,
        grpc_host=parsed.hostname,
        grpc_port=grpc_port,
        grpc_secure=secure,
        auth_credentials=weaviate.auth.AuthApiKey(api_key) if api_key else None,
    )


def _due_order(record: MemoryRecord) -> tuple[float, float]:
    """Soonest expiry first (none last), then oldest."""
    expiry = record.expires_at.timestamp() if record.expires_at is not None else float("inf")
    return expiry, record.created_at.timestamp()


@reports_failures("Weaviate", _failures)
class WeaviateVectorStore(ServerBackend):
    capabilities = Capabilities(keyword_search=True)

    def __init__(
        self,
        url: str,
        *,
        collection: str = "LangmemMemory",
        multi_tenancy: bool = False,
        api_key: str | None = None,
        grpc_port: int = 50051,
        replication_factor: int = 1,
    ):
        self.backend_address = server_address(url)
        self.backend_secrets = (api_key,) if api_key else ()
        self._open_client = functools.partial(connect, url, api_key=api_key, grpc_port=grpc_port)
        self._client = self._open_client()
        self._replaced_clients: list[WeaviateClient] = []
        self._multi_tenancy = multi_tenancy
        self._replication_factor = replication_factor
        self._name = collection
        self._tenant_map_name = f"{collection}TenantMap"
        self._word_counts: ScopeWordCounts[ScopeFingerprint] = ScopeWordCounts()
        try:
            self._ensure_collections()
            self._dimensions: int | None = self._stored_dimensions()
        except BaseException:
            self._client.close()
            raise

    # -- schema -------------------------------------------------------------------------------

    def _create(self, name: str, properties: list, multi_tenancy: bool) -> None:
        from weaviate.classes.config import Configure
        from weaviate.exceptions import UnexpectedStatusCodeError

        if self._client.collections.exists(name):
            return
        try:
            self._client.collections.create(
                name,
                properties=properties,
                vector_config=Configure.Vectors.self_provided(),
                multi_tenancy_config=Configure.multi_tenancy(enabled=True, auto_tenant_creation=True)
                if multi_tenancy
                else None,
                replication_config=self._replication_config(),
            )
        except UnexpectedStatusCodeError:
            if not self._client.collections.exists(name):  # not a race with another process creating it
                raise

    def _replication_config(self):
        """Replicas with async replication: a node that was down catches up in the background, so
        queries it serves (which read only its own replica) converge after it rejoins."""
        from weaviate.classes.config import Configure

        if self._replication_factor == 1:
            return None
        with warnings.catch_warnings():  # deprecated for servers >= 1.38, which enable it themselves
            warnings.simplefilter("ignore", DeprecationWarning)
            return Configure.replication(factor=self._replication_factor, async_enabled=True)

    def _ensure_collections(self) -> None:
        from weaviate.classes.config import DataType, Property, Tokenization

        def exact(name: str) -> Property:
            return Property(name=name, data_type=DataType.TEXT, tokenization=Tokenization.FIELD)

        properties = [exact(name) for name in TEXT_PROPERTIES if name != "text"]
        properties += [Property(name="text", data_type=DataType.TEXT, tokenization=Tokenization.WORD)]
        properties += [Property(name=name, data_type=DataType.NUMBER) for name in NUMBER_PROPERTIES]
        self._create(self._name, properties, self._multi_tenancy)
        if self._multi_tenancy:
            # memory id -> tenant, so by-id operations need no scope; a plain (single-shard) collection
            self._create(self._tenant_map_name, [exact("memory_id"), exact("tenant")], False)
        self._bind_collections()
        self._add_expiry_property()

    def _add_expiry_property(self) -> None:
        """Give a collection created before memories could expire its `expires_at` property, set to
        OPEN on every stored object: a filter on it would otherwise leave them out."""
        from weaviate.classes.config import DataType, Property

        if any(p.name == "expires_at" for p in self._collection.config.get().properties):
            return
        self._collection.config.add_property(Property(name="expires_at", data_type=DataType.NUMBER))
        handles = (
            [self._collection.with_tenant(t) for t in self._collection.tenants.get()]
            if self._multi_tenancy
            else [self._collection]
        )
        for handle in handles:
            for obj in handle.iterator():
                handle.data.update(uuid=obj.uuid, properties={"expires_at": OPEN})

    def _bind_collections(self) -> None:
        self._collection = self._client.collections.get(self._name)
        if self._multi_tenancy:
            self._tenant_map = self._client.collections.get(self._tenant_map_name)

    def _stored_dimensions(self) -> int | None:
        """Vector size of a stored object, so a reopened store knows it before the first write."""
        if not self._multi_tenancy:
            handles = [self._collection]
        else:
            entries = self._tenant_map.query.fetch_objects(limit=5).objects
            handles = [
                self._collection.with_tenant(t)
                for t in dict.fromkeys(str(e.properties["tenant"]) for e in entries)
            ]
        for handle in handles:
            objects = handle.query.fetch_objects(limit=1, include_vector=True).objects
            if objects:
                vector = objects[0].vector
                return len(vector["default"] if isinstance(vector, dict) else vector)
        return None

    # -- scopes and tenants ---------------------------------------------------------------------

    def _handle(self, scope: Scope):
        if not self._multi_tenancy:
            return self._collection
        if not scope.user_id:
            raise MissingScopeError("with Weaviate multi-tenancy every call needs a user_id (the tenant)")
        return self._collection.with_tenant(tenant_name(scope.user_id))

    def _read(self, scope: Scope, query: Callable[[Any], Any], empty: Any) -> Any:
        """Run a read on the scope's tenant; a user that never wrote has no tenant and reads as empty."""
        handle = self._handle(scope)
        try:
            return query(handle)
        except Exception as exc:  # the client wraps server errors in several types
            if self._multi_tenancy and _missing_tenant(exc):
                return empty
            raise

    def _tenants_of(self, memory_ids: list[str]) -> dict[str, str]:
        from weaviate.classes.query import Filter

        found: dict[str, str] = {}
        for start in range(0, len(memory_ids), PAGE):
            chunk = [object_uuid(i) for i in memory_ids[start : start + PAGE]]
            entries = self._tenant_map.query.fetch_objects(
                filters=Filter.by_id().contains_any(chunk), limit=len(chunk)
            ).objects
            found.update((str(e.properties["memory_id"]), str(e.properties["tenant"])) for e in entries)
        return found

    def _by_handle(self, memory_ids: list[str]) -> list[tuple[Any, list[str]]]:
        """The ids grouped by the collection handle (tenant) that holds them; unknown ids are dropped."""
        if not self._multi_tenancy:
            return [(self._collection, memory_ids)] if memory_ids else []
        groups: dict[str, list[str]] = {}
        for memory_id, tenant in self._tenants_of(memory_ids).items():
            groups.setdefault(tenant, []).append(memory_id)
        return [(self._collection.with_tenant(tenant), ids) for tenant, ids in groups.items()]

    # -- protocol -----------------------------------------------------------------------------

    @property
    def dimensions(self) -> int | None:
        return self._dimensions

    def counted_scopes(self) -> list[Scope]:
        """The scopes whose words this client holds counted in memory (for the common-term rule),
        texts included for a small scope; any delete drops them all, so no deleted text stays."""
        return [scope for scope, _, _ in self._word_counts.held()]

    def _check(self, width: int) -> None:
        if self._dimensions is None:
            self._dimensions = width
        elif width != self._dimensions:
            raise DimensionMismatchError(
                f"vectors have {width} dimensions, the collection holds {self._dimensions}"
            )

    def insert(self, records: list[MemoryRecord], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(records), -1)
        tenants = [self._tenant(record.scope) for record in records]
        if not records:
            return
        self._check(vectors.shape[1])
        by_handle: dict[str, list[int]] = {}
        for index, tenant in enumerate(tenants):
            by_handle.setdefault(tenant, []).append(index)
        from weaviate.classes.data import DataObject

        if self._multi_tenancy:  # the map entry first: an object is never stored without one
            entries = [
                DataObject(
                    properties={"memory_id": records[i].id, "tenant": tenant}, uuid=object_uuid(records[i].id)
                )
                for tenant, indices in by_handle.items()
                for i in indices
            ]
            insert_pages(self._tenant_map, entries)
        for tenant, indices in by_handle.items():
            handle = self._collection.with_tenant(tenant) if self._multi_tenancy else self._collection
            objects = [
                DataObject(
                    properties=to_properties(records[i]),
                    uuid=object_uuid(records[i].id),
                    vector=vectors[i].tolist(),
                )
                for i in indices
            ]
            insert_pages(handle, objects)
        self._count_inserted(records)

    def _tenant(self, scope: Scope) -> str:
        """The tenant of a memory of the scope ("" without multi-tenancy), checking the scope first."""
        scope.required_filter()
        if not self._multi_tenancy:
            return ""
        if not scope.user_id:
            raise MissingScopeError("with Weaviate multi-tenancy every memory needs a user_id (the tenant)")
        return tenant_name(scope.user_id)

    def _count_inserted(self, records: list[MemoryRecord]) -> None:
        """Extend the counted texts of each held scope the records fall in, when its fingerprint (one
        aggregate query) shows that they are all that changed: a chat's add, search, add, search
        then reads no scope's texts again. Any other change leaves them to be read at the next search."""
        for scope, (count, total, latest), counts in self._word_counts.held():
            added = [r for r in records if scope.matches(r.scope)]
            if not added:
                continue
            stamps = [to_epoch(r.updated_at) for r in added]
            newest = max(stamps) if latest is None else max(latest, *stamps)
            expected = (count + len(added), (total or 0.0) + sum(stamps), newest)
            found = self._fingerprint(scope)
            # the server sums in its own order: allow the rounding of a float sum of that many terms
            if (
                found[0] == expected[0]
                and found[2] == expected[2]
                and found[1] is not None
                and math.isclose(found[1], expected[1], rel_tol=4 * found[0] * sys.float_info.epsilon)
            ):
                self._word_counts.put(scope, found, counts.extended([r.text for r in added]))
            else:
                self._word_counts.drop(scope)

    def replace(self, record: MemoryRecord, vector: np.ndarray | None = None) -> None:
        if not self.get([record.id]):
            raise MemoryNotFoundError(record.id)
        if vector is not None:
            self._check(int(np.asarray(vector).size))
        self._handle(record.scope).data.update(
            uuid=object_uuid(record.id),
            properties=to_properties(record),
            vector=None if vector is None else np.asarray(vector, dtype=np.float32).reshape(-1).tolist(),
        )

    def get(self, memory_ids: list[str]) -> list[MemoryRecord]:
        from weaviate.classes.query import Filter

        found: dict[str, MemoryRecord] = {}
        for handle, ids in self._by_handle(list(dict.fromkeys(memory_ids))):
            for start in range(0, len(ids), PAGE):
                chunk = [object_uuid(i) for i in ids[start : start + PAGE]]
                for obj in handle.query.fetch_objects(
                    filters=Filter.by_id().contains_any(chunk), limit=len(chunk)
                ).objects:
                    record = from_properties(obj.properties)
                    found[record.id] = record
        return [found[i] for i in memory_ids if i in found]

    def find_by_hash(self, scope: Scope, content_hash: str) -> MemoryRecord | None:
        from weaviate.classes.query import Filter

        where = combine(
            scope_filter(scope, self._multi_tenancy),
            validity_filter(None),
            unexpired_filter(time.time()),
            Filter.by_property("hash").equal(content_hash),
        )
        objects = self._read(scope, lambda h: h.query.fetch_objects(filters=where, limit=1).objects, [])
        return from_properties(objects[0].properties) if objects else None

    def list(
        self,
        scope: Scope,
        *,
        limit: int,
        filters: Mapping[str, Any] | None = None,
        include_invalidated: bool = False,
        include_expired: bool = False,
    ) -> list[MemoryRecord]:
        """Newest first; metadata filters are checked on each page until `limit` records match."""
        from weaviate.classes.query import Sort

        where = combine(
            scope_filter(scope, self._multi_tenancy),
            None if include_invalidated else validity_filter(None),
            None if include_expired else unexpired_filter(time.time()),
        )
        records: list[MemoryRecord] = []
        offset = 0
        while len(records) < limit:
            page = self._read(
                scope,
                lambda h: (
                    h.query.fetch_objects(
                        filters=where,
                        limit=PAGE,
                        offset=offset,  # noqa: B023 - self._read runs the query before the loop goes on
                        sort=Sort.by_property("created_at", ascending=False),
                    ).objects
                ),
                [],
            )
            records += [
                r for r in (from_properties(o.properties) for o in page) if _metadata_matches(r, filters)
            ]
            if len(page) < PAGE:
                break
            offset += PAGE
        return records[:limit]

    def search(
        self, scope: Scope, vector: np.ndarray, query: str, params: SearchParams
    ) -> builtins.list[SearchHit]:
        """`relevance.rank` of the candidates, as hits."""
        candidates, records = self._found(scope, vector, query, params)
        return [
            SearchHit(memory=records[r.key].model_copy(update={"score": r.score}), **r.hit_fields())
            for r in rank(candidates, params)
        ]

    def candidates(
        self, scope: Scope, vector: np.ndarray, query: str, params: SearchParams
    ) -> Candidates[str]:
        return self._found(scope, vector, query, params)[0]

    def _found(
        self, scope: Scope, vector: np.ndarray, query: str, params: SearchParams
    ) -> tuple[Candidates[str], dict[str, MemoryRecord]]:
        """The dense, BM25 and graph-linked candidates from the server (no neighbouring turns), and
        their records."""
        from weaviate.classes.query import Filter

        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if self._dimensions is not None and vector.size != self._dimensions:
            raise DimensionMismatchError(
                f"query vector has {vector.size} dimensions, the collection holds {self._dimensions}"
            )
        where = combine(
            scope_filter(scope, self._multi_tenancy),
            validity_filter(params.as_of),
            None if params.include_expired else unexpired_filter(time.time()),
        )
        fetch = params.candidates if not params.filters else params.candidates * 4
        seen: dict[str, tuple[MemoryRecord, Any]] = {}

        def ranked(objects) -> list[str]:
            ids = []
            for obj in objects:
                record = from_properties(obj.properties)
                if _metadata_matches(record, params.filters):
                    seen[record.id] = (record, obj.vector)
                    ids.append(record.id)
            return ids[: params.candidates]

        dense = keyword = graph = []
        if params.dense_weight and self._dimensions is not None:
            dense = ranked(
                self._read(
                    scope,
                    lambda h: (
                        h.query.near_vector(
                            vector.tolist(), filters=where, limit=fetch, include_vector=True
                        ).objects
                    ),
                    [],
                )
            )
        counts, total = self._weighed_terms(scope, query) if params.keyword_weight else ([], 0)
        if counts:
            bm25 = " ".join(t for t, _ in counts)
            keyword = ranked(
                self._read(
                    scope,
                    lambda h: (
                        h.query.bm25(
                            bm25, query_properties=["text"], filters=where, limit=fetch, include_vector=True
                        ).objects
                    ),
                    [],
                )
            )
        if params.graph_links and params.graph_weight:
            linked_ids = list(params.graph_links)
            linked = combine(where, Filter.by_property("memory_id").contains_any(linked_ids))
            objects = self._read(
                scope,
                lambda h: (
                    h.query.fetch_objects(filters=linked, limit=len(linked_ids), include_vector=True).objects
                ),
                [],
            )
            graph = sorted(ranked(objects), key=lambda memory_id: -params.graph_links[memory_id])
        found = {i: seen[i] for i in dict.fromkeys([*dense, *keyword, *graph])}
        links = params.graph_links if params.graph_weight else {}
        candidates = Candidates(
            dense=dense,
            keyword=keyword,
            graph=graph,
            similarity={i: cosine(stored, vector) for i, (_, stored) in found.items()},
            specificity={i: links[i] for i in found if i in links},
            terms=term_evidence(counts, {i: record.text for i, (record, _) in found.items()}),
            total=total,
        )
        return candidates, {i: record for i, (record, _) in found.items()}

    def _term_counts(self, scope: Scope, terms: builtins.list[str]) -> tuple[builtins.list[int], int]:
        """How many of the scope's memories (valid or not, as the embedded backend counts) have each
        term, and how many it has, kept until the scope's fingerprint changes. A scope of at most
        `COUNTED_SCOPE_MAX_ROWS` memories is counted from its texts; a larger one by the server, one
        aggregate query per term not counted yet."""
        if not terms:
            return [], 0
        fingerprint = self._fingerprint(scope)
        counts = self._word_counts.get(scope, fingerprint)
        if counts is None:
            if fingerprint[0] > COUNTED_SCOPE_MAX_ROWS:
                where = scope_filter(scope, self._multi_tenancy)
                counts = ServerCounts(
                    fingerprint[0], lambda term: self._count(scope, combine(where, term_filter(term)))
                )
            else:
                counts = ScopeKeywords(self._texts(scope))
            self._word_counts.put(scope, fingerprint, counts)
        return [counts.document_count(t) for t in terms], len(counts)

    def _count(self, scope: Scope, condition) -> int:
        return self._read(
            scope, lambda h: h.aggregate.over_all(filters=condition, total_count=True).total_count, 0
        )

    def _fingerprint(self, scope: Scope) -> ScopeFingerprint:
        """The scope's size, and the sum and latest of its memories' update times (one aggregate
        query): an insert or a delete changes the size, a rewrite (stamped with the time it is
        made, the newest) the latest."""
        from weaviate.classes.query import Metrics

        where = scope_filter(scope, self._multi_tenancy)
        updated = [Metrics("updated_at").number(sum_=True, maximum=True)]
        found = self._read(
            scope,
            lambda h: h.aggregate.over_all(filters=where, total_count=True, return_metrics=updated),
            None,
        )
        if found is None or not found.total_count:
            return (0, None, None)
        metrics = found.properties["updated_at"]
        return (found.total_count, metrics.sum_, metrics.maximum)

    def _texts(self, scope: Scope) -> builtins.list[str]:
        """Every text of the scope, valid or not (a page of `PAGE` per query)."""
        where = scope_filter(scope, self._multi_tenancy)
        texts: list[str] = []
        while True:
            offset = len(texts)
            page = self._read(
                scope,
                lambda h: (
                    h.query.fetch_objects(
                        filters=where,
                        limit=PAGE,
                        offset=offset,  # noqa: B023 - self._read runs the query before the loop goes on
                        return_properties=["text"],
                    ).objects
                ),
                [],
            )
            texts += [o.properties["text"] for o in page]
            if len(page) < PAGE:
                return texts

    def _weighed_terms(self, scope: Scope, query: str) -> tuple[builtins.list[tuple[str, int]], int]:
        """The query terms that are not common in the scope with how many of its memories have each,
        and how many it has: what BM25 ranks on and keyword coverage weighs, as in the embedded backend."""
        terms = keyword_terms(query)
        counts, total = self._term_counts(scope, terms)
        return [
            (t, count) for t, count in zip(terms, counts, strict=True) if not is_common(count, total)
        ], total

    def common_terms(self, scope: Scope, terms: builtins.list[str]) -> builtins.list[str]:
        counts, total = self._term_counts(scope, terms)
        return [t for t, count in zip(terms, counts, strict=True) if is_common(count, total)]

    def set_expiry(self, memory_ids: builtins.list[str], expires_at: datetime | None) -> builtins.list[str]:
        found = {record.id: record for record in self.get(memory_ids)}
        for record in found.values():
            self._handle(record.scope).data.update(
                uuid=object_uuid(record.id), properties={"expires_at": _expiry_property(expires_at)}
            )
        return [memory_id for memory_id in memory_ids if memory_id in found]

    def expired(
        self, now: datetime, limit: int, rules: builtins.list[AgeRule] | None = None
    ) -> builtins.list[MemoryRecord]:
        """Metadata filters of the rules are checked on each page fetched, as `list` does."""
        from weaviate.classes.query import Filter, Sort

        handles = (
            [self._collection.with_tenant(t) for t in self._collection.tenants.get()]
            if self._multi_tenancy
            else [self._collection]
        )
        queries: builtins.list[tuple[Any, Mapping[str, Any] | None]] = [
            (Filter.by_property("expires_at").less_or_equal(to_epoch(now)), None)
        ]
        queries += [
            (
                combine(
                    Filter.by_property("created_at").less_or_equal(to_epoch(rule.created_before)),
                    *kind_filters(rule.kind),
                ),
                rule.filters,
            )
            for rule in rules or ()
        ]
        found: dict[str, MemoryRecord] = {}
        for where, filters in queries:
            wanted = limit - len(found)
            if wanted <= 0:
                break
            due: dict[str, MemoryRecord] = {}
            for handle in handles:  # each tenant's soonest, then the soonest of them all
                matched, offset = 0, 0
                while matched < wanted:
                    page = handle.query.fetch_objects(
                        filters=where, limit=PAGE, offset=offset, sort=Sort.by_property("expires_at")
                    ).objects
                    for record in (from_properties(o.properties) for o in page):
                        new = record.id not in found and record.id not in due
                        if new and _metadata_matches(record, filters):
                            due[record.id] = record
                            matched += 1
                    if len(page) < PAGE:
                        break
                    offset += PAGE
            for record in sorted(due.values(), key=_due_order)[:wanted]:
                found[record.id] = record
        return list(found.values())

    def delete(self, memory_ids: builtins.list[str]) -> None:
        from weaviate.classes.query import Filter

        for handle, ids in self._by_handle(list(dict.fromkeys(memory_ids))):
            for start in range(0, len(ids), PAGE):
                chunk = [object_uuid(i) for i in ids[start : start + PAGE]]
                handle.data.delete_many(where=Filter.by_id().contains_any(chunk))
        self._forget_tenants(memory_ids)
        self._word_counts.clear()  # no deleted text stays in this process's memory

    def _forget_tenants(self, memory_ids: builtins.list[str]) -> None:
        """Drop map entries after their objects (a crash in between leaves an entry to nothing, which
        reads as absent)."""
        if not self._multi_tenancy:
            return
        from weaviate.classes.query import Filter

        for start in range(0, len(memory_ids), PAGE):
            chunk = [object_uuid(i) for i in memory_ids[start : start + PAGE]]
            self._tenant_map.data.delete_many(where=Filter.by_id().contains_any(chunk))

    def delete_scope(self, scope: Scope) -> builtins.list[MemoryRecord]:
        """The map entries go before the objects: a deletion that a crash cut short and that is
        repeated finds the objects left by their scope, but map entries only through objects."""
        deleted = self.list(scope, limit=MAX_SCOPE_DELETE, include_invalidated=True, include_expired=True)
        self._forget_tenants([r.id for r in deleted])
        if self._multi_tenancy and scope.user_id and scope == Scope(user_id=scope.user_id):
            # the user's whole tenant: removing it drops its shard, nothing is left behind on disk
            self._collection.tenants.remove([tenant_name(scope.user_id)])
        else:
            where = scope_filter(scope, self._multi_tenancy)
            while deleted and self._read(scope, lambda h: h.data.delete_many(where=where).matches, 0):
                pass  # the server deletes at most QUERY_MAXIMUM_RESULTS objects per call
        self._word_counts.clear()
        return deleted

    def count(self, scope: Scope) -> int:
        return self._count(scope, scope_filter(scope, self._multi_tenancy))

    def erase_deleted(self) -> None:
        """Deleted objects leave every query at once; Weaviate drops them from its LSM segments
        when it compacts them, on its own schedule."""

    def reset(self) -> None:
        """Drop and recreate the collections (every tenant, every memory)."""
        self._client.collections.delete([self._name, self._tenant_map_name])
        self._ensure_collections()
        self._dimensions = None
        self._word_counts.clear()

    def reconnect(self) -> None:
        """A fresh client: the old one's gRPC channel waits out its reconnect backoff (tens of
        seconds after an outage) and fails every call meanwhile, though the server answers again.
        The old client stays open until `close`: a call of another thread may still be using it,
        and a closed channel would fail that call with an untyped ValueError."""
        fresh = self._open_client()
        self._replaced_clients.append(self._client)
        self._client = fresh
        self._bind_collections()

    def close(self) -> None:
        for client in (*self._replaced_clients, self._client):
            client.close()
