"""What real LangChain v1 clients send, through every integration, sync and async.

`create_agent` with MemoryMiddleware through invoke, ainvoke and astream; the memory subgraph
through invoke, ainvoke and astream; the tools and the classic BaseMemory. Messages are what
agent-chat-ui, LangGraph Studio and the OpenAI Responses format send: block lists, text with an
image, an image alone. Async runs happen under blockbuster, which fails any blocking call made
on the event loop thread, so "native async" is checked, not assumed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from blockbuster import blockbuster_ctx
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langmem_plugin import AsyncMemory, ConfigurationError, EventType, Memory
from langmem_plugin.integrations.classic import LangMemBaseMemory
from langmem_plugin.integrations.middleware import MemoryMiddleware
from langmem_plugin.integrations.recall import HEADER, RECALL_THRESHOLD, recall
from langmem_plugin.integrations.subgraph import build_memory_graph
from langmem_plugin.integrations.tools import NO_MEMORIES, create_memory_tools

from .helpers import HashingEmbeddings, RecordingChatModel, tool_call

PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
IMAGE_BLOCKS = [
    {"type": "image_url", "image_url": {"url": PNG}},  # OpenAI chat (agent-chat-ui)
    {"type": "input_image", "image_url": PNG},  # OpenAI Responses
    {
        "type": "image",
        "source_type": "base64",
        "mime_type": "image/png",
        "data": PNG.split(",")[1],
    },  # LangChain v0
    {"type": "image", "base64": PNG.split(",")[1], "mime_type": "image/png"},  # LangChain v1
]
MODES = ["invoke", "ainvoke", "astream"]
# Either facade in every mode, except a sync run over an AsyncMemory (a ConfigurationError,
# tested on its own).
RUNS = pytest.mark.parametrize(
    "facade, mode",
    [
        (kind, mode)
        for kind in ("Memory", "AsyncMemory")
        for mode in MODES
        if (kind, mode) != ("AsyncMemory", "invoke")
    ],
    indirect=["facade"],
)


@dataclass
class UserContext:
    user_id: str


def text_blocks(text: str) -> list[dict]:
    return [{"type": "text", "text": text}]


def with_image(text: str, image: dict) -> list[dict]:
    return [{"type": "text", "text": text}, image]


@pytest.fixture
async def facade(request, tmp_path):
    """The same store behind either facade (both are accepted by every integration)."""
    config = {"path": str(tmp_path / "traffic")}
    if request.param == "Memory":
        with Memory(config, embeddings=HashingEmbeddings()) as memory:
            yield memory
    else:
        memory = AsyncMemory(config, embeddings=HashingEmbeddings())
        yield memory
        await memory.aclose()


async def stored(memory, **scope) -> list[str]:
    records = memory.get_all(**scope)
    records = await records if asyncio.iscoroutine(records) else records
    return sorted(r.text for r in records)


async def drive(runnable, mode: str, payload: dict, **kwargs) -> dict:
    """One run, as a client makes it; async modes run under blockbuster."""
    if mode == "invoke":
        return runnable.invoke(payload, **kwargs)
    with blockbuster_ctx():
        if mode == "ainvoke":
            return await runnable.ainvoke(payload, **kwargs)
        final = None
        async for state in runnable.astream(payload, stream_mode="values", **kwargs):
            final = state
        return final


# -- create_agent + MemoryMiddleware -----------------------------------------------------------


@RUNS
@pytest.mark.parametrize("image", IMAGE_BLOCKS, ids=["openai-chat", "responses", "v0", "v1"])
async def test_agent_recalls_block_list_turns_across_threads_per_user(facade, mode, image):
    model = RecordingChatModel(
        [AIMessage("Got it."), AIMessage("In Porto."), AIMessage("Nice picture."), AIMessage("No idea.")]
    )
    agent = create_agent(
        model, middleware=[MemoryMiddleware(facade, tools=False)], context_schema=UserContext
    )
    fay, gus = UserContext("fay"), UserContext("gus")

    await drive(
        agent,
        mode,
        {"messages": [HumanMessage(text_blocks("I live in Porto and I love surfing."))]},
        context=fay,
    )
    assert await stored(facade, user_id="fay") == ["Fay lives in Porto.", "Fay loves surfing."]

    # a new thread: block-list text with an image recalls
    await drive(agent, mode, {"messages": [HumanMessage(with_image("Where do I live?", image))]}, context=fay)
    assert "Fay lives in Porto." in model.system_texts()[1]

    # an image alone, after an older text turn: nothing recalled (no search with the older text), no failure
    history = [HumanMessage("Where do I live?"), AIMessage("In Porto."), HumanMessage([image])]
    result = await drive(agent, mode, {"messages": history}, context=fay)
    assert result["messages"][-1].content == "Nice picture."
    assert HEADER not in model.system_texts()[2]
    # nothing lost; the photo (the same in both turns) is remembered once, without the question beside it
    assert await stored(facade, user_id="fay") == ["Fay lives in Porto.", "Fay loves surfing.", "Fay shared a photo."]

    await drive(agent, mode, {"messages": [HumanMessage(with_image("Where do I live?", image))]}, context=gus)
    assert model.system_texts()[3] == ""  # another user: nothing of fay's
    assert len(model.prompts) == 4


async def test_a_sync_run_given_an_async_memory_is_a_configuration_error(tmp_path):
    memory = AsyncMemory({"path": str(tmp_path / "a")}, embeddings=HashingEmbeddings())
    try:
        model = RecordingChatModel([AIMessage("unused")])
        agent = create_agent(model, middleware=[MemoryMiddleware(memory)], context_schema=UserContext)
        with pytest.raises(ConfigurationError, match="AsyncMemory"):
            agent.invoke({"messages": [HumanMessage("I live in Porto.")]}, context=UserContext("fay"))
        assert model.prompts == []  # refused before the model call
        graph = build_memory_graph(memory, context_schema=UserContext)
        with pytest.raises(ConfigurationError, match="ainvoke"):
            graph.invoke({"messages": [HumanMessage("hello")]}, context=UserContext("fay"))
        assert await memory.get_all(user_id="fay") == []
    finally:
        await memory.aclose()


def test_integrations_refuse_what_is_no_memory_facade():
    with pytest.raises(ConfigurationError, match="Memory or an AsyncMemory"):
        MemoryMiddleware({"path": "/tmp/x"})
    with pytest.raises(ConfigurationError, match="Memory or an AsyncMemory"):
        build_memory_graph(None)


@RUNS
async def test_a_fact_stored_by_the_tool_is_not_written_back_again(facade, mode):
    script = [tool_call("add_memory", {"text": "Ana plays the cello."}, "c1"), AIMessage("Noted.")]
    agent = create_agent(
        RecordingChatModel(script), middleware=[MemoryMiddleware(facade)], context_schema=UserContext
    )
    await drive(
        agent,
        mode,
        {"messages": [HumanMessage("Remember that Ana plays the cello.")]},
        context=UserContext("ana"),
    )
    records = facade.get_all(user_id="ana", include_invalidated=True)
    records = await records if asyncio.iscoroutine(records) else records
    assert [r.text for r in records] == ["Ana plays the cello."]
    history = facade.history(records[0].id)
    history = await history if asyncio.iscoroutine(history) else history
    assert [e.event for e in history] == [EventType.ADD]  # stored once, never rewritten by the write-back


async def test_a_failed_tool_call_leaves_the_turn_to_the_write_back(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        script = [tool_call("add_memory", {"text": "   "}, "c1"), AIMessage("Sorry, that failed.")]
        model = RecordingChatModel(script)
        agent = create_agent(model, middleware=[MemoryMiddleware(memory)], context_schema=UserContext)
        result = await drive(
            agent, "ainvoke", {"messages": [HumanMessage("I live in Lisbon.")]}, context=UserContext("ivo")
        )
        tool_message = next(m for m in result["messages"] if isinstance(m, ToolMessage))
        assert tool_message.status == "error" and "empty" in tool_message.content
        assert [r.text for r in memory.get_all(user_id="ivo")] == ["Ivo lives in Lisbon."]  # nothing lost
        assert len(model.prompts) == 2


@RUNS
async def test_a_block_list_system_prompt_keeps_its_blocks_and_cache_control(facade, mode):
    add = facade.add("Hal lives in Oslo.", user_id="hal", infer=False)
    if asyncio.iscoroutine(add):
        await add
    cached = {"type": "text", "text": "You are a helpful assistant.", "cache_control": {"type": "ephemeral"}}
    model = RecordingChatModel([AIMessage("Oslo.")])
    agent = create_agent(
        model,
        system_prompt=SystemMessage([dict(cached)]),
        middleware=[MemoryMiddleware(facade)],
        context_schema=UserContext,
    )
    await drive(agent, mode, {"messages": [HumanMessage("Where do I live?")]}, context=UserContext("hal"))
    system = model.prompts[0][0]
    assert isinstance(system, SystemMessage) and isinstance(system.content, list)
    assert system.content[0] == cached
    assert system.content[1]["type"] == "text" and system.content[1]["text"].startswith(HEADER)
    assert "Hal lives in Oslo." in system.content[1]["text"] and len(system.content) == 2


async def test_a_string_system_prompt_gets_the_memories_appended(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as memory:
        memory.add("Hal lives in Oslo.", user_id="hal", infer=False)
        model = RecordingChatModel([AIMessage("Oslo.")])
        agent = create_agent(
            model,
            system_prompt="Be brief.",
            middleware=[MemoryMiddleware(memory)],
            context_schema=UserContext,
        )
        await drive(
            agent, "ainvoke", {"messages": [HumanMessage("Where do I live?")]}, context=UserContext("hal")
        )
        assert model.system_texts()[0].startswith(f"Be brief.\n\n{HEADER}\n- Hal lives in Oslo.")


# -- the memory subgraph ---------------------------------------------------------------------


@RUNS
async def test_subgraph_reads_blocks_recalls_per_user_and_survives_an_image_alone(facade, mode):
    graph = build_memory_graph(facade, context_schema=UserContext)
    eve = UserContext("eve")
    await drive(
        graph,
        mode,
        {"messages": [HumanMessage(text_blocks("I play the violin in an orchestra."))]},
        context=eve,
    )
    assert await stored(facade, user_id="eve") == ["Eve plays the violin in an orchestra."]

    out = await drive(
        graph,
        mode,
        {"messages": [HumanMessage(with_image("What do I play in the orchestra?", IMAGE_BLOCKS[1]))]},
        context=eve,
    )
    assert "Eve plays the violin in an orchestra." in out["memory_context"]

    history = [
        HumanMessage("What do I play in the orchestra?"),
        AIMessage("The violin."),
        HumanMessage([IMAGE_BLOCKS[0]]),
    ]
    out = await drive(graph, mode, {"messages": history}, context=eve)
    assert out["memory_context"] == ""
    # the photo (the same in both turns) is remembered once, without the question beside it
    assert await stored(facade, user_id="eve") == ["Eve plays the violin in an orchestra.", "Eve shared a photo."]

    other = await drive(
        graph,
        mode,
        {"messages": [HumanMessage(text_blocks("What do I play in the orchestra?"))]},
        context=UserContext("zed"),
    )
    assert other["memory_context"] == ""


async def test_background_write_back_with_an_async_memory(tmp_path):
    memory = AsyncMemory({"path": str(tmp_path / "bg")}, embeddings=HashingEmbeddings())
    try:
        graph = build_memory_graph(memory, background=True, debounce_seconds=0.1, infer=False)
        config = {"configurable": {"user_id": "dee", "thread_id": "t1"}}
        with blockbuster_ctx():
            await graph.ainvoke({"messages": [HumanMessage(text_blocks("first draft"))]}, config=config)
            await graph.ainvoke(
                {"messages": [HumanMessage(with_image("I collect vinyl records", IMAGE_BLOCKS[0]))]},
                config=config,
            )
        await asyncio.to_thread(graph.writer.flush)
        assert [r.text for r in await memory.get_all(user_id="dee")] == ["I collect vinyl records"]
    finally:
        await memory.aclose()


# -- tools and classic memory ----------------------------------------------------------------


async def test_tools_run_natively_async_per_user(tmp_path):
    memory = AsyncMemory({"path": str(tmp_path / "tools")}, embeddings=HashingEmbeddings())
    try:
        script = [
            tool_call("add_memory", {"text": "The user is allergic to peanuts."}, "c1"),
            AIMessage("Noted."),
            tool_call("search_memory", {"query": "allergic peanuts"}, "c2"),
            AIMessage("Peanuts."),
            tool_call("search_memory", {"query": "allergic peanuts"}, "c3"),
            AIMessage("Nothing."),
        ]
        agent = create_agent(
            RecordingChatModel(script), create_memory_tools(memory), context_schema=UserContext
        )
        ask = lambda text, user: drive(
            agent, "ainvoke", {"messages": [HumanMessage(text_blocks(text))]}, context=UserContext(user)
        )  # noqa: E731
        await ask("I'm allergic to peanuts, remember that.", "ana")
        found = await ask("What am I allergic to?", "ana")
        assert (
            "allergic to peanuts" in next(m for m in found["messages"] if isinstance(m, ToolMessage)).content
        )
        other = await ask("What am I allergic to?", "bob")
        assert [m.content for m in other["messages"] if isinstance(m, ToolMessage)] == [NO_MEMORIES]
        with pytest.raises(ConfigurationError):  # a sync call of a tool bound to an AsyncMemory
            create_memory_tools(memory)[0].invoke({"query": "x"})
    finally:
        await memory.aclose()


async def test_classic_memory_async_over_an_async_memory(tmp_path):
    memory = AsyncMemory({"path": str(tmp_path / "classic")}, embeddings=HashingEmbeddings())
    try:
        classic = LangMemBaseMemory(memory=memory, user_id="hal", infer=False)
        with blockbuster_ctx():
            await classic.asave_context({"input": "I play the oboe."}, {"output": "Lovely."})
            loaded = await classic.aload_memory_variables({"input": "oboe"})
        assert "I play the oboe." in loaded["memories"]
        with pytest.raises(ConfigurationError):
            classic.load_memory_variables({"input": "oboe"})
        await classic.aclear()
        assert await memory.get_all(user_id="hal") == []
    finally:
        await memory.aclose()


# -- the recall threshold ----------------------------------------------------------------------

QUESTIONS = ["What's 2+2?", "Where do I live?", "What music do I play?", "hello", "Do I like the sea?"]
FACTS = ["Fay lives in Porto.", "Fay loves surfing.", "Fay plays the cello.", "Fay's sister is called Ines."]


def fay_memory(path, minilm) -> Memory:
    memory = Memory({"path": str(path)}, embeddings=minilm)
    memory.add([{"role": "user", "content": fact} for fact in FACTS], user_id="fay", infer=False)
    return memory


@pytest.fixture(scope="module")
def scored_memory(tmp_path_factory, minilm):
    """Read only: the property test below never writes."""
    with fay_memory(tmp_path_factory.mktemp("scored"), minilm) as memory:
        yield memory


def recalled_lines(block: str | None) -> list[str]:
    return [line[2:].rsplit(" (", 1)[0] for line in (block or "").splitlines()[1:]]


def expected_lines(memory, question: str, threshold: float | None) -> list[str]:
    hits = memory.search(question, user_id="fay", limit=8)
    return [h.memory.text for h in hits if threshold is None or h.score >= threshold]


@settings(max_examples=40, deadline=None)
@given(question=st.sampled_from(QUESTIONS), threshold=st.one_of(st.none(), st.floats(0, 1)))
def test_recall_injects_exactly_the_memories_at_or_above_the_threshold(scored_memory, question, threshold):
    block = recall(
        scored_memory,
        [HumanMessage(question)],
        {"user_id": "fay"},
        limit=8,
        max_tokens=10_000,
        threshold=threshold,
    )
    assert recalled_lines(block) == expected_lines(scored_memory, question, threshold)


@pytest.mark.parametrize("threshold", ["default", None, 0.0])
async def test_every_integration_applies_its_threshold(tmp_path, minilm, threshold):
    scored_memory = fay_memory(tmp_path / "m", minilm)
    options = {} if threshold == "default" else {"threshold": threshold}
    wanted = RECALL_THRESHOLD if threshold == "default" else threshold
    question = "What's 2+2?"
    expected = expected_lines(scored_memory, question, wanted)
    model = RecordingChatModel([AIMessage("4")])
    agent = create_agent(
        model,
        middleware=[MemoryMiddleware(scored_memory, tools=False, **options)],
        context_schema=UserContext,
    )
    await agent.ainvoke({"messages": [HumanMessage(question)]}, context=UserContext("fay"))
    graph = build_memory_graph(scored_memory, context_schema=UserContext, **options)
    out = await graph.ainvoke({"messages": [HumanMessage(question)]}, context=UserContext("fay"))
    classic = LangMemBaseMemory(memory=scored_memory, user_id="fay", **options)
    loaded = classic.load_memory_variables({"input": question})["memories"]
    assert len(scored_memory.get_all(user_id="fay")) == len(FACTS)  # the write-backs: a question is no fact
    scored_memory.close()
    for block in (model.system_texts()[0], out["memory_context"], loaded):
        assert recalled_lines(block) == expected
    if threshold is None:
        assert len(expected) == len(FACTS)  # no floor: every memory comes along
    if threshold == "default":
        assert expected == []  # the case: arithmetic carries none of Fay's memories along
