"""A memory's history as text, with its two clocks: when the system learned each change, and when
the fact itself was true (the CLI's `history` and the demo print it)."""

from __future__ import annotations

from datetime import UTC, datetime

from .parts import shared_note
from .records import EventType, HistoryEvent, MemoryRecord


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "now"


def _said(event: HistoryEvent) -> str:
    moments = sorted({s.timestamp for s in event.sources})
    return f"  [said {', '.join(_when(m) for m in moments)}]" if moments else ""


def _change(event: HistoryEvent) -> str:
    if event.new_text is None:
        return f"{event.old_text!r} " + (
            "stopped being true" if event.event is EventType.INVALIDATE else "deleted"
        )
    return f"{event.old_text!r} -> {event.new_text!r}" if event.old_text else repr(event.new_text)


def history_lines(memory_id: str, record: MemoryRecord | None, events: list[HistoryEvent]) -> list[str]:
    """Two clocks: when the system learned each change, and when the fact itself was true."""
    if record is None:
        lines = [f"memory {memory_id}: deleted; its history:"]
    else:
        until = _when(record.valid_to) if record.valid_to else "now (still valid)"
        lines = [
            f"memory {record.id}: {record.text}{shared_note(record.attachments)}",
            f"  true from {_when(record.valid_from)} until {until}",
        ]
    lines.append("  learned at (system time)  event       by")
    for e in events:
        change = _change(e)
        lines.append(f"  {_when(e.at):<25} {e.event.value:<11} {e.actor}: {change}{_said(e)}")
    return lines
