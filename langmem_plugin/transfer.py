"""Bulk import of conversation exports and export of one user's memories with their history.

Import reads JSON or JSONL and recognises four shapes: our own export (memories stored verbatim
again, so an export round-trips), a list of `{role, content, name?, timestamp?}` messages (or
`{"messages": [...]}`), LoCoMo samples, and ChatGPT's `conversations.json`. Everything is
written through the public `Memory.add`, in batches, so validation, scoping and the audit log
are the same as for any other call. What cannot be carried over is counted in the summary,
never dropped silently.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import ImportFormatError, InputTooLargeError, InvalidInputError
from .memory import Memory
from .pipeline.messages import parse_timestamp
from .records import Scope, utc_now

EXPORT_FORMAT = "langmem-plugin/export"
EXPORT_VERSION = 1
MEMORY_KEYS = frozenset({"id", "memory", "hash", "sources"})  # an item of our export, as written by export_items


@dataclass
class Batch:
    """Messages stored by one `Memory.add` call; `metadata` applies to all of them."""

    messages: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)
    verbatim: bool = False  # our own export: always stored as given, whatever --no-infer says


@dataclass
class ImportPlan:
    format: str
    batches: list[Batch]
    skipped_invalidated: int = 0  # exported memories that had stopped being true
    sources_not_carried: int = 0  # provenance beyond a memory's first source


@dataclass
class ImportSummary:
    format: str
    messages: int
    batches: int
    events: dict[str, int]
    skipped_invalidated: int
    sources_not_carried: int

    def lines(self) -> list[str]:
        events = ", ".join(f"{count} {event}" for event, count in sorted(self.events.items())) or "no change"
        lines = [f"imported {self.messages} messages ({self.format}) in {self.batches} batches: {events}"]
        if self.skipped_invalidated:
            lines.append(
                f"skipped {self.skipped_invalidated} invalidated memories: the public API stores current facts only"
            )
        if self.sources_not_carried:
            lines.append(f"{self.sources_not_carried} extra provenance entries were not carried (one source per memory)")
        return lines


# -- reading ---------------------------------------------------------------------------------


def read_document(path: str) -> Any:
    """A JSON document, or JSONL (one JSON value a line) read as a list; '-' reads stdin."""
    import sys

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as whole_error:
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ImportFormatError(f"{path} is neither JSON ({whole_error}) nor JSONL (line {number}: {exc})") from exc
        return items


def _day(message: dict[str, Any]) -> date | None:
    stamp = message.get("timestamp", message.get("created_at"))
    return None if stamp is None else parse_timestamp(stamp, "message timestamp").date()


def _chunks(messages: list[dict[str, Any]], size: int) -> list[Batch]:
    """At most `size` messages a batch, and never two days (UTC) in one: the manager reconciles a
    batch's facts with what was stored before it, so a later session's correction ("I moved to
    Lisbon") must arrive in a later batch to invalidate the earlier fact."""
    batches: list[Batch] = []
    for message in messages:
        last = batches[-1].messages if batches else None
        if last and len(last) < size and _day(last[-1]) == _day(message):
            last.append(message)
        else:
            batches.append(Batch([message]))
    return batches


def _exported_memories(items: list[dict[str, Any]]) -> ImportPlan:
    batches: list[Batch] = []
    skipped = not_carried = 0
    for item in items:
        if item.get("valid_to"):
            skipped += 1
            continue
        sources = item.get("sources") or []
        first = sources[0] if sources else {}
        message = {"role": first.get("role", "user"), "content": item["memory"], "timestamp": item.get("valid_from")}
        message.update({key: first[key] for key in ("name", "message_id", "turn_id") if first.get(key)})
        if "message_id" in message:
            message["id"] = message.pop("message_id")
        not_carried += max(len(sources) - 1, 0)
        metadata = item.get("metadata") or {}
        if batches and batches[-1].metadata == metadata:
            batches[-1].messages.append(message)
        else:
            batches.append(Batch([message], metadata, verbatim=True))
    return ImportPlan("langmem-plugin export", batches, skipped, not_carried)


def _locomo(samples: list[dict[str, Any]]) -> ImportPlan:
    from .bench.locomo_data import parse_conversation

    batches = []
    for sample in samples:
        try:
            conversation = parse_conversation(sample)
        except (KeyError, TypeError) as exc:
            raise ImportFormatError(f"a LoCoMo sample lacks {exc}") from exc
        for session in conversation.sessions:
            messages = [
                {
                    "role": "user",
                    "name": turn.speaker,
                    "content": " ".join(filter(None, [turn.text, turn.image_caption and f"[shares a photo: {turn.image_caption}]"])),
                    "id": f"{conversation.sample_id}:{turn.dia_id}",
                    "timestamp": session.timestamp,
                }
                for turn in session.turns
            ]
            if messages:
                batches.append(Batch(messages))
    return ImportPlan("LoCoMo", batches)


def _chatgpt_messages(conversation: dict[str, Any]) -> list[dict[str, Any]]:
    messages = []
    for node in (conversation.get("mapping") or {}).values():
        message = (node or {}).get("message") or {}
        role = (message.get("author") or {}).get("role")
        parts = (message.get("content") or {}).get("parts") or []
        text = "\n".join(part for part in parts if isinstance(part, str)).strip()
        if role not in ("user", "assistant") or not text:
            continue
        when = message.get("create_time") or conversation.get("create_time")
        messages.append({"role": role, "content": text, "id": message.get("id"), "timestamp": when})
    return sorted(messages, key=lambda m: m["timestamp"] or 0)


def _chatgpt(conversations: list[dict[str, Any]], batch_size: int) -> ImportPlan:
    batches = [batch for c in conversations for batch in _chunks(_chatgpt_messages(c), batch_size)]
    return ImportPlan("ChatGPT export", batches)


def plan_import(document: Any, batch_size: int) -> ImportPlan:
    """Recognise the document's shape and cut it into add() batches."""
    if batch_size < 1:
        raise InvalidInputError("batch size must be at least 1")
    if isinstance(document, dict):
        if document.get("format") == EXPORT_FORMAT:
            if document.get("version") != EXPORT_VERSION:
                raise ImportFormatError(f"export version {document.get('version')!r} is not {EXPORT_VERSION}")
            return _exported_memories(document.get("memories") or [])
        if isinstance(document.get("messages"), list):
            document = document["messages"]
        else:
            document = [document]
    if not isinstance(document, list) or not document:
        raise ImportFormatError("nothing to import: expected a non-empty JSON list or object")
    if not all(isinstance(item, dict) for item in document):
        raise ImportFormatError("every item must be a JSON object")
    first = document[0]
    if MEMORY_KEYS <= set(first):
        return _exported_memories(document)
    if "speaker_a" in first or "conversation" in first:
        return _locomo(document)
    if "mapping" in first:
        return _chatgpt(document, batch_size)
    if "content" in first:
        return ImportPlan("messages", _chunks(document, batch_size))
    raise ImportFormatError(
        f"unrecognised items (keys {sorted(first)[:8]}): expected messages with 'role' and 'content', "
        "a langmem-plugin export, LoCoMo samples or a ChatGPT conversations.json"
    )


def run_import(
    memory: Memory, plan: ImportPlan, scope: Scope, infer: bool, advance: Callable[[int], None] = lambda _: None
) -> ImportSummary:
    """Store every batch through Memory.add; `advance` is told how many messages each batch held."""
    events: Counter[str] = Counter()
    ids = scope.model_dump()
    for batch in plan.batches:
        for operation in memory.add(batch.messages, **ids, metadata=batch.metadata, infer=infer and not batch.verbatim):
            events[operation.event.value] += 1
        advance(len(batch.messages))
    return ImportSummary(
        format=plan.format,
        messages=sum(len(b.messages) for b in plan.batches),
        batches=len(plan.batches),
        events=dict(events),
        skipped_invalidated=plan.skipped_invalidated,
        sources_not_carried=plan.sources_not_carried,
    )


# -- export ----------------------------------------------------------------------------------


def export_items(memory: Memory, scope: Scope, include_invalidated: bool) -> Iterator[dict[str, Any]]:
    """Each memory of the scope as Mem0's item (to_dict) plus its full history, oldest first."""
    ids = scope.model_dump()
    limit = memory.config.limits.max_limit
    records = memory.get_all(**ids, limit=limit, include_invalidated=include_invalidated)
    if len(records) >= limit:
        raise InputTooLargeError(
            f"the scope holds {limit} or more memories, more than one listing returns (limits.max_limit); "
            "raise it (LANGMEM_LIMITS__MAX_LIMIT) to export them all"
        )
    for record in sorted(records, key=lambda r: (r.valid_from, r.created_at)):
        history = [event.to_dict() for event in memory.history(record.id, **ids)]
        yield {**record.to_dict(), "history": history}


def export_document(memory: Memory, scope: Scope, include_invalidated: bool) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": utc_now().astimezone(timezone.utc).isoformat(),
        "scope": scope.as_filter(),
        "memories": list(export_items(memory, scope, include_invalidated)),
    }
