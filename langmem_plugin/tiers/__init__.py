"""The three storage tiers. Their protocols are public: any object with the methods and the
`capabilities` declaration of a protocol can be passed to `Memory(vector=..., graph=..., kv=...)`
or registered by name (langmem_plugin/backends.py), and checked with the contract suites in
`langmem_plugin.testing`."""

from .capabilities import Capabilities, CarriesManifest, CarriesNamespaceManifests
from .graph import EntityMention, GraphStore, RelationMention
from .keyvalue import KeyValueStore
from .vector import SearchParams, VectorStore

__all__ = [
    "Capabilities",
    "CarriesManifest",
    "CarriesNamespaceManifests",
    "EntityMention",
    "GraphStore",
    "KeyValueStore",
    "RelationMention",
    "SearchParams",
    "VectorStore",
]
