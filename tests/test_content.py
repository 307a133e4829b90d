"""The one way text is read from a message: LangChain v1 content_blocks, every client's shapes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage

from langmem_plugin import EmptyContentError, InvalidInputError, Memory
from langmem_plugin.content import content_text, message_text

from .helpers import HashingEmbeddings

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
# Text parts in each format a client sends, as (block, its text).
TEXT_PARTS = [
    lambda t: {"type": "text", "text": t},  # v1, OpenAI chat, Anthropic
    lambda t: {"type": "text", "text": t, "cache_control": {"type": "ephemeral"}},
    lambda t: {"type": "input_text", "text": t},  # OpenAI Responses
    lambda t: {"type": "text-plain", "text": t, "mime_type": "text/plain"},  # v1 plain-text file
    lambda t: t,  # a bare string part
]
# Parts without text: images in every format, audio, a file by reference, reasoning.
SILENT_PARTS = [
    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
    {"type": "input_image", "image_url": "https://example.com/cat.png"},
    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    {"type": "image", "source_type": "base64", "mime_type": "image/png", "data": PNG},
    {"type": "image", "base64": PNG, "mime_type": "image/png"},
    {"type": "input_audio", "input_audio": {"data": PNG, "format": "wav"}},
    {"type": "file", "url": "https://example.com/report.pdf", "mime_type": "application/pdf"},
    {"type": "reasoning", "reasoning": "the user wants a cat"},
]
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40).filter(
    str.strip
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.tuples(st.sampled_from(range(len(TEXT_PARTS))), texts), st.sampled_from(SILENT_PARTS)),
        max_size=6,
    )
)
def test_the_text_is_every_text_part_in_order_and_nothing_else(parts):
    content, expected = [], []
    for part in parts:
        if isinstance(part, tuple):
            kind, text = part
            content.append(TEXT_PARTS[kind](text))
            expected.append(text)
        else:
            content.append(part)
    assert content_text(content) == "\n".join(expected)
    assert message_text(HumanMessage(content)) == "\n".join(expected)


def test_string_content_and_ai_messages():
    assert content_text("plain text") == "plain text"
    assert message_text(AIMessage("an answer")) == "an answer"
    tool_use = {"type": "tool_use", "id": "t1", "name": "add_memory", "input": {"text": "x"}}
    anthropic = AIMessage(
        [{"type": "text", "text": "Saving it."}, tool_use], response_metadata={"model_provider": "anthropic"}
    )
    assert message_text(anthropic) == "Saving it."  # the tool call is no text


@pytest.mark.parametrize("content", [7, None, {"type": "text", "text": "x"}, ["ok", 3], [b"bytes"]])
def test_content_that_is_no_message_content_is_a_typed_error(content):
    with pytest.raises(InvalidInputError):
        content_text(content)


def test_memory_add_reads_every_client_format_and_refuses_an_image_alone(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        messages = [
            {"role": "user", "content": [{"type": "input_text", "text": "I keep bees."}, SILENT_PARTS[2]]},
            HumanMessage([{"type": "text", "text": "I grow tomatoes."}, SILENT_PARTS[0]]),
            {
                "role": "user",
                "content": [{"type": "text-plain", "text": "I bake bread.", "mime_type": "text/plain"}],
            },
        ]
        stored = memory.add(messages, user_id="uma", infer=False)
        assert [op.memory.text for op in stored] == ["I keep bees.", "I grow tomatoes.", "I bake bread."]
        with pytest.raises(EmptyContentError):  # what to store of an image is the multimodal issue's business
            memory.add([HumanMessage([SILENT_PARTS[3]])], user_id="uma", infer=False)
        with pytest.raises(InvalidInputError, match="message 0"):
            memory.add([{"role": "user", "content": [1, 2]}], user_id="uma")
        assert len(memory.get_all(user_id="uma")) == 3
