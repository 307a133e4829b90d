"""Retrieval metrics over evidence ids, and token-level answer F1."""

from __future__ import annotations

import math
import re
import string
from collections import Counter

import numpy as np


def recall_any(retrieved: list[set[str]], evidence: set[str], k: int) -> float:
    """1 if any evidence id is covered by the top k items."""
    covered = set().union(*retrieved[:k]) if retrieved[:k] else set()
    return float(bool(covered & evidence))


def recall_all(retrieved: list[set[str]], evidence: set[str], k: int) -> float:
    """1 if every evidence id is covered by the top k items."""
    covered = set().union(*retrieved[:k]) if retrieved[:k] else set()
    return float(evidence <= covered)


def ndcg(retrieved: list[set[str]], evidence: set[str], k: int) -> float:
    """Binary-relevance NDCG: an item is relevant when it covers an evidence id not yet covered."""
    seen: set[str] = set()
    gain = 0.0
    for rank, ids in enumerate(retrieved[:k], start=1):
        fresh = (ids & evidence) - seen
        if fresh:
            gain += 1.0 / math.log2(rank + 1)
            seen |= fresh
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(evidence), k) + 1))
    return gain / ideal if ideal else 0.0


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    values = np.asarray(seconds) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p95_ms": round(float(np.percentile(values, 95)), 3),
    }


def _normalise_answer(text: str) -> list[str]:
    text = text.lower()
    text = "".join(c for c in text if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the|and)\b", " ", text)
    return text.split()


def token_f1(prediction: str, truth: str) -> float:
    """The SQuAD / LoCoMo token F1 between a predicted and a reference answer."""
    predicted, expected = _normalise_answer(prediction), _normalise_answer(str(truth))
    common = Counter(predicted) & Counter(expected)
    overlap = sum(common.values())
    if not predicted or not expected or overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return 2 * precision * recall / (precision + recall)
