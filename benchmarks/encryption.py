"""What encryption at rest costs: LoCoMo retrieval recall and add / search latency of the embedded
store with and without encryption, in one run.

The two stores are measured in pairs: each round opens a fresh plain store and a fresh encrypted
one, adds every session of every conversation to both (`langmem-hybrid`: each session's turns
verbatim, one `add`) and asks both every retrieval question (limit 10), alternating which goes
first at each call, so that a change of machine load weighs on both alike. Latencies are the
median over rounds of each round's figure; recall is the same in every round (searches are
deterministic).

Storage: on the same memoized embeddings, so the embedder's time is left out of both (the strictest
ratio). End to end: the first `--end-to-end-conversations` conversations again, each store with the
offline embedder (all-MiniLM-L6-v2) embedding every turn and question as a user's calls do: what an
application waits for.

    python benchmarks/encryption.py --data ../shared/data/locomo/locomo_dev.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from langmem_plugin.embeddings import MiniLMEmbeddings
from langmem_plugin.encryption import generate_master_key
from langmem_plugin.locomo_format import Conversation
from langmem_plugin_bench.evaluators import retrieval_evaluator, retrieval_outputs, run_evaluators
from langmem_plugin_bench.experiment import summarise
from langmem_plugin_bench.locomo import build_langmem_system
from langmem_plugin_bench.locomo_data import load_locomo, retrieval_questions
from langmem_plugin_bench.retrievers import LangMemRetriever, MemoizedEmbeddings

VARIANTS = {"plain": {}, "encrypted": {"encryption": {"enabled": True}}}
SEARCH_LIMIT = 10  # the default limit of `search`: what R@10 needs and what is timed


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def _paired_round(
    conversations: list[Conversation], embeddings: Callable[[], MemoizedEmbeddings]
) -> dict[str, dict]:
    """One round: both stores fed the same calls, alternating which goes first."""
    systems: dict[str, LangMemRetriever] = {
        name: build_langmem_system("langmem-hybrid", embeddings(), config)
        for name, config in VARIANTS.items()
    }
    add_seconds = dict.fromkeys(systems, 0.0)
    rows: dict[str, list] = {name: [] for name in systems}  # (category, scores, search ms) per question
    order = list(systems)

    for conversation in conversations:
        for session in conversation.sessions:
            single = dataclasses.replace(conversation, sessions=[session], questions=[])
            for name in order:
                started = time.perf_counter()
                systems[name].ingest(single)
                add_seconds[name] += time.perf_counter() - started
            order.reverse()
        for question in retrieval_questions(conversation):
            for name in order:
                started = time.perf_counter()
                items = systems[name].search(conversation, question.question, SEARCH_LIMIT)
                search_ms = (time.perf_counter() - started) * 1000
                scores = run_evaluators(
                    [retrieval_evaluator],
                    {"question": question.question},
                    {"retrieved": retrieval_outputs(items)},
                    {"evidence": question.evidence},
                )
                rows[name].append((question.category, scores, search_ms))
            order.reverse()
    for system in systems.values():
        system.close()
    turns = sum(len(c.turns) for c in conversations)
    return {
        name: {"add_ms_per_turn": add_seconds[name] * 1000 / turns, **summarise(rows[name])}
        for name in systems
    }


def _variants(rounds: list[dict[str, dict]]) -> dict:
    variants = {
        name: {
            "recall_any@10": rounds[0][name]["overall"]["recall_any@10"],
            "recall_any@10_every_round": [r[name]["overall"]["recall_any@10"] for r in rounds],
            "add_ms_per_turn": round(statistics.median(r[name]["add_ms_per_turn"] for r in rounds), 3),
            "search_ms_p50": statistics.median(r[name]["search_latency"]["p50_ms"] for r in rounds),
            "search_ms_p95": statistics.median(r[name]["search_latency"]["p95_ms"] for r in rounds),
            "add_ms_per_turn_every_round": [round(r[name]["add_ms_per_turn"], 3) for r in rounds],
        }
        for name in VARIANTS
    }
    plain, encrypted = variants["plain"], variants["encrypted"]
    return {
        "variants": variants,
        "ratios": {
            "recall_any@10": _ratio(encrypted["recall_any@10"], plain["recall_any@10"]),
            "add": _ratio(encrypted["add_ms_per_turn"], plain["add_ms_per_turn"]),
            "search_p50": _ratio(encrypted["search_ms_p50"], plain["search_ms_p50"]),
            "search_p95": _ratio(encrypted["search_ms_p95"], plain["search_ms_p95"]),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a LoCoMo JSON file")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of paired adds and searches")
    parser.add_argument("--conversations", type=int, default=None, help="only the first N conversations")
    parser.add_argument(
        "--end-to-end-conversations",
        type=int,
        default=1,
        help="conversations of the end-to-end rounds, embedder included (0: none)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/encryption.json"))
    args = parser.parse_args()

    os.environ["LANGMEM_ENCRYPTION_KEY"] = generate_master_key()  # read by the encrypted variant's store
    conversations = load_locomo(args.data)[: args.conversations]
    model = MiniLMEmbeddings()
    memo = MemoizedEmbeddings(model)
    memo.warm(
        memo.missing(
            [t.render() for c in conversations for t in c.turns]
            + [q.question for c in conversations for q in c.questions]
        )
    )
    storage = _variants([_paired_round(conversations, lambda: memo) for _ in range(args.rounds)])
    end_to_end = conversations[: args.end_to_end_conversations]
    report = {
        "benchmark": "encryption-at-rest",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": str(args.data),
        "conversations": [c.sample_id for c in conversations],
        "turns": sum(len(c.turns) for c in conversations),
        "sessions": sum(len(c.sessions) for c in conversations),
        "questions": sum(len(retrieval_questions(c)) for c in conversations),
        "rounds": args.rounds,
        "embedder": memo.model,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
        **storage,
        "end_to_end": {
            "conversations": [c.sample_id for c in end_to_end],
            "turns": sum(len(c.turns) for c in end_to_end),
            # a fresh memo for each store: every text is embedded by the store's own calls
            **_variants(
                [_paired_round(end_to_end, lambda: MemoizedEmbeddings(model)) for _ in range(args.rounds)]
            ),
        }
        if end_to_end
        else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
