"""LangChain classic `BaseMemory` (langchain_classic; langchain-core 1.x no longer has it)."""

from __future__ import annotations

from typing import Any

from langchain_classic.base_memory import BaseMemory
from langchain_core.messages import HumanMessage
from pydantic import ConfigDict, field_validator

from .calls import AnyMemory, Step, arun, call, check_memory, run
from .recall import RECALL_THRESHOLD, recall_step


class LangMemBaseMemory(BaseMemory):
    """Loads relevant memories for the chain's input; saves each exchange as new memories.

    `memory` is a Memory, or an AsyncMemory for the async methods (`aload_memory_variables`,
    `asave_context`, `aclear`); the sync methods given an AsyncMemory raise ConfigurationError."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: AnyMemory
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    input_key: str = "input"
    output_key: str = "output"
    memory_key: str = "memories"
    limit: int = 8
    max_tokens: int = 500
    threshold: float | None = RECALL_THRESHOLD
    infer: bool = True

    @field_validator("memory", mode="before")
    @classmethod
    def _facade(cls, memory: Any) -> AnyMemory:
        return check_memory(memory, "LangMemBaseMemory")

    @property
    def memory_variables(self) -> list[str]:
        return [self.memory_key]

    def _scope(self) -> dict[str, str | None]:
        return {"user_id": self.user_id, "agent_id": self.agent_id, "run_id": self.run_id}

    def _load_step(self, inputs: dict[str, Any]) -> Step[dict[str, str]]:
        text = str(inputs.get(self.input_key, ""))
        block = None
        if text.strip():
            block = yield from recall_step(
                [HumanMessage(text)],
                self._scope(),
                limit=self.limit,
                max_tokens=self.max_tokens,
                threshold=self.threshold,
            )
        return {self.memory_key: block or ""}

    def _save_step(self, inputs: dict[str, Any], outputs: dict[str, str]) -> Step[None]:
        messages = [{"role": "user", "content": str(inputs[self.input_key])}]
        if outputs.get(self.output_key):
            messages.append({"role": "assistant", "content": str(outputs[self.output_key])})
        yield call("add", messages, infer=self.infer, **self._scope())

    def _clear_step(self) -> Step[None]:
        yield call("delete_all", **self._scope())

    def load_memory_variables(self, inputs: dict[str, Any]) -> dict[str, str]:
        return run(self.memory, self._load_step(inputs))

    async def aload_memory_variables(self, inputs: dict[str, Any]) -> dict[str, str]:
        return await arun(self.memory, self._load_step(inputs))

    def save_context(self, inputs: dict[str, Any], outputs: dict[str, str]) -> None:
        run(self.memory, self._save_step(inputs, outputs))

    async def asave_context(self, inputs: dict[str, Any], outputs: dict[str, str]) -> None:
        await arun(self.memory, self._save_step(inputs, outputs))

    def clear(self) -> None:
        run(self.memory, self._clear_step())

    async def aclear(self) -> None:
        await arun(self.memory, self._clear_step())
