"""A LangGraph `BaseStore` backed by `Memory`, so store-using graphs (and LangMem) run on our tiers.

Each namespace is its own scope (user_id `ns:["a","b"]`), so the hard scope filter of every tier
keeps namespaces apart. An item is one verbatim memory whose text is what gets embedded; the
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
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime
from typing import Any, Iterable, Sequence

import numpy as np
from langgraph.store.base import BaseStore, GetOp, Item, ListNamespacesOp, Op, PutOp, Result, SearchItem, SearchOp
from langgraph.store.base.embed import get_text_at_path, tokenize_path

from ..errors import InvalidInputError
from ..filters import matches_filters
from ..memory import Memory
from ..records import MemoryRecord, Scope
from .store_namespaces import NAMESPACES, namespace_scope

# Where LangMem and most apps keep the text of a value: create_memory_store_manager's
# {"kind", "content": {"content": ...}}, the LangMem tools' {"content": ...}, plain {"text": ...}.
DEFAULT_TEXT_PATHS = ("content.content", "content", "text")
KEY_LOCKS = 64


def _namespace_matches(namespace: tuple[str, ...], condition) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    pairs = zip(namespace, path) if condition.match_type == "prefix" else zip(reversed(namespace), reversed(path))
    return all(p == "*" or k == p for k, p in pairs)


class _FilterView(dict):
    """An item's value as filters see it: a key absent at the top level is read as a dotted path
    (`{"user.level": ...}`), as LangGraph's SQLite and Postgres stores do."""

    def get(self, key, default=None):
        if key in self or "." not in key:
            return super().get(key, default)
        node: Any = self
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


def texts_at(value: dict, paths: Sequence[str]) -> list[str]:
    """Every non-empty text at the given paths, with LangGraph's path semantics ("$" = whole value)."""
    texts: list[str] = []
    for path in paths:
        tokens = path if path == "$" else tokenize_path(path)
        texts.extend(t for t in get_text_at_path(value, tokens) if t.strip())
    return texts


class MemoryStore(BaseStore):
    """LangGraph `BaseStore` on a `Memory`. `index_fields`: the paths embedded for every put
    (LangGraph's `index={"fields": ...}`); None picks the first of DEFAULT_TEXT_PATHS that holds text."""

    def __init__(self, memory: Memory, *, index_fields: Sequence[str] | None = None):
        self.memory = memory
        self.index_fields = list(index_fields) if index_fields else None
        self._key_locks = [threading.Lock() for _ in range(KEY_LOCKS)]

    @property
    def embeddings(self):
        """The LangChain `Embeddings` the memory embeds with (as on LangGraph's stores)."""
        return self.memory.services.embedder.embeddings

    @property
    def index_config(self) -> dict[str, Any]:
        """LangGraph's IndexConfig shape: dims, embed, fields ("$" stands for the JSON fallback)."""
        dims = getattr(self.embeddings, "dimensions", None) or len(self.embeddings.embed_query("dimensions"))
        return {"dims": dims, "embed": self.embeddings, "fields": self.index_fields or [*DEFAULT_TEXT_PATHS, "$"]}

    # -- mapping -----------------------------------------------------------------------------

    def _texts(self, value: dict, index: list[str] | bool | None) -> list[str]:
        """The texts a put indexes; none when the item is stored unindexed."""
        if index is False:
            return []
        if index is not None or self.index_fields:
            return texts_at(value, index if index is not None else self.index_fields)
        for path in DEFAULT_TEXT_PATHS:
            texts = texts_at(value, [path])
            if texts:
                return texts
        return [json.dumps(value, ensure_ascii=False, sort_keys=True)]

    def _scores(self, query: str, records: list[MemoryRecord], scope: str) -> list[float]:
        """LangGraph's score: the best cosine similarity between the query and any one text of
        the item (vectors come from the embedding cache, filled at put time)."""
        per_record = [json.loads(str(r.metadata["store_texts"])) if "store_texts" in r.metadata else [r.text] for r in records]
        vectors = self.memory.services.embedder.embed([query] + [t for texts in per_record for t in texts], Scope(user_id=scope))
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
        if op.value is not None and not isinstance(op.value, dict):
            raise InvalidInputError(f"store values are dicts, got {type(op.value).__name__}")
        scope = namespace_scope(op.namespace)
        with self._lock(op.namespace, op.key):  # lookup-then-write of one key is atomic
            existing = self._find(op.namespace, op.key)
            if op.value is None:
                if existing is not None:
                    self.memory.delete(existing.id, user_id=scope)  # the namespace stays listed, as in InMemoryStore
                return
            texts = self._texts(op.value, op.index)
            metadata = {"store_key": op.key, "store_value": json.dumps(op.value, ensure_ascii=False), "store_indexed": bool(texts)}
            if len(texts) > 1:  # one memory holds them all; each is still scored on its own
                metadata["store_texts"] = json.dumps(texts, ensure_ascii=False)
                self.memory.services.embedder.embed(texts, Scope(user_id=scope))
            # An unindexed item still needs a text to be a memory; it is never ranked (store_indexed).
            text = "\n".join(texts) if texts else json.dumps(op.value, ensure_ascii=False, sort_keys=True)
            if existing is not None:
                self.memory.update(existing.id, text, metadata=metadata, user_id=scope)
                return
            self.memory.add([{"role": "user", "content": text, "id": op.key}], user_id=scope, metadata=metadata, infer=False)
            self.memory.services.kv.put_many(NAMESPACES, {json.dumps(list(op.namespace)): 1})

    def _search(self, op: SearchOp) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        namespaces = [ns for ns in self._namespaces() if ns[: len(prefix)] == prefix]
        wanted = op.offset + op.limit
        everything = self.memory.config.limits.max_limit
        ranked: list[tuple[float, SearchItem]] = []
        unranked: list[tuple[datetime, SearchItem]] = []
        for namespace in namespaces:
            scope = namespace_scope(namespace)
            if op.query:
                limit = min(everything, max(wanted * 4, 20))
                hits = self.memory.search(op.query, user_id=scope, limit=limit)
                # unindexed items are never ranked; items stored before store_indexed existed are indexed
                records = [h.memory for h in hits if h.memory.metadata.get("store_indexed") is not False]
                for record, score in zip(records, self._scores(op.query, records, scope) if records else []):
                    item = self._item(namespace, record, score, search=True)
                    if matches_filters(_FilterView(item.value), op.filter):
                        ranked.append((score, item))
            records = self.memory.get_all(user_id=scope, limit=everything, filters=None if not op.query else {"store_indexed": False})
            for record in records:
                item = self._item(namespace, record, None, search=True)
                if matches_filters(_FilterView(item.value), op.filter):
                    unranked.append((record.updated_at, item))
        ranked.sort(key=lambda r: -r[0])
        unranked.sort(key=lambda r: r[0], reverse=True)
        results = [item for _, item in ranked] + [item for _, item in unranked]  # unindexed after ranked, as InMemoryStore
        return results[op.offset : wanted]

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
