from .base import SearchParams, VectorStore

__all__ = ["SearchParams", "VectorStore"]
