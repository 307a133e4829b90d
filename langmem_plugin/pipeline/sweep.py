"""The sweeper: erasing the memories whose expiry has passed or that outlived a retention period.

`sweep` erases them in batches, each one `forget.erase_memories` call: picked while holding the
store's deletion lock, so processes sweeping one store never pick the same memories, and
journaled, so a crash mid-batch is finished by the next open. `background_sweeper` runs it every
`retention.sweep_interval_seconds` in a daemon thread of a long-lived process.
"""

from __future__ import annotations

from ..records import utc_now
from ..services import MemoryServices
from .expiry import retention_rules
from .forget import erase_memories
from .periodic import PeriodicTask


def sweep(services: MemoryServices) -> int:
    """Erase every memory due at the start of the call (expired, or past a retention period) and
    return how many this call erased; those another process erased meanwhile are not counted."""
    now = utc_now()
    retention = services.config.retention
    rules = retention_rules(retention, now)
    size = retention.sweep_batch
    erased = 0
    while True:
        batch = erase_memories(
            services, lambda: {r.id: r.scope for r in services.vector.expired(now, size, rules)}
        )
        erased += len(batch)
        if len(batch) < size:
            return erased


def background_sweeper(services: MemoryServices, interval: float) -> PeriodicTask:
    """`sweep` every `interval` seconds in a daemon thread once started, until stopped."""

    def work() -> str | None:
        erased = sweep(services)
        return f"erased {erased} memories" if erased else None

    return PeriodicTask("sweeper", interval, work)
