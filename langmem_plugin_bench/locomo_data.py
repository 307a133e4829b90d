"""The LoCoMo benchmark's view of the dataset: files of conversations, and the questions retrieval
is scored on (the records themselves are langmem_plugin.locomo_format's, which `import` reads too)."""

from __future__ import annotations

import json
from pathlib import Path

from langmem_plugin.errors import InvalidInputError
from langmem_plugin.locomo_format import Conversation, Question, parse_conversation

QA_CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
RETRIEVAL_CATEGORIES = (1, 2, 3, 4)


def load_locomo(path: str | Path) -> list[Conversation]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read LoCoMo data from {path}: {exc}") from exc
    if isinstance(data, dict):
        data = [data]
    try:
        return [parse_conversation(item) for item in data]
    except (KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path} is not in the locomo10.json format: missing {exc}") from exc


def retrieval_questions(conversation: Conversation) -> list[Question]:
    """The questions retrieval is scored on: categories 1-4 with evidence (adversarial ones have no
    answer)."""
    return [q for q in conversation.questions if q.category in RETRIEVAL_CATEGORIES and q.evidence]
