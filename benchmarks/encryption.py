"""What encryption at rest costs: LoCoMo retrieval recall and add / search latency of the embedded
store with and without encryption, in one run.

Storage: each round ingests every conversation's turns verbatim (`langmem-hybrid`: one `add` per
session) into a fresh store and asks every retrieval question (limit 10), plain then encrypted, on
the same memoized embeddings (so the embedder's time is left out of both: the strictest ratio).
Rounds alternate the two so that a change of machine load weighs on both. Recall is the same in
every round (searches are deterministic); latencies are the median over rounds of each round's
figure.

End to end: the same adds and searches of the first `--end-to-end-conversations` conversations with
the offline embedder (all-MiniLM-L6-v2) embedding every turn and question as a user's calls do,
what an application waits for.

    python benchmarks/encryption.py --data ../shared/data/locomo/locomo_dev.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from langmem_plugin.embeddings import MiniLMEmbeddings
from langmem_plugin.encryption import generate_master_key
from langmem_plugin_bench.locomo import build_langmem_system, evaluate_system
from langmem_plugin_bench.locomo_data import load_locomo, retrieval_questions
from langmem_plugin_bench.retrievers import MemoizedEmbeddings

VARIANTS = {"plain": {}, "encrypted": {"encryption": {"enabled": True}}}
SEARCH_LIMIT = 10  # the default limit of `search`: what R@10 needs and what is timed


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def _end_to_end(conversations: list, config: dict, model: MiniLMEmbeddings) -> dict:
    """One round of adds and searches that embed what they are given (nothing embedded before)."""
    system = build_langmem_system("langmem-hybrid", MemoizedEmbeddings(model), config)
    ingest, latencies = 0.0, []
    for conversation in conversations:
        started = time.perf_counter()
        system.ingest(conversation)
        ingest += time.perf_counter() - started
        for question in retrieval_questions(conversation):
            started = time.perf_counter()
            system.search(conversation, question.question, SEARCH_LIMIT)
            latencies.append((time.perf_counter() - started) * 1000)
    system.close()
    return {
        "ingest_seconds": ingest,
        "p50_ms": statistics.median(latencies),
        "p95_ms": float(np.percentile(latencies, 95)),
    }


def _end_to_end_variants(conversations: list, rounds: int, model: MiniLMEmbeddings) -> dict:
    runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name, config in VARIANTS.items():
            runs[name].append(_end_to_end(conversations, config, model))
    turns = sum(len(c.turns) for c in conversations)
    variants = {
        name: {
            "add_ms_per_turn": round(
                statistics.median(r["ingest_seconds"] for r in results) * 1000 / turns, 3
            ),
            "search_ms_p50": round(statistics.median(r["p50_ms"] for r in results), 3),
            "search_ms_p95": round(statistics.median(r["p95_ms"] for r in results), 3),
        }
        for name, results in runs.items()
    }
    plain, encrypted = variants["plain"], variants["encrypted"]
    return {
        "conversations": [c.sample_id for c in conversations],
        "turns": turns,
        "variants": variants,
        "ratios": {
            "add": _ratio(encrypted["add_ms_per_turn"], plain["add_ms_per_turn"]),
            "search_p50": _ratio(encrypted["search_ms_p50"], plain["search_ms_p50"]),
            "search_p95": _ratio(encrypted["search_ms_p95"], plain["search_ms_p95"]),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a LoCoMo JSON file")
    parser.add_argument("--rounds", type=int, default=5, help="ingest-and-search rounds per variant")
    parser.add_argument(
        "--end-to-end-conversations",
        type=int,
        default=1,
        help="conversations of the end-to-end rounds, embedder included (0: none)",
    )
    parser.add_argument("--conversations", type=int, default=None, help="only the first N conversations")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/encryption.json"))
    args = parser.parse_args()

    os.environ["LANGMEM_ENCRYPTION_KEY"] = generate_master_key()  # read by the encrypted variant's store
    conversations = load_locomo(args.data)[: args.conversations]
    model = MiniLMEmbeddings()
    embeddings = MemoizedEmbeddings(model)
    embeddings.warm(
        embeddings.missing(
            [t.render() for c in conversations for t in c.turns]
            + [q.question for c in conversations for q in c.questions]
        )
    )
    turns = sum(len(c.turns) for c in conversations)
    sessions = sum(len(c.sessions) for c in conversations)
    questions = sum(len(retrieval_questions(c)) for c in conversations)

    runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, config in VARIANTS.items():
            system = build_langmem_system("langmem-hybrid", embeddings, config)
            runs[name].append(evaluate_system(system, conversations, SEARCH_LIMIT, embeddings))

    variants = {}
    for name, results in runs.items():
        ingest = statistics.median(r["ingest_seconds"] for r in results)
        variants[name] = {
            "recall_any@10": results[0]["overall"]["recall_any@10"],
            "recall_any@10_every_round": [r["overall"]["recall_any@10"] for r in results],
            "add_ms_per_session": round(ingest * 1000 / sessions, 2),
            "add_ms_per_turn": round(ingest * 1000 / turns, 3),
            "search_ms_p50": statistics.median(r["search_latency"]["p50_ms"] for r in results),
            "search_ms_p95": statistics.median(r["search_latency"]["p95_ms"] for r in results),
            "ingest_seconds_every_round": [r["ingest_seconds"] for r in results],
        }
    plain, encrypted = variants["plain"], variants["encrypted"]
    report = {
        "benchmark": "encryption-at-rest",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": str(args.data),
        "conversations": [c.sample_id for c in conversations],
        "turns": turns,
        "sessions": sessions,
        "questions": questions,
        "rounds": args.rounds,
        "embedder": embeddings.model,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
        "variants": variants,
        "ratios": {
            "recall_any@10": _ratio(encrypted["recall_any@10"], plain["recall_any@10"]),
            "add": _ratio(encrypted["add_ms_per_turn"], plain["add_ms_per_turn"]),
            "search_p50": _ratio(encrypted["search_ms_p50"], plain["search_ms_p50"]),
            "search_p95": _ratio(encrypted["search_ms_p95"], plain["search_ms_p95"]),
        },
        "end_to_end": _end_to_end_variants(conversations[: args.end_to_end_conversations], args.rounds, model)
        if args.end_to_end_conversations
        else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
