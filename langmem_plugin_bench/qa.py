"""LoCoMo QA: answer from retrieved memories, then grade with an LLM judge (the LoCoMo / Mem0
protocol: CORRECT or WRONG, generous on wording and date formats) and with token F1."""

from __future__ import annotations

import json
import re
from collections import defaultdict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from langmem_plugin.content import message_text
from langmem_plugin.errors import LangMemError
from langmem_plugin.locomo_format import Conversation

from .evaluators import Evaluator, run_evaluators
from .locomo_data import QA_CATEGORIES
from .metrics import token_f1
from .retrievers import RetrievedItem, Retriever

ANSWER_SYSTEM = (
    "You answer questions about a long conversation between two people, using only the memories given. "
    "Each memory is one turn, dated by its session. Resolve relative dates ('last year', 'yesterday') "
    "against the memory's date. Answer in a short phrase of at most six words."
)
ANSWER_USER = "Memories:\n{memories}\n\nQuestion: {question}\nAnswer:"
JUDGE_SYSTEM = (
    "You grade answers to questions about a conversation. Given the question, the gold answer and a "
    "generated answer, reply CORRECT if the generated answer refers to the same thing as the gold answer "
    "(be generous with wording and length; for dates, the same day, month or period counts even in "
    'another format), otherwise WRONG. Reply with JSON only: {"label": "CORRECT"} or {"label": "WRONG"}.'
)
JUDGE_USER = "Question: {question}\nGold answer: {gold}\nGenerated answer: {generated}"
_LABEL = re.compile(r"\b(CORRECT|WRONG)\b")


class JudgeFormatError(LangMemError):
    """The judge model's reply named neither CORRECT nor WRONG."""


def answer_question(model: BaseChatModel, question: str, memories: list[str]) -> str:
    listing = "\n".join(f"- {m}" for m in memories) or "(no memories)"
    reply = model.invoke(
        [SystemMessage(ANSWER_SYSTEM), HumanMessage(ANSWER_USER.format(memories=listing, question=question))]
    )
    return message_text(reply).strip()


def parse_judgement(text: str) -> bool:
    """Read {"label": ...}, tolerating code fences and prose around it."""
    try:
        label = json.loads(text.strip().removeprefix("```json").strip("`\n "))["label"]
    except (ValueError, KeyError, TypeError):
        match = _LABEL.search(text.upper())
        if not match:
            raise JudgeFormatError(f"judge reply has no CORRECT/WRONG label: {text[:200]!r}") from None
        label = match.group(1)
    return str(label).upper() == "CORRECT"


def judge_answer(model: BaseChatModel, question: str, gold: str, generated: str) -> bool:
    reply = model.invoke(
        [
            SystemMessage(JUDGE_SYSTEM),
            HumanMessage(JUDGE_USER.format(question=question, gold=gold, generated=generated)),
        ]
    )
    return parse_judgement(message_text(reply))


def dated_memories(conversation: Conversation, items: list[RetrievedItem]) -> list[str]:
    """Each retrieved item prefixed with the date of the earliest turn it was built from."""
    said_on = {t.dia_id: s.timestamp for s in conversation.sessions for t in s.turns}
    return [
        f"[{min(said_on[i] for i in item.dia_ids if i in said_on):%d %B %Y}] {item.text}"
        if any(i in said_on for i in item.dia_ids)
        else item.text
        for item in items
    ]


def answer_f1_evaluator(outputs: dict, reference_outputs: dict) -> dict:
    """Token F1 between the generated and the gold answer (SQuAD / LoCoMo)."""
    return {"key": "f1", "score": token_f1(outputs["answer"], reference_outputs["answer"])}


def judge_evaluator(judge_model: BaseChatModel) -> Evaluator:
    """LLM-judge correctness (1 CORRECT, 0 WRONG); its mean over examples is the judge accuracy."""

    def judge_accuracy(inputs: dict, outputs: dict, reference_outputs: dict) -> dict:
        correct = judge_answer(
            judge_model, inputs["question"], reference_outputs["answer"], outputs["answer"]
        )
        return {"key": "judge_accuracy", "score": float(correct)}

    return judge_accuracy


def run_qa(
    system: Retriever,
    conversations: list[Conversation],
    answer_model: BaseChatModel,
    judge_model: BaseChatModel,
    k: int = 10,
    max_questions: int | None = None,
) -> dict:
    scores: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    samples = []
    asked = 0
    evaluators = [judge_evaluator(judge_model), answer_f1_evaluator]
    for conversation in conversations:
        system.ingest(conversation)
        for question in conversation.questions:
            if question.category == 5 or (max_questions is not None and asked >= max_questions):
                continue
            asked += 1
            memories = dated_memories(conversation, system.search(conversation, question.question, k))
            generated = answer_question(answer_model, question.question, memories)
            results = run_evaluators(
                evaluators,
                {"question": question.question},
                {"answer": generated},
                {"answer": question.answer},
            )
            for metric, score in results.items():
                scores[question.category][metric].append(score)
            correct = results["judge_accuracy"] == 1.0
            samples.append(
                {
                    "question": question.question,
                    "gold": question.answer,
                    "generated": generated,
                    "correct": correct,
                }
            )
    system.close()
    overall = defaultdict(list)
    for category_scores in scores.values():
        for metric, values in category_scores.items():
            overall[metric].extend(values)

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 4) if values else 0.0

    return {
        "system": system.name,
        "questions": asked,
        "k": k,
        "overall": {metric: mean(values) for metric, values in overall.items()},
        "by_category": {
            QA_CATEGORIES[c]: {m: mean(v) for m, v in s.items()} for c, s in sorted(scores.items())
        },
        "samples": samples[:20],
    }
