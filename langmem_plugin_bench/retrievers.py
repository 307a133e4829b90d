"""The systems compared on LoCoMo, all over the same embedder and the same rendered turns."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

from langmem_plugin.embeddings.cache import embed_texts
from langmem_plugin.locomo_format import Conversation
from langmem_plugin.memory import Memory
from langmem_plugin.records import SearchHit

WARM_BATCH = 256


@dataclass(frozen=True)
class RetrievedItem:
    text: str
    dia_ids: frozenset[str]


class Retriever(Protocol):
    name: str

    def ingest(self, conversation: Conversation) -> None: ...

    def search(self, conversation: Conversation, query: str, k: int) -> list[RetrievedItem]: ...

    def close(self) -> None: ...

    def configuration(self) -> dict[str, Any]:
        """Flat settings that name this system in an experiment's metadata."""
        ...


class MemoizedEmbeddings(Embeddings):
    """Embeds each distinct text once for every system in the run (same model, same vectors)."""

    def __init__(self, embeddings: Embeddings):
        self.inner = embeddings
        self.model = f"memo:{getattr(embeddings, 'model_name', type(embeddings).__name__)}"
        self._vectors: dict[str, np.ndarray] = {}
        self.seconds = 0.0  # spent embedding, so that a timed search can leave out a text it embeds

    def missing(self, texts: list[str]) -> list[str]:
        """The distinct texts not embedded yet: what warm() will embed, for a progress total."""
        return list(dict.fromkeys(t for t in texts if t not in self._vectors))

    def warm(self, texts: list[str], progress: Callable[[int], None] | None = None) -> None:
        """Embed the texts not seen yet, in batches, reporting each batch's size."""
        missing = self.missing(texts)
        for start in range(0, len(missing), WARM_BATCH):
            batch = missing[start : start + WARM_BATCH]
            started = time.perf_counter()
            vectors = embed_texts(self.inner, batch)
            self.seconds += time.perf_counter() - started
            for text, vector in zip(batch, vectors, strict=True):
                self._vectors[text] = vector
            if progress is not None:
                progress(len(batch))

    def embed_array(self, texts: list[str]) -> np.ndarray:
        self.warm(texts)
        return np.stack([self._vectors[t] for t in texts])

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


class LangMemRetriever:
    """langmem-plugin itself: verbatim turns (infer=False) or the configured memory manager."""

    def __init__(
        self, name: str, embeddings: MemoizedEmbeddings, *, infer: bool, config: dict[str, Any] | None = None
    ):
        self.name = name
        self._infer = infer
        self._embedder = embeddings.model
        self._directory = tempfile.TemporaryDirectory(prefix="langmem-locomo-")
        settings: dict[str, Any] = {
            "path": self._directory.name,
            "embedder": {"cache": False},
            "graph": {"enabled": infer},
        }
        for key, value in (config or {}).items():
            settings[key] = {**settings.get(key, {}), **value} if isinstance(value, dict) else value
        self.memory = Memory(settings, embeddings=embeddings)

    def ingest(self, conversation: Conversation) -> None:
        for session in conversation.sessions:
            messages = [
                {
                    "role": "user",
                    "name": turn.speaker,
                    "content": turn.text
                    + (f" [shares a photo: {turn.image_caption}]" if turn.image_caption else "")
                    if self._infer
                    else turn.render(),
                    "id": turn.dia_id,
                    "turn_id": turn.dia_id,
                    "timestamp": session.timestamp,
                }
                for turn in session.turns
            ]
            self.memory.add(messages, user_id=conversation.sample_id, infer=self._infer)

    def hits(self, conversation: Conversation, query: str, k: int) -> list[SearchHit]:
        """The conversation's top k memories for the query, with their relevance scores."""
        return self.memory.search(query, user_id=conversation.sample_id, limit=k)

    def search(self, conversation: Conversation, query: str, k: int) -> list[RetrievedItem]:
        hits = self.hits(conversation, query, k)
        return [RetrievedItem(h.memory.text, frozenset(s.message_id for s in h.memory.sources)) for h in hits]

    def close(self) -> None:
        self.memory.close()
        self._directory.cleanup()

    def configuration(self) -> dict[str, Any]:
        """Manager, backends, embedder and every search (fusion and relevance) setting."""
        config = self.memory.config
        return {
            "system": self.name,
            "infer": self._infer,
            "manager": type(self.memory.services.manager).__name__
            if self._infer
            else "none (verbatim turns)",
            "llm_model": config.llm.model,
            "vector_backend": config.vector.backend,
            "graph_backend": config.graph.backend if config.graph.enabled else "disabled",
            "kv_backend": config.kv.backend,
            "embedder": self._embedder,
            **{f"search.{key}": value for key, value in config.search.model_dump().items()},
        }


class DenseRetriever:
    """Baseline: cosine similarity over the turn embeddings, nothing else."""

    name = "dense-only"

    def __init__(self, embeddings: MemoizedEmbeddings):
        self._embeddings = embeddings
        self._index: dict[str, tuple[np.ndarray, list[str], list[str]]] = {}

    def ingest(self, conversation: Conversation) -> None:
        turns = conversation.turns
        texts = [t.render() for t in turns]
        self._index[conversation.sample_id] = (
            self._embeddings.embed_array(texts),
            texts,
            [t.dia_id for t in turns],
        )

    def search(self, conversation: Conversation, query: str, k: int) -> list[RetrievedItem]:
        matrix, texts, ids = self._index[conversation.sample_id]
        scores = matrix @ self._embeddings.embed_array([query])[0]
        top = np.argsort(-scores, kind="stable")[:k]
        return [RetrievedItem(texts[i], frozenset([ids[i]])) for i in top]

    def close(self) -> None:
        self._index.clear()

    def configuration(self) -> dict[str, Any]:
        return {"system": self.name, "embedder": self._embeddings.model}


class BM25Retriever:
    """Baseline: BM25 (bm25s, English stopwords) over the same rendered turns."""

    name = "bm25"

    def __init__(self) -> None:
        import bm25s

        self._bm25s = bm25s
        self._index: dict[str, tuple[Any, list[str], list[str]]] = {}

    def ingest(self, conversation: Conversation) -> None:
        turns = conversation.turns
        texts = [t.render() for t in turns]
        retriever = self._bm25s.BM25()
        retriever.index(self._bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
        self._index[conversation.sample_id] = (retriever, texts, [t.dia_id for t in turns])

    def search(self, conversation: Conversation, query: str, k: int) -> list[RetrievedItem]:
        retriever, texts, ids = self._index[conversation.sample_id]
        tokens = self._bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        documents, scores = retriever.retrieve(tokens, k=min(k, len(texts)), show_progress=False)
        return [
            RetrievedItem(texts[i], frozenset([ids[i]]))
            for i, s in zip(documents[0], scores[0], strict=True)
            if s > 0
        ]

    def close(self) -> None:
        self._index.clear()

    def configuration(self) -> dict[str, Any]:
        return {"system": self.name, "tokenizer": "bm25s, English stopwords"}


class InMemoryStoreRetriever:
    """Baseline: LangGraph's InMemoryStore with a vector index on the same embedder."""

    name = "langgraph-inmemorystore"

    def __init__(self, embeddings: MemoizedEmbeddings):
        from langgraph.store.memory import InMemoryStore

        self._embedder = embeddings.model
        self._store = InMemoryStore(
            index={"dims": len(embeddings.embed_query("probe")), "embed": embeddings, "fields": ["text"]}
        )

    def ingest(self, conversation: Conversation) -> None:
        for turn in conversation.turns:
            self._store.put((conversation.sample_id,), turn.dia_id, {"text": turn.render()})

    def search(self, conversation: Conversation, query: str, k: int) -> list[RetrievedItem]:
        items = self._store.search((conversation.sample_id,), query=query, limit=k)
        return [RetrievedItem(item.value["text"], frozenset([item.key])) for item in items]

    def close(self) -> None:
        pass

    def configuration(self) -> dict[str, Any]:
        return {"system": self.name, "embedder": self._embedder}
