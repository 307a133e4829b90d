"""The inspector's plots, drawn on the server as SVG bar charts (no script, no library): counts
of memories over time, by category and by source, and the bars that draw them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ...records import MemoryRecord

NO_CATEGORY = "(no category)"
NO_SOURCE = "(no source)"
# metadata key of a memory's category, as Mem0's items name it
CATEGORY_KEY = "category"
MAX_BARS = 12
OTHERS = "(others)"


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    width: float
    height: float


def over_time(records: Iterable[MemoryRecord]) -> list[tuple[str, int]]:
    """Memories by the day they were learned, oldest first; by month when they span more than 31 days."""
    days = Counter(record.created_at.date().isoformat() for record in records)
    if len(days) > 31:
        months: Counter[str] = Counter()
        for day, count in days.items():
            months[day[:7]] += count
        return sorted(months.items())
    return sorted(days.items())


def by_category(records: Iterable[MemoryRecord]) -> list[tuple[str, int]]:
    counts = Counter(str(record.metadata.get(CATEGORY_KEY, NO_CATEGORY)) for record in records)
    return _largest(counts)


def by_source(records: Iterable[MemoryRecord]) -> list[tuple[str, int]]:
    """Memories by who said the messages they came from (role, and name when given)."""
    counts: Counter[str] = Counter()
    for record in records:
        speakers = {f"{s.role}: {s.name}" if s.name else s.role for s in record.sources} or {NO_SOURCE}
        counts.update(speakers)
    return _largest(counts)


def _largest(counts: Counter[str]) -> list[tuple[str, int]]:
    """The MAX_BARS - 1 largest counts, the rest summed into one bar."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if len(ranked) <= MAX_BARS:
        return ranked
    kept, rest = ranked[: MAX_BARS - 1], ranked[MAX_BARS - 1 :]
    return [*kept, (OTHERS, sum(count for _, count in rest))]


def bar_chart(title: str, counts: list[tuple[str, int]], width: float = 320, height: float = 120) -> Chart:
    """Vertical bars side by side filling the width, the tallest reaching the full height."""
    tallest = max((count for _, count in counts), default=0)
    slot = width / max(len(counts), 1)
    bars = []
    for index, (label, count) in enumerate(counts):
        bar_height = height * count / tallest if tallest else 0.0
        bars.append(Bar(label, count, index * slot + slot * 0.1, height - bar_height, slot * 0.8, bar_height))
    return Chart(title, bars, width, height)


def charts(records: list[MemoryRecord]) -> list[Chart]:
    return [
        bar_chart("Memories over time (learned)", over_time(records)),
        bar_chart("By category", by_category(records)),
        bar_chart("By source", by_source(records)),
    ]
