"""LangChain classic `BaseMemory` (langchain_classic; langchain-core 1.x no longer has it)."""

from __future__ import annotations

from typing import Any

from langchain_classic.base_memory import BaseMemory
from langchain_core.messages import HumanMessage
from pydantic import ConfigDict

from ..memory import Memory
from .recall import recall


class LangMemBaseMemory(BaseMemory):
    """Loads relevant memories for the chain's input; saves each exchange as new memories."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: Memory
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    input_key: str = "input"
    output_key: str = "output"
    memory_key: str = "memories"
    limit: int = 8
    max_tokens: int = 500
    infer: bool = True

    @property
    def memory_variables(self) -> list[str]:
        return [self.memory_key]

    def _scope(self) -> dict[str, str | None]:
        return {"user_id": self.user_id, "agent_id": self.agent_id, "run_id": self.run_id}

    def load_memory_variables(self, inputs: dict[str, Any]) -> dict[str, str]:
        text = str(inputs.get(self.input_key, ""))
        block = recall(self.memory, [HumanMessage(text)], self._scope(), limit=self.limit, max_tokens=self.max_tokens) if text.strip() else None
        return {self.memory_key: block or ""}

    def save_context(self, inputs: dict[str, Any], outputs: dict[str, str]) -> None:
        messages = [{"role": "user", "content": str(inputs[self.input_key])}]
        if outputs.get(self.output_key):
            messages.append({"role": "assistant", "content": str(outputs[self.output_key])})
        self.memory.add(messages, infer=self.infer, **self._scope())

    def clear(self) -> None:
        self.memory.delete_all(**self._scope())
