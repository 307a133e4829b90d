"""The content model: every input form a client sends, parsed once into typed parts."""

import base64
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage
from PIL import Image

from langmem_plugin import EmptyContentError, InputTooLargeError, InvalidInputError, Memory
from langmem_plugin.content import content_parts, message_parts, message_text, parts_text, shared_text
from langmem_plugin.parts import Attachment, AudioPart, DataPart, FilePart, ImagePart, MediaPart, TextPart

from .helpers import HashingEmbeddings


def image_bytes(format: str = "PNG", colour=(200, 30, 30), size=(8, 6)) -> bytes:
    """A real image, encoded by Pillow."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format)
    return buffer.getvalue()


PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG", (10, 120, 200))
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
WAV = b"RIFF$\x00\x00\x00WAVEfmt " + bytes(24)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Text parts in each format a client sends.
TEXT_PARTS = [
    lambda t: {"type": "text", "text": t},  # v1, OpenAI chat, Anthropic
    lambda t: {"type": "text", "text": t, "cache_control": {"type": "ephemeral"}},
    lambda t: {"type": "input_text", "text": t},  # OpenAI Responses
    lambda t: {"type": "text-plain", "text": t, "mime_type": "text/plain"},  # v1 plain-text file
    lambda t: {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": t},
    },  # Anthropic
    lambda t: t,  # a bare string part
]
# Media parts in every format, each with the part it must parse into.
MEDIA_PARTS = [
    # LangChain v1 standard blocks: url / base64 / file id
    (
        {"type": "image", "url": "https://example.com/pets/dog.png"},
        ImagePart(url="https://example.com/pets/dog.png"),
    ),
    (
        {
            "type": "image",
            "base64": b64(PNG),
            "mime_type": "image/png",
            "filename": "dog.png",
            "alt": "my dog",
        },
        ImagePart(data=PNG, mime_type="image/png", name="dog.png", caption="my dog"),
    ),
    ({"type": "image", "file_id": "file-abc"}, ImagePart(file_id="file-abc")),
    (
        {"type": "file", "base64": b64(PDF), "mime_type": "application/pdf", "filename": "cv.pdf"},
        FilePart(data=PDF, mime_type="application/pdf", name="cv.pdf"),
    ),
    (
        {"type": "file", "url": "https://example.com/report.pdf"},
        FilePart(url="https://example.com/report.pdf"),
    ),
    (
        {"type": "audio", "base64": b64(WAV), "mime_type": "audio/wav"},
        AudioPart(data=WAV, mime_type="audio/wav"),
    ),
    # OpenAI chat completions
    (
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64(JPEG)}"}},
        ImagePart(data=JPEG, mime_type="image/jpeg"),
    ),
    (
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        ImagePart(url="https://example.com/cat.png"),
    ),
    (
        {"type": "input_audio", "input_audio": {"data": b64(WAV), "format": "wav"}},
        AudioPart(data=WAV, mime_type="audio/wav"),
    ),
    (
        {
            "type": "file",
            "file": {"file_data": f"data:application/pdf;base64,{b64(PDF)}", "filename": "a.pdf"},
        },
        FilePart(data=PDF, mime_type="application/pdf", name="a.pdf"),
    ),
    # OpenAI Responses
    (
        {"type": "input_image", "image_url": "https://example.com/cat.png"},
        ImagePart(url="https://example.com/cat.png"),
    ),
    (
        {"type": "input_image", "image_url": f"data:image/png;base64,{b64(PNG)}"},
        ImagePart(data=PNG, mime_type="image/png"),
    ),
    ({"type": "input_image", "file_id": "file-img"}, ImagePart(file_id="file-img")),
    (
        {"type": "input_file", "file_data": f"data:application/pdf;base64,{b64(PDF)}", "filename": "b.pdf"},
        FilePart(data=PDF, mime_type="application/pdf", name="b.pdf"),
    ),
    (
        {"type": "input_file", "file_id": "file-doc", "filename": "c.pdf"},
        FilePart(file_id="file-doc", name="c.pdf"),
    ),
    (
        {"type": "input_file", "file_url": "https://example.com/d.pdf"},
        FilePart(url="https://example.com/d.pdf"),
    ),
    # Anthropic `source` blocks
    (
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": b64(JPEG)}},
        ImagePart(data=JPEG, mime_type="image/jpeg"),
    ),
    (
        {"type": "image", "source": {"type": "url", "url": "https://example.com/e.png"}},
        ImagePart(url="https://example.com/e.png"),
    ),
    ({"type": "image", "source": {"type": "file", "file_id": "file-ant"}}, ImagePart(file_id="file-ant")),
    (
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": b64(PDF)},
            "title": "Q3",
        },
        FilePart(data=PDF, mime_type="application/pdf", name="Q3"),
    ),
    # LangChain JS data blocks, as agent-chat-ui attaches images and PDFs
    (
        {"type": "image", "mimeType": "image/png", "data": b64(PNG), "metadata": {"name": "cat.png"}},
        ImagePart(data=PNG, mime_type="image/png", name="cat.png"),
    ),
    (
        {"type": "file", "mimeType": "application/pdf", "data": b64(PDF), "metadata": {"filename": "cv.pdf"}},
        FilePart(data=PDF, mime_type="application/pdf", name="cv.pdf"),
    ),
    # LangChain v0 data blocks
    (
        {"type": "image", "source_type": "base64", "mime_type": "image/png", "data": b64(PNG)},
        ImagePart(data=PNG, mime_type="image/png"),
    ),
]
# Parts that say nothing: reasoning.
SILENT_PARTS = [{"type": "reasoning", "reasoning": "the user wants a cat"}]
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40).filter(
    str.strip
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("text"), st.sampled_from(range(len(TEXT_PARTS))), texts),
            st.tuples(st.just("media"), st.sampled_from(range(len(MEDIA_PARTS)))),
            st.sampled_from(SILENT_PARTS),
        ),
        max_size=6,
    )
)
def test_every_part_in_every_format_is_parsed_in_order(items):
    content, expected = [], []
    for item in items:
        if isinstance(item, dict):
            content.append(item)
        elif item[0] == "text":
            _, kind, text = item
            content.append(TEXT_PARTS[kind](text))
            expected.append(TextPart(text))
        else:
            block, part = MEDIA_PARTS[item[1]]
            content.append(block)
            expected.append(part)
    assert content_parts(content) == expected
    assert message_parts(HumanMessage(content)) == expected
    assert message_text(HumanMessage(content)) == parts_text(expected)


@pytest.mark.parametrize("block, part", MEDIA_PARTS)
def test_each_media_format_is_its_typed_part_and_attachment(block, part):
    (parsed,) = content_parts([block])
    assert parsed == part and isinstance(parsed, MediaPart)
    attachment = parsed.attachment()
    if part.data is not None:
        assert attachment.size == len(part.data) and len(attachment.sha256) == 64
    else:
        assert attachment.sha256 is None and (attachment.url or attachment.file_id)


def test_strings_ai_messages_and_structured_data():
    assert content_parts("plain text") == [TextPart("plain text")]
    assert message_text(AIMessage("an answer")) == "an answer"
    tool_use = {"type": "tool_use", "id": "t1", "name": "add_memory", "input": {"text": "x"}}
    anthropic = AIMessage(
        [{"type": "text", "text": "Saving it."}, tool_use], response_metadata={"model_provider": "anthropic"}
    )
    assert message_text(anthropic) == "Saving it."  # the tool call is no text
    assert content_parts({"order": 17, "items": ["kayak"]}) == [DataPart({"order": 17, "items": ["kayak"]})]


@pytest.mark.parametrize("content", [7, None, ["ok", 3], [b"bytes"]])
def test_content_that_is_no_message_content_is_a_typed_error(content):
    with pytest.raises(InvalidInputError):
        content_parts(content)


@pytest.mark.parametrize(
    "block",
    [
        {"type": "image", "base64": "not base64!!", "mime_type": "image/png"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@@"}},
        {"type": "image", "mime_type": "image/png"},  # neither url, bytes nor file id
    ],
)
def test_a_broken_media_block_is_a_typed_error(block):
    with pytest.raises(InvalidInputError):
        content_parts([block])


def test_the_attachment_limit_is_checked_before_decoding():
    block = {"type": "image", "base64": b64(PNG), "mime_type": "image/png"}
    assert content_parts([block], limit=len(PNG)) == [ImagePart(data=PNG, mime_type="image/png")]
    with pytest.raises(InputTooLargeError, match="limit"):
        content_parts([block], limit=len(PNG) - 1)


def test_shared_text_names_what_was_shared():
    dog = Attachment(kind="image", name="dog.png", caption="Biscuit on the beach")
    assert (
        shared_text("Alice", "This is my new dog Biscuit, a beagle.", [dog])
        == "Alice shared a photo (dog.png): This is my new dog Biscuit, a beagle."
    )
    assert shared_text("Alice", "", [dog]) == "Alice shared a photo (dog.png): Biscuit on the beach"
    two = [Attachment(kind="image"), Attachment(kind="image", name="b.jpg")]
    assert shared_text("Bo", "", two) == "Bo shared 2 photos (b.jpg)."
    mixed = [Attachment(kind="file", name="cv.pdf"), Attachment(kind="audio")]
    assert shared_text("Bo", "my CV", mixed) == "Bo shared 2 attachments (cv.pdf): my CV"
    assert shared_text("Bo", "no attachment", []) == "no attachment"


def test_memory_add_reads_every_client_format(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        messages = [
            {"role": "user", "content": [{"type": "input_text", "text": "I keep bees."}]},
            HumanMessage([{"type": "text", "text": "I grow tomatoes."}]),
            {
                "role": "user",
                "content": [{"type": "text-plain", "text": "I bake bread.", "mime_type": "text/plain"}],
            },
            {"role": "user", "content": [TEXT_PARTS[4]("I fly kites.")]},
        ]
        stored = memory.add(messages, user_id="uma", infer=False)
        assert [op.memory.text for op in stored] == [
            "I keep bees.",
            "I grow tomatoes.",
            "I bake bread.",
            "I fly kites.",
        ]
        assert all(op.memory.attachments == [] for op in stored)
        with pytest.raises(EmptyContentError):  # nothing at all: no text, no attachment
            memory.add([HumanMessage([{"type": "text", "text": "  "}])], user_id="uma", infer=False)
        with pytest.raises(InvalidInputError, match="message 0"):
            memory.add([{"role": "user", "content": [1, 2]}], user_id="uma")
        # structured content (a DataPart) is a fact of its own (tests/test_structured_data.py)
        [data] = memory.add([{"role": "user", "content": {"order": 17}}], user_id="uma")
        assert (data.memory.text, data.memory.metadata) == ("Uma's order 17.", {"data": {"order": 17}})
        assert len(memory.get_all(user_id="uma")) == 5
