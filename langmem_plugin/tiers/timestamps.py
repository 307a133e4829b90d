"""Timestamps as epoch seconds, the form every backend stores and range-filters them in."""

from __future__ import annotations

from datetime import UTC, datetime


def to_epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)
