"""The graphs/ chatbot behind a real LangGraph API server (`langgraph dev`), driven by langgraph-sdk.

The server is started exactly as the docs say (`langgraph dev --config graphs/langgraph.json`
from the repository root) on 127.0.0.1, offline: no LangSmith tracing, no CLI analytics, no
version check, no chat model key (graphs/chatbot.py then uses its scripted model), the offline
memory manager and the MiniLM embedder. The server sets its own `run_id` in `config["configurable"]` for every run;
memory must still follow the user across threads.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

from .servers import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
LANGGRAPH = Path(sys.executable).parent / "langgraph"


def offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LANGMEM_", "LANGSMITH_", "LANGCHAIN_"))}
    env.update(
        LANGMEM_PATH=str(tmp_path / "memory"),
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
        LANGGRAPH_CLI_NO_ANALYTICS="1",  # the CLI's usage analytics
        LANGGRAPH_NO_VERSION_CHECK="1",  # the server's PyPI version check
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("langgraph-dev")
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    command = [str(LANGGRAPH), "dev", "--config", "graphs/langgraph.json", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--no-browser", "--no-reload"], cwd=ROOT, env=offline_env(tmp_path), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(f"{url}/ok", process, 180, "langgraph dev")
        except RuntimeError as exc:
            pytest.fail(f"{exc}:\n{(tmp_path / 'server.log').read_text()[-4000:]}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def ask(client, thread_id: str, text: str, user_id: str | None):
    context = {"user_id": user_id} if user_id else None
    return client.runs.wait(thread_id, "chatbot", input={"messages": [{"role": "human", "content": text}]}, context=context)


def test_one_user_is_remembered_across_threads_and_another_sees_nothing(server):
    client = get_sync_client(url=server)
    monday, friday, other = (client.threads.create()["thread_id"] for _ in range(3))

    first = ask(client, monday, "I'm Dana, I live in Porto and I love sardines.", "dana")
    assert first["messages"][-1]["type"] == "ai"

    recalled = ask(client, friday, "Where do I live?", "dana")
    assert "Porto" in recalled["memory_context"], recalled
    assert recalled["messages"][0]["content"] == "Where do I live?"  # a new thread: no history from monday

    stranger = ask(client, other, "Where do I live?", "erik")
    assert stranger["memory_context"] == ""


def test_a_run_without_a_user_gets_a_clear_error(server):
    client = get_sync_client(url=server)
    thread = client.threads.create()["thread_id"]
    run = client.runs.create(thread, "chatbot", input={"messages": [{"role": "human", "content": "hello"}]})
    client.runs.join(thread, run["run_id"])
    assert client.runs.get(thread, run["run_id"])["status"] == "error"
    error = client.threads.get(thread)["error"]
    assert error["error"] == "MissingScopeError" and "user_id" in error["message"], error
