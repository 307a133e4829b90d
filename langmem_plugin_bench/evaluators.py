"""LoCoMo retrieval evaluators in LangSmith's shape:
`(inputs, outputs, reference_outputs) -> {"key", "score"}` (or {"results": [...]}). The local
harness and LangSmith experiments call these same functions, so a table printed here and the
feedback columns of an experiment are one computation (the answer evaluators, F1 and the LLM
judge, live in qa.py)."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .metrics import ndcg, recall_all, recall_any
from .retrievers import RetrievedItem

KS = (1, 5, 10, 20)

Evaluator = Callable[..., dict]


def retrieval_outputs(items: list[RetrievedItem]) -> list[dict]:
    """Retrieved items as JSON: what a target returns and what the retrieval evaluator reads."""
    return [{"text": item.text, "dia_ids": sorted(item.dia_ids)} for item in items]


def retrieval_evaluator(outputs: dict, reference_outputs: dict) -> dict:
    """Recall@k (any / all evidence) and nDCG@k of the retrieved items against the evidence dia_ids."""
    retrieved = [set(item["dia_ids"]) for item in outputs["retrieved"]]
    evidence = set(reference_outputs["evidence"])
    results = []
    for k in KS:
        results.append({"key": f"recall_any@{k}", "score": recall_any(retrieved, evidence, k)})
        results.append({"key": f"recall_all@{k}", "score": recall_all(retrieved, evidence, k)})
        results.append({"key": f"ndcg@{k}", "score": ndcg(retrieved, evidence, k)})
    return {"results": results}


def scores_of(result: dict) -> dict[str, float]:
    """{key: score} of one evaluator's result, single or {"results": [...]}."""
    return {r["key"]: float(r["score"]) for r in result.get("results", [result])}


def run_evaluators(
    evaluators: list[Evaluator], inputs: dict, outputs: dict, reference_outputs: dict
) -> dict[str, float]:
    """Call each evaluator as LangSmith would, with the arguments its signature names."""
    available = {"inputs": inputs, "outputs": outputs, "reference_outputs": reference_outputs}
    scores: dict[str, float] = {}
    for evaluator in evaluators:
        names = inspect.signature(evaluator).parameters
        scores.update(scores_of(evaluator(**{name: available[name] for name in names})))
    return scores
