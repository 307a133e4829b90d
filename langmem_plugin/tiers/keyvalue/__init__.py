from .base import KeyValueStore

__all__ = ["KeyValueStore"]
