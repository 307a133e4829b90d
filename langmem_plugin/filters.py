"""Metadata filters: validated once, compiled to parameterised SQL (never string-built from values)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import InvalidFilterError
from .storable import check_encodable, check_int_range

KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
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


def compile_filters(filters: Mapping[str, Any] | None, column: str = "metadata") -> tuple[str, list[Any]]:
    """Return (sql, params) matching every condition; empty sql when there is no filter.

    A condition is `{"key": value}` (equality) or `{"key": {"$op": value}}` with $eq, $ne, $gt,
    $gte, $lt, $lte, $in, $nin.
    """
    if not filters:
        return "", []
    if not isinstance(filters, Mapping):
        raise InvalidFilterError(f"filters must be a mapping, got {type(filters).__name__}")
    clauses: list[str] = []
    params: list[Any] = []
    for key, condition in filters.items():
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise InvalidFilterError(f"invalid filter key {key!r}: use letters, digits, '_' or '-'")
        path = f"json_extract({column}, '$.\"{key}\"')"
        operations = condition if isinstance(condition, Mapping) else {"$eq": condition}
        if not operations:
            raise InvalidFilterError(f"empty condition for filter key {key!r}")
        for operator, value in operations.items():
            if operator in _COMPARISONS:
                _check_scalar(key, value)
                clauses.append(f"{path} {_COMPARISONS[operator]} ?")
                params.append(value)
            elif operator in ("$in", "$nin"):
                if not isinstance(value, (list, tuple)) or not value:
                    raise InvalidFilterError(f"{operator} for {key!r} needs a non-empty list")
                for item in value:
                    _check_scalar(key, item)
                negation = "NOT " if operator == "$nin" else ""
                clauses.append(f"{path} {negation}IN ({', '.join('?' * len(value))})")
                params.extend(value)
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


def matches_filters(values: Mapping[str, Any], filters: Mapping[str, Any] | None) -> bool:
    """The same conditions as compile_filters, evaluated in Python on one mapping (for backends
    and adapters that filter candidates client-side). Incomparable types never match."""
    for key, condition in (filters or {}).items():
        value = values.get(key)
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
