"""Timestamps as epoch seconds, the form every backend stores and range-filters them in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def to_epoch(value: datetime) -> float: ...
@overload
def to_epoch(value: None) -> None: ...
def to_epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


@overload
def from_epoch(value: float) -> datetime: ...
@overload
def from_epoch(value: None) -> None: ...
def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)
