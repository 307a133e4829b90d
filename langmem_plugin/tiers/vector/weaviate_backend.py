"""Vector tier on Weaviate (weaviate-client v4, gRPC), for memories that outgrow one machine.

One collection holds every memory with a self-provided vector. Scopes are either a filtered
property (default) or native multi-tenancy (`multi_tenancy=True`: one tenant per user_id, which
then becomes mandatory). Search is Weaviate's own hybrid query (BM25 + vector) with ranked
fusion (reciprocal-rank style) and alpha = dense_weight / (dense_weight + keyword_weight).
Validity is stored as numbers with an open-ended sentinel, so "valid now" and "valid at t" are
plain range filters. Metadata filters are applied to candidates client-side (metadata is free-form
JSON, not part of the collection schema).

The query building below is pure functions (tests/test_weaviate_queries.py); the contract suite
runs against a real server when WEAVIATE_URL is set.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Mapping

import numpy as np

from ...errors import BackendError, ConfigurationError, DimensionMismatchError, MemoryNotFoundError, MissingScopeError
from ...filters import matches_filters
from ...records import MemoryRecord, Scope, SearchHit, SourceRef
from ..timestamps import from_epoch, to_epoch
from .base import SearchParams
from .relevance import keyword_coverage, keyword_terms, relevance

PAGE = 500
MAX_SCOPE_DELETE = 1_000_000
OPEN = 1.0e15  # valid_to of a memory never invalidated (epoch seconds far in the future)
SCOPE_FIELDS = ("user_id", "agent_id", "run_id")
TEXT_PROPERTIES = ("memory_id", "user_id", "agent_id", "run_id", "text", "hash", "metadata_json", "sources_json")
NUMBER_PROPERTIES = ("created_at", "updated_at", "valid_from", "valid_to")


def _filters():
    from weaviate.classes.query import Filter

    return Filter


def scope_filter(scope: Scope, multi_tenancy: bool):
    """Equality on every given scope id; in multi-tenancy mode user_id is the tenant instead."""
    ids = scope.required_filter()
    if multi_tenancy and "user_id" not in ids:
        raise MissingScopeError("with Weaviate multi-tenancy every call needs a user_id (the tenant)")
    Filter = _filters()
    conditions = [Filter.by_property(f).equal(v) for f, v in ids.items() if not (multi_tenancy and f == "user_id")]
    return Filter.all_of(conditions) if conditions else None


def validity_filter(as_of: datetime | None):
    Filter = _filters()
    if as_of is None:
        return Filter.by_property("valid_to").greater_or_equal(OPEN)
    moment = to_epoch(as_of)
    return Filter.all_of([Filter.by_property("valid_from").less_or_equal(moment), Filter.by_property("valid_to").greater_than(moment)])


def combine(*filters):
    present = [f for f in filters if f is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else _filters().all_of(present)


def alpha(params: SearchParams) -> float:
    """Weaviate's hybrid weight of the vector side, from our two ranker weights."""
    total = params.dense_weight + params.keyword_weight
    return 0.5 if total == 0 else params.dense_weight / total


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
    }


def from_properties(properties: Mapping[str, Any]) -> MemoryRecord:
    valid_to = properties["valid_to"]
    return MemoryRecord(
        id=properties["memory_id"],
        text=properties["text"],
        scope=Scope(**{f: properties.get(f) or None for f in SCOPE_FIELDS}),
        metadata=json.loads(properties["metadata_json"]),
        created_at=from_epoch(properties["created_at"]),
        updated_at=from_epoch(properties["updated_at"]),
        valid_from=from_epoch(properties["valid_from"]),
        valid_to=None if valid_to >= OPEN else from_epoch(valid_to),
        hash=properties["hash"],
        sources=[SourceRef.model_validate(s) for s in json.loads(properties["sources_json"])],
    )


def object_uuid(memory_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"langmem:{memory_id}"))


def _metadata_matches(record: MemoryRecord, filters: Mapping[str, Any] | None) -> bool:
    return matches_filters(record.metadata, filters)


class WeaviateVectorStore:
    def __init__(self, url: str, *, collection: str = "LangmemMemory", multi_tenancy: bool = False, api_key: str | None = None):
        try:
            import weaviate
        except ImportError as exc:
            raise ConfigurationError("the weaviate vector backend needs: pip install 'langmem-plugin[weaviate]'") from exc
        from urllib.parse import urlparse

        parsed = urlparse(url)
        secure = parsed.scheme == "https"
        try:
            self._client = weaviate.connect_to_custom(
                http_host=parsed.hostname, http_port=parsed.port or (443 if secure else 8080), http_secure=secure,
                grpc_host=parsed.hostname, grpc_port=50051, grpc_secure=secure,
                auth_credentials=weaviate.auth.AuthApiKey(api_key) if api_key else None,
            )
        except Exception as exc:  # noqa: BLE001 - the client raises several unrelated types
            raise BackendError(f"cannot reach Weaviate at {url}: {exc}") from exc
        self._multi_tenancy = multi_tenancy
        self._name = collection
        self._ensure_collection()
        self._dimensions: int | None = None

    def _ensure_collection(self) -> None:
        from weaviate.classes.config import Configure, DataType, Property, Tokenization

        if not self._client.collections.exists(self._name):
            properties = [
                Property(name=name, data_type=DataType.TEXT, tokenization=Tokenization.FIELD, skip_vectorization=True)
                for name in TEXT_PROPERTIES
                if name != "text"
            ] + [Property(name="text", data_type=DataType.TEXT, tokenization=Tokenization.WORD)]
            properties += [Property(name=name, data_type=DataType.NUMBER) for name in NUMBER_PROPERTIES]
            self._client.collections.create(
                self._name,
                properties=properties,
                vector_config=Configure.Vectors.self_provided(),
                multi_tenancy_config=Configure.multi_tenancy(enabled=self._multi_tenancy, auto_tenant_creation=True),
            )
        self._collection = self._client.collections.get(self._name)

    def _handle(self, scope: Scope):
        if not self._multi_tenancy:
            return self._collection
        if not scope.user_id:
            raise MissingScopeError("with Weaviate multi-tenancy every call needs a user_id (the tenant)")
        return self._collection.with_tenant(scope.user_id)

    @property
    def dimensions(self) -> int | None:
        return self._dimensions

    def _check(self, width: int) -> None:
        if self._dimensions is None:
            self._dimensions = width
        elif width != self._dimensions:
            raise DimensionMismatchError(f"vectors have {width} dimensions, the collection holds {self._dimensions}")

    def insert(self, records: list[MemoryRecord], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(records), -1)
        if records:
            self._check(vectors.shape[1])
        by_scope: dict[Scope, list[int]] = {}
        for index, record in enumerate(records):
            record.scope.required_filter()
            by_scope.setdefault(Scope(user_id=record.scope.user_id) if self._multi_tenancy else Scope(), []).append(index)
        for tenant_scope, indices in by_scope.items():
            handle = self._handle(tenant_scope) if self._multi_tenancy else self._collection
            with handle.batch.fixed_size(batch_size=200) as batch:
                for i in indices:
                    batch.add_object(properties=to_properties(records[i]), uuid=object_uuid(records[i].id), vector=vectors[i].tolist())
            failed = handle.batch.failed_objects
            if failed:
                raise BackendError(f"Weaviate rejected {len(failed)} objects: {failed[0].message}")

    def _fetch(self, memory_id: str, scope: Scope | None = None):
        handle = self._handle(scope) if scope is not None and self._multi_tenancy else self._collection
        return handle.query.fetch_object_by_id(object_uuid(memory_id), include_vector=True)

    def replace(self, record: MemoryRecord, vector: np.ndarray | None = None) -> None:
        handle = self._handle(record.scope)
        if self._fetch(record.id, record.scope) is None:
            raise MemoryNotFoundError(record.id)
        if vector is not None:
            self._check(int(np.asarray(vector).size))
        handle.data.update(
            uuid=object_uuid(record.id),
            properties=to_properties(record),
            vector=None if vector is None else np.asarray(vector, dtype=np.float32).reshape(-1).tolist(),
        )

    def get(self, memory_ids: list[str]) -> list[MemoryRecord]:
        if self._multi_tenancy:
            raise BackendError("get by id needs the tenant: with multi-tenancy, look memories up through search or list")
        found = {}
        for memory_id in memory_ids:
            obj = self._fetch(memory_id)
            if obj is not None:
                found[memory_id] = from_properties(obj.properties)
        return [found[i] for i in memory_ids if i in found]

    def find_by_hash(self, scope: Scope, content_hash: str) -> MemoryRecord | None:
        Filter = _filters()
        where = combine(scope_filter(scope, self._multi_tenancy), validity_filter(None), Filter.by_property("hash").equal(content_hash))
        result = self._handle(scope).query.fetch_objects(filters=where, limit=1)
        return from_properties(result.objects[0].properties) if result.objects else None

    def list(self, scope: Scope, *, limit: int, filters: Mapping[str, Any] | None = None, include_invalidated: bool = False) -> list[MemoryRecord]:
        """Newest first; metadata filters are checked on each page until `limit` records match."""
        from weaviate.classes.query import Sort

        where = combine(scope_filter(scope, self._multi_tenancy), None if include_invalidated else validity_filter(None))
        handle, records, offset = self._handle(scope), [], 0
        while len(records) < limit:
            page = handle.query.fetch_objects(
                filters=where, limit=PAGE, offset=offset, sort=Sort.by_property("created_at", ascending=False)
            ).objects
            records += [r for r in map(lambda o: from_properties(o.properties), page) if _metadata_matches(r, filters)]
            if len(page) < PAGE:
                break
            offset += PAGE
        return records[:limit]

    def search(self, scope: Scope, vector: np.ndarray, query: str, params: SearchParams) -> list[SearchHit]:
        from weaviate.classes.query import HybridFusion, MetadataQuery

        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if self._dimensions is not None and vector.size != self._dimensions:
            raise DimensionMismatchError(f"query vector has {vector.size} dimensions, the collection holds {self._dimensions}")
        where = combine(scope_filter(scope, self._multi_tenancy), validity_filter(params.as_of))
        fetch = params.candidates if not params.filters else params.candidates * 4
        result = self._handle(scope).query.hybrid(
            query=query or None,
            vector=vector.tolist(),
            alpha=alpha(params),
            fusion_type=HybridFusion.RANKED,
            filters=where,
            limit=fetch,
            include_vector=True,
            return_metadata=MetadataQuery(score=True),
        )
        norm = float(np.linalg.norm(vector)) or 1.0
        terms = keyword_terms(query)
        hits = []
        for rank, obj in enumerate(result.objects, start=1):
            record = from_properties(obj.properties)
            if not _metadata_matches(record, params.filters):
                continue
            stored = np.asarray(obj.vector["default"] if isinstance(obj.vector, dict) else obj.vector, dtype=np.float32)
            similarity = float(stored @ vector / ((float(np.linalg.norm(stored)) or 1.0) * norm))
            # Weaviate orders by its own fusion; the score is the same relevance as every backend's
            # (keyword terms weighted equally: Weaviate does not expose document frequencies).
            keyword = keyword_coverage(terms, [1.0] * len(terms), record.text) if terms else None
            graph = params.graph_links.get(record.id) if params.graph_weight else None
            score = relevance(similarity, keyword, graph)
            if params.threshold is not None and score < params.threshold:
                continue
            hits.append(
                SearchHit(
                    memory=record.model_copy(update={"score": score}),
                    score=score,
                    similarity=similarity,
                    keyword_score=keyword,
                    graph_score=graph,
                    fused_score=float(obj.metadata.score or 0.0),
                )
            )
        return hits[: params.limit]

    def delete(self, memory_ids: list[str]) -> None:
        if self._multi_tenancy:
            raise BackendError("delete by id needs the tenant: use delete_scope, or the filtered-property mode")
        for memory_id in memory_ids:
            self._collection.data.delete_by_id(object_uuid(memory_id))

    def delete_scope(self, scope: Scope) -> list[MemoryRecord]:
        deleted = self.list(scope, limit=MAX_SCOPE_DELETE, include_invalidated=True)
        handle = self._handle(scope)
        where = scope_filter(scope, self._multi_tenancy)
        if where is None:  # a tenant's whole content
            handle.data.delete_many(where=_filters().by_property("memory_id").like("*"))
        else:
            handle.data.delete_many(where=where)
        return deleted

    def count(self, scope: Scope) -> int:
        where = scope_filter(scope, self._multi_tenancy)
        return self._handle(scope).aggregate.over_all(filters=where, total_count=True).total_count

    def reset(self) -> None:
        """Drop and recreate the collection (every tenant, every memory)."""
        self._client.collections.delete(self._name)
        self._ensure_collection()
        self._dimensions = None

    def close(self) -> None:
        self._client.close()
