"""AsyncMemory runs the same operations; every method is exercised here."""

import asyncio

import pytest

from langmem_plugin import EventType, MemoryNotFoundError, MissingScopeError


async def test_async_round_trip(async_memory):
    ops = await async_memory.add({"role": "user", "content": "I live in Oslo. I love skiing.", "name": "Ola"}, user_id="ola")
    assert [op.event for op in ops] == [EventType.ADD, EventType.ADD]
    hits = await async_memory.search("winter sports", user_id="ola", limit=1)
    assert hits[0].memory.text == "Ola loves skiing."
    record = await async_memory.get(ops[0].memory.id)
    assert record.text == "Ola lives in Oslo."
    assert len(await async_memory.get_all(user_id="ola")) == 2
    updated = await async_memory.update(record.id, "Ola lives in Bergen.")
    assert updated.text == "Ola lives in Bergen."
    assert [e.event for e in await async_memory.history(record.id)] == [EventType.ADD, EventType.UPDATE]
    graph = await async_memory.related(["Ola"], user_id="ola")
    assert "Bergen" in {e.name for e in graph.entities}
    await async_memory.set_profile({"sport": "skiing"}, user_id="ola")
    assert await async_memory.get_profile(user_id="ola") == {"sport": "skiing"}
    await async_memory.delete(record.id)
    with pytest.raises(MemoryNotFoundError):
        await async_memory.get(record.id)
    assert await async_memory.delete_all(user_id="ola") == 1
    await async_memory.reset()
    assert await async_memory.get_all(user_id="ola") == []


async def test_async_errors_are_typed(async_memory):
    with pytest.raises(MissingScopeError):
        await async_memory.add("no scope here")
    with pytest.raises(MemoryNotFoundError):
        await async_memory.history("missing")


async def test_concurrent_async_adds_lose_nothing(async_memory):
    texts = [f"note number {i} about topic {i % 7}" for i in range(40)]
    await asyncio.gather(*(async_memory.add(t, user_id=f"user-{i % 4}", infer=False) for i, t in enumerate(texts)))
    stored = []
    for user in range(4):
        stored += [r.text for r in await async_memory.get_all(user_id=f"user-{user}")]
    assert sorted(stored) == sorted(texts)
