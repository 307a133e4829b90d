"""When a memory expires: the `expires_at` / `ttl` a caller gives, checked before anything is
written, and the retention policy (`RetentionConfig`), which bounds it.

An expired memory is hidden from every read at once (the tiers compare `expires_at` with the
time of the read) and erased by the sweeper (pipeline/sweep.py). A naive datetime is read as UTC,
as every timestamp the API takes. An expiry must lie in the future when it is given: a memory
that would be hidden the moment it is written is refused rather than accepted and lost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from ..config import RetentionConfig
from ..errors import InvalidExpiryError
from ..records import Scope, ScopeKind
from ..tiers.vector import AgeRule
from .messages import parse_timestamp

# The longest TTL taken: far beyond any retention, and far from the last storable year (9999).
MAX_TTL = timedelta(days=365 * 1000)


def ttl_delta(ttl: Any) -> timedelta:
    """A TTL given as a timedelta or as seconds (int or float), positive and at most `MAX_TTL`."""
    if isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        if not (math.isfinite(ttl) and 0 < ttl <= MAX_TTL.total_seconds()):  # else timedelta overflows
            raise InvalidExpiryError(
                f"ttl must be positive seconds, at most {MAX_TTL.days} days, got {ttl!r}"
            )
        ttl = timedelta(seconds=ttl)  # a tiny float rounds to 0, refused below
    if not isinstance(ttl, timedelta):
        raise InvalidExpiryError(f"ttl must be a timedelta or seconds, got {type(ttl).__name__}")
    if not timedelta(0) < ttl <= MAX_TTL:
        raise InvalidExpiryError(f"ttl must be positive and at most {MAX_TTL.days} days, got {ttl}")
    return ttl


def check_expiry(expires_at: Any, ttl: Any, now: datetime) -> datetime | None:
    """The moment `expires_at` (a datetime, naive = UTC, or an ISO-8601 string) or `ttl` (from `now`)
    names, or None when neither is given. InvalidExpiryError when both are given, when either is
    malformed or when the moment is not after `now`."""
    if expires_at is not None and ttl is not None:
        raise InvalidExpiryError("give expires_at or ttl, not both")
    if ttl is not None:
        return now + ttl_delta(ttl)
    if expires_at is None:
        return None
    if not isinstance(expires_at, (datetime, str)):
        raise InvalidExpiryError(
            f"expires_at must be a datetime or an ISO-8601 string, got {type(expires_at).__name__}"
        )
    try:
        moment = parse_timestamp(expires_at, "expires_at")
    except ValueError as exc:  # InvalidInputError, ValueOutOfRangeError
        raise InvalidExpiryError(str(exc)) from exc
    if moment <= now:
        raise InvalidExpiryError(
            f"expires_at {moment.isoformat()} is not in the future (now {now.astimezone(UTC).isoformat()}); "
            "delete a memory to end it now"
        )
    return moment


def _periods(retention: RetentionConfig, scope: Scope, metadata: Mapping[str, Any]) -> list[timedelta]:
    """The retention periods that apply to a memory of `scope` with `metadata`."""
    periods = [getattr(retention, scope.kind), retention.max_age]
    periods += [
        period
        for key, values in retention.metadata.items()
        if key in metadata
        for value, period in values.items()
        if str(metadata[key]) == value
    ]
    return [period for period in periods if period is not None]


def retained_until(
    retention: RetentionConfig,
    scope: Scope,
    metadata: Mapping[str, Any],
    created_at: datetime,
    expires_at: datetime | None,
) -> datetime | None:
    """A new memory's expiry: the earliest of the one given and the end of every retention period
    that applies to it."""
    ends = [created_at + period for period in _periods(retention, scope, metadata)]
    if expires_at is not None:
        ends.append(expires_at)
    return min(ends, default=None)


def retention_rules(retention: RetentionConfig, now: datetime) -> list[AgeRule]:
    """What the sweeper finds past a retention period at `now`, whenever the memories were written."""
    rules = [
        AgeRule(now - period, kind=kind)
        for kind in get_args(ScopeKind)
        if (period := getattr(retention, kind)) is not None
    ]
    if retention.max_age is not None:
        rules.append(AgeRule(now - retention.max_age))
    rules += [
        AgeRule(now - period, filters={key: value})
        for key, values in retention.metadata.items()
        for value, period in values.items()
    ]
    return rules
