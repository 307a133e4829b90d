"""Real servers for the backend contract suites, started on 127.0.0.1 by the tests and stopped after."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Collection
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]


def offline_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a server subprocess: this checkout's package, the memory in
    `tmp_path/memory`, no chat model key, no tracing, analytics or version checks."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "LANGMEM_", "LANGSMITH_", "LANGCHAIN_", "LANGGRAPH_"))
    }
    env.update(
        LANGMEM_PATH=str(tmp_path / "memory"),
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
        LANGGRAPH_CLI_NO_ANALYTICS="1",  # the CLI's usage analytics
        LANGGRAPH_NO_VERSION_CHECK="1",  # the server's PyPI version check
        PYTHONPATH=str(ROOT),
    )
    return env


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


def stop_process(process: subprocess.Popen, seconds: float = 20) -> None:
    """Terminate a server process, and kill it if it is not gone within `seconds`."""
    process.terminate()
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_http(url: str, process: subprocess.Popen, seconds: float, what: str) -> None:
    """Poll `url` until it answers 200; raise RuntimeError (naming `what`) if the process exits or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{what} not ready after {seconds}s")


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


def skip_unless_ci(reason: str) -> None:
    """Skip locally, but fail in CI: there a server that cannot start must never turn the suite into skips."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class RedisServer:
    """A redis-server on a loopback port that stays the same across restarts. `persistent`: an
    append-only file fsynced at every write, so a restart on the same directory (after a SIGKILL
    too) keeps every acknowledged write; otherwise nothing is saved."""

    directory: Path
    persistent: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            skip_unless_ci("redis-server is not installed (make test installs it from Debian's packages)")
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        where = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        self.process = subprocess.Popen(
            [binary, *where, "--save", "", *persistence],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def kill(self) -> None:
        """SIGKILL: the server dies mid-stream, with no shutdown of its own."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def start_redis(directory: Path):
    """A throw-away redis-server: no persistence, loopback only. Yields its URL."""
    server = RedisServer(directory)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


NEO4J_LAUNCHER = Path(__file__).resolve().parent / "neo4j_launcher" / "target"


@dataclass
class Neo4jServer:
    """Neo4j Community 5.26 embedded with Bolt on a loopback port (tests/neo4j_launcher), its
    database in `directory`; a restart serves the same port and database."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    def start(self) -> None:
        java = shutil.which("java")
        jar = NEO4J_LAUNCHER / "neo4j-launcher-1.0.jar"
        if java is None or not jar.exists():
            skip_unless_ci("the Neo4j launcher is not built: `make install-servers` builds it with Maven")
        classpath = ":".join([str(jar), str(NEO4J_LAUNCHER / "lib" / "*")])
        with (self.directory / "neo4j.log").open("a") as log:
            self.process = subprocess.Popen(
                [java, "-Xmx512m", "-cp", classpath, "langmem.Neo4jLauncher", str(self.directory / "home"), str(self.port)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, self.process, seconds=180)

    def kill(self) -> None:
        """SIGKILL: no shutdown; the next start recovers the database from its transaction log."""
        self.process.kill()
        self.process.wait()
        self.process.stdin.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.stdin.close()  # the launcher shuts Neo4j down when its stdin closes
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_neo4j(directory: Path):
    """The launcher on a free port. Yields its bolt:// URI."""
    server = Neo4jServer(directory)
    try:
        server.start()
        yield server.uri
    finally:
        server.stop()


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
    binary = weaviate_binary()
    if binary is None or not binary.exists():
        skip_unless_ci(f"weaviate-server {WEAVIATE_VERSION} is not built: `make install-servers` builds it with Go")
    return binary


UNCONFINED = "Weaviate runs on the host, its gRPC and cluster data APIs on every interface"


class ServerNetwork:
    """Where the Weaviate test servers run: a private network namespace whose only interface is its
    own loopback, with socat forwarders that expose chosen ports on the host's 127.0.0.1.

    Weaviate 1.35.2 binds its gRPC API and its cluster data API to every interface, with no setting
    to change that; inside the namespace "every interface" is that namespace's loopback alone, so
    nothing of the server is reachable from the host but what is forwarded, on 127.0.0.1. Where no
    namespace can be made (not root, no unshare/nsenter/socat), the servers run on the host and
    `unconfined_reason` says why; the listener test then skips, or fails under CI=true.
    """

    def __init__(self) -> None:
        self.holder: subprocess.Popen | None = None
        self.forwarders: dict[int, subprocess.Popen] = {}
        self.unconfined_reason: str | None = None
        missing = [tool for tool in ("unshare", "nsenter", "socat", "ip") if shutil.which(tool) is None]
        if missing:
            self.unconfined_reason = f"{UNCONFINED}: {', '.join(missing)} not installed (`make install-servers`)"
            return
        # the holder keeps the namespace alive; it exits (and the namespace with it, once the servers
        # in it are stopped) when this process closes its stdin, even if the tests are killed
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c", "ip link set lo up && echo up && exec cat >/dev/null"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if self.holder.stdout.readline().strip() != "up":
            error = self.holder.stderr.read().strip()
            self.holder.wait()
            self.holder.stdout.close()
            self.holder.stderr.close()
            self.holder = None
            self.unconfined_reason = f"{UNCONFINED}: no private network namespace ({error})"
            return
        if os.readlink(self.namespace) == os.readlink("/proc/self/ns/net"):  # never run "confined" on the host
            self.close()
            raise RuntimeError("unshare --net left the holder in the host's network namespace")

    @property
    def confined(self) -> bool:
        return self.holder is not None

    @property
    def namespace(self) -> str:
        return f"/proc/{self.holder.pid}/ns/net"

    def command(self, argv: list[str]) -> list[str]:
        """argv run inside the namespace (nsenter execs it: the process id stays the server's)."""
        return ["nsenter", f"--net={self.namespace}", "--", *argv] if self.confined else argv

    def expose(self, port: int) -> None:
        """Forward the host's 127.0.0.1:port to the namespace's 127.0.0.1:port (once per port)."""
        if not self.confined or port in self.forwarders:
            return
        # nodelay on both hops: with Nagle's algorithm, each small gRPC reply waits ~40 ms for a delayed ACK
        inside = f"nsenter --net={self.namespace} socat STDIO TCP\\:127.0.0.1\\:{port}\\,nodelay"
        forwarder = subprocess.Popen(
            ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=128,nodelay", f"EXEC:{inside}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: close() ends it with every connection it forked
        )
        self.forwarders[port] = forwarder
        wait_for_port(port, forwarder)

    def is_listening(self, port: int) -> bool:
        """Whether a TCP socket listens on the port where the servers run."""
        output = subprocess.run(self.command(["ss", "-Hltn", f"sport = :{port}"]), capture_output=True, text=True, check=True).stdout
        return bool(output.strip())

    def interfaces(self) -> list[str]:
        output = subprocess.run(self.command(["ip", "-o", "link", "show"]), capture_output=True, text=True, check=True).stdout
        return [line.split(":")[1].strip() for line in output.splitlines()]

    def close(self) -> None:
        for forwarder in self.forwarders.values():
            os.killpg(forwarder.pid, signal.SIGTERM)
            forwarder.wait(timeout=30)
        self.forwarders.clear()
        if self.holder is not None:
            self.holder.stdin.close()
            self.holder.wait(timeout=30)
            self.holder.stdout.close()
            self.holder.stderr.close()
            self.holder = None


@contextmanager
def server_network():
    network = ServerNetwork()
    try:
        yield network
    finally:
        network.close()


@dataclass
class WeaviateNode:
    """One weaviate-server process in a ServerNetwork; every port free and every listener whose
    address can be set on 127.0.0.1 (the profiler, 6060 by default, is disabled, Prometheus is off).

    Weaviate 1.35.2 has no host setting for two listeners: the client gRPC API (`GRPC_PORT`) and
    the internal cluster data API (`CLUSTER_DATA_BIND_PORT`) bind every interface. The network's
    namespace confines them to its own loopback; HTTP and gRPC reach the host on 127.0.0.1 through
    the network's forwarders, and the cluster's nodes talk to each other inside the namespace.
    """

    name: str
    data_dir: Path
    network: ServerNetwork
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
    def ports(self) -> list[int]:
        return [self.http_port, self.grpc_port, self.gossip_port, self.data_port, self.raft_port, self.rpc_port]

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
            self.network.command([str(binary), "--host", "127.0.0.1", "--port", str(self.http_port), "--scheme", "http"]),
            env=self.environment(cluster or [self]),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.network.expose(self.http_port)
        self.network.expose(self.grpc_port)

    def wait_ready(self, seconds: float = 120) -> None:
        """Ready for clients: the REST API reports ready and the gRPC API answers (after a restart it
        may lag behind, and a client's first call, its gRPC health check, would fail)."""
        what = f"weaviate {self.name} (see {self.data_dir.parent})"
        deadline = time.monotonic() + seconds
        wait_for_http(f"{self.url}/v1/.well-known/ready", self.process, seconds, what)
        while not self.answers_grpc():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what}: its gRPC API does not answer on port {self.grpc_port}")
            time.sleep(0.25)

    def answers_grpc(self) -> bool:
        """Whether a new client passes its start-up checks (REST and the gRPC health check)."""
        import weaviate
        from weaviate.exceptions import WeaviateBaseError

        try:
            weaviate.connect_to_custom(
                http_host="127.0.0.1", http_port=self.http_port, http_secure=False,
                grpc_host="127.0.0.1", grpc_port=self.grpc_port, grpc_secure=False,
            ).close()
        except WeaviateBaseError:
            return False
        return True

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
    first = nodes[0]
    first.start(nodes)
    deadline = time.monotonic() + 60
    while not first.network.is_listening(first.gossip_port):
        if first.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"weaviate {first.name} does not listen on its gossip port; see {first.data_dir.parent}")
        time.sleep(0.1)
    for node in nodes[1:]:
        node.start(nodes)
    for node in nodes:
        node.wait_ready(seconds=180)


def start_weaviate(directory: Path):
    """A single-node Weaviate in its own ServerNetwork. Yields the node (url, grpc_port, ...)."""
    with server_network() as network:
        node = WeaviateNode("node1", directory / "data", network)
        node.start()
        try:
            node.wait_ready()
            yield node
        finally:
            node.stop()


def host_listeners(*, pids: Collection[int] = (), ports: Collection[int] = ()) -> list[str]:
    """Local addresses of the TCP and UDP listeners in this process's network namespace (the
    host's) that belong to one of the pids or bind one of the ports (ss -ltunp)."""
    output = subprocess.run(["ss", "-Hltunp"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in output.splitlines():
        columns = line.split()
        local = columns[4]
        owners = {int(pid) for pid in re.findall(r"pid=(\d+),", line)}
        if owners & set(pids) or int(local.rsplit(":", 1)[1]) in ports:
            found.append(f"{columns[0]} {local}")
    return found
