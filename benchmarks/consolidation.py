"""Consolidation benchmark on LoCoMo: memories before and after `Memory.consolidate` of each
ingested conversation, and Recall@10 (any evidence) of the same questions on the same store
before and after, for langmem's verbatim turns (langmem-hybrid) and its offline manager's
facts (langmem-manager). Both runs of a system share its store, its embedder and its
questions; only the consolidation lies between them.

Consolidation uses the manager's settings as they are (duplicate_threshold, slot rules); none
is chosen on the questions. The JSON also describes the conversations' own duplicate structure:
the share of memories whose nearest earlier memory of the conversation is at least as similar
as the duplicate threshold.

    python benchmarks/consolidation.py --data ../shared/data/locomo/locomo_dev.json \
        --out benchmarks/results/consolidation.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from langmem_plugin.embeddings import MiniLMEmbeddings
from langmem_plugin.locomo_format import Conversation
from langmem_plugin_bench.evaluators import retrieval_evaluator, retrieval_outputs, run_evaluators
from langmem_plugin_bench.experiment import summarise
from langmem_plugin_bench.locomo import build_langmem_system
from langmem_plugin_bench.locomo_data import load_locomo, retrieval_questions
from langmem_plugin_bench.retrievers import LangMemRetriever, MemoizedEmbeddings, RetrievedItem

SYSTEMS = ("langmem-hybrid", "langmem-manager")
K = 10
# every memory of a conversation fits one get_all
MEMORY_CONFIG = {"limits": {"max_limit": 100_000}}


Rows = list[tuple[int, dict, float]]


def recall_rows(system: LangMemRetriever, conversation: Conversation) -> tuple[Rows, Rows]:
    """Each question's scores with a hit covering every turn it came from (its sources, as
    `bench locomo` counts), and with a hit covering its first source only: a survivor's folded
    sources cannot raise the second."""
    every_source: Rows = []
    own_source: Rows = []
    for question in retrieval_questions(conversation):
        hits = system.hits(conversation, question.question, K)
        for rows, sources in ((every_source, None), (own_source, 1)):
            items = [
                RetrievedItem(h.memory.text, frozenset(s.message_id for s in h.memory.sources[:sources]))
                for h in hits
            ]
            scores = run_evaluators(
                [retrieval_evaluator],
                {"question": question.question},
                {"retrieved": retrieval_outputs(items)},
                {"evidence": question.evidence},
            )
            rows.append((question.category, scores, 0.0))
    return every_source, own_source


def near_duplicate_share(system: LangMemRetriever, conversation: Conversation, threshold: float) -> float:
    """Share of the conversation's memories whose nearest earlier one has cosine >= threshold."""
    records = sorted(
        system.memory.get_all(user_id=conversation.sample_id, limit=100_000), key=lambda r: r.valid_from
    )
    if len(records) < 2:
        return 0.0
    vectors = system.memory.services.embedder.embed([r.text for r in records], records[0].scope)
    similarity = vectors @ vectors.T
    nearest_earlier = [float(np.max(similarity[i, :i])) for i in range(1, len(records))]
    return sum(s >= threshold for s in nearest_earlier) / len(records)


def run_system(name: str, conversations: list[Conversation], shared: MemoizedEmbeddings) -> dict:
    system = build_langmem_system(name, shared, MEMORY_CONFIG)
    assert isinstance(system, LangMemRetriever)
    threshold = system.memory.config.manager.duplicate_threshold
    before_rows: Rows = []
    after_rows: Rows = []
    before_own: Rows = []
    after_own: Rows = []
    per_conversation = []
    totals = {"memories_before": 0, "memories_after": 0, "merged": 0, "retired": 0, "summarised": 0}
    consolidate_seconds = 0.0
    for conversation in conversations:
        system.ingest(conversation)
        user = conversation.sample_id
        before = len(system.memory.get_all(user_id=user, limit=100_000))
        share = near_duplicate_share(system, conversation, threshold)
        every_source, own_source = recall_rows(system, conversation)
        before_rows += every_source
        before_own += own_source
        started = time.perf_counter()
        report = system.memory.consolidate(user_id=user)
        consolidate_seconds += time.perf_counter() - started
        after = len(system.memory.get_all(user_id=user, limit=100_000))
        every_source, own_source = recall_rows(system, conversation)
        after_rows += every_source
        after_own += own_source
        per_conversation.append(
            {
                "conversation": user,
                "memories_before": before,
                "memories_after": after,
                "near_duplicate_share": round(share, 4),
                "merged": report.merged,
                "retired": report.retired,
                "summarised": report.summarised,
            }
        )
        for key, value in (
            ("memories_before", before),
            ("memories_after", after),
            ("merged", report.merged),
            ("retired", report.retired),
            ("summarised", report.summarised),
        ):
            totals[key] += value
    system.close()
    recall_before = summarise(before_rows)["overall"][f"recall_any@{K}"]
    recall_after = summarise(after_rows)["overall"][f"recall_any@{K}"]
    return {
        **totals,
        "duplicate_threshold": threshold,
        "consolidate_seconds": round(consolidate_seconds, 2),
        "questions": len(before_rows),
        f"recall_any@{K}_before": recall_before,
        f"recall_any@{K}_after": recall_after,
        f"recall_any@{K}_relative_change": round((recall_after - recall_before) / recall_before, 4),
        f"recall_any@{K}_own_source_before": summarise(before_own)["overall"][f"recall_any@{K}"],
        f"recall_any@{K}_own_source_after": summarise(after_own)["overall"][f"recall_any@{K}"],
        "before": summarise(before_rows)["overall"],
        "after": summarise(after_rows)["overall"],
        "conversations": per_conversation,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a locomo10.json-style file")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {SYSTEMS}")
    parser.add_argument("--conversations", type=int, help="only the first N conversations")
    parser.add_argument("--out", type=Path, help="write the JSON report here too")
    args = parser.parse_args()
    conversations = load_locomo(args.data)[: args.conversations]
    shared = MemoizedEmbeddings(MiniLMEmbeddings())
    shared.warm(
        shared.missing(
            [t.render() for c in conversations for t in c.turns]
            + [q.question for c in conversations for q in c.questions]
        )
    )
    report = {
        "benchmark": "locomo-consolidation",
        "data": str(args.data),
        "conversations": [c.sample_id for c in conversations],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "systems": {name: run_system(name, conversations, shared) for name in args.systems.split(",")},
    }
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
