"""Real servers for the backend contract suites, started on 127.0.0.1 by the tests and stopped after."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


def start_redis(directory: Path):
    """A throw-away redis-server: no persistence, loopback only. Yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (make test installs it from Debian's packages)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


NEO4J_LAUNCHER = Path(__file__).resolve().parent / "neo4j_launcher" / "target"


def start_neo4j(directory: Path):
    """Neo4j Community 5.26 embedded with Bolt on a free loopback port (tests/neo4j_launcher).
    Yields its bolt:// URI."""
    java = shutil.which("java")
    jar = NEO4J_LAUNCHER / "neo4j-launcher-1.0.jar"
    if java is None or not jar.exists():
        pytest.skip("the Neo4j launcher is not built: `make install-servers` builds it with Maven")
    port = free_port()
    classpath = ":".join([str(jar), str(NEO4J_LAUNCHER / "lib" / "*")])
    log = (directory / "neo4j.log").open("w")
    process = subprocess.Popen(
        [java, "-Xmx512m", "-cp", classpath, "langmem.Neo4jLauncher", str(directory / "home"), str(port)],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process, seconds=120)
        yield f"bolt://127.0.0.1:{port}"
    finally:
        process.stdin.close()  # the launcher shuts Neo4j down when its stdin closes
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
