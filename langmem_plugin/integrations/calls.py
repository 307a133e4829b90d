"""One implementation of every integration step, run by a sync and an async driver.

A step is a generator: it yields each memory call it needs (`Call`) and is sent the result back;
the logic between calls (which query, what to store, how to format) is plain code written
once. `run` drives a step in a sync path with a `Memory`; `arun` drives it in an async path,
awaiting an `AsyncMemory` natively or running a `Memory`'s call in a worker thread so that the
event loop never blocks. A sync path given an `AsyncMemory` raises `ConfigurationError`: its
calls are coroutines, and a sync caller may itself be running inside an event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import ConfigurationError
from ..memory import AsyncMemory, Memory

AnyMemory = Memory | AsyncMemory
T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One call a step needs: a method of the memory facades (by name), or a blocking function
    that is none (the embedder, a tier), which an async driver runs in a worker thread."""

    target: str | Callable[..., Any]
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def run(self, memory: Memory) -> Any:
        function = getattr(memory, self.target) if isinstance(self.target, str) else self.target
        return function(*self.args, **self.kwargs)

    async def arun(self, memory: AnyMemory) -> Any:
        if isinstance(self.target, str) and isinstance(memory, AsyncMemory):
            return await getattr(memory, self.target)(*self.args, **self.kwargs)
        if isinstance(self.target, str):
            return await asyncio.to_thread(getattr(memory, self.target), *self.args, **self.kwargs)
        return await asyncio.to_thread(self.target, *self.args, **self.kwargs)


def call(target: str | Callable[..., Any], *args: Any, **kwargs: Any) -> Call:
    return Call(target, args, kwargs)


Step = Generator[Call, Any, T]


def check_memory(memory: Any, owner: str) -> AnyMemory:
    """The facade an integration is built on: a Memory or an AsyncMemory, nothing else."""
    if not isinstance(memory, (Memory, AsyncMemory)):
        raise ConfigurationError(f"{owner} needs a Memory or an AsyncMemory, got {type(memory).__name__}")
    return memory


def run(memory: AnyMemory, step: Step[T]) -> T:
    """Drive a step in a sync path."""
    if isinstance(memory, AsyncMemory):
        step.close()
        raise ConfigurationError(
            "this synchronous call was given an AsyncMemory: use the async form (ainvoke, astream, "
            "abatch, aload_memory_variables, ...) or give the integration a Memory"
        )
    result = None
    with closing(step):  # a call that raised leaves the step suspended: close it now
        while True:
            try:
                request = step.send(result)
            except StopIteration as done:
                return done.value
            result = request.run(memory)


async def arun(memory: AnyMemory, step: Step[T]) -> T:
    """Drive a step in an async path, with either facade."""
    result = None
    with closing(step):
        while True:
            try:
                request = step.send(result)
            except StopIteration as done:
                return done.value
            result = await request.arun(memory)


def run_detached(memory: AnyMemory, step: Step[T]) -> T:
    """Drive a step from a thread of our own, which runs no event loop: either facade."""
    if isinstance(memory, AsyncMemory):
        return asyncio.run(arun(memory, step))
    return run(memory, step)
