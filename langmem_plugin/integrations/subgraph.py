"""Memory as a LangGraph subgraph: retrieve -> reason -> write_back.

Use it as a node of a parent graph that shares the `messages` key; it leaves the recalled block
in `memory_context` for the parent's model node. Scope comes from the authenticated user of a
LangGraph server with auth, else the runtime context (`context_schema`), then the configurable
keys a `ScopeMapping` names (scoping.py). Write-back runs inline, or in a background thread
debounced per thread id so that the user's reply is not delayed. The nodes that touch memory
have a sync and an async form over one step each (calls.py).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.runtime import get_runtime
from typing_extensions import TypedDict

from ..records import SearchHit
from ..tracing import tag_enclosing_runs
from .calls import AnyMemory, Step, arun, check_memory, run, run_detached
from .recall import RECALL_THRESHOLD, format_memories, latest_turn, search_step, select, write_back_step
from .scoping import ScopeMapping, scope_from


class MemoryInput(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


class MemoryOutput(TypedDict):
    memory_context: str


class MemoryState(MemoryInput, MemoryOutput, total=False):
    recalled: list[SearchHit]


class DebouncedWriter:
    """Background write-back: per thread, only the latest pending turn is stored after `delay`.
    Each write runs in a timer thread of its own, with either facade."""

    def __init__(self, memory: AnyMemory, delay: float, infer: bool):
        self.memory = memory
        self.delay = delay
        self.infer = infer
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()
        self.errors: list[BaseException] = []

    def submit(self, thread_id: str, messages: list[AnyMessage], scope: dict[str, Any]) -> None:
        def write() -> None:
            with self._lock:
                self._timers.pop(thread_id, None)
            try:
                run_detached(self.memory, write_back_step(messages, scope, infer=self.infer))
            # kept for flush(): a background thread has nobody to raise to
            except BaseException as exc:  # noqa: BLE001
                self.errors.append(exc)

        with self._lock:
            pending = self._timers.pop(thread_id, None)
            if pending is not None:
                pending.cancel()
            timer = threading.Timer(self.delay, write)
            timer.daemon = True
            self._timers[thread_id] = timer
            timer.start()

    def flush(self) -> None:
        """Wait for every pending write; raise the first background failure, if any."""
        with self._lock:
            timers = list(self._timers.values())
        for timer in timers:
            timer.join()
        if self.errors:
            raise self.errors.pop(0)


def build_memory_graph(
    memory: AnyMemory,
    *,
    limit: int = 8,
    max_tokens: int = 500,
    threshold: float | None = RECALL_THRESHOLD,
    infer: bool = True,
    background: bool = False,
    debounce_seconds: float = 2.0,
    context_schema: type | None = None,
    scope: ScopeMapping | None = None,
):
    """Compile the memory subgraph. With background=True, `graph.writer.flush()` waits for writes.

    `memory`: a Memory, or an AsyncMemory for graphs run with `ainvoke` / `astream` (a sync run
    given an AsyncMemory raises ConfigurationError). `threshold`: the least relevance a recalled
    memory needs (None: no floor). `scope` says which context fields / configurable keys are the
    memory scope (ScopeMapping)."""
    check_memory(memory, "build_memory_graph")
    writer = DebouncedWriter(memory, debounce_seconds, infer) if background else None

    def scope_of(config: RunnableConfig) -> dict[str, Any]:
        ids = scope_from(get_runtime().context, config, scope)
        tag_enclosing_runs(ids, config)
        return ids

    def retrieve_step(state: MemoryState, config: RunnableConfig) -> Step[dict]:
        ids = scope_of(config)  # a run without a scope fails here, before the model is called
        hits = yield from search_step(state["messages"], ids, limit=limit, threshold=threshold)
        return {"recalled": hits}

    def reason(state: MemoryState) -> dict:
        return {"memory_context": format_memories(select(state.get("recalled", []), max_tokens)) or ""}

    def write_back_node_step(state: MemoryState, config: RunnableConfig) -> Step[dict]:
        messages = state["messages"]
        if writer is None:
            yield from write_back_step(messages, scope_of(config), infer=infer)
        elif latest_turn(messages):
            thread_id = str((config.get("configurable") or {}).get("thread_id", "default"))
            writer.submit(thread_id, messages, scope_of(config))
        return {}

    builder = StateGraph(
        MemoryState, input_schema=MemoryInput, output_schema=MemoryOutput, context_schema=context_schema
    )
    builder.add_node("retrieve", _node("retrieve", memory, retrieve_step))
    builder.add_node("reason", reason)
    builder.add_node("write_back", _node("write_back", memory, write_back_node_step))
    builder.add_edge(START, "retrieve")
    builder.add_edge("retrieve", "reason")
    builder.add_edge("reason", "write_back")
    builder.add_edge("write_back", END)
    graph = builder.compile(name="memory")
    graph.writer = writer  # type: ignore[attr-defined]  # documented API: LangGraph's class declares none
    return graph


def _node(name: str, memory: AnyMemory, step_factory) -> RunnableLambda:
    """A node with a sync and an async form over one step: `invoke` runs the first, `ainvoke` /
    `astream` the second, so an async run never blocks its event loop on memory."""

    def node(state: MemoryState, config: RunnableConfig) -> dict:
        return run(memory, step_factory(state, config))

    async def anode(state: MemoryState, config: RunnableConfig) -> dict:
        return await arun(memory, step_factory(state, config))

    return RunnableLambda(node, afunc=anode, name=name)
