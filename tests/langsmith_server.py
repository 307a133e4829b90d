"""A recording stand-in for the LangSmith REST API on 127.0.0.1, for the real `langsmith.Client`.

It keeps datasets, examples, sessions (projects / experiments), runs and feedback in memory,
answers the reads `evaluate()` makes, and records every request it receives (method, path,
query, client address, API key header, JSON or multipart body) so that tests can assert what the client sent.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TENANT_ID = "00000000-0000-4000-8000-000000000001"
# LangSmith's published defaults; the client's background tracing thread reads every field.
BATCH_INGEST_CONFIG = {
    "use_multipart_endpoint": True,
    "scale_up_qsize_trigger": 1000,
    "scale_up_nthreads_limit": 16,
    "scale_down_nempty_trigger": 4,
    "size_limit": 100,
    "size_limit_bytes": 20_971_520,
}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    host: str
    api_key: str | None
    body: Any
    status: int


@dataclass
class LangSmithState:
    requests: list[Request] = field(default_factory=list)
    datasets: dict[str, dict] = field(default_factory=dict)
    examples: dict[str, dict] = field(default_factory=dict)
    sessions: dict[str, dict] = field(default_factory=dict)
    runs: dict[str, dict] = field(default_factory=dict)
    feedback: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record_run(self, run: dict) -> None:
        """Merge a run post or patch into the stored run (patches arrive after posts)."""
        stored = self.runs.setdefault(str(run["id"]), {})
        for key, value in run.items():
            if value is not None:
                stored[key] = value


def _multipart(content_type: str, body: bytes) -> list[tuple[str, Any]]:
    """The parts of a multipart/form-data body as (name, decoded JSON or raw bytes)."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        try:
            parts.append((part.get_param("name", header="content-disposition"), json.loads(payload)))
        except ValueError:
            parts.append((part.get_param("name", header="content-disposition"), payload))
    return parts


def _ingest_parts(state: LangSmithState, parts: list[tuple[str, Any]]) -> None:
    """runs/multipart: 'post.<id>' / 'patch.<id>' carry a run, 'post.<id>.<field>' one of its fields,
    'feedback.<id>' a feedback record."""
    for name, value in parts:
        kind, _, rest = name.partition(".")
        run_id, _, field_name = rest.partition(".")
        if kind == "feedback":
            state.feedback.append(value)
        elif kind in ("post", "patch"):
            state.record_run({"id": run_id, field_name: value} if field_name else {"id": run_id, **value})


class _Handler(BaseHTTPRequestHandler):
    server: "RecordingLangSmith"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/"):
            return _multipart(content_type, raw)
        return json.loads(raw) if raw else None

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        body = self._body()
        state = self.server.state
        with state.lock:
            status, payload = route(state, self.command, url.path.rstrip("/"), query, body)
            state.requests.append(Request(self.command, url.path, query, self.client_address[0], self.headers.get("X-API-Key"), body, status))
        self._reply(status, payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle


def _page(items: list[dict], query: dict[str, list[str]]) -> list[dict]:
    offset = int(query.get("offset", ["0"])[0])
    limit = int(query.get("limit", [str(len(items) or 1)])[0])
    return items[offset : offset + limit]


def route(state: LangSmithState, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    """Answer one request from the in-memory state: the routes `create_dataset`, `create_examples`,
    `evaluate` and multipart tracing use. Any other is a 404, which the client reports loudly."""
    segments = path.strip("/").split("/")
    if path == "/info":
        return 200, {"version": "0.10.0", "instance_flags": {}, "batch_ingest_config": BATCH_INGEST_CONFIG}
    if path == "/datasets" and method == "POST":
        dataset = {**body, "id": str(uuid.uuid4()), "tenant_id": TENANT_ID, "created_at": _now(), "modified_at": _now()}
        state.datasets[dataset["id"]] = dataset
        return 200, dataset
    if path == "/datasets" and method == "GET":
        found = [d for d in state.datasets.values() if d["name"] == query["name"][0]]
        counted = [{**d, "example_count": sum(e["dataset_id"] == d["id"] for e in state.examples.values())} for d in found]
        return 200, _page(counted, query)
    if path == "/examples/bulk" and method == "POST":
        created = []
        for example in body:
            stored = {**example, "id": str(example.get("id") or uuid.uuid4()), "dataset_id": str(example["dataset_id"])}
            state.examples[stored["id"]] = {**stored, "created_at": _now(), "modified_at": _now()}
            created.append(state.examples[stored["id"]])
        return 200, created
    if path == "/examples" and method == "GET":
        return 200, _page([e for e in state.examples.values() if e["dataset_id"] == query["dataset"][0]], query)
    if path == "/sessions" and method == "POST":
        session = {**body, "id": str(body.get("id") or uuid.uuid4()), "tenant_id": TENANT_ID, "start_time": body.get("start_time") or _now()}
        state.sessions[session["id"]] = session
        return 200, session
    if path == "/sessions" and method == "GET":
        found = [s for s in state.sessions.values() if "name" not in query or s["name"] == query["name"][0]]
        return 200, _page(found, query)
    if segments[0] == "sessions" and len(segments) == 2 and method == "PATCH" and segments[1] in state.sessions:
        state.sessions[segments[1]].update({k: v for k, v in body.items() if v is not None})
        return 200, state.sessions[segments[1]]
    if path == "/runs/multipart" and method == "POST":
        _ingest_parts(state, body)
        return 202, {}
    return 404, {"detail": f"no route for {method} {path}"}


class RecordingLangSmith(ThreadingHTTPServer):
    """Serve on 127.0.0.1 (an OS-chosen port) in a daemon thread; `url` is the LANGSMITH_ENDPOINT."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = LangSmithState()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> "RecordingLangSmith":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()
