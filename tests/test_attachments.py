"""Images, files and audio shared in a turn are attachments of the memories made from it: bytes
content-addressed in the key-value tier (every backend), URLs kept as references, shown by
records, search, recall, tools, history, export and the CLI, and read back only by their scope."""

from __future__ import annotations

import hashlib
import io
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from pydantic import Field

from langmem_plugin import (
    AsyncMemory,
    AttachmentNotFoundError,
    InputTooLargeError,
    InvalidInputError,
    Memory,
    MemoryConfig,
)
from langmem_plugin.integrations.middleware import MemoryMiddleware
from langmem_plugin.integrations.recall import recall
from langmem_plugin.integrations.tools import create_memory_tools
from langmem_plugin.namespaces import ATTACHMENTS
from langmem_plugin.testing.inspect import stored_bytes

from .helpers import HashingEmbeddings, RecordingChatModel, expire_now
from .test_cli_and_config import cli
from .test_content import JPEG, PNG, b64, image_bytes
from .test_llm_manager import PromptRecorder
from .test_sweep import _die
from .test_tools import ToolCallingFake

DOG = "This is my new dog Biscuit, a beagle."


def dog_turn(data: bytes = PNG, text: str = DOG, **block) -> dict:
    image = {"type": "image", "base64": b64(data), "mime_type": "image/png", "filename": "dog.png", **block}
    content = [{"type": "text", "text": text}, image] if text else [image]
    return {"role": "user", "name": "Alice", "content": content}


@pytest.fixture
def memory(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as instance:
        yield instance


def stored_keys(memory: Memory) -> list[str]:
    return memory.services.kv.keys(ATTACHMENTS)


def test_offline_an_image_turn_says_what_was_shared_and_keeps_the_bytes(memory):
    operations = memory.add(dog_turn(), user_id="alice")
    shared = operations[0].memory
    assert shared.text == "Alice shared a photo (dog.png): This is Alice's new dog Biscuit, a beagle."
    [attachment] = shared.attachments
    assert attachment.kind == "image" and attachment.name == "dog.png" and attachment.mime_type == "image/png"
    assert attachment.size == len(PNG) and attachment.sha256 == hashlib.sha256(PNG).hexdigest()
    assert all(op.memory.attachments == [attachment] for op in operations)  # every memory of the turn
    assert memory.get_attachment(attachment.sha256, user_id="alice") == PNG
    item = shared.to_dict()
    assert item["attachments"] == [
        {
            "kind": "image",
            "name": "dog.png",
            "mime_type": "image/png",
            "size": len(PNG),
            "sha256": attachment.sha256,
        }
    ]
    assert memory.get(shared.id).attachments == [attachment]  # read back from the vector tier
    assert memory.history(shared.id)[0].to_dict()["sources"][0]["attachments"][0]["name"] == "dog.png"


def test_an_image_only_turn_is_stored_never_an_error(memory):
    verbatim = memory.add(dog_turn(text="", alt="Biscuit asleep"), user_id="alice", infer=False)
    assert [op.memory.text for op in verbatim] == ["Alice shared a photo (dog.png): Biscuit asleep"]
    inferred = memory.add(
        HumanMessage([{"type": "image", "url": "https://pics.example/u/7/cat.jpg"}]), user_id="bo"
    )
    assert [op.memory.text for op in inferred] == ["Bo shared a photo (cat.jpg)."]
    [reference] = inferred[0].memory.attachments
    assert reference.url == "https://pics.example/u/7/cat.jpg" and reference.sha256 is None
    assert stored_keys(memory) == [
        f"user_id=alice/{hashlib.sha256(PNG).hexdigest()}"
    ]  # a URL stores no bytes


def test_a_verbatim_turn_keeps_its_text_and_gets_the_attachment(memory):
    [op] = memory.add(dog_turn(JPEG, mime_type="image/jpeg"), user_id="alice", infer=False)
    assert op.memory.text == DOG
    assert op.memory.attachments[0].mime_type == "image/jpeg"
    assert memory.get_attachment(op.memory.attachments[0].sha256, user_id="alice") == JPEG


def test_the_same_bytes_are_stored_once_per_scope(memory):
    memory.add(dog_turn(), user_id="alice", infer=False)
    memory.add(dog_turn(text="Biscuit again."), user_id="alice", infer=False)
    memory.add(dog_turn(text="Same photo, other user."), user_id="carol", infer=False)
    digest = hashlib.sha256(PNG).hexdigest()
    assert sorted(stored_keys(memory)) == [f"user_id=alice/{digest}", f"user_id=carol/{digest}"]


def test_over_the_limit_is_a_typed_error_and_nothing_is_written(tmp_path, monkeypatch):
    big = image_bytes("PNG", size=(64, 64))
    monkeypatch.setenv("LANGMEM_LIMITS__MAX_ATTACHMENT_BYTES", str(len(big) - 1))
    monkeypatch.setenv("LANGMEM_PATH", str(tmp_path / "limit"))
    config = MemoryConfig.from_env()
    assert config.limits.max_attachment_bytes == len(big) - 1
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        turns = [{"role": "user", "content": "I like maps."}, dog_turn(big)]
        for infer in (True, False):
            with pytest.raises(InputTooLargeError, match="limit"):
                memory.add(turns, user_id="alice", infer=infer)
        assert memory.get_all(user_id="alice") == [] and stored_keys(memory) == []
        assert memory.add(dog_turn(PNG), user_id="alice", infer=False)  # under the limit


def test_broken_base64_is_a_typed_error_and_nothing_is_written(memory):
    turn = {"role": "user", "content": [{"type": "image", "base64": "%%%", "mime_type": "image/png"}]}
    with pytest.raises(InvalidInputError, match="base64"):
        memory.add([{"role": "user", "content": "I like maps."}, turn], user_id="alice")
    assert memory.get_all(user_id="alice") == [] and stored_keys(memory) == []


def test_get_attachment_is_scoped(memory):
    [op] = memory.add(dog_turn(), user_id="alice", agent_id="coach", infer=False)
    digest = op.memory.attachments[0].sha256
    assert memory.get_attachment(digest, user_id="alice") == PNG  # a sub-scope's add counts
    assert memory.get_attachment(digest, user_id="alice", agent_id="coach") == PNG
    for other in ({"user_id": "mallory"}, {"user_id": "alice", "agent_id": "spy"}, {"run_id": "r1"}):
        with pytest.raises(AttachmentNotFoundError):
            memory.get_attachment(digest, **other)
    for bad in ("../user_id=alice", digest.upper(), digest[:-1], 7):
        with pytest.raises(InvalidInputError):
            memory.get_attachment(bad, user_id="alice")


async def test_async_memory_stores_and_reads_attachments(tmp_path):
    memory = AsyncMemory({"path": str(tmp_path / "a")}, embeddings=HashingEmbeddings())
    try:
        [op] = await memory.add(dog_turn(), user_id="alice", infer=False)
        digest = op.memory.attachments[0].sha256
        assert await memory.get_attachment(digest, user_id="alice") == PNG
        with pytest.raises(AttachmentNotFoundError):
            await memory.get_attachment(digest, user_id="mallory")
    finally:
        await memory.aclose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=4096), kind=st.sampled_from(["image", "file", "audio"]))
def test_any_bytes_of_any_kind_come_back_exactly(memory, data, kind):
    user = uuid.uuid4().hex
    block = {"type": kind, "base64": b64(data), "mime_type": "application/octet-stream"}
    [op] = memory.add({"role": "user", "content": [block]}, user_id=user, infer=False)
    [attachment] = op.memory.attachments
    assert attachment.kind == kind and attachment.size == len(data)
    assert memory.get_attachment(attachment.sha256, user_id=user) == data


def test_redis_key_value_tier_holds_and_purges_attachments(tmp_path, redis_url):
    config = {
        "path": str(tmp_path / "r"),
        "kv": {"backend": "redis", "url": redis_url, "prefix": uuid.uuid4().hex},
    }
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        [op] = memory.add(dog_turn(), user_id="alice", infer=False)
        digest = op.memory.attachments[0].sha256
        assert memory.get_attachment(digest, user_id="alice") == PNG
        memory.add(dog_turn(), user_id="alice", infer=False)
        assert stored_keys(memory) == [f"user_id=alice/{digest}"]
        memory.delete_all(user_id="alice", purge=True)
        assert stored_keys(memory) == []
        with pytest.raises(AttachmentNotFoundError):
            memory.get_attachment(digest, user_id="alice")


# -- images to the LLM manager -----------------------------------------------------------------


class RecordingFake(GenericFakeChatModel):
    """A scripted chat model that keeps the messages each `invoke` was given, as the caller sent
    them (LangChain translates standard blocks for the provider only after this point)."""

    received: list = Field(default_factory=list)

    def invoke(self, messages, config=None, **kwargs):
        self.received.append(messages)
        return super().invoke(messages, config, **kwargs)


def vision_model(*answers: dict) -> tuple[RecordingFake, PromptRecorder]:
    recorder = PromptRecorder()
    model = RecordingFake(messages=iter(AIMessage(json.dumps(a)) for a in answers), callbacks=[recorder])
    return model, recorder


def test_a_vision_model_receives_standard_image_blocks_and_its_facts_carry_the_photo(tmp_path):
    fact = {"text": "Alice has a beagle named Biscuit", "source_message_ids": ["m1"]}
    model, recorder = vision_model({"facts": [fact]})
    with Memory({"path": str(tmp_path / "v")}, embeddings=HashingEmbeddings(), llm=model) as memory:
        turn = {**dog_turn(), "id": "m1"}
        url = {"type": "image_url", "image_url": {"url": "https://pics.example/biscuit.jpg"}}
        turn["content"] = [*turn["content"], url]
        [op] = memory.add(turn, user_id="alice")
    assert len(recorder.calls) == len(model.received) == 1  # one extraction, nothing to reconcile
    _, user = model.received[0]
    images = [block for block in user.content if block["type"] == "image"]
    assert images == [
        {"type": "image", "base64": b64(PNG), "mime_type": "image/png"},
        {"type": "image", "url": "https://pics.example/biscuit.jpg"},
    ]
    # what the provider integration is handed: the same images in its own format
    _, provider = recorder.calls[0]
    assert [b["image_url"]["url"] for b in provider.content if b["type"] == "image_url"] == [
        f"data:image/png;base64,{b64(PNG)}",
        "https://pics.example/biscuit.jpg",
    ]
    text = user.content[0]["text"]
    assert f"Alice: {DOG} [shared: photo dog.png, image 1 attached; photo biscuit.jpg" in text
    assert op.memory.text == "Alice has a beagle named Biscuit"
    assert [a.name for a in op.memory.attachments] == ["dog.png", "biscuit.jpg"]


def test_a_text_only_model_is_told_in_words_and_sees_no_image(tmp_path):
    fact = {"text": "Alice has a beagle named Biscuit", "source_message_ids": ["m1"]}
    model, recorder = vision_model({"facts": [fact]})
    config = {"path": str(tmp_path / "t"), "llm": {"vision": False}}
    with Memory(config, embeddings=HashingEmbeddings(), llm=model) as memory:
        [op] = memory.add({**dog_turn(), "id": "m1"}, user_id="alice")
        assert memory.get_attachment(op.memory.attachments[0].sha256, user_id="alice") == PNG
    assert len(recorder.calls) == len(model.received) == 1
    _, user = model.received[0]
    assert isinstance(user.content, str)  # text alone
    assert f"Alice: Alice shared a photo (dog.png): {DOG}" in user.content


# -- retrieval shows them ----------------------------------------------------------------------


def test_search_recall_and_tools_name_the_attachments(memory):
    memory.add(dog_turn(), user_id="alice", infer=False)
    url = {"type": "image", "url": "https://pics.example/may/beach.jpg"}
    memory.add(
        {"role": "user", "content": [{"type": "text", "text": "Biscuit at the beach in May."}, url]},
        user_id="alice",
        infer=False,
    )
    hits = memory.search("Biscuit beach photo", user_id="alice")
    beach = next(h for h in hits if "beach" in h.memory.text)
    assert beach.to_dict()["attachments"] == [
        {"kind": "image", "name": "beach.jpg", "url": "https://pics.example/may/beach.jpg"}
    ]
    block = recall(
        memory,
        [HumanMessage("Where is Biscuit?")],
        {"user_id": "alice"},
        limit=5,
        max_tokens=500,
        threshold=0,
    )
    assert "[shared: photo beach.jpg (https://pics.example/may/beach.jpg)]" in block
    assert "[shared: photo dog.png]" in block
    call = {"name": "search_memory", "args": {"query": "Biscuit beach"}, "id": "c1", "type": "tool_call"}
    script = iter([AIMessage("", tool_calls=[call]), AIMessage("Here is the photo you sent in May.")])
    agent = create_agent(ToolCallingFake(messages=script), create_memory_tools(memory))
    result = agent.invoke(
        {"messages": [HumanMessage("Show me Biscuit")]}, config={"configurable": {"user_id": "alice"}}
    )
    [found] = [json.loads(m.content) for m in result["messages"] if isinstance(m, ToolMessage)]
    shown = [r for r in found if "beach" in r["text"]]
    assert shown[0]["attachments"] == [
        {"kind": "image", "name": "beach.jpg", "url": "https://pics.example/may/beach.jpg"}
    ]


def test_recall_of_an_image_only_turn_searches_with_its_caption(memory):
    memory.add("My dog Biscuit loves the beach.", user_id="alice", infer=False)
    image = {"type": "image", "url": "https://pics.example/x.jpg", "alt": "Biscuit on the beach"}
    block = recall(
        memory, [HumanMessage([image])], {"user_id": "alice"}, limit=5, max_tokens=500, threshold=0
    )
    assert "My dog Biscuit loves the beach." in block


# -- export / import, history, CLI -------------------------------------------------------------


def test_export_import_round_trips_attachments(tmp_path):
    store, copy, exported = tmp_path / "store", tmp_path / "copy", tmp_path / "alice.json"
    with Memory({"path": str(store)}, embeddings=HashingEmbeddings()) as memory:
        memory.add(dog_turn(), user_id="alice", infer=False)
        shared = [{"type": "file", "url": "https://docs.example/cv.pdf"}]
        memory.add({"role": "user", "content": shared}, user_id="alice", infer=False)
        before = sorted((r.text, tuple(r.attachments)) for r in memory.get_all(user_id="alice"))
    cli("export", "--user-id", "alice", "--output", str(exported), store=store)
    cli("import", str(exported), "--user-id", "alice", store=copy)
    with Memory({"path": str(copy)}, embeddings=HashingEmbeddings()) as memory:
        after = sorted((r.text, tuple(r.attachments)) for r in memory.get_all(user_id="alice"))
        assert after == before and len(after) == 2
        assert memory.get_attachment(hashlib.sha256(PNG).hexdigest(), user_id="alice") == PNG


def test_the_cli_lists_shows_and_exports_attachments(tmp_path):
    store = tmp_path / "cli"
    with Memory({"path": str(store)}, embeddings=HashingEmbeddings()) as memory:
        [op] = memory.add(dog_turn(), user_id="alice", infer=False)
    listed = cli("list", "--user-id", "alice", store=store).stdout
    assert f"{op.memory.id}  {DOG} [shared: photo dog.png]" in listed
    shown = cli("get", op.memory.id, store=store).stdout
    assert "[shared: photo dog.png]" in shown
    history = cli("history", op.memory.id, store=store).stdout
    assert f"memory {op.memory.id}: {DOG} [shared: photo dog.png]" in history
    as_json = json.loads(cli("--json", "get", op.memory.id, store=store).stdout)
    assert as_json["attachments"][0]["sha256"] == hashlib.sha256(PNG).hexdigest()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(max_size=30) | st.integers(20_000, 20_010).map(lambda n: "x" * n),
    caption=st.text(max_size=30),
    url=st.text(max_size=30),
)
def test_hostile_names_captions_and_urls_are_stored_or_a_typed_error(memory, name, caption, url):
    user = uuid.uuid4().hex
    blocks = [
        {"type": "image", "base64": b64(PNG), "mime_type": "image/png", "filename": name, "alt": caption},
        {"type": "image", "url": url},
    ]
    try:
        operations = memory.add({"role": "user", "content": blocks}, user_id=user, infer=False)
    except InvalidInputError:  # a lone surrogate, an over-long name, an empty URL...
        assert memory.get_all(user_id=user) == []
        assert not [k for k in stored_keys(memory) if k.startswith(f"user_id={user}/")]
        return
    [stored] = memory.get_all(user_id=user)
    assert stored.attachments == operations[0].memory.attachments
    assert memory.get_attachment(stored.attachments[0].sha256, user_id=user) == PNG


def test_offline_another_photo_is_never_a_refinement_and_the_same_turn_again_is_a_repeat(memory):
    first = memory.add(dog_turn(text="My dog."), user_id="alice")[0].memory
    beach = memory.add(dog_turn(JPEG, text="My dog at the beach."), user_id="alice")
    shared = {r.text: [a.sha256 for a in r.attachments] for r in memory.get_all(user_id="alice")}
    assert shared[first.text] == [hashlib.sha256(PNG).hexdigest()]  # not rewritten by the beach photo
    assert (
        beach[0].event.value == "ADD"
        and beach[0].memory.attachments[0].sha256 == hashlib.sha256(JPEG).hexdigest()
    )
    again = memory.add(dog_turn(text="My dog."), user_id="alice")
    assert [op.event.value for op in again] == ["NOOP"] * len(again) and again[0].memory.id == first.id


async def test_create_agent_writes_back_the_photo_and_recalls_it_on_a_new_thread(tmp_path):
    """create_agent with MemoryMiddleware over an AsyncMemory, run async: the write-back of a turn
    with a photo stores its bytes; the next thread's model call sees the memory naming it."""
    memory = AsyncMemory({"path": str(tmp_path / "agent")}, embeddings=HashingEmbeddings())
    try:
        model = RecordingChatModel([AIMessage("What a cute beagle!"), AIMessage("Biscuit, your beagle.")])
        agent = create_agent(model, middleware=[MemoryMiddleware(memory, tools=False)])
        config = {"configurable": {"user_id": "alice"}}
        turn = HumanMessage(dog_turn()["content"], name="Alice")
        await agent.ainvoke({"messages": [turn]}, config=config)
        stored = await memory.get_all(user_id="alice")
        assert all(r.attachments for r in stored)  # every memory of the turn carries the photo
        shared = next(r for r in stored if r.text.startswith("Alice shared a photo (dog.png): "))
        assert await memory.get_attachment(shared.attachments[0].sha256, user_id="alice") == PNG
        await agent.ainvoke({"messages": [HumanMessage("What is my dog called?")]}, config=config)
        assert "[shared: photo dog.png]" in model.system_texts()[1]
        assert len(model.prompts) == 2
    finally:
        await memory.aclose()


# -- erasing memories erases the bytes no remaining memory names ----------------------------------


def marked_png(marker: str) -> bytes:
    """A real PNG (Pillow) whose text chunk carries `marker`, for raw-file scans."""
    info = PngInfo()
    info.add_text("Comment", marker)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (40, 160, 90)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def files_holding(memory: Memory, marker: str) -> list[str]:
    return [name for name, data in stored_bytes(memory.config).items() if marker.encode() in data]


@pytest.mark.parametrize("erasure", ["sweep", "delete purge", "retire then purge", "purge by description"])
def test_erasing_a_memory_erases_its_attachment_bytes(tmp_path, erasure):
    marker = f"Snorkelfritz{uuid.uuid4().hex[:8]}"
    image = marked_png(marker)
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        [op] = memory.add(
            dog_turn(image, text="Alice shared the Biscuit photo."), user_id="alice", infer=False
        )
        kept = memory.add("Alice likes tea.", user_id="alice", infer=False)[0].memory
        digest = op.memory.attachments[0].sha256
        assert memory.get_attachment(digest, user_id="alice") == image
        assert files_holding(memory, marker)
        if erasure == "sweep":
            expire_now(memory, op.memory.id)
            assert memory.sweep() == 1
        elif erasure == "delete purge":
            memory.delete(op.memory.id, purge=True)
        elif erasure == "retire then purge":
            memory.delete(op.memory.id)
            assert memory.get_attachment(digest, user_id="alice") == image  # its history still names it
            memory.delete(op.memory.id, purge=True)
        else:
            assert [r.id for r in memory.delete("the Biscuit photo", user_id="alice", purge=True)] == [
                op.memory.id
            ]
        with pytest.raises(AttachmentNotFoundError):
            memory.get_attachment(digest, user_id="alice")
        assert files_holding(memory, marker) == []
        assert [r.id for r in memory.get_all(user_id="alice")] == [kept.id]


@pytest.mark.parametrize("kv", ["diskcache", "redis"])
def test_shared_bytes_stay_while_a_memory_of_the_scope_names_them(tmp_path, request, kv):
    config: dict = {"path": str(tmp_path / "m")}
    if kv == "redis":
        config["kv"] = {
            "backend": "redis",
            "url": request.getfixturevalue("redis_url"),
            "prefix": uuid.uuid4().hex,
        }
    marker = f"Quibblesnatch{uuid.uuid4().hex[:8]}"
    image = marked_png(marker)
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        first = memory.add(dog_turn(image, text="Biscuit at the beach."), user_id="alice", infer=False)[
            0
        ].memory
        second = memory.add(dog_turn(image, text="Biscuit asleep."), user_id="alice", infer=False)[0].memory
        third = memory.add(dog_turn(image, text="Biscuit on the sofa."), user_id="alice", infer=False)[
            0
        ].memory
        memory.add(dog_turn(image, text="Carol saw Biscuit."), user_id="carol", infer=False)
        digest = first.attachments[0].sha256
        assert sorted(stored_keys(memory)) == [f"user_id=alice/{digest}", f"user_id=carol/{digest}"]
        memory.delete(first.id, purge=True)  # the others still name the bytes
        assert memory.get_attachment(digest, user_id="alice") == image
        memory.delete(second.id)  # retired: its history still names them
        expire_now(memory, third.id)  # expired, not yet swept: still stored
        assert memory.sweep() == 1
        assert memory.get_attachment(digest, user_id="alice") == image
        memory.delete(second.id, purge=True)  # the last memory of alice's that names them
        assert stored_keys(memory) == [f"user_id=carol/{digest}"]
        with pytest.raises(AttachmentNotFoundError):
            memory.get_attachment(digest, user_id="alice")
        assert memory.get_attachment(digest, user_id="carol") == image


def test_an_erasure_cut_short_by_a_crash_erases_the_bytes_on_the_next_open(tmp_path, monkeypatch):
    """The journal names the bytes: after a crash the records naming them are already gone."""
    path = tmp_path / "crash"
    marker = f"Wobblecrank{uuid.uuid4().hex[:8]}"
    image = marked_png(marker)
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        doomed = memory.add(dog_turn(image), user_id="alice", infer=False)[0].memory
        with monkeypatch.context() as crash:
            crash.setattr(memory.services.graph, "delete_memory_relations", _die)
            with pytest.raises(SystemExit):
                memory.delete(doomed.id, purge=True)
        assert memory.services.vector.get([doomed.id]) == []  # the record went before the crash
        assert files_holding(memory, marker)
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        assert files_holding(memory, marker) == []
        with pytest.raises(AttachmentNotFoundError):
            memory.get_attachment(doomed.attachments[0].sha256, user_id="alice")
