"""Anchor relative dates ("yesterday", "last week", "3 days ago") to the message's timestamp."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

_WEEKDAYS = [d.lower() for d in calendar.day_name]
_NUMBERS = {
    w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
_NUMBERS.update({"a": 1, "an": 1, "a couple of": 2, "couple of": 2})


def format_day(day: date) -> str:
    return f"{day.day} {calendar.month_name[day.month]} {day.year}"


def _month(day: date, offset: int) -> str:
    index = day.year * 12 + day.month - 1 + offset
    return f"{calendar.month_name[index % 12 + 1]} {index // 12}"


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[word]


def _ago(match: re.Match, day: date) -> str:
    amount, unit = _count(match["n"].lower()), match["unit"].lower().rstrip("s")
    if unit == "day":
        return f"on {format_day(day - timedelta(days=amount))}"
    if unit == "week":
        return f"in the week of {format_day(_week_start(day - timedelta(weeks=amount)))}"
    if unit == "month":
        return f"in {_month(day, -amount)}"
    return f"in {day.year - amount}"


def _weekday(match: re.Match, day: date) -> str:
    target = _WEEKDAYS.index(match["weekday"].lower())
    if match["dir"].lower() == "last":
        delta = (day.weekday() - target) % 7 or 7
        moment = day - timedelta(days=delta)
    else:
        delta = (target - day.weekday()) % 7 or 7
        moment = day + timedelta(days=delta)
    return f"on {calendar.day_name[moment.weekday()]} {format_day(moment)}"


_NUMBER_WORDS = r"\d+|a couple of|couple of|an?|" + "|".join(
    w for w in _NUMBERS if " " not in w and len(w) > 2
)
_RULES: list[tuple[re.Pattern, Callable[[re.Match, date], str]]] = [
    (
        re.compile(r"\bthe day before yesterday\b", re.I),
        lambda m, d: f"on {format_day(d - timedelta(days=2))}",
    ),
    (re.compile(r"\bthe day after tomorrow\b", re.I), lambda m, d: f"on {format_day(d + timedelta(days=2))}"),
    (re.compile(r"\byesterday\b", re.I), lambda m, d: f"on {format_day(d - timedelta(days=1))}"),
    (re.compile(r"\btomorrow\b", re.I), lambda m, d: f"on {format_day(d + timedelta(days=1))}"),
    (re.compile(r"\b(?:today|tonight)\b", re.I), lambda m, d: f"on {format_day(d)}"),
    (
        re.compile(r"\bthis (?P<part>morning|afternoon|evening)\b", re.I),
        lambda m, d: f"on the {m['part'].lower()} of {format_day(d)}",
    ),
    (
        re.compile(r"\blast weekend\b", re.I),
        lambda m, d: f"on the weekend of {format_day(_week_start(d) - timedelta(days=2))}",
    ),
    (
        re.compile(r"\bthis weekend\b", re.I),
        lambda m, d: f"on the weekend of {format_day(_week_start(d) + timedelta(days=5))}",
    ),
    (
        re.compile(r"\blast week\b", re.I),
        lambda m, d: f"in the week of {format_day(_week_start(d) - timedelta(weeks=1))}",
    ),
    (
        re.compile(r"\bnext week\b", re.I),
        lambda m, d: f"in the week of {format_day(_week_start(d) + timedelta(weeks=1))}",
    ),
    (re.compile(r"\bthis week\b", re.I), lambda m, d: f"in the week of {format_day(_week_start(d))}"),
    (re.compile(r"\blast month\b", re.I), lambda m, d: f"in {_month(d, -1)}"),
    (re.compile(r"\bnext month\b", re.I), lambda m, d: f"in {_month(d, 1)}"),
    (re.compile(r"\bthis month\b", re.I), lambda m, d: f"in {_month(d, 0)}"),
    (re.compile(r"\blast year\b", re.I), lambda m, d: f"in {d.year - 1}"),
    (re.compile(r"\bnext year\b", re.I), lambda m, d: f"in {d.year + 1}"),
    (re.compile(r"\bthis year\b", re.I), lambda m, d: f"in {d.year}"),
    (re.compile(rf"\b(?P<n>{_NUMBER_WORDS}) (?P<unit>days?|weeks?|months?|years?) ago\b", re.I), _ago),
    (re.compile(rf"\b(?P<dir>last|next) (?P<weekday>{'|'.join(_WEEKDAYS)})\b", re.I), _weekday),
]


# Every rule's phrase holds one of these words: text without them (most queries) skips the 19 rules.
_TRIGGER = re.compile(r"\b(?:yesterday|tomorrow|today|tonight|this|last|next|ago)\b", re.I)


def anchor_relative_dates(text: str, moment: datetime) -> str:
    """Replace relative date phrases with absolute ones computed from `moment` (the message time)."""
    if _TRIGGER.search(text) is None:
        return text
    day = moment.date()
    for pattern, render in _RULES:
        text = pattern.sub(lambda match: render(match, day), text)  # noqa: B023 - used at once
    return text
