"""Load on `langmem-plugin serve`: N concurrent MCP and REST clients for a bounded time.

Prints JSON (and writes it to --output). The server is the real command (`python -m
langmem_plugin.cli serve`) in its own process on 127.0.0.1, over a fresh embedded store with the
default MiniLM embedder and offline manager. Each client has its own key, bound to its own user,
whose scope is seeded with --seed-memories memories. Clients run in this process, on one event
loop: MCP clients through the official `mcp` client (streamable HTTP), REST clients through
httpx. Each repeats one call after another until --seconds have passed (or --max-calls): a
search (search_memory / POST /v1/memories/search, limit 5), or with probability --write-share a
verbatim add (add_memory / POST /v1/memories, infer=false). A call that raises, answers non-2xx,
or returns an MCP tool error counts as an error. Latency is from sending a call to having its
parsed answer, client side.

    python benchmarks/serve_load.py                               # 8 MCP + 8 REST clients, 60 s
    python benchmarks/serve_load.py --mcp-clients 16 --rest-clients 0 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Awaitable, Callable

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from langmem_plugin import Memory  # noqa: E402
from langmem_plugin.records import Scope  # noqa: E402
from langmem_plugin.server.keys import Keyring  # noqa: E402

TOPICS = ["tea", "trains", "chess", "jazz", "hiking", "python", "bread", "cycling", "opera", "maps"]


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seed_store(path: Path, clients: int, memories: int) -> list[str]:
    """A key per client, each over its own user, whose scope holds `memories` memories."""
    keys = []
    with Memory({"path": str(path)}) as memory:
        keyring = Keyring(memory.services.kv)
        for index in range(clients):
            user = f"user{index}"
            key, _ = keyring.create_key(f"client{index}")
            keyring.grant(f"client{index}", [Scope(user_id=user)], ["read", "write"], "benchmark")
            notes = [f"{user} likes {TOPICS[i % len(TOPICS)]} number {i}" for i in range(memories)]
            memory.add(notes, user_id=user, infer=False)
            keys.append(key)
    return keys


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def report(self, seconds: float) -> dict:
        ms = [value * 1000 for value in self.latencies]
        calls = len(ms) + sum(self.errors.values())
        return {
            "calls": calls,
            "calls_per_s": round(calls / seconds, 1),
            "ok": len(ms),
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "p50_ms": round(percentile(ms, 0.50), 1) if ms else None,
            "p95_ms": round(percentile(ms, 0.95), 1) if ms else None,
            "p99_ms": round(percentile(ms, 0.99), 1) if ms else None,
        }


def next_call(rng: random.Random, user: str, write_share: float, counter: int) -> tuple[str, str]:
    if rng.random() < write_share:
        return "add", f"{user} also enjoys {rng.choice(TOPICS)} (note {counter})"
    return "search", f"what does {user} like about {rng.choice(TOPICS)}"


async def timed(tally: Tally, call: Callable[[], Awaitable[bool]]) -> None:
    started = time.perf_counter()
    try:
        ok = await call()
    except Exception as exc:  # noqa: BLE001 - every failure of a call is an error of the run
        tally.error(type(exc).__name__)
        return
    if ok:
        tally.latencies.append(time.perf_counter() - started)
    else:
        tally.error("refused")


Send = Callable[[str, str], Awaitable[bool]]


async def repeat_calls(send: Send, user: str, args, deadline: float, tally: Tally, seed: int) -> None:
    """One call after another until the deadline or --max-calls; `send(kind, text)` makes one."""
    rng = random.Random(seed)
    for counter in range(args.max_calls):
        if time.monotonic() >= deadline:
            return
        kind, text = next_call(rng, user, args.write_share, counter)
        await timed(tally, functools.partial(send, kind, text))


async def rest_client(url: str, key: str, user: str, args, deadline: float, tally: Tally, seed: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:

        async def send(kind: str, text: str) -> bool:
            if kind == "add":
                response = await http.post("/v1/memories", json={"messages": text, "infer": False})
            else:
                response = await http.post("/v1/memories/search", json={"query": text, "limit": 5})
            return response.status_code == 200 and "results" in response.json()

        await repeat_calls(send, user, args, deadline, tally, seed)


async def mcp_client(url: str, key: str, user: str, args, deadline: float, tally: Tally, seed: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(120, read=300)) as http:
        async with streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()

                async def send(kind: str, text: str) -> bool:
                    if kind == "add":
                        result = await session.call_tool("add_memory", {"text": text})
                    else:
                        result = await session.call_tool("search_memory", {"query": text, "limit": 5})
                    return not result.isError

                await repeat_calls(send, user, args, deadline, tally, seed)


async def drive(url: str, keys: list[str], args) -> dict:
    tallies = {"mcp": Tally(), "rest": Tally()}
    doors = ["mcp"] * args.mcp_clients + ["rest"] * args.rest_clients
    started = time.monotonic()
    deadline = started + args.seconds
    clients = [
        (mcp_client if door == "mcp" else rest_client)(
            url, keys[index], f"user{index}", args, deadline, tallies[door], args.seed + index
        )
        for index, door in enumerate(doors)
    ]
    await asyncio.gather(*clients)
    elapsed = time.monotonic() - started
    total = Tally()
    for tally in tallies.values():
        total.latencies += tally.latencies
        for kind, count in tally.errors.items():
            total.errors[kind] = total.errors.get(kind, 0) + count
    return {
        "seconds": round(elapsed, 1),
        "all": total.report(elapsed),
        **{door: tally.report(elapsed) for door, tally in tallies.items() if door in doors},
    }


def wait_until_up(url: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"the server did not answer within {seconds} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mcp-clients", type=int, default=8)
    parser.add_argument("--rest-clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-calls", type=int, default=1_000_000, help="per client, besides the time bound")
    parser.add_argument("--write-share", type=float, default=0.2, help="share of calls that add a memory")
    parser.add_argument("--seed-memories", type=int, default=200, help="memories in each client's scope")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "serve_load.json")
    args = parser.parse_args()
    clients = args.mcp_clients + args.rest_clients
    if clients < 1 or not 0 < args.seconds <= 3600:
        parser.error("give at least one client and 0 < --seconds <= 3600")
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        keys = seed_store(store, clients, args.seed_memories)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "LANGMEM_PATH": str(store), "PYTHONPATH": str(ROOT)}
        command = [
            sys.executable,
            "-m",
            "langmem_plugin.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        with open(Path(tmp) / "server.log", "w") as log:
            server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_until_up(url, server, 180)
                load_before = os.getloadavg()
                results = asyncio.run(drive(url, keys, args))
                load_after = os.getloadavg()
            finally:
                server.terminate()
                server.wait(timeout=60)
    report = {
        "benchmark": "serve_load",
        "clients": {"mcp": args.mcp_clients, "rest": args.rest_clients},
        "write_share": args.write_share,
        "seed_memories_per_client": args.seed_memories,
        **results,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
        "date": time.strftime("%Y-%m-%d"),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
