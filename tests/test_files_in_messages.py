"""A file shared in a message, in every client's block shape, becomes chunks (or records) whose
memories carry the file as their attachment; driven through `Memory.add` and through an agent
built with `create_agent` and the memory middleware (a scripted fake chat model)."""

from __future__ import annotations

import base64

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage

from langmem_plugin import EncryptedFileError, Memory
from langmem_plugin.integrations.middleware import MemoryMiddleware
from langmem_plugin.namespaces import ATTACHMENTS

from .helpers import HashingEmbeddings
from .test_files import encrypted, page_text, pdf
from .test_langgraph_integrations import ToolCallingFake, UserContext
from .test_llm_manager import decisions, facts, make_memory, scripted  # noqa: F401 (make_memory: a fixture)

TRIP = pdf(page_text(1, 3), page_text(2, 3))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# one PDF, as each client sends it
BLOCKS = {
    "langchain v1": {
        "type": "file",
        "base64": b64(TRIP),
        "mime_type": "application/pdf",
        "filename": "trip.pdf",
    },
    "openai chat": {
        "type": "file",
        "file": {"file_data": f"data:application/pdf;base64,{b64(TRIP)}", "filename": "trip.pdf"},
    },
    "openai responses": {
        "type": "input_file",
        "file_data": f"data:application/pdf;base64,{b64(TRIP)}",
        "filename": "trip.pdf",
    },
    "anthropic": {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": b64(TRIP)},
        "title": "trip.pdf",
    },
}


@pytest.fixture
def memory(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as instance:
        yield instance


def chunks_of(memory: Memory, user_id: str):
    return sorted(
        (r for r in memory.get_all(user_id=user_id) if "file" in r.metadata),
        key=lambda r: r.metadata["file"]["chunk"],
    )


@pytest.mark.parametrize("shape", sorted(BLOCKS))
@pytest.mark.parametrize("infer", [True, False])
def test_a_pdf_in_a_message_is_chunked_and_every_chunk_carries_the_file(memory, shape, infer):
    turn = {"role": "user", "content": [{"type": "text", "text": "Here is my trip plan."}, BLOCKS[shape]]}
    memory.add(turn, user_id="alice", infer=infer)
    chunks = chunks_of(memory, "alice")
    assert " ".join(r.text for r in chunks) == f"{page_text(1, 3)} {page_text(2, 3)}"
    assert [r.metadata["file"]["page"] for r in chunks] == sorted(r.metadata["file"]["page"] for r in chunks)
    assert {r.metadata["file"]["page"] for r in chunks} == {1, 2}
    [attachment] = {a for r in chunks for a in r.attachments}
    assert (attachment.kind, attachment.name, attachment.sha256) == (
        "file",
        "trip.pdf",
        chunks[0].metadata["file"]["sha256"],
    )
    assert memory.get_attachment(attachment.sha256, user_id="alice") == TRIP
    turn_memories = [r for r in memory.get_all(user_id="alice") if "file" not in r.metadata]
    assert turn_memories and all(r.attachments == [attachment] for r in turn_memories)
    assert len(memory.services.kv.keys(ATTACHMENTS)) == 1  # the bytes once
    hits = memory.search("kayak trip page 2", user_id="alice", filters={"file.page": 2})
    assert hits and all(h.memory.attachments == [attachment] for h in hits)


def test_an_unnamed_pdf_is_read_and_carries_the_same_attachment_as_its_turn(memory):
    block = {"type": "file", "base64": b64(TRIP), "mime_type": "application/pdf"}
    memory.add({"role": "user", "content": [block]}, user_id="ann", infer=False)
    chunks = chunks_of(memory, "ann")
    assert chunks and chunks[0].metadata["file"]["name"] == "upload"
    assert {a for r in memory.get_all(user_id="ann") for a in r.attachments} == {chunks[0].attachments[0]}


def test_a_message_with_records_and_a_csv_file_stores_structured_facts(memory):
    table = b"order,item\n17,kayak\n"
    block = {"type": "file", "base64": b64(table), "mime_type": "text/csv", "filename": "orders.csv"}
    memory.add([{"role": "user", "content": [{"type": "text", "text": "My orders."}, block]}], user_id="bob")
    [row] = [r for r in memory.get_all(user_id="bob") if "data" in r.metadata]
    assert (row.text, row.metadata["data"], row.attachments[0].name) == (
        "Bob's order 17: item kayak.",
        {"order": "17", "item": "kayak"},
        "orders.csv",
    )


def test_an_unreadable_kind_stays_an_attachment_and_a_locked_pdf_stores_nothing(memory):
    docx = {
        "type": "file",
        "base64": b64(b"PK\x03\x04" + bytes(64)),
        "mime_type": "application/zip",
        "filename": "cv.docx",
    }
    memory.add(
        {"role": "user", "content": [{"type": "text", "text": "My CV."}, docx]}, user_id="cat", infer=False
    )
    [record] = memory.get_all(user_id="cat")
    assert (
        record.text == "My CV." and record.attachments[0].name == "cv.docx" and "file" not in record.metadata
    )
    locked = {
        "type": "file",
        "base64": b64(encrypted("pw")),
        "mime_type": "application/pdf",
        "filename": "l.pdf",
    }
    with pytest.raises(EncryptedFileError):
        memory.add({"role": "user", "content": [{"type": "text", "text": "Locked."}, locked]}, user_id="dan")
    assert memory.get_all(user_id="dan") == [] and memory.services.kv.keys(ATTACHMENTS) == [
        k for k in memory.services.kv.keys(ATTACHMENTS) if "dan" not in k
    ]


def test_an_llm_manager_reads_each_chunk_and_its_facts_carry_the_file(make_memory):  # noqa: F811
    def answer(prompt: str) -> dict:
        if "Existing memories:" in prompt:  # a reconciliation: the one new fact is added
            return decisions(("ADD", []))
        cited = prompt.split("[id=", 1)[1].split("]", 1)[0]
        return facts((f"Alice noted part {len(recorder.calls)} of her trip plan", [cited]))

    model, recorder = scripted(*[answer] * 20)
    memory = make_memory(model)
    turn = {
        "role": "user",
        "name": "Alice",
        "id": "m1",
        "content": [{"type": "text", "text": "My trip."}, BLOCKS["langchain v1"]],
    }
    memory.add(turn, user_id="alice")
    extractions = [call[1].content for call in recorder.calls if "Existing memories:" not in call[1].content]
    chunks = [c for c in extractions if "Page 1 sentence 0" in c or "Page 2 sentence 0" in c]
    assert len(extractions) == 3 and len(chunks) == 2  # the turn, then each page's one chunk
    records = memory.get_all(user_id="alice")
    assert len(records) == 3 and all(r.attachments[0].name == "trip.pdf" for r in records)
    assert sorted(r.metadata["file"]["page"] for r in records if "file" in r.metadata) == [1, 2]


def test_an_agent_with_the_middleware_remembers_a_pdf_the_user_sends(memory):
    model = ToolCallingFake(messages=iter([AIMessage("I have your trip plan.")]))
    model.seen_system = []
    agent = create_agent(
        model, middleware=[MemoryMiddleware(memory, infer=False)], context_schema=UserContext
    )
    message = HumanMessage(content=[{"type": "text", "text": "Keep my trip plan."}, BLOCKS["langchain v1"]])
    agent.invoke({"messages": [message]}, context=UserContext("eve"))
    chunks = chunks_of(memory, "eve")
    assert {r.metadata["file"]["page"] for r in chunks} == {1, 2}
    assert all(r.attachments[0].name == "trip.pdf" for r in chunks)
    assert memory.get_attachment(chunks[0].attachments[0].sha256, user_id="eve") == TRIP
