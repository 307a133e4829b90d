"""langmem-plugin: long-term memory for LangChain and LangGraph agents."""

from .config import MemoryConfig
from .errors import (
    AttachmentNotFoundError,
    BackendError,
    ConfigurationError,
    CrossUserDeleteError,
    DimensionMismatchError,
    EmptyContentError,
    EncryptedFileError,
    ForbiddenScopeError,
    ImportFormatError,
    ImportInterruptedError,
    InputTooLargeError,
    InvalidEmbeddingError,
    InvalidFilterError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidScopeError,
    InvalidTextError,
    LangMemError,
    MemoryNotFoundError,
    MissingDependencyError,
    MissingScopeError,
    NoClearMatchError,
    NotGrantedError,
    SensitiveDataError,
    StoreBusyError,
    StoreCorruptedError,
    StorePathError,
    UnauthenticatedError,
    UnreadableFileError,
    UnsupportedFileError,
    ValueOutOfRangeError,
)
from .mem0_compat import as_mem0_result
from .memory import AsyncMemory, Memory
from .parts import Attachment
from .pipeline.consolidate import ConsolidationReport, Reversal
from .records import EventType, HistoryEvent, MemoryOperation, MemoryRecord, Scope, SearchHit, SourceRef

# The LangChain / LangGraph integrations, imported on first use (PEP 562) so that the core
# package does not import LangGraph: `pip install "langmem-plugin[langgraph]"` provides them.
_INTEGRATIONS = {
    "create_memory_tools": "tools",
    "MemoryMiddleware": "middleware",
    "build_memory_graph": "subgraph",
    "MemoryStore": "store",
    "AsyncMemoryStore": "store",
    "LangMemBaseMemory": "classic",
    "ScopeMapping": "scoping",
}


def __getattr__(name: str):
    module = _INTEGRATIONS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".integrations.{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [  # literal names, so that static tools see the lazy integrations too
    "AsyncMemory",
    "AsyncMemoryStore",
    "Attachment",
    "AttachmentNotFoundError",
    "BackendError",
    "ConfigurationError",
    "ConsolidationReport",
    "CrossUserDeleteError",
    "DimensionMismatchError",
    "EmptyContentError",
    "EncryptedFileError",
    "EventType",
    "ForbiddenScopeError",
    "HistoryEvent",
    "ImportFormatError",
    "ImportInterruptedError",
    "InputTooLargeError",
    "InvalidEmbeddingError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidMetadataError",
    "InvalidScopeError",
    "InvalidTextError",
    "LangMemBaseMemory",
    "LangMemError",
    "Memory",
    "MemoryConfig",
    "MemoryMiddleware",
    "MemoryNotFoundError",
    "MemoryOperation",
    "MemoryRecord",
    "MemoryStore",
    "MissingDependencyError",
    "MissingScopeError",
    "NoClearMatchError",
    "NotGrantedError",
    "Reversal",
    "Scope",
    "ScopeMapping",
    "SearchHit",
    "SensitiveDataError",
    "SourceRef",
    "StoreBusyError",
    "StoreCorruptedError",
    "StorePathError",
    "UnauthenticatedError",
    "UnreadableFileError",
    "UnsupportedFileError",
    "ValueOutOfRangeError",
    "as_mem0_result",
    "build_memory_graph",
    "create_memory_tools",
]
__version__ = "0.1.0"
