"""Every example runs offline, as a user would run it, with LangSmith tracing off and on.

With tracing on, LangSmith is pointed at a local dummy endpoint that accepts every request, so
runs are really traced (and serialised) with no network. The examples are run with this
checkout first on PYTHONPATH (a script's own directory, not the cwd, heads sys.path).
"""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


class AcceptEverything(BaseHTTPRequestHandler):
    paths: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        AcceptEverything.paths.append(f"{self.command} {self.path}")
        body = json.dumps({}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = _answer

    def log_message(self, *args) -> None:
        return None


@pytest.fixture(scope="module")
def langsmith_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), AcceptEverything)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("tracing", ["false", "true"])
@pytest.mark.parametrize(
    "script, expected",
    [
        ("chatbot_remembers.py", "Ana is a vegetarian."),
        ("agent_with_memory_tools.py", "Your daughter is Mia."),
        ("classic_chain_memory.py", "Lee has a cat named Tofu."),
    ],
)
def test_example_runs(script, expected, tracing, langsmith_endpoint):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LANGMEM_", "LANGSMITH_", "LANGCHAIN_"))}
    env.update(PYTHONPATH=str(ROOT), LANGSMITH_TRACING=tracing, LANGSMITH_ENDPOINT=langsmith_endpoint, LANGSMITH_API_KEY="offline")
    AcceptEverything.paths.clear()
    completed = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=300, env=env)
    assert completed.returncode == 0, completed.stderr
    assert expected in completed.stdout, completed.stdout
    assert "Pydantic serializer warnings" not in completed.stderr, completed.stderr
    traced = any("/runs" in path for path in AcceptEverything.paths)
    assert traced == (tracing == "true"), AcceptEverything.paths
