"""The seam where each server backend's client failures become BackendError (tiers/failures.py):
named backend and address, no secret in the message, our own typed errors untouched, and a
Memory that cannot open closes the tiers it had opened. Live servers dying and coming back:
tests/test_dead_servers.py."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest

from langmem_plugin import BackendError, ConfigurationError, InvalidInputError, Memory
from langmem_plugin.tiers.failures import ServerBackend, reports_failures, server_address
from langmem_plugin.tiers.graph.neo4j_backend import Neo4jGraphStore
from langmem_plugin.tiers.keyvalue.redis_backend import RedisKeyValueStore
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore
from langmem_plugin.tiers.vector.sqlite_backend import SQLiteVectorStore
from langmem_plugin.tiers.vector.weaviate_backend import WeaviateVectorStore

from .helpers import HashingEmbeddings


@pytest.mark.parametrize(
    "open_store, backend, secret",
    [
        (lambda: RedisKeyValueStore("redis://admin:s3cret-pw@127.0.0.1:1/0"), "Redis", "s3cret-pw"),
        (lambda: Neo4jGraphStore("bolt://127.0.0.1:1", "neo4j", "s3cret-pw", retry_seconds=0), "Neo4j", "s3cret-pw"),
        (lambda: WeaviateVectorStore("http://127.0.0.1:1", api_key="s3cret-key", grpc_port=2), "Weaviate", "s3cret-key"),
    ],
    ids=["redis", "neo4j", "weaviate"],
)
def test_a_server_that_is_not_there_is_a_backend_error_without_secrets(open_store, backend, secret):
    with pytest.raises(BackendError) as raised:
        open_store()
    message = str(raised.value)
    assert message.startswith(f"cannot connect to {backend} at 127.0.0.1:1: ")
    assert secret not in message and "admin" not in message
    assert raised.value.__cause__ is not None  # the client's own exception, for debugging


@pytest.mark.parametrize("url", ["localhost:8080", "127.0.0.1", "http://:8080"])
def test_a_weaviate_url_without_a_host_is_a_configuration_error(url):
    with pytest.raises(ConfigurationError, match="names no host"):
        WeaviateVectorStore(url)


def test_server_addresses_never_carry_credentials():
    assert server_address("redis://user:pw@cache.internal:6380/2") == "cache.internal:6380"
    assert server_address("rediss://:pw@[::1]:6379") == "[::1]:6379"
    assert server_address("bolt://neo4j.local") == "neo4j.local"
    assert server_address("not a url") == "(no host)"


class ClientFailure(OSError):
    """Stands for a client library's connection error."""


@reports_failures("Example", lambda: (ClientFailure,))
class ExampleBackend(ServerBackend):
    def __init__(self, fail: bool = False):
        self.backend_address = "db.example:1"
        self.backend_secrets = ("hunter2",)
        if fail:
            raise ClientFailure("refused, password hunter2")

    def read(self, error: BaseException) -> None:
        raise error

    def _private(self) -> None:
        raise ClientFailure("not wrapped")

    @contextmanager
    def lock(self, fail_on: str) -> Iterator[None]:
        if fail_on == "enter":
            raise ClientFailure("lost on enter")
        yield
        if fail_on == "exit":
            raise ClientFailure("lost on exit")


def test_only_the_client_failures_of_public_methods_are_translated():
    with pytest.raises(BackendError, match=r"^cannot connect to Example at db.example:1: ClientFailure: refused, password \*\*\*$"):
        ExampleBackend(fail=True)
    backend = ExampleBackend()
    with pytest.raises(BackendError, match=r"^Example at db.example:1 failed in read: ClientFailure: lost$"):
        backend.read(ClientFailure("lost"))
    with pytest.raises(InvalidInputError):  # our own typed errors pass through
        backend.read(InvalidInputError("bad"))
    with pytest.raises(KeyError):  # a bug is not a server failure
        backend.read(KeyError("x"))
    with pytest.raises(ClientFailure):
        backend._private()


@pytest.mark.parametrize("fail_on", ["enter", "exit"])
def test_a_context_manager_method_reports_failures_on_entering_and_leaving(fail_on):
    """A lock talks to its server when it is taken and released, after the method has returned."""
    with pytest.raises(BackendError, match=rf"^Example at db.example:1 failed in lock: ClientFailure: lost on {fail_on}$"):
        with ExampleBackend().lock(fail_on):
            pass
    with pytest.raises(InvalidInputError):  # what the body raises passes through as it is
        with ExampleBackend().lock("never"):
            raise InvalidInputError("bad")


@reports_failures("Example", lambda: (ClientFailure,))
class ReconnectingBackend(ServerBackend):
    """A client that needs a new connection after a failure (as a gRPC channel in backoff does)."""

    def __init__(self, reconnects_fail: int = 0):
        self.backend_address = "db.example:1"
        self.reconnects: list[str] = []
        self.reconnects_fail = reconnects_fail

    def reconnect(self) -> None:
        if self.reconnects_fail:
            self.reconnects_fail -= 1
            self.reconnects.append("refused")
            raise ClientFailure("still down")
        self.reconnects.append("ok")

    def read(self, error: BaseException | None = None) -> str:
        if error is not None:
            raise error
        return "value"

    def close(self) -> None:
        """Never reconnects: closing a store whose server is down must not dial it."""


def test_the_first_call_after_a_client_failure_reconnects_once():
    backend = ReconnectingBackend(reconnects_fail=1)
    assert backend.read() == "value" and backend.reconnects == []  # no failure, no reconnect
    with pytest.raises(InvalidInputError):
        backend.read(InvalidInputError("bad"))
    assert backend.read() == "value" and backend.reconnects == []  # our own errors are no failure
    with pytest.raises(BackendError):
        backend.read(ClientFailure("lost"))
    backend.close()
    assert backend.reconnects == []
    with pytest.raises(BackendError, match="failed in read: ClientFailure: still down"):
        backend.read()  # the server is still down: the reconnect's failure is the call's
    assert backend.read() == "value" and backend.read() == "value"
    assert backend.reconnects == ["refused", "ok"]


def test_a_memory_that_cannot_open_its_graph_closes_the_tiers_it_opened(tmp_path, monkeypatch):
    closed = []
    for cls in (SQLiteKeyValueStore, SQLiteVectorStore):
        close = cls.close
        monkeypatch.setattr(cls, "close", lambda self, close=close, name=cls.__name__: (closed.append(name), close(self)))
    config = {"path": str(tmp_path / "m"), "graph": {"backend": "neo4j", "uri": "bolt://127.0.0.1:1", "retry_seconds": 0}}
    with pytest.raises(BackendError, match="cannot connect to Neo4j at 127.0.0.1:1"):
        Memory(config, embeddings=HashingEmbeddings())
    assert sorted(closed) == ["SQLiteKeyValueStore", "SQLiteVectorStore"]
