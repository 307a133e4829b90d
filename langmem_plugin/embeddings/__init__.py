"""Embedders: any LangChain `Embeddings` works; MiniLM is the offline default."""

from .cache import CachedEmbeddings
from .minilm import MiniLMEmbeddings

__all__ = ["CachedEmbeddings", "MiniLMEmbeddings"]
