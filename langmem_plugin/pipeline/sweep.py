"""The sweeper: erasing the memories whose expiry has passed or that outlived a retention period.

`sweep` erases them in batches, each one `forget.erase_memories` call: picked while holding the
store's deletion lock, so processes sweeping one store never pick the same memories, and
journaled, so a crash mid-batch is finished by the next open. `BackgroundSweeper` runs it every
`retention.sweep_interval_seconds` in a daemon thread of a long-lived process.
"""

from __future__ import annotations

import logging
import threading

from ..errors import LangMemError
from ..records import utc_now
from ..services import MemoryServices
from .expiry import retention_rules
from .forget import erase_memories

logger = logging.getLogger(__name__)


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


class BackgroundSweeper:
    """`sweep` every `interval` seconds in a daemon thread, until `stop`. A failed sweep (a server
    down, the deletion lock busy) is logged and tried again at the next interval."""

    def __init__(self, services: MemoryServices, interval: float):
        self._services = services
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="langmem-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                erased = sweep(self._services)
            except LangMemError as exc:
                logger.warning("background sweep failed, retrying in %s s: %s", self._interval, exc)
            else:
                if erased:
                    logger.info("background sweep erased %d memories", erased)

    def stop(self, timeout: float | None = None) -> bool:
        """End the thread, waiting for a sweep in progress to finish (at most `timeout` seconds;
        None: as long as it takes). Whether the thread has ended."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()
