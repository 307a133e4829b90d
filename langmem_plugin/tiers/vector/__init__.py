from .base import AgeRule, SearchParams, VectorStore

__all__ = ["AgeRule", "SearchParams", "VectorStore"]
