"""LoCoMo as LangSmith experiments: one dataset of questions, one experiment per memory configuration.

The dataset holds one example per scored question (inputs: conversation id and question; reference
outputs: answer, evidence dia_ids, category). Each system ingests every conversation into its own
scope (user_id = the conversation id) as a setup step, then `langsmith.evaluate` calls a target that
searches, and answers when a chat model is given, and scores each run with the evaluators the local
harness uses. The experiment's metadata is the system's configuration, so two experiments on the
same dataset compare side by side in LangSmith.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langsmith import Client, evaluate, tracing_context
from langsmith.schemas import Dataset

from langmem_plugin.errors import InvalidInputError, LangMemError
from langmem_plugin.locomo_format import Conversation

from .evaluators import Evaluator, retrieval_evaluator, retrieval_outputs
from .locomo_data import QA_CATEGORIES, retrieval_questions
from .metrics import percentiles_ms
from .qa import answer_f1_evaluator, answer_question, dated_memories, judge_evaluator
from .retrievers import Retriever

API_KEY_VARIABLES = ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY")


class ExperimentError(LangMemError):
    """A LangSmith experiment's target or evaluator failed on an example, so its scores would be
    incomplete."""


def langsmith_configured() -> bool:
    """True when a LangSmith API key is in the environment (the client reads the same variables)."""
    return any(os.environ.get(name) for name in API_KEY_VARIABLES)


def locomo_examples(conversations: list[Conversation]) -> list[dict]:
    """One LangSmith example per scored question (the local harness scores the same ones)."""
    return [
        {
            "inputs": {"conversation": conversation.sample_id, "question": question.question},
            "reference_outputs": {
                "answer": question.answer,
                "evidence": question.evidence,
                "category": question.category,
            },
            "metadata": {
                "conversation": conversation.sample_id,
                "category": QA_CATEGORIES[question.category],
            },
        }
        for conversation in conversations
        for question in retrieval_questions(conversation)
    ]


def dataset_name(data: str | Path, examples: list[dict]) -> str:
    """Named after the file and a digest of the examples: a rerun on the same questions reuses the
    dataset (so its experiments compare), and changed questions get a dataset of their own."""
    digest = hashlib.sha256(json.dumps(examples, sort_keys=True).encode()).hexdigest()[:10]
    return f"locomo-{Path(data).stem}-{digest}"


def ensure_dataset(client: Client, name: str, examples: list[dict], description: str) -> Dataset:
    """The dataset called `name`, created with `examples` unless it already exists (with all of them:
    a dataset left incomplete by an interrupted upload is reported, not evaluated on)."""
    if client.has_dataset(dataset_name=name):
        dataset = client.read_dataset(dataset_name=name)
        if dataset.example_count is not None and dataset.example_count != len(examples):
            raise ExperimentError(
                f"LangSmith dataset {name!r} holds {dataset.example_count} examples, not {len(examples)}: "
                "delete it and run again"
            )
        return dataset
    dataset = client.create_dataset(name, description=description, metadata={"source": "LoCoMo"})
    client.create_examples(dataset_id=dataset.id, examples=examples)
    return dataset


class MemoryTarget:
    """The experiment's target: search the example's conversation scope, and answer from the
    top `answer_k` items when a chat model is given."""

    def __init__(
        self,
        system: Retriever,
        conversations: list[Conversation],
        k: int,
        answer_model: BaseChatModel | None = None,
        answer_k: int = 10,
    ):
        self.system = system
        self.conversations = {c.sample_id: c for c in conversations}
        self.k = k
        self.answer_model = answer_model
        self.answer_k = answer_k

    def __call__(self, inputs: dict) -> dict:
        name = inputs.get("conversation")
        conversation = self.conversations.get(name) if isinstance(name, str) else None
        if conversation is None:
            raise InvalidInputError(
                f"example names conversation {inputs.get('conversation')!r}, which was not ingested"
            )
        started = time.perf_counter()
        items = self.system.search(conversation, inputs["question"], self.k)
        outputs: dict[str, Any] = {
            "retrieved": retrieval_outputs(items),
            "search_ms": (time.perf_counter() - started) * 1000,
        }
        if self.answer_model is not None:
            memories = dated_memories(conversation, items[: self.answer_k])
            outputs["answer"] = answer_question(self.answer_model, inputs["question"], memories)
        return outputs


def evaluators_for(judge_model: BaseChatModel | None) -> list[Evaluator]:
    """Retrieval scores always; F1 and the LLM judge when answers are generated."""
    if judge_model is None:
        return [retrieval_evaluator]
    return [retrieval_evaluator, answer_f1_evaluator, judge_evaluator(judge_model)]


def summarise(rows: list[tuple[int, dict[str, float], float]]) -> dict:
    """(category, scores, search ms) per example -> the harness's report shape (overall, by category)."""
    per_category: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for category, scores, _ in rows:
        for metric, score in scores.items():
            per_category[category][metric].append(score)

    def means(lists: dict[str, list[float]]) -> dict[str, float]:
        return {metric: round(sum(values) / len(values), 4) for metric, values in sorted(lists.items())}

    overall: dict[str, list[float]] = defaultdict(list)
    for by_metric in per_category.values():
        for metric, values in by_metric.items():
            overall[metric].extend(values)
    return {
        "questions": len(rows),
        "overall": means(overall),
        "by_category": {QA_CATEGORIES[c]: means(per_category[c]) for c in sorted(per_category)},
        "search_latency": percentiles_ms([ms / 1000 for _, _, ms in rows]),
    }


def run_experiment(
    client: Client,
    dataset: Dataset,
    system: Retriever,
    conversations: list[Conversation],
    *,
    k: int,
    experiment_prefix: str,
    metadata: dict[str, Any],
    answer_model: BaseChatModel | None = None,
    judge_model: BaseChatModel | None = None,
    answer_k: int = 10,
) -> dict:
    """Ingest every conversation (untraced: setup, not part of the experiment), evaluate, summarise."""
    with tracing_context(enabled=False):
        for conversation in conversations:
            system.ingest(conversation)
    try:
        with contextlib.redirect_stdout(
            sys.stderr
        ):  # evaluate() prints the experiment's URL; stdout stays the JSON report
            results = evaluate(
                MemoryTarget(system, conversations, k, answer_model, answer_k),
                data=dataset.name,
                evaluators=evaluators_for(judge_model),
                experiment_prefix=f"{experiment_prefix}-{system.name}",
                description=f"langmem-plugin LoCoMo: {system.name}, k={k}",
                metadata={**system.configuration(), **metadata, "k": k},
                client=client,
            )
        rows = []
        for row in results:
            if row["run"].error:
                raise ExperimentError(f"the target failed on example {row['example'].id}: {row['run'].error}")
            scores: dict[str, float] = {}
            for result in row["evaluation_results"]["results"]:
                if result.score is None:
                    raise ExperimentError(
                        f"evaluator {result.key!r} gave no score on example {row['example'].id}: "
                        f"{result.comment}"
                    )
                scores[result.key] = float(result.score)
            expected, produced = row["example"].outputs, row["run"].outputs
            if expected is None or produced is None:
                raise ExperimentError(f"example {row['example'].id} or its run has no outputs")
            rows.append((expected["category"], scores, produced["search_ms"]))
    finally:
        system.close()
    return {**summarise(rows), "experiment": results.experiment_name}
