"""What a test or a benchmark observes of a store from outside, without its private attributes:
the SQLite work a call does, and every byte a memory holds on disk and on its servers.

Both look from where a user could: SQLite's statement trace on the connections the calling thread
uses (found through the calls themselves, whoever opened them), and the files and servers named
by the memory's configuration, read through clients of their own.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import MemoryConfig

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_RUNS_SQL = frozenset({"execute", "executemany", "executescript"})


@dataclass
class SQLActivity:
    """The SQLite work of the calling thread during `sqlite_activity()`.

    `calls`: statements sent from Python (an executemany is one call, whatever its rows);
    `statements`: what SQLite ran, in order, from its trace (each executemany row, each trigger
    and FTS5-internal statement, those starting with "--"); `transactions`: each BEGIN, and each
    write run outside a transaction (its own, autocommitted)."""

    calls: int = 0
    statements: list[str] = field(default_factory=list)
    transactions: int = 0

    def report(self) -> dict[str, int]:
        """The counts, as benchmarks/inserts.py reports them per add call."""
        return {
            "transactions": self.transactions,
            "sql_calls": self.calls,
            "sqlite_statements": len(self.statements),
        }


@contextmanager
def sqlite_activity() -> Iterator[SQLActivity]:
    """Record the SQLite work that the calling thread does meanwhile, on every connection.

    A profile hook sees each `execute`/`executemany` call on a sqlite3 connection or cursor (the
    builtin method's `__self__` names the connection); the first call on a connection installs
    SQLite's trace callback there, before the statement runs. Work of other threads (the ANN
    maintainer's) is not counted; the trace callbacks are removed on exit."""
    activity = SQLActivity()
    traced: dict[int, sqlite3.Connection] = {}

    def on_statement(connection: sqlite3.Connection) -> Callable[[str], None]:
        def record(sql: str) -> None:
            activity.statements.append(sql)
            verb = sql.lstrip()[:8].upper()
            if verb.startswith("BEGIN") or (verb.startswith(_WRITES) and not connection.in_transaction):
                activity.transactions += 1

        return record

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event != "c_call" or getattr(arg, "__name__", None) not in _RUNS_SQL:
            return
        owner = getattr(arg, "__self__", None)
        connection = owner.connection if isinstance(owner, sqlite3.Cursor) else owner
        if not isinstance(connection, sqlite3.Connection):
            return
        activity.calls += 1
        if id(connection) not in traced:
            traced[id(connection)] = connection
            connection.set_trace_callback(on_statement(connection))

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield activity
    finally:
        sys.setprofile(previous)
        for connection in traced.values():
            # a connection closed meanwhile raises ProgrammingError: its callback went with it
            with suppress(sqlite3.ProgrammingError):
                connection.set_trace_callback(None)


def stored_bytes(config: MemoryConfig) -> dict[str, bytes]:
    """Everything a memory holds, to scan for bytes that should be gone: every file of its
    directory, and what its servers hold: every Redis key and value under its prefix, every Neo4j
    node and relationship of its database, every object and tenant name of each Weaviate
    collection whose name starts with its collection's (its tenant map too)."""
    root = Path(config.path)
    stored = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    if config.kv.backend == "redis":
        stored["redis"] = _redis_bytes(config)
    if config.graph.enabled and config.graph.backend == "neo4j":
        stored["neo4j"] = _neo4j_bytes(config)
    if config.vector.backend == "weaviate":
        stored.update(_weaviate_bytes(config))
    return stored


def _redis_bytes(config: MemoryConfig) -> bytes:
    import redis

    with redis.Redis.from_url(config.kv.url) as client:
        names = sorted(client.scan_iter(match=f"{config.kv.prefix}:*", count=1000))
        return b"\n".join(part for name in names for part in (name, client.get(name) or b""))


def _neo4j_bytes(config: MemoryConfig) -> bytes:
    import neo4j

    graph = config.graph
    auth = (graph.user, graph.password or "") if graph.user else None
    everything = "MATCH (n) OPTIONAL MATCH (n)-[r]-() RETURN properties(n) AS n, properties(r) AS r"
    with neo4j.GraphDatabase.driver(graph.uri, auth=auth) as driver:
        rows, _, _ = driver.execute_query(everything, database_=graph.database)
    return "\n".join(repr((row["n"], row["r"])) for row in rows).encode()


def _weaviate_bytes(config: MemoryConfig) -> dict[str, bytes]:
    from ..tiers.vector.weaviate_backend import connect

    client = connect(config.vector.url, api_key=config.vector.api_key, grpc_port=config.vector.grpc_port)
    try:
        listed = client.collections.list_all(simple=True)
        names = sorted(name for name in listed if name.startswith(config.vector.collection))
        objects, tenants = [], []
        for name in names:
            collection = client.collections.get(name)
            handles = [collection]
            if collection.config.get().multi_tenancy_config.enabled:
                held = sorted(collection.tenants.get())
                tenants += held
                handles = [collection.with_tenant(tenant) for tenant in held]
            objects += [repr(item.properties) for handle in handles for item in handle.iterator()]
    finally:
        client.close()
    return {"weaviate": "\n".join(objects).encode(), "weaviate tenants": "\n".join(tenants).encode()}
