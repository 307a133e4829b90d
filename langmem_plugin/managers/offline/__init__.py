"""The offline memory manager: facts, decisions and relations from the sentences' grammar, with no model."""

from .manager import OfflineMemoryManager

__all__ = ["OfflineMemoryManager"]
