"""What a relevance score means, read on LoCoMo: which hits at or above a score are evidence turns,
and what questions that no conversation is about score.

For every scored question (categories 1-4) each langmem system returns its top k hits with their
`SearchHit.score`; a hit is evidence when its memory came from one of the question's evidence
turns. Questions written here, about nothing a conversation holds (`UNRELATED_QUESTIONS`), are
asked of every scope too: their hits are what a recall threshold must keep out of a prompt.

Two layouts of the scopes: `conversation` (one scope per conversation, both speakers, as the
retrieval benchmark) and `speaker` (one scope per speaker, holding only that speaker's turns and
asked the questions that name that speaker alone: one user's memory, her name in every turn).

The threshold is chosen by `THRESHOLD_RULE`, from the evidence hits alone, so no unrelated
question's score moves it; the unrelated questions then say what it lets through. A recall
threshold decides what a model never sees: a memory it drops cannot be recovered, while one it
lets through costs a line of prompt. So the rule keeps nearly all the evidence the search found.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from langmem_plugin import progress
from langmem_plugin.locomo_format import Conversation, Question

from .locomo_data import retrieval_questions
from .metrics import recall_any
from .retrievers import LangMemRetriever

UNRELATED_QUESTIONS = (
    "What's 2+2?",
    "What is the capital of France?",
    "How do I reverse a list in Python?",
    "What is the boiling point of water at sea level?",
    "Convert 5 miles to kilometres.",
    "Who wrote Pride and Prejudice?",
    "What is the square root of 144?",
    "Explain how a TCP handshake works.",
    "What is the chemical symbol for gold?",
    "How many bytes are in a kilobyte?",
    "What is the derivative of x squared?",
    "Translate 'thank you' into German.",
    "Which planet is closest to the sun?",
    "What does HTTP status 404 mean?",
    "How do I sort a dictionary by value in Python?",
    "What year did the Berlin Wall fall?",
    "What is the speed of light?",
    "Define photosynthesis.",
    "What is 15% of 80?",
    "How many sides does a hexagon have?",
    "What is the largest ocean on Earth?",
    "Write a SQL query that counts the rows of a table.",
    "What is the freezing point of water in Fahrenheit?",
    "Who painted the Mona Lisa?",
)
THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(20))
EVIDENCE_KEPT = 0.99
THRESHOLD_RULE = (
    f"the highest threshold (in steps of 0.05) that keeps at least {EVIDENCE_KEPT:.0%} of the evidence hits "
    "in every system and layout measured"
)


@dataclass
class ScoreSample:
    """The scores of one system's hits in one layout, by kind of hit."""

    evidence: list[float] = field(default_factory=list)  # hits from an evidence turn of the question
    other: list[float] = field(default_factory=list)  # the other hits of scored questions
    unrelated: list[float] = field(default_factory=list)  # every hit of an unrelated question
    # the best hit of each unrelated question in each scope (0: none), scope by scope, in
    # UNRELATED_QUESTIONS order
    unrelated_top: list[float] = field(default_factory=list)
    # per scored question: 1 if an evidence turn is among its hits, else 0
    found: list[float] = field(default_factory=list)


def speaker_conversations(conversation: Conversation) -> list[Conversation]:
    """One conversation per speaker: only that speaker's turns, and the questions that name that
    speaker and not the other, with the evidence among that speaker's turns (questions without any
    are left out)."""
    split = []
    for speaker in conversation.speakers:
        others = [s for s in conversation.speakers if s != speaker]
        sessions = [
            replace(s, turns=[t for t in s.turns if t.speaker == speaker]) for s in conversation.sessions
        ]
        own = {t.dia_id for s in sessions for t in s.turns}
        questions = [
            replace(q, evidence=[e for e in q.evidence if e in own])
            for q in conversation.questions
            if _names(q, speaker) and not any(_names(q, other) for other in others)
        ]
        split.append(
            Conversation(
                f"{conversation.sample_id}:{speaker}",
                conversation.speakers,
                [s for s in sessions if s.turns],
                [q for q in questions if q.evidence],
            )
        )
    return split


def _names(question: Question, speaker: str) -> bool:
    return re.search(rf"\b{re.escape(speaker)}\b", question.question) is not None


def sample_scores(system: LangMemRetriever, conversations: list[Conversation], k: int) -> ScoreSample:
    """Ingest each conversation, then search its scope with every scored and every unrelated question."""
    sample = ScoreSample()
    bar = progress.start(f"[scores] {system.name}: conversations", len(conversations))
    for conversation in conversations:
        system.ingest(conversation)
        for question in retrieval_questions(conversation):
            evidence = set(question.evidence)
            hits = system.hits(conversation, question.question, k)
            covered = [{s.message_id for s in hit.memory.sources} for hit in hits]
            for hit, dia_ids in zip(hits, covered, strict=True):
                (sample.evidence if dia_ids & evidence else sample.other).append(hit.score)
            sample.found.append(recall_any(covered, evidence, k))
        for unrelated in UNRELATED_QUESTIONS:
            scores = [hit.score for hit in system.hits(conversation, unrelated, k)]
            sample.unrelated.extend(scores)
            sample.unrelated_top.append(max(scores, default=0.0))
        bar.advance()
    bar.close()
    system.close()
    return sample


def _share_at_least(scores: list[float], threshold: float) -> float | None:
    return round(float(np.mean(np.asarray(scores) >= threshold)), 4) if scores else None


def _percentiles(scores: list[float]) -> dict[str, float] | None:
    if not scores:
        return None
    return {f"p{p}": round(float(np.percentile(scores, p)), 3) for p in (5, 10, 25, 50, 75, 90, 95)}


def summarise_sample(sample: ScoreSample) -> dict:
    """For each threshold: the share of the kept hits that are evidence, the evidence kept, the other
    hits removed, and the unrelated questions that still get a hit; the score percentiles."""
    by_threshold = {}
    for threshold in THRESHOLDS:
        evidence = sum(s >= threshold for s in sample.evidence)
        kept = evidence + sum(s >= threshold for s in sample.other)
        other_kept = _share_at_least(sample.other, threshold)
        by_threshold[f"{threshold:.2f}"] = {
            "hits_kept": kept,
            "evidence_share_of_kept": round(evidence / kept, 4) if kept else None,
            "evidence_kept": _share_at_least(sample.evidence, threshold),
            "other_removed": None if other_kept is None else round(1 - other_kept, 4),
            "unrelated_questions_with_a_hit": _share_at_least(sample.unrelated_top, threshold),
            "unrelated_hits_kept": _share_at_least(sample.unrelated, threshold),
        }
    return {
        "questions": len(sample.found),
        "recall_any@k": round(float(np.mean(sample.found)), 4) if sample.found else None,
        "hits": {
            "evidence": len(sample.evidence),
            "other": len(sample.other),
            "unrelated": len(sample.unrelated),
        },
        "evidence_share_of_hits_at_least_0.5": by_threshold["0.50"]["evidence_share_of_kept"],
        "percentiles": {
            "evidence": _percentiles(sample.evidence),
            "other": _percentiles(sample.other),
            "unrelated": _percentiles(sample.unrelated),
            "unrelated_top": _percentiles(sample.unrelated_top),
        },
        "by_threshold": by_threshold,
        "unrelated_top_by_question": {
            question: round(max(sample.unrelated_top[i :: len(UNRELATED_QUESTIONS)], default=0.0), 3)
            for i, question in enumerate(UNRELATED_QUESTIONS)
        },
    }


def recommended_threshold(summaries: list[dict]) -> float:
    """`THRESHOLD_RULE` over the summaries of every system and layout measured."""
    return max(
        (
            t
            for t in THRESHOLDS
            if all(
                (s["by_threshold"][f"{t:.2f}"]["evidence_kept"] or 0.0) >= EVIDENCE_KEPT for s in summaries
            )
        ),
        default=0.0,
    )


def read_scores(
    build: Callable[[str], LangMemRetriever],
    conversations: list[Conversation],
    systems: tuple[str, ...],
    k: int,
) -> dict:
    """Every system in every layout; `build(name)` makes a fresh system (its own store)."""
    layouts = {
        "conversation": conversations,
        "speaker": [c for conv in conversations for c in speaker_conversations(conv)],
    }
    results = {
        layout: {name: summarise_sample(sample_scores(build(name), scoped, k)) for name in systems}
        for layout, scoped in layouts.items()
    }
    threshold = recommended_threshold([summary for layout in results.values() for summary in layout.values()])
    return {
        "benchmark": "locomo-scores",
        "k": k,
        "unrelated_questions": list(UNRELATED_QUESTIONS),
        "threshold_rule": THRESHOLD_RULE,
        "recommended_threshold": threshold,
        "layouts": results,
    }


def format_scores(report: dict) -> str:
    """The lines of docs/benchmarks.md's table: per layout and system, the evidence share at 0.5
    and what the recommended threshold keeps and removes."""
    chosen = f"{report['recommended_threshold']:.2f}"
    columns: tuple[tuple[str, int], ...] = (
        ("layout", 14),
        ("system", 18),
        ("R@k", 7),
        ("ev. share >=0.5", 17),
        ("ev. kept", 10),
    )
    columns += (("other removed", 15), ("unrelated q. with a hit", 25))
    header = "".join(
        f"{name:<{width}}" if at < 2 else f"{name:>{width}}" for at, (name, width) in enumerate(columns)
    )
    lines = [f"recommended threshold {chosen}: {report['threshold_rule']}", header, "-" * len(header)]
    for layout, systems in report["layouts"].items():
        for name, summary in systems.items():
            at = summary["by_threshold"][chosen]
            lines.append(
                f"{layout:<14}{name:<18}{summary['recall_any@k']:>7.3f}"
                f"{summary['evidence_share_of_hits_at_least_0.5']:>17.3f}{at['evidence_kept']:>10.3f}"
                f"{at['other_removed']:>15.3f}{at['unrelated_questions_with_a_hit']:>25.3f}"
            )
    return "\n".join(lines)
