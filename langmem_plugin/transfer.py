"""Bulk import of conversation exports and export of one user's memories with their history.

Import reads JSON or JSONL and recognises five shapes: our own export (memories stored verbatim
again, so an export round-trips), Mem0's `get_all()` output (`{"results": [...]}` or a list of
`{id, memory, ...}`, stored verbatim), a list of `{role, content, name?, timestamp?}` messages (or
`{"messages": [...]}`), LoCoMo samples, and ChatGPT's `conversations.json`.

An import is all or nothing as far as its input goes: the file is read within a size bound,
every message is validated, and every memory carrying its own scope ids is checked against the
import's scope before the first write; an error names the message's place in the file (`line 5`,
`message 5`, `result 5`, ...). Everything is then written through the public `Memory.add`, in
batches, so validation, scoping and the audit log are the same as for any other call. If storing
fails part-way (a server goes away), ImportInterruptedError says which messages are stored and
where to resume (`start`). What cannot be carried over is counted in the summary, never dropped
silently.
"""

from __future__ import annotations

import base64
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from .config import LimitsConfig, PrivacyConfig
from .errors import (
    ImportFormatError,
    ImportInterruptedError,
    InputTooLargeError,
    InvalidInputError,
    LangMemError,
)
from .locomo_format import parse_conversation
from .memory import Memory
from .operations import add_as_given
from .pipeline.messages import normalize_messages, parse_timestamp
from .pipeline.validation import check_metadata, load_json
from .records import SCOPE_FIELDS, Scope, utc_now

EXPORT_FORMAT = "langmem-plugin/export"
EXPORT_VERSION = 1
# an item of our export, as written by export_items
MEMORY_KEYS = frozenset({"id", "memory", "hash", "sources"})
MEM0_KEYS = frozenset({"id", "memory"})  # an item of Mem0's get_all() / search() results
# Fields of a Mem0 item that the import carries (or derives again: hash, updated_at, a search's score).
MEM0_CARRIED = frozenset(
    {"id", "memory", "hash", "metadata", "created_at", "updated_at", "score", *SCOPE_FIELDS}
)
DEFAULT_MAX_MIB = 256
READ_CHUNK = 1 << 20


@dataclass
class Document:
    """A parsed import file; `lines[i]` is the line its top-level item i came from (JSONL only)."""

    value: Any
    name: str = "the document"
    lines: list[int] | None = None

    def place(self, index: int, noun: str) -> str:
        """Where top-level item `index` is in the file, for error messages."""
        return f"line {self.lines[index]}" if self.lines is not None else f"{noun} {index + 1}"


@dataclass
class Batch:
    """Messages stored by one `Memory.add` call; `metadata` applies to all of them."""

    messages: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)
    verbatim: bool = False  # our export and Mem0's: always stored as given, whatever --no-infer says
    places: list[str] = field(default_factory=list)  # where each message is in the file
    expires_at: datetime | None = None  # an exported memory's expiry, kept on import


@dataclass
class ImportPlan:
    format: str
    batches: list[Batch]
    skipped_invalidated: int = 0  # exported memories that had stopped being true
    skipped_expired: int = 0  # exported memories whose expiry had passed by the import
    sources_not_carried: int = 0  # provenance beyond a memory's first source
    skipped_empty: int = 0  # assistant / system / tool messages without text (tool calls): nothing to store
    fields_not_carried: Counter[str] = field(default_factory=Counter)  # Mem0 item fields with no equivalent

    @property
    def messages(self) -> int:
        return sum(len(b.messages) for b in self.batches)


@dataclass
class ImportSummary:
    format: str
    messages: int
    batches: int
    events: dict[str, int]
    skipped_invalidated: int
    sources_not_carried: int
    skipped_empty: int = 0
    fields_not_carried: dict[str, int] = field(default_factory=dict)
    started_at: int = 1  # the first message stored by this run (--start)
    skipped_expired: int = 0

    def lines(self) -> list[str]:
        events = ", ".join(f"{count} {event}" for event, count in sorted(self.events.items())) or "no change"
        resumed = f", from message {self.started_at}" if self.started_at > 1 else ""
        lines = [
            f"imported {self.messages} messages ({self.format}{resumed}) in {self.batches} batches: {events}"
        ]
        if self.skipped_invalidated:
            lines.append(
                f"skipped {self.skipped_invalidated} invalidated memories: "
                "the public API stores current facts only"
            )
        if self.skipped_expired:
            lines.append(f"skipped {self.skipped_expired} memories whose expiry had passed")
        if self.sources_not_carried:
            lines.append(
                f"{self.sources_not_carried} extra provenance entries were not carried "
                "(one source per memory)"
            )
        if self.skipped_empty:
            lines.append(f"skipped {self.skipped_empty} assistant / system / tool messages without text")
        if self.fields_not_carried:
            fields = ", ".join(f"{name} ({count})" for name, count in sorted(self.fields_not_carried.items()))
            lines.append(f"fields with no equivalent were not carried: {fields}")
        return lines


# -- reading ---------------------------------------------------------------------------------


def read_bounded(stream: IO[bytes], name: str, max_bytes: int) -> str:
    """The stream's UTF-8 text, refusing more than `max_bytes` (an endless stream such as
    /dev/zero included) and NUL bytes, which JSON text never holds, as soon as they are read."""
    data = bytearray()
    while chunk := stream.read(READ_CHUNK):
        nul = chunk.find(b"\0")
        if nul >= 0:
            raise ImportFormatError(f"{name} is not JSON text: a NUL byte at offset {len(data) + nul}")
        data += chunk
        if len(data) > max_bytes:
            raise InputTooLargeError(
                f"{name} is larger than {max_bytes // 2**20} MiB; "
                "raise the bound (import --max-mib) to read it"
            )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"{name} is not UTF-8 text: {exc}") from None


def read_document(path: str, max_bytes: int = DEFAULT_MAX_MIB * 2**20) -> Document:
    """A JSON document, or JSONL (one JSON value a line) read as a list; '-' reads stdin."""
    name = "stdin" if path == "-" else path
    try:
        if path == "-":
            text = read_bounded(sys.stdin.buffer, name, max_bytes)
        else:
            with Path(path).open("rb") as stream:
                text = read_bounded(stream, name, max_bytes)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from exc
    try:
        return Document(load_json(text, name, ImportFormatError), name)
    except ImportFormatError as whole_error:
        if whole_error.__cause__ is None:
            raise  # valid JSON, refused for its nesting
        items, lines = [], []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(load_json(line, f"line {number}", ImportFormatError))
                except ImportFormatError as exc:
                    raise ImportFormatError(
                        f"{name} is neither JSON ({whole_error}) nor JSONL ({exc})"
                    ) from None
                lines.append(number)
        return Document(items, name, lines)


# -- planning --------------------------------------------------------------------------------


def _day(message: dict[str, Any]) -> date | None:
    stamp = message.get("timestamp", message.get("created_at"))
    return None if stamp is None else parse_timestamp(stamp, "message timestamp").date()


def _chunks(messages: list[dict[str, Any]], places: list[str], size: int) -> list[Batch]:
    """At most `size` messages a batch, and never two days (UTC) in one: the manager reconciles a
    batch's facts with what was stored before it, so a later session's correction ("I moved to
    Lisbon") must arrive in a later batch to invalidate the earlier fact."""
    batches: list[Batch] = []
    previous_day = None
    for message, place in zip(messages, places, strict=True):
        try:
            day = _day(message)
        except InvalidInputError as exc:
            raise _at(place, exc) from exc
        last = batches[-1] if batches else None
        if last and len(last.messages) < size and previous_day == day:
            last.messages.append(message)
            last.places.append(place)
        else:
            batches.append(Batch([message], places=[place]))
        previous_day = day
    return batches


def _add_verbatim(
    batches: list[Batch],
    message: dict[str, Any],
    metadata: dict[str, Any],
    place: str,
    expires_at: datetime | None = None,
) -> None:
    """Consecutive memories with the same metadata and expiry share one add() call."""
    if batches and batches[-1].metadata == metadata and batches[-1].expires_at == expires_at:
        batches[-1].messages.append(message)
        batches[-1].places.append(place)
    else:
        batches.append(Batch([message], metadata, verbatim=True, places=[place], expires_at=expires_at))


def _owner(item: dict[str, Any], place: str, scope: Scope | None) -> None:
    """A memory that names its owner is imported only into that very scope."""
    ids = {key: item[key] for key in SCOPE_FIELDS if item.get(key) is not None}
    if scope is not None and ids and ids != scope.as_filter():
        given = ", ".join(f"--{key.replace('_', '-')} {value}" for key, value in ids.items())
        raise ImportFormatError(
            f"{place} belongs to {ids}, not to the import's scope {scope.as_filter()}: import it with {given}"
        )


def _exported_memories(document: Document, items: list[Any], scope: Scope | None) -> ImportPlan:
    batches: list[Batch] = []
    skipped = not_carried = expired = 0
    now = utc_now()
    for index, item in enumerate(items):
        place = document.place(index, "memory")
        if not isinstance(item, dict) or not isinstance(item.get("memory"), str):
            raise ImportFormatError(f"{place}: an exported memory needs its text in 'memory'")
        _owner(item, place, scope)
        if item.get("valid_to"):
            skipped += 1
            continue
        try:
            expires_at = None if item.get("expires_at") is None else parse_timestamp(item["expires_at"])
        except InvalidInputError as exc:
            raise _at(place, exc) from exc
        if expires_at is not None and expires_at <= now:
            expired += 1
            continue
        sources = item.get("sources") or []
        first = sources[0] if isinstance(sources, list) and sources and isinstance(sources[0], dict) else {}
        shared = item.get("attachments") or []
        if not isinstance(shared, list) or not all(isinstance(a, dict) for a in shared):
            raise ImportFormatError(f"{place}: 'attachments' must be a list of objects")
        message = {
            "role": first.get("role", "user"),
            "content": [{"type": "text", "text": item["memory"]}, *map(attachment_block, shared)]
            if shared
            else item["memory"],
            "timestamp": item.get("valid_from"),
        }
        message.update({key: first[key] for key in ("name", "message_id", "turn_id") if first.get(key)})
        if "message_id" in message:
            message["id"] = message.pop("message_id")
        not_carried += max(len(sources) - 1, 0) if isinstance(sources, list) else 0
        _add_verbatim(batches, message, item.get("metadata") or {}, place, expires_at)
    return ImportPlan("langmem-plugin export", batches, skipped, expired, not_carried)


def attachment_block(exported: dict[str, Any]) -> dict[str, Any]:
    """An exported attachment as the v1 content block that stores it again (content.py reads the
    file name from `filename` and the caption from `alt`)."""
    source = {key: exported[key] for key in ("base64", "url", "file_id", "mime_type") if exported.get(key)}
    named = {"filename": exported.get("name"), "alt": exported.get("caption")}
    return {"type": exported.get("kind"), **source, **{k: v for k, v in named.items() if v}}


def _mem0_memories(document: Document, items: list[Any], noun: str, scope: Scope | None) -> ImportPlan:
    """Mem0's memories, each stored verbatim as said when Mem0 created it; its Mem0 id becomes
    the message id of its provenance."""
    plan = ImportPlan("Mem0 memories", [])
    for index, item in enumerate(items):
        place = document.place(index, noun)
        if not isinstance(item, dict) or not isinstance(item.get("memory"), str):
            raise ImportFormatError(f"{place}: a Mem0 memory needs its text in 'memory'")
        _owner(item, place, scope)
        plan.fields_not_carried.update(key for key in item if key not in MEM0_CARRIED)
        message = {
            "role": "user",
            "content": item["memory"],
            "id": item.get("id"),
            "timestamp": item.get("created_at"),
        }
        _add_verbatim(plan.batches, message, item.get("metadata") or {}, place)
    return plan


def _locomo(samples: list[dict[str, Any]]) -> ImportPlan:
    batches = []
    for index, sample in enumerate(samples):
        try:
            conversation = parse_conversation(sample)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ImportFormatError(
                f"LoCoMo sample {index + 1} is malformed: {type(exc).__name__} {exc}"
            ) from exc
        for session in conversation.sessions:
            messages = [
                {
                    "role": "user",
                    "name": turn.speaker,
                    "content": turn.content,
                    "id": f"{conversation.sample_id}:{turn.dia_id}",
                    "timestamp": session.timestamp,
                }
                for turn in session.turns
            ]
            if messages:
                places = [f"sample {index + 1}, turn {turn.dia_id}" for turn in session.turns]
                batches.append(Batch(messages, places=places))
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
    batches = []
    for index, conversation in enumerate(conversations):
        try:
            messages = _chatgpt_messages(conversation)
        except (AttributeError, TypeError) as exc:
            raise ImportFormatError(f"ChatGPT conversation {index + 1} is malformed: {exc}") from exc
        places = [f"conversation {index + 1}, message {m['id']}" for m in messages]
        batches.extend(_chunks(messages, places, batch_size))
    return ImportPlan("ChatGPT export", batches)


def _shape(document: Document, scope: Scope | None, batch_size: int) -> ImportPlan:
    """Recognise the document's shape and cut it into add() batches."""
    value = document.value
    noun = "message"
    if isinstance(value, dict):
        if value.get("format") == EXPORT_FORMAT:
            if value.get("version") != EXPORT_VERSION:
                raise ImportFormatError(f"export version {value.get('version')!r} is not {EXPORT_VERSION}")
            memories = value.get("memories") or []
            if not isinstance(memories, list):
                raise ImportFormatError("an export's 'memories' must be a list")
            return _exported_memories(Document(memories, document.name), memories, scope)
        results = value.get("results")
        if isinstance(results, list) and results:
            if isinstance(results[0], dict) and set(results[0]) >= MEMORY_KEYS:
                # our drop-in's get_all(): its items carry provenance and valid time
                return _exported_memories(Document(results, document.name), results, scope)
            plan = _mem0_memories(Document(results, document.name), results, "result", scope)
            relations = value.get("relations")
            if isinstance(relations, list) and relations:
                # Mem0's graph triples: memories stored verbatim bring no relations
                plan.fields_not_carried["relations"] += len(relations)
            return plan
        if isinstance(value.get("messages"), list):
            document = Document(value["messages"], document.name)
        else:
            document = Document([value], document.name)
    items = document.value
    if not isinstance(items, list) or not items:
        raise ImportFormatError("nothing to import: expected a non-empty JSON list or object")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ImportFormatError(f"{document.place(index, 'item')}: every item must be a JSON object")
    first = items[0]
    if set(first) >= MEMORY_KEYS:
        return _exported_memories(document, items, scope)
    if set(first) >= MEM0_KEYS and "content" not in first:
        return _mem0_memories(document, items, "memory", scope)
    if "speaker_a" in first or "conversation" in first:
        return _locomo(items)
    if "mapping" in first:
        return _chatgpt(items, batch_size)
    if "content" in first:
        return ImportPlan(
            "messages", _chunks(items, [document.place(i, noun) for i in range(len(items))], batch_size)
        )
    raise ImportFormatError(
        f"unrecognised items (keys {sorted(first)[:8]}): expected messages with 'role' and 'content', "
        "a langmem-plugin export, Mem0's get_all() results, LoCoMo samples or a ChatGPT conversations.json"
    )


def _at(place: str, error: InvalidInputError) -> InvalidInputError:
    """The same error, naming where the message is in the file instead of its index in a call."""
    text = str(error)
    text = f"{place}{text[len('message 0') :]}" if text.startswith("message 0") else f"{place}: {text}"
    return type(error)(text)


def _is_empty_reply(message: dict[str, Any], error: InvalidInputError) -> bool:
    """An assistant / system / tool message without text (a tool call) carries nothing to store."""
    role = str(message.get("role") or "user").lower()
    return role not in ("user", "human") and str(error) == "every message is empty"


def _validated(plan: ImportPlan, limits: LimitsConfig, privacy: PrivacyConfig) -> ImportPlan:
    """Check every message and metadata as add() will, privacy policy included, before anything
    is stored; messages that carry nothing are dropped and counted."""
    batches = []
    for batch in plan.batches:
        try:
            check_metadata(limits, batch.metadata)
        except InvalidInputError as exc:
            raise _at(batch.places[0], exc) from exc
        kept = Batch([], batch.metadata, batch.verbatim, [], batch.expires_at)
        for message, place in zip(batch.messages, batch.places, strict=True):
            try:
                normalize_messages([message], limits, privacy)
            except InvalidInputError as exc:
                if _is_empty_reply(message, exc):
                    plan.skipped_empty += 1
                    continue
                raise _at(place, exc) from exc
            kept.messages.append(message)
            kept.places.append(place)
        if kept.messages:
            batches.append(kept)
    plan.batches = batches
    return plan


def plan_import(
    document: Document | Any,
    batch_size: int,
    limits: LimitsConfig | None = None,
    scope: Scope | None = None,
    privacy: PrivacyConfig | None = None,
) -> ImportPlan:
    """Recognise the document's shape, cut it into add() batches and validate every message (and,
    given the import's scope, the owner every memory names) before anything is stored."""
    if batch_size < 1:
        raise InvalidInputError("batch size must be at least 1")
    if not isinstance(document, Document):
        document = Document(document)
    plan = _shape(document, scope, batch_size)
    return _validated(plan, limits or LimitsConfig(), privacy or PrivacyConfig())


def run_import(
    memory: Memory,
    plan: ImportPlan,
    scope: Scope,
    infer: bool,
    advance: Callable[[int], None] = lambda _: None,
    start: int = 1,
) -> ImportSummary:
    """Store every batch through Memory.add, from the `start`-th message of the plan (1-based);
    `advance` is told how many messages each batch held."""
    if start < 1 or start > max(plan.messages, 1):
        raise InvalidInputError(f"start must be between 1 and {plan.messages}, got {start}")
    events: Counter[str] = Counter()
    ids = scope.model_dump()
    position = stored = batches = 0
    for batch in plan.batches:
        skip = min(max(start - 1 - position, 0), len(batch.messages))
        position += len(batch.messages)
        if skip == len(batch.messages):
            continue
        messages = batch.messages[skip:]
        try:
            if batch.verbatim:  # memories as they were: a file they carry is not read into more
                operations = add_as_given(
                    memory.services, messages, scope, batch.metadata, False, None, batch.expires_at
                )
            else:
                operations = memory.add(
                    messages, **ids, metadata=batch.metadata, infer=infer, expires_at=batch.expires_at
                )
        except LangMemError as exc:
            first = position - len(messages) + 1
            kept = (
                f"messages {start}-{first - 1} are stored"
                if first > start
                else "nothing of this run is stored"
            )
            raise ImportInterruptedError(
                f"storing {batch.places[skip]} (message {first} of {plan.messages}) failed: {exc}; {kept}: "
                f"import again with --start {first} to add the rest",
                first,
            ) from exc
        events.update(operation.event.value for operation in operations)
        stored += len(messages)
        batches += 1
        advance(len(messages))
    return ImportSummary(
        format=plan.format,
        messages=stored,
        batches=batches,
        events=dict(events),
        skipped_invalidated=plan.skipped_invalidated,
        skipped_expired=plan.skipped_expired,
        sources_not_carried=plan.sources_not_carried,
        skipped_empty=plan.skipped_empty,
        fields_not_carried=dict(plan.fields_not_carried),
        started_at=start,
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
        item = record.to_dict()
        for exported, attachment in zip(item["attachments"], record.attachments, strict=True):
            if attachment.sha256 is not None:  # the bytes travel with the export
                data = memory.get_attachment(attachment.sha256, **ids)
                exported["base64"] = base64.b64encode(data).decode("ascii")
        yield {**item, "history": history}


def export_document(memory: Memory, scope: Scope, include_invalidated: bool) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": utc_now().astimezone(UTC).isoformat(),
        "scope": scope.as_filter(),
        "memories": list(export_items(memory, scope, include_invalidated)),
    }
