"""Key-value tier on Redis, for several application servers sharing one memory.

Keys are `<prefix>:<namespace>:<key>`; values are JSON (bytes travel base64-wrapped), so any
client can read them. `append` is an optimistic transaction (WATCH/MULTI, retried on conflict),
so concurrent writers on any number of machines never lose an audit-log entry. Locks are
redis-py's (a key set with NX and a lease), renewed while held.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from ...errors import ConfigurationError, StoreBusyError, install_hint
from ..capabilities import Capabilities
from ..failures import ServerBackend, redacted, reports_failures, server_address
from .base import with_new_items

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
_BYTES = "__bytes__"
# A lock's lease: a holder renews it every third of it, so a process that dies holding the lock
# lets go of it within this time.
LOCK_LEASE_SECONDS = 10.0


def _encode(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return json.dumps({_BYTES: base64.b64encode(bytes(value)).decode("ascii")})
    return json.dumps(value)


def _decode(raw: bytes | str | None) -> Any:
    if raw is None:
        return None
    value = json.loads(raw)
    if isinstance(value, dict) and set(value) == {_BYTES}:
        return base64.b64decode(value[_BYTES])
    return value


def _failures() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.RedisError,)


@reports_failures("Redis", _failures)
class RedisKeyValueStore(ServerBackend):
    capabilities = Capabilities()

    def __init__(self, url: str, prefix: str = "langmem"):
        try:
            import redis
        except ImportError as exc:
            raise ConfigurationError(
                f"the redis key-value backend needs the redis package: {install_hint('redis')}"
            ) from exc
        self.backend_address = server_address(url)
        try:
            self._client = redis.Redis.from_url(url)
        except ValueError as exc:
            raise ConfigurationError(f"kv.url is not a Redis URL: {redacted(str(exc), (url,))}") from exc
        password = self._client.connection_pool.connection_kwargs.get("password")
        self.backend_secrets = (password,) if password else ()
        self._prefix = prefix
        self._client.ping()

    def _key(self, namespace: str, key: str) -> str:
        return f"{self._prefix}:{namespace}:{key}"

    def get(self, namespace: str, key: str) -> Any | None:
        return _decode(self._client.get(self._key(namespace, key)))

    def get_many(self, namespace: str, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        if not keys:
            return {}
        raws = self._client.mget([self._key(namespace, k) for k in keys])
        return {k: _decode(raw) for k, raw in zip(keys, raws, strict=True) if raw is not None}

    def put_many(self, namespace: str, items: Mapping[str, Any], remove: Iterable[str] = ()) -> None:
        removed = [self._key(namespace, k) for k in dict.fromkeys(remove) if k not in items]
        if not removed:
            if items:
                self._client.mset({self._key(namespace, k): _encode(v) for k, v in items.items()})
            return
        with self._client.pipeline(transaction=True) as pipe:  # MULTI/EXEC: one atomic write
            if items:
                pipe.mset({self._key(namespace, k): _encode(v) for k, v in items.items()})
            pipe.delete(*removed)
            pipe.execute()

    def delete_many(self, namespace: str, keys: Iterable[str]) -> None:
        names = [self._key(namespace, k) for k in keys]
        for start in range(0, len(names), 1000):
            self._client.delete(*names[start : start + 1000])

    def append(self, namespace: str, entries: Mapping[str, list[Any]]) -> None:
        if not entries:
            return
        names = {self._key(namespace, k): list(items) for k, items in entries.items()}

        def extend(pipe) -> None:
            current = dict(zip(names, pipe.mget(list(names)), strict=True))
            pipe.multi()
            for name, items in names.items():
                pipe.set(name, _encode(with_new_items(_decode(current[name]) or [], items)))

        self._client.transaction(extend, *names)

    def keys(self, namespace: str, prefix: str = "") -> list[str]:
        head = f"{self._prefix}:{namespace}:"
        pattern = _GLOB_SPECIAL.sub(r"\\\1", head + prefix) + "*"
        return [name.decode()[len(head) :] for name in self._client.scan_iter(match=pattern, count=1000)]

    @contextmanager
    def lock(self, name: str, wait_seconds: float) -> Iterator[None]:
        from redis.exceptions import RedisError

        # thread_local=False: the renewing thread needs the holder's token
        held = self._client.lock(
            self._key("locks", name),
            timeout=LOCK_LEASE_SECONDS,
            sleep=0.02,
            blocking_timeout=wait_seconds,
            thread_local=False,
        )
        if not held.acquire():
            where = f"Redis prefix {self._prefix!r}"
            raise StoreBusyError(f"the {name} lock of {where} stayed held for {wait_seconds:g} s")
        released = threading.Event()

        def renew() -> None:
            while not released.wait(LOCK_LEASE_SECONDS / 3):
                with suppress(RedisError):  # lost (lease ran out) or Redis unreachable: tried again
                    held.reacquire()

        renewer = threading.Thread(target=renew, name=f"langmem-lock-{name}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            released.set()
            renewer.join()
            with suppress(RedisError):  # the lease ran out while Redis was unreachable: nothing is held
                held.release()

    def erase_deleted(self) -> None:
        """DEL frees a key's memory at once; RDB snapshots and the AOF drop it at their next
        rewrite, on the server's own schedule (see docs/backends: forgetting)."""

    def clear(self) -> None:
        batch = []
        for name in self._client.scan_iter(match=_GLOB_SPECIAL.sub(r"\\\1", self._prefix) + ":*", count=1000):
            batch.append(name)
            if len(batch) == 1000:
                self._client.delete(*batch)
                batch = []
        if batch:
            self._client.delete(*batch)

    def close(self) -> None:
        self._client.close()
