"""LoCoMo conversations as typed records (the public locomo10.json format): what `import` reads
from a LoCoMo file, and what the benchmark (langmem_plugin_bench) scores retrieval on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from .errors import InvalidInputError

_SESSION_KEY = re.compile(r"^session_(\d+)$")


@dataclass(frozen=True)
class Turn:
    dia_id: str
    speaker: str
    text: str
    image_caption: str | None

    @property
    def content(self) -> str:
        """What the speaker said, with the caption of a photo they shared: the message `import` stores."""
        caption = self.image_caption and f"[shares a photo: {self.image_caption}]"
        return " ".join(filter(None, [self.text, caption]))

    def render(self) -> str:
        """The turn as every benchmark retriever indexes it: speaker, words, and the caption of a shared
        photo."""
        caption = f" [shares a photo: {self.image_caption}]" if self.image_caption else ""
        return f"{self.speaker}: {self.text}{caption}"


@dataclass(frozen=True)
class Session:
    number: int
    timestamp: datetime
    turns: list[Turn]


@dataclass(frozen=True)
class Question:
    question: str
    answer: str
    evidence: list[str]
    category: int


@dataclass(frozen=True)
class Conversation:
    sample_id: str
    speakers: tuple[str, str]
    sessions: list[Session]
    questions: list[Question]

    @property
    def turns(self) -> list[Turn]:
        return [t for s in self.sessions for t in s.turns]


def parse_session_time(value: str) -> datetime:
    """'1:56 pm on 8 May, 2023' -> aware datetime (UTC: the dataset gives no zone)."""
    try:
        return datetime.strptime(value.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInputError(f"unrecognised LoCoMo session time {value!r}") from exc


def parse_conversation(raw: dict) -> Conversation:
    """One LoCoMo sample: its "conversation" body (or the sample itself, flattened) and its "qa"."""
    body = raw.get("conversation", raw)
    sessions = []
    for key, turns in body.items():
        match = _SESSION_KEY.match(key)
        if not match or not isinstance(turns, list) or not turns:
            continue
        number = int(match.group(1))
        sessions.append(
            Session(
                number=number,
                timestamp=parse_session_time(body[f"session_{number}_date_time"]),
                turns=[
                    Turn(t["dia_id"], t["speaker"], t.get("text", ""), t.get("blip_caption"))
                    for t in turns
                    if t.get("text") or t.get("blip_caption")
                ],
            )
        )
    sessions.sort(key=lambda s: s.number)
    questions = [
        Question(
            question=q["question"],
            answer=str(q.get("answer", q.get("adversarial_answer", ""))),
            evidence=[e.strip() for e in q.get("evidence", []) if isinstance(e, str)],
            category=int(q["category"]),
        )
        for q in raw.get("qa", [])
    ]
    speakers = (body["speaker_a"], body["speaker_b"])
    return Conversation(raw.get("sample_id", "conversation"), speakers, sessions, questions)
