"""Real servers for the backend contract suites, started on 127.0.0.1 by the tests and stopped after."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_port_pair() -> int:
    """A free port p whose neighbour p + 1 is free too."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


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


WEAVIATE_VERSION = "v1.35.2"


def weaviate_binary() -> Path | None:
    """The weaviate-server that `make install-servers` builds with `go install` (or $WEAVIATE_SERVER)."""
    explicit = os.environ.get("WEAVIATE_SERVER")
    if explicit:
        return Path(explicit)
    gobin = os.environ.get("GOBIN") or str(Path(os.environ.get("GOPATH") or Path.home() / "go") / "bin")
    built = Path(gobin) / "weaviate-server"
    if built.exists():
        return built
    found = shutil.which("weaviate-server")
    return Path(found) if found else None


def require_weaviate_binary() -> Path:
    """Skip locally, but fail in CI: there a missing server must never turn the suite into skips."""
    binary = weaviate_binary()
    if binary is None or not binary.exists():
        reason = f"weaviate-server {WEAVIATE_VERSION} is not built: `make install-servers` builds it with Go"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


@dataclass
class WeaviateNode:
    """One weaviate-server process; every port free and every configurable listener on 127.0.0.1.

    Weaviate 1.35.2 has no host setting for two listeners: the client gRPC API (`GRPC_PORT`) and
    the internal cluster data API (`CLUSTER_DATA_BIND_PORT`) bind every interface; the profiler
    (6060 by default) is disabled and Prometheus is off, so those two are the only exceptions.
    """

    name: str
    data_dir: Path
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    gossip_port: int = field(default_factory=free_port)
    data_port: int = field(default_factory=free_port)
    raft_port: int = field(default_factory=free_port_pair)  # the internal RPC port is raft_port + 1
    process: subprocess.Popen | None = None

    @property
    def rpc_port(self) -> int:
        # CLUSTER_IN_LOCALHOST: each node finds a peer's RPC port as the peer's raft port + 1, the
        # only way several nodes share one host (otherwise every node must use the same RPC port)
        return self.raft_port + 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def environment(self, cluster: list["WeaviateNode"]) -> dict[str, str]:
        first = cluster[0]
        env = {
            **os.environ,
            "PERSISTENCE_DATA_PATH": str(self.data_dir),
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
            "DEFAULT_VECTORIZER_MODULE": "none",
            "ENABLE_MODULES": "",
            "DISABLE_TELEMETRY": "true",
            "GO_PROFILING_DISABLE": "true",
            "PROMETHEUS_MONITORING_ENABLED": "false",
            "LOG_LEVEL": "warning",
            "CLUSTER_HOSTNAME": self.name,
            "CLUSTER_IN_LOCALHOST": "true",
            "CLUSTER_ADVERTISE_ADDR": "127.0.0.1",
            "CLUSTER_BIND_ADDR": "127.0.0.1",
            "CLUSTER_GOSSIP_BIND_PORT": str(self.gossip_port),
            "CLUSTER_DATA_BIND_PORT": str(self.data_port),
            "GRPC_PORT": str(self.grpc_port),
            "RAFT_PORT": str(self.raft_port),
            "RAFT_INTERNAL_RPC_PORT": str(self.rpc_port),
            "RAFT_JOIN": ",".join(f"{node.name}:{node.raft_port}" for node in cluster),
            "RAFT_BOOTSTRAP_EXPECT": str(len(cluster)),
        }
        if self is not first:
            env["CLUSTER_JOIN"] = f"127.0.0.1:{first.gossip_port}"
        return env

    def start(self, cluster: list["WeaviateNode"] | None = None) -> None:
        binary = require_weaviate_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir.parent / f"{self.name}.log").open("a")
        self.process = subprocess.Popen(
            [str(binary), "--host", "127.0.0.1", "--port", str(self.http_port), "--scheme", "http"],
            env=self.environment(cluster or [self]),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_ready(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weaviate {self.name} exited with code {self.process.returncode}; see {self.data_dir.parent}")
            try:
                with urllib.request.urlopen(f"{self.url}/v1/.well-known/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"weaviate {self.name} not ready after {seconds}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush; what the node had not made durable is gone."""
        self.process.kill()
        self.process.wait()


def start_weaviate_cluster(nodes: list[WeaviateNode]) -> None:
    """Start the nodes as one cluster: the first one's gossip port must listen before the others
    join it (a node that cannot join exits), then every node waits for the raft quorum."""
    nodes[0].start(nodes)
    wait_for_port(nodes[0].gossip_port, nodes[0].process, seconds=60)
    for node in nodes[1:]:
        node.start(nodes)
    for node in nodes:
        node.wait_ready(seconds=180)


def start_weaviate(directory: Path):
    """A single-node Weaviate on free loopback ports. Yields the node (url, grpc_port, ...)."""
    node = WeaviateNode("node1", directory / "data")
    node.start()
    try:
        node.wait_ready()
        yield node
    finally:
        node.stop()


def wildcard_listeners(pid: int) -> list[str]:
    """Local addresses of the process's TCP listeners that accept on every interface (ss -ltnp)."""
    output = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in output.splitlines():
        if f"pid={pid}," not in line:
            continue
        local = line.split()[3]
        if local.startswith(("0.0.0.0:", "*:", "[::]:")):
            found.append(local)
    return found
