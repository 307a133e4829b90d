"""Progress of long commands (bench, import, the demo's model load), always on stderr so that
stdout stays the command's result.

On a terminal: a bar redrawn in place (tqdm's when tqdm is installed, else a one-line bar of
our own). Anywhere else (a pipe, a log file, CI): plain lines at the start, at most every
`PLAIN_LINE_SECONDS`, and at the end, so a log shows that the command is alive.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Protocol

PLAIN_LINE_SECONDS = 10.0
REDRAW_SECONDS = 0.1
BAR_WIDTH = 30


class Progress(Protocol):
    def advance(self, count: int = 1) -> None: ...

    def close(self) -> None: ...


class _PlainLines:
    def __init__(self, description: str, total: int | None, stream: IO[str], interval: float):
        self.description, self.total, self.stream, self.interval = description, total, stream, interval
        self.done = 0
        self.started = self.last_line = time.monotonic()
        self._line(f"{description}: started" + (f", {total} to do" if total is not None else ""))

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def _status(self) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        return f"{self.description}: {self.done}{of} after {time.monotonic() - self.started:.1f} s"

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if (
            self.done != self.total and now - self.last_line >= self.interval
        ):  # the last step: close() reports it
            self.last_line = now
            self._line(self._status())

    def close(self) -> None:
        self._line(self._status() + ", done")


class _TerminalBar:
    """`description [#####.....] 12/40 3 s`, redrawn in place at most every REDRAW_SECONDS."""

    def __init__(self, description: str, total: int | None, stream: IO[str]):
        self.description, self.total, self.stream = description, total, stream
        self.done = 0
        self.started = time.monotonic()
        self.last_draw = 0.0
        self._draw()

    def _draw(self) -> None:
        elapsed = time.monotonic() - self.started
        if self.total:
            filled = min(BAR_WIDTH, BAR_WIDTH * self.done // self.total)
            bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done}/{self.total}"
        else:
            bar = f"{self.done}"
        self.stream.write(f"\r{self.description} {bar} {elapsed:.0f} s")
        self.stream.flush()
        self.last_draw = time.monotonic()

    def advance(self, count: int = 1) -> None:
        self.done += count
        if time.monotonic() - self.last_draw >= REDRAW_SECONDS or self.done == self.total:
            self._draw()

    def close(self) -> None:
        self._draw()
        self.stream.write("\n")
        self.stream.flush()


class _TqdmBar:
    def __init__(self, description: str, total: int | None, stream: IO[str]):
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=description, file=stream, leave=True)

    def advance(self, count: int = 1) -> None:
        self._bar.update(count)

    def close(self) -> None:
        self._bar.close()


def _on_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def start(description: str, total: int | None = None, stream: IO[str] | None = None) -> Progress:
    """A progress reporter for `total` steps (None: unknown); call advance() per step, close() at the end."""
    stream = stream or sys.stderr
    if not _on_terminal(stream):
        return _PlainLines(description, total, stream, PLAIN_LINE_SECONDS)
    try:
        return _TqdmBar(description, total, stream)
    except ImportError:
        return _TerminalBar(description, total, stream)


def note(message: str, stream: IO[str] | None = None) -> None:
    """One line about what a long command is doing now, on stderr like the bars."""
    print(message, file=stream or sys.stderr, flush=True)


@contextmanager
def tracked(description: str, total: int | None = None, stream: IO[str] | None = None) -> Iterator[Progress]:
    reporter = start(description, total, stream)
    try:
        yield reporter
    finally:
        reporter.close()


@contextmanager
def step(description: str, stream: IO[str] | None = None) -> Iterator[None]:
    """One long step with no countable parts (loading a model): `description... done in 1.2 s`."""
    stream = stream or sys.stderr
    started = time.monotonic()
    stream.write(f"{description}...")
    stream.flush()
    try:
        yield
    except BaseException:
        stream.write(" failed\n")
        raise
    stream.write(f" done in {time.monotonic() - started:.1f} s\n")
    stream.flush()
