"""What every tier can store: valid Unicode text and integers that fit in 64 bits.

Input validation (pipeline/validation.py) and filter compilation (filters.py) both check values
against these rules, each raising its own typed error."""

from __future__ import annotations

from typing import Any

from .errors import InvalidInputError, InvalidTextError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def check_encodable(text: str, what: str, error: type[InvalidInputError] = InvalidTextError) -> str:
    """Reject lone surrogates (e.g. from bytes decoded with errors="surrogateescape"): no tier
    can store them as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{what} contains a lone surrogate (not valid Unicode): it cannot be stored") from None
    return text


def check_int_range(value: Any, what: str, error: type[InvalidInputError]) -> None:
    """Integers must fit in 64 bits: SQLite, Redis and Weaviate cannot store or compare larger ones."""
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        raise error(f"{what} {value} is outside the 64-bit integer range")
