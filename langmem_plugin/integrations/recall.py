"""What every integration does around a model call, written once for sync and async runs: recall
the memories relevant to the latest user turn within a token budget, and pick what a finished
turn writes back. The steps yield their memory calls (calls.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage

from ..content import message_parts, message_text
from ..parts import MediaPart, TextPart, shared_note
from ..records import SearchHit
from .calls import AnyMemory, Step, call, run
from .tools import WRITING_TOOLS

HEADER = "Relevant long-term memories about the user (most relevant first):"
# The least relevance (SearchHit.score, 0-1) a memory needs to be injected into a prompt: below
# it, a question about something else ("What's 2+2?") would carry unrelated memories along.
RECALL_THRESHOLD = 0.3


def estimate_tokens(text: str) -> int:
    """~4 characters a token: close enough for a budget, with no tokenizer dependency."""
    return max(1, len(text) // 4)


def _latest_human(messages: Sequence[AnyMessage]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return index
    return None


def latest_user_text(messages: Sequence[AnyMessage]) -> str | None:
    """What recall searches with: the text of the latest human message, else (an image alone) the
    captions and file names of what it shared; None when it has neither: recall then finds
    nothing rather than searching with an older message."""
    index = _latest_human(messages)
    if index is None:
        return None
    parts = message_parts(messages[index])
    words = [p.text for p in parts if isinstance(p, TextPart)] or [
        said for p in parts if isinstance(p, MediaPart) for said in (p.caption, p.name) if said
    ]
    text = "\n".join(words).strip()
    return text or None


def latest_turn(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """What a write-back stores of the latest turn: the last human message, with its text and
    what it shared (images, files, audio), and the assistant text after it. Tool calls and tool
    results are no user facts and are left out. Nothing when the human message carries neither
    text nor attachments, or when the agent's memory tools already stored, changed or deleted
    memories during the turn (it chose what to keep; storing the turn again would duplicate it)."""
    start = _latest_human(messages)
    if start is None or not message_parts(messages[start]):
        return []
    turn = messages[start:]
    if any(isinstance(m, ToolMessage) and m.name in WRITING_TOOLS and m.status != "error" for m in turn):
        return []
    replies = [(m, message_text(m).strip()) for m in turn[1:] if isinstance(m, AIMessage)]
    return [turn[0], *(m.model_copy(update={"content": text}) for m, text in replies if text)]


def _line(hit: SearchHit) -> str:
    return f"- {hit.memory.text} ({hit.memory.valid_from:%Y-%m-%d}){shared_note(hit.memory.attachments)}"


def select(hits: list[SearchHit], max_tokens: int) -> list[SearchHit]:
    """Drop repeated texts, keep relevance order, stop at the token budget."""
    chosen, seen, used = [], set(), estimate_tokens(HEADER)
    for hit in hits:
        key = " ".join(hit.memory.text.lower().split())
        cost = estimate_tokens(_line(hit) + "\n")
        if key in seen or used + cost > max_tokens:
            continue
        seen.add(key)
        chosen.append(hit)
        used += cost
    return chosen


def format_memories(hits: list[SearchHit]) -> str | None:
    if not hits:
        return None
    lines = [_line(h) for h in hits]
    return "\n".join([HEADER, *lines])


def with_memories(system: SystemMessage | None, block: str) -> SystemMessage:
    """The system message of one model call with the memory block appended. Block-list content
    keeps every block of the caller's (and their `cache_control`); the memories are one more."""
    if system is None:
        return SystemMessage(block)
    if isinstance(system.content, str):
        content: Any = f"{system.content}\n\n{block}" if system.content else block
    else:
        content = [*system.content, {"type": "text", "text": block}]
    return system.model_copy(update={"content": content})


def search_step(
    messages: Sequence[AnyMessage], scope: dict[str, Any], *, limit: int, threshold: float | None
) -> Step[list[SearchHit]]:
    """The memories relevant to the latest user turn, best first."""
    query = latest_user_text(messages)
    if query is None:
        return []
    return (yield call("search", query, limit=limit, threshold=threshold, **scope))


def recall_step(
    messages: Sequence[AnyMessage],
    scope: dict[str, Any],
    *,
    limit: int,
    max_tokens: int,
    threshold: float | None,
) -> Step[str | None]:
    hits = yield from search_step(messages, scope, limit=limit, threshold=threshold)
    return format_memories(select(hits, max_tokens))


def write_back_step(messages: Sequence[AnyMessage], scope: dict[str, Any], *, infer: bool) -> Step[None]:
    turn = latest_turn(messages)
    if turn:
        yield call("add", turn, infer=infer, **scope)


def recall(
    memory: AnyMemory,
    messages: Sequence[AnyMessage],
    scope: dict[str, Any],
    *,
    limit: int,
    max_tokens: int,
    threshold: float | None = RECALL_THRESHOLD,
) -> str | None:
    """The system-prompt block for the latest user turn, or None when nothing is relevant (the
    integrations' async paths drive `recall_step` with `calls.arun`)."""
    return run(memory, recall_step(messages, scope, limit=limit, max_tokens=max_tokens, threshold=threshold))
