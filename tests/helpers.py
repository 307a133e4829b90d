"""Test helpers shared by several test modules."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import re
import subprocess
import sys
import time

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from langmem_plugin.content import message_text

from .servers import ROOT


class HashingEmbeddings(Embeddings):
    """Fast bag-of-words embedder for tests that need many writes but no model semantics."""

    def __init__(self, dimensions: int = 64):
        self.dimensions = dimensions
        self.model = f"hashing-{dimensions}"

    def _vector(self, text: str) -> list[float]:
        vector = np.zeros(self.dimensions, dtype=np.float32)
        # a text without words ("!!!", an emoji) is one token of its own: no vector is all zeros
        for word in re.findall(r"\w+", text.lower()) or [text]:
            digest = hashlib.md5(word.encode()).digest()
            vector[int.from_bytes(digest[:4], "little") % self.dimensions] += 1.0
        norm = np.linalg.norm(vector)
        return (vector / norm if norm else vector).tolist()

    def embed_documents(self, texts):
        return [self._vector(t) for t in texts]

    def embed_query(self, text):
        return self._vector(text)


class RecordingChatModel(BaseChatModel):
    """A scripted tool-calling chat model that records every prompt it is given.

    The script and the record are private attributes: LangSmith tracing serialises a model's
    fields. Sync and async calls share `_generate` (BaseChatModel runs it in a thread for async)."""

    _script: list[AIMessage] = PrivateAttr(default_factory=list)
    _prompts: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    def __init__(self, script: list[AIMessage]):
        super().__init__()
        self._script = list(script)

    @property
    def prompts(self) -> list[list[BaseMessage]]:
        return self._prompts

    def system_texts(self) -> list[str]:
        """The text of each call's system message ("" for a call without one)."""
        systems = [[m for m in prompt if isinstance(m, SystemMessage)] for prompt in self._prompts]
        return [message_text(found[0]) if found else "" for found in systems]

    @property
    def _llm_type(self) -> str:
        return "recording"

    def bind_tools(self, tools, **kwargs):
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self._prompts.append(list(messages))
        if not self._script:
            raise AssertionError(f"the model was called {len(self._prompts)} times, more than scripted")
        return ChatResult(generations=[ChatGeneration(message=self._script.pop(0))])


def tool_call(name: str, args: dict, call_id: str) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


def processes_at_once(
    target, args: list[tuple], *, start_method: str = "spawn", timeout: float = 300
) -> list:
    """Run `target(*worker_args, barrier, results)` in one process for each tuple of `args`, all
    released together by the barrier, and return what each put on `results` (in the order they put
    it), once every process has exited with code 0."""
    context = mp.get_context(start_method)
    barrier, results = context.Barrier(len(args)), context.Queue()
    workers = [context.Process(target=target, args=(*worker_args, barrier, results)) for worker_args in args]
    for worker in workers:
        worker.start()
    # read before joining: a process whose result is still in the queue's pipe does not exit
    found = [results.get(timeout=timeout) for _ in workers]
    for worker in workers:
        worker.join(timeout=timeout)
    assert [worker.exitcode for worker in workers] == [0] * len(workers)
    return found


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, **kwargs
) -> subprocess.CompletedProcess:
    """The CLI run in a subprocess, as a user runs it (`env` None: this process's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "langmem_plugin.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def expire_now(memory, memory_id: str) -> None:
    """Make a stored memory expire and wait until it has: a test sets the expiry right before it
    needs the memory expired, so no step before races a short TTL on a loaded machine."""
    memory.set_expiry(memory_id, ttl=0.2)
    time.sleep(0.3)
