"""Files remembered with `add_file`: PDFs written by a real PDF library (fpdf2) and read by pypdf,
text, Markdown, CSV and JSON files; page provenance, limits, and files that store nothing."""

from __future__ import annotations

import io
import json
import re

import pytest
from fpdf import FPDF
from hypothesis import given, strategies as st
from pypdf import PdfReader, PdfWriter

from langmem_plugin import AsyncMemory, Memory, MemoryConfig
from langmem_plugin.errors import (
    EmptyContentError,
    EncryptedFileError,
    InputTooLargeError,
    InvalidInputError,
    MissingDependencyError,
    UnreadableFileError,
    UnsupportedFileError,
)
from langmem_plugin.pipeline.files import chunk_text
from langmem_plugin.testing.inspect import stored_bytes

from .helpers import HashingEmbeddings
from .test_cli_and_config import cli


def pdf(*pages: str, compress: bool = True) -> bytes:
    """A PDF with one page per text ("" makes a page without text)."""
    document = FPDF()
    document.set_compression(compress)
    document.set_font("Helvetica", size=11)
    for text in pages:
        document.add_page()
        if text:
            document.multi_cell(0, 6, text)
    return bytes(document.output())


def page_text(number: int, sentences: int = 12) -> str:
    return " ".join(f"Page {number} sentence {i} mentions the kayak trip to Lyon." for i in range(sentences))


@pytest.fixture
def memory(tmp_path):
    config = {"path": str(tmp_path / "m"), "files": {"chunk_chars": 300}}
    with Memory(config, embeddings=HashingEmbeddings()) as instance:
        yield instance


def test_a_one_page_pdf_is_one_memory_naming_its_file_and_page(memory, tmp_path):
    path = tmp_path / "receipt.pdf"
    path.write_bytes(pdf("Receipt: one kayak, 899 EUR, paid by card."))
    [op] = memory.add_file(path, user_id="alice")
    assert op.memory.text == "Receipt: one kayak, 899 EUR, paid by card."
    place = op.memory.metadata["file"]
    assert (place["name"], place["type"], place["page"], place["pages"], place["chunk"], place["chunks"]) == (
        "receipt.pdf",
        "application/pdf",
        1,
        1,
        0,
        1,
    )
    assert place["size"] == path.stat().st_size and len(place["sha256"]) == 64
    assert [o.event.value for o in memory.add_file(path, user_id="alice")] == ["NOOP"]  # the same file once


def test_a_multi_page_pdf_is_chunked_with_the_page_of_every_chunk(memory):
    ops = memory.add_file(pdf(page_text(1), page_text(2), "", page_text(4)), user_id="alice", name="trip.pdf")
    places = [o.memory.metadata["file"] for o in ops]
    assert [p["chunk"] for p in places] == list(range(len(ops))) and {p["chunks"] for p in places} == {
        len(ops)
    }
    assert {p["page"] for p in places} == {1, 2, 4} and {p["pages"] for p in places} == {4}
    for op, place in zip(ops, places, strict=True):
        assert len(op.memory.text) <= 300
        # a chunk holds the text of its own page only
        assert set(re.findall(r"Page (\d+) sentence", op.memory.text)) == {str(place["page"])}
    assert " ".join(o.memory.text for o in ops if o.memory.metadata["file"]["page"] == 2) == page_text(2)
    second = memory.get_all(user_id="alice", filters={"file.page": 2, "file.name": "trip.pdf"})
    assert sorted(r.id for r in second) == sorted(
        o.memory.id for o in ops if o.memory.metadata["file"]["page"] == 2
    )


def test_page_and_byte_limits_refuse_the_file_before_anything_is_stored(tmp_path):
    config = {"path": str(tmp_path / "m"), "files": {"max_pages": 2, "max_bytes": 4000}}
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        with pytest.raises(InputTooLargeError, match="3 pages, more than the limit of 2"):
            memory.add_file(pdf("one", "two", "three"), user_id="alice", name="long.pdf")
        big = tmp_path / "big.txt"
        big.write_text("word " * 1000)
        with pytest.raises(InputTooLargeError, match=r"files\.max_bytes"):
            memory.add_file(big, user_id="alice")
        with pytest.raises(InputTooLargeError, match=r"files\.max_bytes"):
            memory.add_file(big.read_bytes(), user_id="alice", name="big.txt")
        assert memory.get_all(user_id="alice") == []


def encrypted(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf("A secret plan to buy a kayak."))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_corrupt_encrypted_and_textless_pdfs_are_typed_errors_that_store_nothing(memory):
    good = pdf(page_text(1))
    bad = {
        "truncated.pdf": (good[: len(good) // 2], UnreadableFileError),
        "garbage.pdf": (b"%PDF-1.7\n" + bytes(range(256)) * 8, UnreadableFileError),
        "locked.pdf": (encrypted("secret"), EncryptedFileError),
        "scan.pdf": (pdf(""), UnreadableFileError),
    }
    for name, (content, error) in bad.items():
        with pytest.raises(error):
            memory.add_file(content, user_id="alice", name=name)
    assert memory.get_all(user_id="alice") == []
    # an owner password alone (printing restrictions) opens with the empty password: it is read
    [op] = memory.add_file(encrypted(""), user_id="alice", name="restricted.pdf")
    assert op.memory.text == "A secret plan to buy a kayak."


def test_text_and_markdown_files_are_chunked_at_paragraphs(memory, tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("# Trip\n\nWe rent a kayak in Lyon.\n\n" + "Long paragraph about paddles. " * 20)
    ops = memory.add_file(notes, user_id="alice")
    assert ops[0].memory.text.startswith("# Trip\n\nWe rent a kayak in Lyon.")
    assert all(
        o.memory.metadata["file"]["type"] == "text/markdown" and "page" not in o.memory.metadata["file"]
        for o in ops
    )
    [plain] = memory.add_file(b"Just one line.", user_id="alice", name="clip")
    [typed] = memory.add_file(
        b"# Heading", user_id="alice", name="x.md", media_type="application/octet-stream"
    )
    assert typed.memory.metadata["file"]["type"] == "text/markdown"
    assert plain.memory.text == "Just one line." and plain.memory.metadata["file"]["type"] == "text/plain"


def test_csv_rows_and_json_records_are_structured_data(memory, tmp_path):
    table = tmp_path / "orders.csv"
    table.write_text("order,item,total\n17,kayak,899\n18,tent,\n,,\n")
    ops = memory.add_file(table, user_id="alice")
    assert [(o.memory.text, o.memory.metadata["data"], o.memory.metadata["file"]["record"]) for o in ops] == [
        ("Alice's order 17: item kayak; total 899.", {"order": "17", "item": "kayak", "total": "899"}, 0),
        ("Alice's order 18: item tent.", {"order": "18", "item": "tent"}, 1),
    ]
    document = json.dumps([{"name": "Biscuit", "species": "beagle"}, {"name": "Tom", "species": "cat"}])
    pets = memory.add_file(document.encode(), user_id="alice", name="pets.json")
    assert [o.memory.text for o in pets] == ["Alice's Biscuit: species beagle.", "Alice's Tom: species cat."]
    assert memory.get_all(user_id="alice", filters={"data.species": "cat", "file.name": "pets.json"})[
        0
    ].text == ("Alice's Tom: species cat.")
    with pytest.raises(UnreadableFileError):
        memory.add_file(b'{"order": ', user_id="alice", name="broken.json")


def test_unsupported_missing_and_empty_files_are_typed_errors(memory, tmp_path, monkeypatch):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    with pytest.raises(UnsupportedFileError):
        memory.add_file(png, user_id="alice", name="photo")
    with pytest.raises(UnsupportedFileError):
        memory.add_file(b"x", user_id="alice", name="a.txt", media_type="image/png")
    with pytest.raises(InvalidInputError, match="cannot read file"):
        memory.add_file(tmp_path / "absent.pdf", user_id="alice")
    with pytest.raises(EmptyContentError):
        memory.add_file(b"", user_id="alice", name="empty.txt")
    with pytest.raises(InvalidInputError):
        memory.add_file(b"text", user_id="alice", name="a.txt", metadata={"file": "mine"})
    monkeypatch.setattr("langmem_plugin.extras.find_spec", lambda module: None)
    with pytest.raises(MissingDependencyError, match=r"langmem-plugin\[files\]"):
        memory.add_file(pdf("x"), user_id="alice", name="a.pdf")
    assert memory.get_all(user_id="alice") == []


@given(st.text(alphabet=st.sampled_from("ab .\n!"), max_size=600), st.integers(5, 80))
def test_chunks_are_bounded_and_keep_every_character_in_order(text, size):
    chunks = chunk_text(text, size)
    assert all(0 < len(chunk) <= size for chunk in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())
    if all(len(word) <= size for word in text.split()):  # no word is cut
        assert " ".join(chunks).split() == text.split()


async def test_async_add_file(tmp_path):
    async with AsyncMemory({"path": str(tmp_path / "a")}, embeddings=HashingEmbeddings()) as memory:
        [op] = await memory.add_file(pdf("An async receipt."), user_id="bob", name="r.pdf")
    assert op.memory.text == "An async receipt." and op.memory.metadata["file"]["page"] == 1


def test_the_limits_are_read_from_the_environment():
    config = MemoryConfig.from_env({"LANGMEM_FILES__MAX_PAGES": "7", "LANGMEM_FILES__MAX_BYTES": "1000"})
    assert (config.files.max_pages, config.files.max_bytes) == (7, 1000)


def test_the_cli_adds_a_file_and_reports_a_bad_one(tmp_path):
    store = tmp_path / "s"
    receipt = tmp_path / "receipt.pdf"
    receipt.write_bytes(pdf("Receipt: one kayak, 899 EUR."))
    added = json.loads(cli("add", "--file", str(receipt), "--user-id", "alice", "--json", store=store).stdout)
    assert [(o["event"], o["memory"]["text"], o["memory"]["metadata"]["file"]["page"]) for o in added] == [
        ("ADD", "Receipt: one kayak, 899 EUR.", 1)
    ]
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 nothing else")
    failed = cli("add", "--file", str(broken), "--user-id", "alice", "--json", store=store, check=False)
    assert (
        failed.returncode == 2
        and json.loads(failed.stderr.splitlines()[-1])["error"]["type"] == "UnreadableFileError"
    )
    both = cli("add", "text", "--file", str(receipt), "--user-id", "alice", store=store, check=False)
    assert both.returncode == 2 and "one of them" in both.stderr


def test_a_purge_leaves_no_byte_of_a_file_or_its_chunks(tmp_path):
    config = {"path": str(tmp_path / "m")}
    # uncompressed: the marker is in the file's bytes as well as in its chunk's text
    secret = pdf("Glimmerquonk is the code name of the kayak trip.", compress=False)
    assert b"Glimmerquonk" in secret
    kept = pdf("Bob keeps his own notes about tents.")
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        memory.add_file(secret, user_id="alice", name="plan.pdf")
        memory.add_file(kept, user_id="bob", name="notes.pdf")

        def holding_the_marker() -> set[str]:
            stored = stored_bytes(MemoryConfig.from_dict(config))
            return {name for name, data in stored.items() if b"Glimmerquonk" in data}

        before = holding_the_marker()
        assert any("attachments" in name for name in before) and len(before) > 1  # the file and the chunk
        memory.delete_all(user_id="alice", purge=True)
        assert holding_the_marker() == set()
        [bob] = memory.get_all(user_id="bob")
        assert memory.get_attachment(bob.attachments[0].sha256, user_id="bob") == kept


def test_export_then_import_keeps_a_files_memories_as_they_were(tmp_path):
    """An import stores the exported memories as they are: the PDF a chunk carries is not read
    again into more memories, and each chunk keeps its provenance and the file's bytes."""
    store, copy, exported = tmp_path / "store", tmp_path / "copy", tmp_path / "alice.jsonl"
    menu = pdf("Soup of the day: lentils", "Page two: desserts")
    with Memory({"path": str(store)}, embeddings=HashingEmbeddings()) as memory:
        memory.add_file(menu, name="menu.pdf", user_id="alice")
        before = sorted(
            (r.text, r.metadata["file"]["page"], tuple(r.attachments))
            for r in memory.get_all(user_id="alice")
        )
    assert len(before) == 2
    cli("export", "--user-id", "alice", "--output", str(exported), store=store)
    cli("import", str(exported), "--user-id", "alice", store=copy)
    with Memory({"path": str(copy)}, embeddings=HashingEmbeddings()) as memory:
        after = sorted(
            (r.text, r.metadata["file"]["page"], tuple(r.attachments))
            for r in memory.get_all(user_id="alice")
        )
        assert after == before
        [attachment] = {a for _, _, shared in after for a in shared}
        assert memory.get_attachment(attachment.sha256, user_id="alice") == menu
