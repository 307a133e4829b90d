"""Input checks run before anything is stored; each failure is a typed, explained error."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ..config import LimitsConfig
from ..errors import (
    EmptyContentError,
    ForbiddenScopeError,
    InputTooLargeError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidScopeError,
    MissingScopeError,
)
from ..filters import KEY_PATTERN
from ..records import MetadataValue, Scope
from ..storable import check_encodable, check_int_range

# The user ids of LangGraph store namespaces (integrations/store.py) start with this prefix. A
# plain string id that starts with it is refused, so that no id a caller or a client chooses can
# name a namespace; only a `NamespaceUserId`, which the store builds, may.
NAMESPACE_PREFIX = "ns:"


class NamespaceUserId(str):
    """The user id of a store namespace: `ns:` + the namespace as JSON. Built by the store adapter,
    never parsed from input, so its type is what sets it apart from a chosen string id."""


def check_scope(limits: LimitsConfig, user_id: Any = None, agent_id: Any = None, run_id: Any = None) -> Scope:
    ids = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
    for name, value in ids.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidScopeError(f"{name} must be a string, got {type(value).__name__}")
        if not value.strip():
            raise InvalidScopeError(f"{name} must not be empty")
        if len(value) > limits.max_scope_id_chars:
            raise InvalidScopeError(f"{name} is longer than {limits.max_scope_id_chars} characters")
        if any(ord(c) < 32 for c in value):
            raise InvalidScopeError(f"{name} contains control characters")
        check_encodable(value, name, InvalidScopeError)
    reserved = isinstance(user_id, str) and user_id.startswith(NAMESPACE_PREFIX)
    if reserved and not isinstance(user_id, NamespaceUserId):
        raise ForbiddenScopeError(
            f"user ids starting with {NAMESPACE_PREFIX!r} are reserved for LangGraph store namespaces "
            "(MemoryStore); choose another user id"
        )
    if all(v is None for v in ids.values()):
        raise MissingScopeError(
            "give at least one of user_id, agent_id or run_id: every memory belongs to a scope"
        )
    return Scope(**ids)


def check_optional_scope(
    limits: LimitsConfig, user_id: Any = None, agent_id: Any = None, run_id: Any = None
) -> Scope | None:
    """By-id calls: no ids means any scope (Mem0's behaviour); given ids are checked as for check_scope."""
    if user_id is None and agent_id is None and run_id is None:
        return None
    return check_scope(limits, user_id, agent_id, run_id)


def check_text(limits: LimitsConfig, text: Any, what: str = "text") -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"{what} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise EmptyContentError(f"{what} is empty")
    if len(text) > limits.max_text_chars:
        raise InputTooLargeError(
            f"{what} has {len(text)} characters, more than the limit of {limits.max_text_chars} "
            "(raise limits.max_text_chars or split the input)"
        )
    return check_encodable(text, what)


def check_metadata(limits: LimitsConfig, metadata: Any) -> dict[str, MetadataValue]:
    """Metadata is a JSON object: nested objects and lists are kept, bounded in depth
    (limits.max_metadata_depth) and in encoded size (limits.max_metadata_bytes)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"metadata must be a mapping, got {type(metadata).__name__}")
    if len(metadata) > limits.max_metadata_keys:
        raise InvalidMetadataError(f"metadata has more than {limits.max_metadata_keys} keys")
    clean = _clean_metadata_object(limits, metadata, "metadata", 1)
    size = len(json.dumps(clean, ensure_ascii=False).encode())
    if size > limits.max_metadata_bytes:
        raise InputTooLargeError(
            f"metadata takes {size} bytes as JSON, more than the limit of {limits.max_metadata_bytes} "
            "(raise limits.max_metadata_bytes)"
        )
    return clean


def _clean_metadata_object(
    limits: LimitsConfig, value: Mapping, where: str, depth: int
) -> dict[str, MetadataValue]:
    clean: dict[str, MetadataValue] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise InvalidMetadataError(
                f"{where} key {key!r} must be a string of 1 to 64 characters without control "
                "characters, '\"' or '\\'"
            )
        check_encodable(key, f"{where} key {key!r}", InvalidMetadataError)
        clean[key] = _clean_metadata_value(limits, item, f"{where}[{key!r}]", depth)
    return clean


def _clean_metadata_value(limits: LimitsConfig, value: Any, where: str, depth: int) -> MetadataValue:
    if isinstance(value, (Mapping, list, tuple)) and depth >= limits.max_metadata_depth:
        raise InvalidMetadataError(
            f"{where} nests objects or lists more than {limits.max_metadata_depth} levels deep"
        )
    if isinstance(value, Mapping):
        return _clean_metadata_object(limits, value, where, depth + 1)
    if isinstance(value, (list, tuple)):
        return [
            _clean_metadata_value(limits, item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)
        ]
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise InvalidMetadataError(
            f"{where} must be a string, number, boolean, None, list or mapping, got {type(value).__name__}"
        )
    check_int_range(value, where, InvalidMetadataError)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidMetadataError(f"{where} must be finite")
    if isinstance(value, str):
        if len(value) > limits.max_text_chars:
            raise InputTooLargeError(f"{where} is longer than {limits.max_text_chars} characters")
        check_encodable(value, where, InvalidMetadataError)
        if "\x00" in value:  # SQLite's JSON functions end a string at NUL: it could not be filtered
            raise InvalidMetadataError(f"{where} contains a NUL character")
    return value


def check_limit(limits: LimitsConfig, limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidInputError(f"limit must be an integer, got {type(limit).__name__}")
    if not 1 <= limit <= limits.max_limit:
        raise InvalidInputError(f"limit must be between 1 and {limits.max_limit}, got {limit}")
    return limit


def check_threshold(threshold: Any) -> float | None:
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise InvalidInputError(f"threshold is a minimum relevance score between 0 and 1, got {threshold!r}")
    return float(threshold)


def check_memory_id(memory_id: Any) -> str:
    if not isinstance(memory_id, str) or not memory_id.strip():
        raise InvalidInputError(f"memory id must be a non-empty string, got {memory_id!r}")
    return check_encodable(memory_id, "memory id")


# Every memory id is a UUID as str(uuid.uuid4()) writes it (records.new_uuids, pipeline/ingest.py).
_MEMORY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def is_memory_id(text: str) -> bool:
    """True for text shaped like a memory id; `update` and `delete` read any other text as a
    statement or a description of memories."""
    return _MEMORY_ID.fullmatch(text) is not None


# Deeper than any shape the importer, metadata or filters accept (a ChatGPT export nests about 7
# levels); the bound keeps a hostile document from reaching Python's recursion limit.
MAX_JSON_DEPTH = 64


def load_json(text: str, what: str, error: type[InvalidInputError] = InvalidInputError) -> Any:
    """Parse JSON text; malformed or too deeply nested input raises `error`, never RecursionError."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not JSON: {exc}") from exc
    except RecursionError:
        raise error(f"{what} nests arrays or objects more than {MAX_JSON_DEPTH} levels deep") from None
    if _nesting_exceeds(value, MAX_JSON_DEPTH):
        raise error(f"{what} nests arrays or objects more than {MAX_JSON_DEPTH} levels deep")
    return value


def _nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether lists and dicts nest deeper than `limit`, walked without recursion."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
