"""A LangGraph `BaseStore` backed by `Memory`, so store-using graphs (and LangMem) run on our tiers.

Each namespace is its own scope (user_id `ns:["a","b"]`), so the hard scope filter of every tier
keeps namespaces apart. An item is one verbatim memory whose text is what gets embedded (the
`index` fields, else the whole value as JSON); the value itself travels in the metadata.
Filters use the store's semantics (equality or $eq/$ne/$gt/$gte/$lt/$lte on top-level fields).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Iterable, Sequence

from langgraph.store.base import BaseStore, GetOp, Item, ListNamespacesOp, Op, PutOp, Result, SearchItem, SearchOp

from ..errors import InvalidInputError
from ..filters import matches_filters
from ..memory import Memory
from ..records import MemoryRecord

NAMESPACES = "store_namespaces"


def namespace_scope(namespace: tuple[str, ...]) -> str:
    if not namespace or not all(isinstance(part, str) and part for part in namespace):
        raise InvalidInputError(f"a namespace is a non-empty tuple of non-empty strings, got {namespace!r}")
    return "ns:" + json.dumps(list(namespace), ensure_ascii=False)


def _namespace_matches(namespace: tuple[str, ...], condition) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    pairs = zip(namespace, path) if condition.match_type == "prefix" else zip(reversed(namespace), reversed(path))
    return all(p == "*" or k == p for k, p in pairs)


class MemoryStore(BaseStore):
    def __init__(self, memory: Memory, *, index_fields: Sequence[str] | None = None):
        self.memory = memory
        self.index_fields = list(index_fields) if index_fields else None

    # -- mapping -----------------------------------------------------------------------------

    def _text(self, value: dict) -> str:
        if self.index_fields:
            parts = [str(value[f]) for f in self.index_fields if value.get(f) not in (None, "")]
            if parts:
                return "\n".join(parts)
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    def _find(self, namespace: tuple[str, ...], key: str) -> MemoryRecord | None:
        found = self.memory.get_all(user_id=namespace_scope(namespace), filters={"store_key": key}, limit=1)
        return found[0] if found else None

    @staticmethod
    def _item(namespace: tuple[str, ...], record: MemoryRecord, score: float | None = None, search: bool = False):
        fields = dict(
            namespace=namespace,
            key=str(record.metadata["store_key"]),
            value=json.loads(str(record.metadata["store_value"])),
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
        return SearchItem(**fields, score=score) if search else Item(**fields)

    def _namespaces(self) -> list[tuple[str, ...]]:
        keys = self.memory.services.kv.keys(NAMESPACES)
        return sorted(tuple(json.loads(k)) for k in keys)

    # -- operations --------------------------------------------------------------------------

    def _get(self, op: GetOp) -> Item | None:
        record = self._find(op.namespace, op.key)
        return None if record is None else self._item(op.namespace, record)

    def _put(self, op: PutOp) -> None:
        existing = self._find(op.namespace, op.key)
        if op.value is None:
            if existing is not None:
                # the namespace stays listed, as in InMemoryStore
                self.memory.delete(existing.id, user_id=namespace_scope(op.namespace))
            return
        if not isinstance(op.value, dict):
            raise InvalidInputError(f"store values are dicts, got {type(op.value).__name__}")
        metadata = {"store_key": op.key, "store_value": json.dumps(op.value, ensure_ascii=False)}
        text = self._text(op.value)
        if existing is not None:
            self.memory.update(existing.id, text, metadata=metadata, user_id=namespace_scope(op.namespace))
            return
        self.memory.add([{"role": "user", "content": text, "id": op.key}], user_id=namespace_scope(op.namespace), metadata=metadata, infer=False)
        self.memory.services.kv.put_many(NAMESPACES, {json.dumps(list(op.namespace)): 1})

    def _search(self, op: SearchOp) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        namespaces = [ns for ns in self._namespaces() if ns[: len(prefix)] == prefix]
        wanted = op.offset + op.limit
        results: list[tuple[float | None, datetime, SearchItem]] = []
        for namespace in namespaces:
            scope = namespace_scope(namespace)
            if op.query:
                limit = min(self.memory.config.limits.max_limit, max(wanted * 4, 20))
                hits = self.memory.search(op.query, user_id=scope, limit=limit)
                pairs = [(h.memory, h.similarity) for h in hits]
            else:
                pairs = [(r, None) for r in self.memory.get_all(user_id=scope, limit=self.memory.config.limits.max_limit)]
            for record, score in pairs:
                item = self._item(namespace, record, score, search=True)
                if matches_filters(item.value, op.filter):
                    results.append((score, record.updated_at, item))
        if op.query:
            results.sort(key=lambda r: -(r[0] or 0.0))
        else:
            results.sort(key=lambda r: r[1], reverse=True)
        return [item for _, _, item in results[op.offset : wanted]]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        namespaces = [
            ns for ns in self._namespaces() if all(_namespace_matches(ns, c) for c in (op.match_conditions or ()))
        ]
        if op.max_depth is not None:
            namespaces = sorted({ns[: op.max_depth] for ns in namespaces})
        return namespaces[op.offset : op.offset + op.limit]

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        results: list[Result] = []
        for op in ops:
            if isinstance(op, GetOp):
                results.append(self._get(op))
            elif isinstance(op, PutOp):
                results.append(self._put(op))
            elif isinstance(op, SearchOp):
                results.append(self._search(op))
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op))
            else:
                raise InvalidInputError(f"unsupported store operation {type(op).__name__}")
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await asyncio.to_thread(self.batch, list(ops))
