"""The server as its clients reach it: the app under uvicorn on a free 127.0.0.1 port (in a thread
of the test process, or `langmem-plugin serve` in a subprocess), keys made through the keyring,
and the official MCP client over streamable HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import uvicorn
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from langmem_plugin import Memory
from langmem_plugin.records import Scope
from langmem_plugin.server.app import create_app
from langmem_plugin.server.grants import Right
from langmem_plugin.server.keys import Keyring

from .servers import ROOT, free_port, stop_process, wait_for_http


@contextmanager
def serving(memory: Memory) -> Iterator[str]:
    """`create_app(memory)` under uvicorn on 127.0.0.1: yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(memory), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def make_key(memory: Memory, principal: str, rights: str = "read,write", **ids: str) -> str:
    """A key for `principal`, with a grant over the scope of `ids` when given."""
    keyring = Keyring(memory.services.kv)
    key, _ = keyring.create_key(principal)
    if ids:
        wanted = [Right(name) for name in rights.split(",")]
        keyring.grant(principal, [Scope(**ids)], wanted, "test")
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@asynccontextmanager
async def mcp_session(url: str, key: str | None):
    """An initialised MCP client session on the server's /mcp endpoint."""
    headers = bearer(key) if key is not None else {}
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=300)) as http:
        async with streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def http_statuses(error: BaseException) -> list[int]:
    """The HTTP statuses of the refused requests in what the MCP client raised: it ends the
    session on a non-2xx answer, raising the httpx error in an exception group."""
    if isinstance(error, BaseExceptionGroup):
        return [status for inner in error.exceptions for status in http_statuses(inner)]
    return [error.response.status_code] if isinstance(error, httpx.HTTPStatusError) else []


@contextmanager
def serve_process(env: dict[str, str], log: Path, *extra: str) -> Iterator[str]:
    """`langmem-plugin serve` in a subprocess on a free port: yields its base URL."""
    port = free_port()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "langmem_plugin.cli", "serve", "--port", str(port), *extra],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_for_http(f"{url}/v1/health", process, 180, "langmem-plugin serve")
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}:\n{log.read_text()[-4000:]}") from None
            yield url
        finally:
            stop_process(process, 30)


@contextmanager
def inspector_session(url: str, key: str) -> Iterator[tuple[httpx.Client, str]]:
    """An httpx client logged in to the inspector with `key` through its login form, as a browser
    would (the session cookie in its jar), and the session's CSRF token from a page's form."""
    with httpx.Client(base_url=url, timeout=60) as client:
        form = client.get("/ui/login")
        login_token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert login_token is not None, form.text
        answer = client.post("/ui/login", data={"key": key, "csrf": login_token.group(1)})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/", answer.text
        page = client.get("/ui/")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert page.status_code == 200 and csrf is not None, page.text
        yield client, csrf.group(1)
