"""The graphs/ chatbot and agent behind a real LangGraph API server (`langgraph dev`), driven by
langgraph-sdk as agent-chat-ui and LangGraph Studio drive it.

Each server is started exactly as the docs say (`langgraph dev --config graphs/langgraph.json`,
or graphs/langgraph.auth.json with Bearer tokens, from the repository root) on 127.0.0.1,
offline: no LangSmith tracing, no CLI analytics, no version check, no chat model key (the graphs
then use their offline models), the offline memory manager and the MiniLM embedder. The dev
server runs graphs under blockbuster, so a blocking call on its event loop fails the run. The
server sets its own `run_id` in `config["configurable"]` for every run; memory must still follow
the user across threads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client

from langmem_plugin import Memory

from .servers import free_port, offline_env, stop_process, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
LANGGRAPH = Path(sys.executable).parent / "langgraph"
TOKENS = {"token-of-alice": "alice", "token-of-bob": "bob"}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
# Images as clients attach them: agent-chat-ui (LangChain JS v1 block), OpenAI chat, OpenAI Responses.
IMAGES = [
    {"type": "image", "mimeType": "image/png", "data": PNG, "metadata": {"name": "cat.png"}},
    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
]
OPEN_NOTICE = "runs without authentication"


@contextmanager
def langgraph_dev(tmp_path: Path, config: str, **env: str):
    """A `langgraph dev` server on 127.0.0.1: yields (url, path of its log)."""
    port = free_port()
    log_path = tmp_path / "server.log"
    command = [
        str(LANGGRAPH),
        "dev",
        "--config",
        config,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-browser",
        "--no-reload",
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**offline_env(tmp_path), **env}, stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_for_http(f"{url}/ok", process, 180, "langgraph dev")
            except RuntimeError as exc:
                pytest.fail(f"{exc}:\n{log_path.read_text()[-4000:]}")
            yield url, log_path
        finally:
            stop_process(process)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with langgraph_dev(tmp_path_factory.mktemp("langgraph-dev"), "graphs/langgraph.json") as running:
        yield running


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    tokens = json.dumps(TOKENS)
    with langgraph_dev(
        tmp_path_factory.mktemp("langgraph-dev-auth"),
        "graphs/langgraph.auth.json",
        CHATBOT_AUTH_TOKENS=tokens,
    ) as running:
        yield running


def human(content) -> dict:
    """A human message as agent-chat-ui submits it."""
    return {"id": str(uuid.uuid4()), "type": "human", "content": content}


def run(client, graph: str, messages: list[dict], **kwargs) -> tuple[str, dict]:
    """One run on a new thread, streamed as agent-chat-ui streams it: (status, final values or
    the thread's error)."""
    thread = client.threads.create()["thread_id"]
    values: dict = {}
    for part in client.runs.stream(
        thread, graph, input={"messages": messages}, stream_mode="values", **kwargs
    ):
        if part.event == "values":
            values = part.data
    status = client.runs.list(thread)[0]["status"]
    return status, values if status == "success" else client.threads.get(thread)["error"]


def recalled(graph: str, values: dict) -> str:
    """What the run recalled: the chatbot's memory_context, the agent's answer (its offline model
    repeats the memories the middleware gave it)."""
    return values["memory_context"] if graph == "chatbot" else values["messages"][-1]["content"]


# -- without auth: clients choose their user ------------------------------------------------------


def test_one_user_is_remembered_across_threads_and_another_sees_nothing(server):
    client = get_sync_client(url=server[0])
    status, first = run(
        client,
        "chatbot",
        [human("I'm Dana, I live in Porto and I love sardines.")],
        context={"user_id": "dana"},
    )
    assert status == "success" and first["messages"][-1]["type"] == "ai"
    status, later = run(client, "chatbot", [human("Where do I live?")], context={"user_id": "dana"})
    assert "Porto" in later["memory_context"], later
    assert later["messages"][0]["content"] == "Where do I live?"  # a new thread: no history from the first
    status, stranger = run(client, "chatbot", [human("Where do I live?")], context={"user_id": "erik"})
    assert stranger["memory_context"] == ""


def test_a_run_without_a_user_gets_a_clear_error(server):
    status, error = run(get_sync_client(url=server[0]), "chatbot", [human("hello")])
    assert status == "error" and error["error"] == "MissingScopeError" and "user_id" in error["message"], (
        error
    )


def test_the_open_server_says_that_clients_choose_their_user(server):
    assert OPEN_NOTICE in server[1].read_text()


@pytest.mark.parametrize("graph", ["chatbot", "agent"])
def test_block_lists_text_with_an_image_and_an_image_alone(server, graph):
    client = get_sync_client(url=server[0])
    owner, other = f"{graph}-fay", f"{graph}-gus"
    status, _ = run(
        client,
        graph,
        [human([{"type": "text", "text": "I live in Porto and I love surfing."}])],
        context={"user_id": owner},
    )
    assert status == "success"
    for image in IMAGES:
        status, values = run(
            client,
            graph,
            [human([{"type": "text", "text": "Where do I live?"}, image])],
            context={"user_id": owner},
        )
        assert status == "success" and "lives in Porto" in recalled(graph, values), (image, values)
        status, values = run(client, graph, [human([image])], context={"user_id": owner})  # nothing textual
        assert status == "success", (image, values)
        assert "Porto" not in recalled(graph, values)  # no recall with an older text
    status, values = run(
        client,
        graph,
        [human([{"type": "input_text", "text": "Where do I live?"}])],
        context={"user_id": owner},
    )
    assert "lives in Porto" in recalled(graph, values)  # nothing stored before was lost
    status, values = run(
        client,
        graph,
        [human([{"type": "text", "text": "Where do I live?"}, IMAGES[0]])],
        context={"user_id": other},
    )
    assert status == "success" and "Porto" not in recalled(graph, values)


def test_the_agent_stores_a_fact_its_tool_saved_once(server):
    client = get_sync_client(url=server[0])
    status, values = run(
        client, "agent", [human("Remember that Ana plays the cello.")], context={"user_id": "ana-tools"}
    )
    assert status == "success" and values["messages"][-1]["content"] == "Done."
    status, values = run(
        client, "agent", [human("Which instrument does Ana play?")], context={"user_id": "ana-tools"}
    )
    assert recalled("agent", values).count("Ana plays the cello.") == 1


# -- with auth: the token is the user --------------------------------------------------------------


def client_of(url: str, user: str):
    token = next(token for token, owner in TOKENS.items() if owner == user)
    return get_sync_client(url=url, headers={"Authorization": f"Bearer {token}"})


# Every way a client can name a user, and whether the run may go ahead as alice.
CLAIMS = [
    ("nothing", {}, True),
    ("own context", {"context": {"user_id": "alice"}}, True),
    ("context", {"context": {"user_id": "bob"}}, False),
    ("configurable", {"config": {"configurable": {"user_id": "bob"}}}, False),
    (
        "langmem key",
        {"config": {"configurable": {"langgraph_user_id": "bob"}}},
        True,
    ),  # no scope of ours reads it
    ("auth key in context", {"context": {"langgraph_auth_user_id": "bob"}}, True),  # the server drops it
    (
        "auth key in configurable",
        {"config": {"configurable": {"langgraph_auth_user_id": "bob"}}},
        True,
    ),  # overwritten
]


@pytest.mark.parametrize("graph", ["chatbot", "agent"])
def test_an_authenticated_user_recalls_only_her_own_memories(auth_server, graph):
    url = auth_server[0]
    alice, bob = client_of(url, "alice"), client_of(url, "bob")
    assert run(bob, graph, [human("I live in Oslo.")])[0] == "success"
    assert run(alice, graph, [human([{"type": "text", "text": "I live in Porto."}])])[0] == "success"
    for name, claim, allowed in CLAIMS:
        status, values = run(
            alice, graph, [human([{"type": "text", "text": "Where do I live?"}, IMAGES[0]])], **claim
        )
        if allowed:
            assert status == "success" and "lives in Porto" in recalled(graph, values), (name, values)
            assert "Oslo" not in json.dumps(values), name
        else:
            assert status == "error" and values["error"] == "ForbiddenScopeError", (name, values)
    status, values = run(bob, graph, [human("Where do I live?")])
    assert "lives in Oslo" in recalled(graph, values) and "Porto" not in json.dumps(values)


def test_the_auth_server_refuses_strangers_and_keeps_threads_apart(auth_server):
    url, log = auth_server
    with pytest.raises(httpx.HTTPStatusError) as refused:
        get_sync_client(url=url, headers={"Authorization": "Bearer guessed"}).threads.create()
    assert refused.value.response.status_code == 401
    thread = client_of(url, "alice").threads.create()["thread_id"]
    with pytest.raises(httpx.HTTPStatusError) as hidden:
        client_of(url, "bob").threads.get(thread)
    assert hidden.value.response.status_code == 404
    assert OPEN_NOTICE not in log.read_text()


def test_an_image_turn_is_kept_and_recalled_on_another_thread_of_the_same_user(server, minilm):
    """agent-chat-ui's shapes: text with an image, and an image alone (base64 PNG); both turns are
    stored with their photo, recalled on a new thread, and invisible to another user."""
    client = get_sync_client(url=server[0])
    owner, other = f"hal-{uuid.uuid4().hex[:6]}", f"ivy-{uuid.uuid4().hex[:6]}"
    status, _ = run(
        client,
        "chatbot",
        [human([{"type": "text", "text": "This is my cat Tom, a grey tabby."}, IMAGES[0]])],
        context={"user_id": owner},
    )
    assert status == "success"
    status, _ = run(client, "chatbot", [human([IMAGES[1]])], context={"user_id": owner})
    assert status == "success"
    status, values = run(client, "chatbot", [human("What is my cat called?")], context={"user_id": owner})
    assert status == "success"
    recall = values["memory_context"]
    assert "shared a photo (cat.png)" in recall and "Tom" in recall and "[shared: photo cat.png]" in recall, (
        recall
    )
    status, values = run(client, "chatbot", [human("What is my cat called?")], context={"user_id": other})
    assert status == "success" and values["memory_context"] == ""
    # the server's store, read beside it: both turns kept their photo, the other user has nothing
    with Memory({"path": str(server[1].parent / "memory")}, embeddings=minilm) as store:
        kept = {r.text: [(a.name, a.size) for a in r.attachments] for r in store.get_all(user_id=owner)}
        name = owner.capitalize()
        assert kept[f"{name} shared a photo."] == [(None, 70)]
        assert kept[f"{name} shared a photo (cat.png): This is {name}'s cat Tom, a grey tabby."] == [
            ("cat.png", 70)
        ]
        assert store.get_all(user_id=other) == []
