"""What every integration injects before a model call: relevant memories within a token budget."""

from __future__ import annotations

from typing import Any, Sequence

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage

from ..memory import Memory
from ..records import SearchHit

HEADER = "Relevant long-term memories about the user (most relevant first):"


def estimate_tokens(text: str) -> int:
    """~4 characters a token: close enough for a budget, with no tokenizer dependency."""
    return max(1, len(text) // 4)


def latest_user_text(messages: Sequence[AnyMessage]) -> str | None:
    for message in reversed(messages):
        if isinstance(message, HumanMessage) and isinstance(message.content, str) and message.content.strip():
            return message.content
    return None


def _line(hit: SearchHit) -> str:
    return f"- {hit.memory.text} ({hit.memory.valid_from:%Y-%m-%d})"


def latest_turn(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The last human message and the assistant text after it: what a write-back stores."""
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return [m for m in messages[index:] if isinstance(m, (HumanMessage, AIMessage)) and m.content]
    return []


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


def recall(memory: Memory, messages: Sequence[AnyMessage], scope: dict[str, Any], *, limit: int, max_tokens: int) -> str | None:
    """The system-prompt block for the latest user turn, or None when nothing is relevant."""
    query = latest_user_text(messages)
    if query is None:
        return None
    return format_memories(select(memory.search(query, limit=limit, **scope), max_tokens))
