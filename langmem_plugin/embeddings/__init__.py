"""Embedders: any LangChain `Embeddings` works; MiniLM is the offline default."""

from .cache import CachedEmbeddings, embedder_identity
from .minilm import MiniLMEmbeddings

__all__ = ["CachedEmbeddings", "MiniLMEmbeddings", "embedder_identity"]
