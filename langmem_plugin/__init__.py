"""langmem-plugin: long-term memory for LangChain and LangGraph agents."""

from .config import MemoryConfig
from .errors import (
    BackendError,
    ConfigurationError,
    DimensionMismatchError,
    EmptyContentError,
    InputTooLargeError,
    InvalidFilterError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidScopeError,
    InvalidTextError,
    LangMemError,
    MemoryNotFoundError,
    MissingScopeError,
    StoreCorruptedError,
    StorePathError,
    ValueOutOfRangeError,
)
from .memory import AsyncMemory, Memory
from .records import EventType, HistoryEvent, MemoryOperation, MemoryRecord, Scope, SearchHit, SourceRef

__all__ = [
    "AsyncMemory",
    "BackendError",
    "ConfigurationError",
    "DimensionMismatchError",
    "EmptyContentError",
    "EventType",
    "HistoryEvent",
    "InputTooLargeError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidMetadataError",
    "InvalidScopeError",
    "InvalidTextError",
    "LangMemError",
    "Memory",
    "MemoryConfig",
    "MemoryNotFoundError",
    "MemoryOperation",
    "MemoryRecord",
    "MissingScopeError",
    "Scope",
    "SearchHit",
    "SourceRef",
    "StoreCorruptedError",
    "StorePathError",
    "ValueOutOfRangeError",
]
__version__ = "0.1.0"
