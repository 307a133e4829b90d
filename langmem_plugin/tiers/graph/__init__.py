from .base import EntityMention, GraphStore, RelationMention

__all__ = ["EntityMention", "GraphStore", "RelationMention"]
