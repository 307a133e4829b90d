"""The one place where a server backend's client failures become `BackendError`.

A server that is down, restarting, overloaded or unreachable shows up as the client library's own
exceptions (redis-py's `ConnectionError`, the neo4j driver's `ServiceUnavailable`, weaviate-client's
`WeaviateQueryError`...), which callers cannot catch without importing every optional client.
`reports_failures` wraps every public method of a backend class (and its constructor) once, so the
mapping is not repeated per method: the library's failures are re-raised as `BackendError` naming
the backend, its address and the operation, with the original exception chained; our own typed
errors (`LangMemError`) pass through untouched. Messages never hold a password or API key.

The client objects are kept across failures, so the same `Memory` recovers without being reopened:
redis-py and the neo4j driver reconnect on the next call once the server answers again. A client
that does not (a gRPC channel waits out its own reconnect backoff, which grows to minutes while a
server is down) overrides `ServerBackend.reconnect`, which runs before the first call after a failure.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import BackendError

T = TypeVar("T", bound=type)


def server_address(url: str) -> str:
    """`host:port` of a URL, or the URL's network location without its user and password."""
    parts = urlsplit(url)
    if parts.hostname is None:
        return "(no host)"
    try:
        port = parts.port
    except ValueError:
        port = None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host if port is None else f"{host}:{port}"


def redacted(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret replaced by `***` (a client may echo a URL or a header back)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class ServerBackend:
    """What `reports_failures` reads from a backend: where it talks to, what never to print, and how
    to get a working client back after a failure."""

    backend_address: str = "(not connected)"
    backend_secrets: tuple[str, ...] = ()
    backend_failed: bool = False

    def reconnect(self) -> None:
        """Replace the connection after a failure; by default the client reconnects on its own.
        Not wrapped itself: it runs inside the wrapped call that needed it, which reports its failure."""


def _recover(backend: ServerBackend) -> None:
    """Reconnect once after a failure, before the next call (one thread does it, the others wait)."""
    if not backend.backend_failed:
        return
    # dict.setdefault is atomic: every thread gets the same lock, made on the first failure
    with vars(backend).setdefault("_reconnecting", threading.Lock()):
        if backend.backend_failed:
            backend.reconnect()
            backend.backend_failed = False


Failures = Callable[[], tuple[type[BaseException], ...]]


def reports_failures(backend: str, failures: Failures) -> Callable[[T], T]:
    """Class decorator: the public methods and `__init__` of a `ServerBackend` subclass raise
    `BackendError` for the exception types `failures()` returns (imported lazily: the client
    library is an optional extra)."""

    def decorate(cls: T) -> T:
        for name, member in list(vars(cls).items()):
            wrapped = name == "__init__" or not (name.startswith("_") or name == "reconnect")
            if inspect.isfunction(member) and wrapped:
                setattr(cls, name, _reporting(member, backend, failures))
        return cls

    return decorate


def _reporting(method: Callable[..., Any], backend: str, failures: Failures):
    if method.__name__ == "__init__":
        what = "cannot connect to {backend} at {address}"
    else:
        what = "{backend} at {address} failed in " + method.__name__

    @contextmanager
    def reported(self: ServerBackend) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            if not isinstance(exc, _imported(failures)):
                raise
            self.backend_failed = True
            detail = redacted(f"{type(exc).__name__}: {exc}", self.backend_secrets)
            where = what.format(backend=backend, address=self.backend_address)
            raise BackendError(f"{where}: {detail}") from exc

    recovers = method.__name__ not in ("__init__", "close")  # closing never dials a server

    @functools.wraps(method)
    def call(self: ServerBackend, *args: Any, **kwargs: Any) -> Any:
        with reported(self):
            if recovers:
                _recover(self)
            result = method(self, *args, **kwargs)
        if isinstance(result, AbstractContextManager):  # a lock: it talks to the server on enter and exit
            return _ReportedContext(result, lambda: reported(self))
        return result

    return call


class _ReportedContext(AbstractContextManager):
    """A backend's context manager whose entering and leaving report failures like its methods do."""

    def __init__(self, inner: AbstractContextManager, reported: Callable[[], AbstractContextManager]):
        self._inner = inner
        self._reported = reported

    def __enter__(self) -> Any:
        with self._reported():
            return self._inner.__enter__()

    def __exit__(self, *exc_info: Any) -> Any:
        with self._reported():
            return self._inner.__exit__(*exc_info)


def _imported(failures: Failures) -> tuple[type[BaseException], ...]:
    """The client's failure types; none when the client is not installed (the constructor then
    raises its `ConfigurationError`, which must not turn into an ImportError here)."""
    try:
        return failures()
    except ImportError:
        return ()
