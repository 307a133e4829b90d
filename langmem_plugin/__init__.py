"""langmem-plugin: long-term memory for LangChain and LangGraph agents."""

from .config import MemoryConfig
from .errors import (
    BackendError,
    ConfigurationError,
    CrossUserDeleteError,
    DimensionMismatchError,
    EmptyContentError,
    InputTooLargeError,
    InvalidFilterError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidScopeError,
    LangMemError,
    MemoryNotFoundError,
    MissingScopeError,
)
from .memory import AsyncMemory, Memory
from .records import EventType, HistoryEvent, MemoryOperation, MemoryRecord, Scope, SearchHit, SourceRef

__all__ = [
    "AsyncMemory",
    "BackendError",
    "ConfigurationError",
    "CrossUserDeleteError",
    "DimensionMismatchError",
    "EmptyContentError",
    "EventType",
    "HistoryEvent",
    "InputTooLargeError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidMetadataError",
    "InvalidScopeError",
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
]
__version__ = "0.1.0"
