"""Maintenance that a long-lived process runs in the background (the sweeper, consolidation)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..errors import LangMemError

logger = logging.getLogger(__name__)


class PeriodicTask:
    """`work` every `interval` seconds in a daemon thread named `name`, until `stop`. `work` returns
    what it did, in words for the log, or None when it did nothing. A failed run (a server down, a
    lock held too long) is logged and tried again at the next interval: a maintenance thread that
    died on its first outage would leave expired data on disk with nobody noticing."""

    def __init__(self, name: str, interval: float, work: Callable[[], str | None]):
        self._name = name
        self._interval = interval
        self._work = work
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"langmem-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                done = self._work()
            except LangMemError as exc:
                logger.warning("background %s failed, retrying in %s s: %s", self._name, self._interval, exc)
            else:
                if done:
                    logger.info("background %s: %s", self._name, done)

    def stop(self, timeout: float | None = None) -> bool:
        """End the thread, waiting for a run in progress to finish (at most `timeout` seconds; None:
        as long as it takes). Whether the thread has ended."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()
