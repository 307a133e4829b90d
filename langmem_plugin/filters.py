"""Metadata filters: validated once, compiled to parameterised SQL (never string-built from values)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import InvalidFilterError
from .storable import check_encodable, check_int_range

# A metadata key, at any depth: 1 to 64 characters with no control character, '"' or '\'. Every
# key can then be named in a SQLite JSON path, whose quoted labels have no escape.
KEY_PATTERN = re.compile(r'[^\x00-\x1f\x7f"\\]{1,64}')
# A filter key is a path: keys joined by '.'; '\.' is a dot inside a key ('\' is never in a key).
_PATH_SEPARATOR = re.compile(r"(?<!\\)\.")
MAX_PATH_KEYS = 16
_COMPARISONS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_SCALARS = (str, int, float, bool)


def _check_scalar(key: str, value: Any) -> None:
    if not isinstance(value, _SCALARS):
        raise InvalidFilterError(
            f"filter value for {key!r} must be a string, number or boolean, got {type(value).__name__}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidFilterError(f"filter value for {key!r} must be finite")
    check_int_range(value, f"filter value for {key!r}", InvalidFilterError)
    if isinstance(value, str):
        check_encodable(value, f"filter value for {key!r}", InvalidFilterError)
        if "\x00" in value:  # no metadata string holds one (pipeline/validation.py)
            raise InvalidFilterError(f"filter value for {key!r} contains a NUL character")


def filter_path(key: Any) -> tuple[str, ...]:
    """The metadata keys a filter key names, outermost first: `"order.total"` is `("order",
    "total")` and `"v1\\.2"` is the one key `"v1.2"`."""
    if not isinstance(key, str):
        raise InvalidFilterError(f"filter key must be a string, got {type(key).__name__}")
    check_encodable(key, f"filter key {key!r}", InvalidFilterError)
    parts = tuple(part.replace("\\.", ".") for part in _PATH_SEPARATOR.split(key))
    if len(parts) > MAX_PATH_KEYS or not all(KEY_PATTERN.fullmatch(part) for part in parts):
        raise InvalidFilterError(
            f"invalid filter key {key!r}: metadata keys of 1 to 64 characters (no control character, "
            f"'\"' or '\\') joined by '.', at most {MAX_PATH_KEYS} deep; write a dot inside a key as '\\.'"
        )
    return parts


def filter_key(*keys: str) -> str:
    """The filter key that names the nested metadata value at `keys`, each key's dots escaped:
    `filter_key("v1.2", "name")` is `"v1\\.2.name"`."""
    return ".".join(key.replace(".", "\\.") for key in keys)


def value_at(metadata: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value a filter path names in `metadata`; None where a key is missing."""
    node: Any = metadata
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def compile_filters(filters: Mapping[str, Any] | None, column: str = "metadata") -> tuple[str, list[Any]]:
    """Return (sql, params) matching every condition; empty sql when there is no filter.

    A condition is `{"key": value}` (equality) or `{"key": {"$op": value}}` with $eq, $ne, $gt,
    $gte, $lt, $lte, $in, $nin; a key may be a dotted path into nested metadata (filter_path).
    The JSON path is a parameter too, so no key is ever spliced into the SQL.
    """
    if not filters:
        return "", []
    if not isinstance(filters, Mapping):
        raise InvalidFilterError(f"filters must be a mapping, got {type(filters).__name__}")
    clauses: list[str] = []
    params: list[Any] = []
    for key, condition in filters.items():
        # objects and lists read as NULL, as metadata_value reads them
        path = (
            f"(CASE WHEN json_type({column}, ?) IN ('object', 'array') THEN NULL "
            f"ELSE json_extract({column}, ?) END)"
        )
        json_path = "$" + "".join(f'."{part}"' for part in filter_path(key))
        operations = condition if isinstance(condition, Mapping) else {"$eq": condition}
        if not operations:
            raise InvalidFilterError(f"empty condition for filter key {key!r}")
        for operator, value in operations.items():
            if operator in _COMPARISONS:
                _check_scalar(key, value)
                clauses.append(f"{path} {_COMPARISONS[operator]} ?")
                params.extend((json_path, json_path, value))
            elif operator in ("$in", "$nin"):
                if not isinstance(value, (list, tuple)) or not value:
                    raise InvalidFilterError(f"{operator} for {key!r} needs a non-empty list")
                for item in value:
                    _check_scalar(key, item)
                negation = "NOT " if operator == "$nin" else ""
                clauses.append(f"{path} {negation}IN ({', '.join('?' * len(value))})")
                params.extend((json_path, json_path, *value))
            else:
                raise InvalidFilterError(f"unknown filter operator {operator!r} for key {key!r}")
    return " AND ".join(clauses), params


_PYTHON_OPERATORS = {
    "$eq": lambda value, expected: value == expected,
    "$ne": lambda value, expected: value != expected,
    "$gt": lambda value, expected: value is not None and value > expected,
    "$gte": lambda value, expected: value is not None and value >= expected,
    "$lt": lambda value, expected: value is not None and value < expected,
    "$lte": lambda value, expected: value is not None and value <= expected,
    "$in": lambda value, expected: value in expected,
    "$nin": lambda value, expected: value not in expected,
}


# What metadata_value reads where compile_filters' SQL reads NULL: no condition matches it.
NO_VALUE = object()


def metadata_value(metadata: Mapping[str, Any], key: str) -> Any:
    """The value a filter key names in metadata, as compile_filters reads it in SQL: a missing
    key, a null, an object or a list is NO_VALUE."""
    value = metadata.get(key) if "." not in key else value_at(metadata, filter_path(key))
    return NO_VALUE if value is None or isinstance(value, (Mapping, list)) else value


def matches_filters(
    values: Mapping[str, Any],
    filters: Mapping[str, Any] | None,
    read: Callable[[Mapping[str, Any], str], Any] = metadata_value,
) -> bool:
    """The same conditions as compile_filters, evaluated in Python on one mapping (for backends
    and adapters that filter candidates client-side); `read` finds a key's value. Incomparable
    types never match."""
    for key, condition in (filters or {}).items():
        value = read(values, key)
        if value is NO_VALUE:
            return False
        is_operators = isinstance(condition, Mapping) and all(str(k).startswith("$") for k in condition)
        for operator, expected in condition.items() if is_operators else [("$eq", condition)]:
            if operator not in _PYTHON_OPERATORS:
                raise InvalidFilterError(f"unknown filter operator {operator!r} for key {key!r}")
            try:
                if not _PYTHON_OPERATORS[operator](value, expected):
                    return False
            except TypeError:
                return False
    return True
