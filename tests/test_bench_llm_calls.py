"""benchmarks/llm_calls.py: its counting on scripted models, Mem0's prompts read from the wheel, and
(e2e) the whole script on one LoCoMo session through the local llama.cpp server."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langmem_plugin import Memory

from .helpers import HashingEmbeddings
from .test_bench_locomo import tiny_locomo

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "llm_calls.py"


@pytest.fixture(scope="module")
def bench():
    """benchmarks/llm_calls.py as a module (benchmarks/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("llm_calls_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mem0_wheel(bench, tmp_path_factory):
    return bench.mem0_wheel(None, tmp_path_factory.mktemp("mem0"))


class PromptRecorder(BaseCallbackHandler):
    def __init__(self):
        self.calls: list[list] = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.calls.append(messages[0])


def model_answering(callbacks, *replies):
    """A scripted model whose every reply carries usage counts, as a server sends them."""
    usage = {"input_tokens": 100, "output_tokens": 10, "total_tokens": 110}
    answers = iter(AIMessage(json.dumps(r), usage_metadata=usage) for r in replies)
    return GenericFakeChatModel(messages=answers, callbacks=callbacks)


def test_the_counter_sees_every_call_retry_and_token_of_an_add(bench, tmp_path):
    counter = bench.CallCounter()
    extraction = {"facts": [{"text": "Caroline likes jazz", "source_message_ids": ["D1:1"]}]}
    model = model_answering([counter], {"facts": [{"text": "x", "source_message_ids": ["D9:9"]}]}, extraction)
    messages = [{"role": "user", "name": "Caroline", "content": "I like jazz.", "id": "D1:1"}]
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings(), llm=model) as memory:
        memory.add(messages, user_id="conv")
    assert counter.snapshot() == {
        "calls": 2,
        "retries": 1,  # the unknown message id was fed back
        "failed_calls": 0,
        "prompt_tokens": 200,
        "completion_tokens": 20,
    }


def test_mem0s_add_is_one_extraction_then_one_update_with_the_retrieved_memories(bench, mem0_wheel):
    prompts, utils = bench.mem0_modules(mem0_wheel)
    counter, recorder = bench.CallCounter(), PromptRecorder()
    model = model_answering(
        [counter, recorder],
        {"facts": ["Caroline likes jazz"]},
        {"memory": [{"id": "0", "text": "Caroline likes jazz", "event": "ADD"}]},
        {"facts": ["Caroline loves jazz"]},
        {"memory": [{"id": "0", "text": "Caroline loves jazz", "event": "UPDATE", "old_memory": "x"}]},
        {"facts": []},
    )
    mem0 = bench.Mem0Classic(prompts, utils, model, HashingEmbeddings(), "fact_retrieval")
    first = mem0.add([{"role": "user", "content": "Caroline: I like jazz."}], "conv")
    second = mem0.add([{"role": "user", "content": "Caroline: I love jazz."}], "conv")
    third = mem0.add([{"role": "user", "content": "Caroline: Hi!"}], "conv")
    assert (first["operations"], second["operations"], third["outcome"]) == (1, 1, "no facts")
    assert [text for text, _ in mem0.store["conv"].values()] == ["Caroline loves jazz"]
    assert counter.snapshot()["calls"] == 5  # 2 + 2 + 1: no update call without facts
    extraction_system, extraction_user = recorder.calls[0]
    assert extraction_system.content == prompts.FACT_RETRIEVAL_PROMPT
    assert extraction_user.content == "Input:\nuser: Caroline: I like jazz.\n"
    assert recorder.calls[1][0].content.startswith(prompts.DEFAULT_UPDATE_MEMORY_PROMPT)
    assert "Current memory is empty." in recorder.calls[1][0].content
    assert "'id': '0', 'text': 'Caroline likes jazz'" in recorder.calls[3][0].content  # the retrieved memory is shown


@pytest.mark.e2e
def test_the_script_measures_every_system_through_the_local_server(tmp_path):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed (make test installs it)")
    data, out = tmp_path / "conversation.json", tmp_path / "calls.json"
    data.write_text(json.dumps(tiny_locomo()[:1]))  # two sessions: the second is reconciled with the first
    argv = ["--data", str(data), "--max-tokens", "256", "--out", str(out)]
    completed = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=1800)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["data"]["adds"] == 2 and list(report["systems"]) == ["before", "after", "mem0"]
    for name, system in report["systems"].items():
        assert [a["session"] for a in system["adds"]] == [1, 2], name
        assert all(a["prompt_tokens"] > 0 and a["completion_tokens"] > 0 for a in system["adds"]), name
    for add in report["systems"]["after"]["adds"] + report["systems"]["mem0"]["adds"]:
        assert add["calls"] - add["retries"] <= 2


def test_a_reply_cut_at_the_limit_counts_its_tokens(bench):
    from openai import LengthFinishReasonError
    from openai.types import CompletionUsage
    from openai.types.chat import ChatCompletion

    usage = CompletionUsage(prompt_tokens=1615, completion_tokens=512, total_tokens=2127)
    counter = bench.CallCounter()
    counter.on_llm_error(LengthFinishReasonError(completion=ChatCompletion.model_construct(usage=usage)))
    counter.on_llm_error(ConnectionError("server unreachable"))  # no completion: nothing to count
    assert counter.snapshot() == {
        "calls": 0,
        "retries": 0,
        "failed_calls": 2,
        "prompt_tokens": 1615,
        "completion_tokens": 512,
    }
