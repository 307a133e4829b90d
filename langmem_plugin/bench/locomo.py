"""LoCoMo retrieval (and optional QA) benchmark: langmem-plugin beside baselines, one run, one embedder.

For every question of categories 1-4 each system retrieves k memories; a memory covers the
dia_ids it was built from (its provenance), and the question's evidence dia_ids decide
Recall@k (any / all evidence) and NDCG@k. Latency is the search call alone: queries are
embedded before timing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langsmith import Client

from ..config import MemoryConfig
from ..errors import InvalidInputError
from ..services import configured_chat_model
from .evaluators import KS, retrieval_evaluator, retrieval_outputs, run_evaluators
from .experiment import dataset_name, ensure_dataset, langsmith_configured, locomo_examples, run_experiment
from .locomo_data import QA_CATEGORIES, Conversation, load_locomo, retrieval_questions
from .metrics import percentiles_ms
from .plots import plot_recall_curves
from .qa import run_qa
from .retrievers import (
    BM25Retriever,
    DenseRetriever,
    InMemoryStoreRetriever,
    LangMemRetriever,
    MemoizedEmbeddings,
    Retriever,
)

SYSTEMS = ("langmem-hybrid", "langmem-manager", "dense-only", "bm25", "langgraph-inmemorystore")


def progress(message: str) -> None:
    """Progress goes to stderr, so that stdout stays one JSON report."""
    print(f"[locomo] {message}", file=sys.stderr, flush=True)


def build_system(name: str, embeddings: MemoizedEmbeddings, memory_config: dict[str, Any] | None = None) -> Retriever:
    """`memory_config` (MemoryConfig fields, e.g. {"search": {"dense_weight": 2}}) tunes the langmem systems."""
    factories: dict[str, Callable[[], Retriever]] = {
        "langmem-hybrid": lambda: LangMemRetriever("langmem-hybrid", embeddings, infer=False, config=memory_config),
        "langmem-manager": lambda: LangMemRetriever("langmem-manager", embeddings, infer=True, config=memory_config),
        "dense-only": lambda: DenseRetriever(embeddings),
        "bm25": lambda: BM25Retriever(),
        "langgraph-inmemorystore": lambda: InMemoryStoreRetriever(embeddings),
    }
    return factories[name]()


def _empty_scores() -> dict[str, list[float]]:
    return defaultdict(list)


def evaluate_system(system: Retriever, conversations: list[Conversation], k_max: int) -> dict:
    per_category: dict[int, dict[str, list[float]]] = defaultdict(_empty_scores)
    latencies: list[float] = []
    retrieved_tokens: list[int] = []
    ingest_seconds = 0.0
    for number, conversation in enumerate(conversations, start=1):
        progress(f"{system.name}: conversation {number}/{len(conversations)} ({conversation.sample_id}): ingesting")
        started = time.perf_counter()
        system.ingest(conversation)
        ingest_seconds += time.perf_counter() - started
        progress(f"{system.name}: conversation {number}/{len(conversations)} ({conversation.sample_id}): searching")
        for question in retrieval_questions(conversation):
            started = time.perf_counter()
            items = system.search(conversation, question.question, k_max)
            latencies.append(time.perf_counter() - started)
            outputs = {"retrieved": retrieval_outputs(items)}
            scores = run_evaluators([retrieval_evaluator], {"question": question.question}, outputs, {"evidence": question.evidence})
            for metric, score in scores.items():
                per_category[question.category][metric].append(score)
            retrieved_tokens.append(sum(len(item.text.split()) for item in items[:10]))
    system.close()

    def summarise(lists: dict[str, list[float]]) -> dict[str, float]:
        return {metric: round(sum(values) / len(values), 4) for metric, values in sorted(lists.items())}

    overall: dict[str, list[float]] = defaultdict(list)
    for scores in per_category.values():
        for metric, values in scores.items():
            overall[metric].extend(values)
    return {
        "questions": len(latencies),
        "overall": summarise(overall),
        "by_category": {QA_CATEGORIES[c]: summarise(per_category[c]) for c in sorted(per_category)},
        "search_latency": percentiles_ms(latencies),
        "ingest_seconds": round(ingest_seconds, 2),
        "retrieved_words_per_query_at_10": round(sum(retrieved_tokens) / max(len(retrieved_tokens), 1), 1),
    }


def _warm_embeddings(conversations: list[Conversation], embeddings: Embeddings) -> tuple[MemoizedEmbeddings, float]:
    """Embed every turn and question once for all systems; returns the memo and the seconds it took."""
    shared = MemoizedEmbeddings(embeddings)
    started = time.perf_counter()
    shared.warm(
        [t.render() for c in conversations for t in c.turns] + [q.question for c in conversations for q in c.questions],
        lambda done, total: progress(f"embedding turns and questions: {done}/{total}"),
    )
    return shared, time.perf_counter() - started


def run_retrieval(
    data: str | Path,
    embeddings: Embeddings,
    systems: tuple[str, ...] = SYSTEMS,
    limit_conversations: int | None = None,
    memory_config: dict[str, Any] | None = None,
) -> dict:
    conversations = load_locomo(data)[:limit_conversations]
    shared, embed_seconds = _warm_embeddings(conversations, embeddings)
    results = {name: evaluate_system(build_system(name, shared, memory_config), conversations, max(KS)) for name in systems}
    report = {
        "benchmark": "locomo-retrieval",
        "data": str(data),
        "conversations": [c.sample_id for c in conversations],
        "embedder": shared.model,
        "embedding_seconds": round(embed_seconds, 1),
        "systems": results,
    }
    hybrid = results.get("langmem-hybrid", {}).get("overall", {}).get("recall_any@10")
    if hybrid:
        report["hybrid_recall_any@10_ratio"] = {
            name: round(hybrid / r["overall"]["recall_any@10"], 3)
            for name, r in results.items()
            if name != "langmem-hybrid" and r["overall"].get("recall_any@10")
        }
    return report


def run_langsmith(
    data: str | Path,
    embeddings: Embeddings,
    systems: tuple[str, ...] = SYSTEMS,
    limit_conversations: int | None = None,
    memory_config: dict[str, Any] | None = None,
    *,
    experiment_prefix: str = "locomo",
    client: Client | None = None,
    answer_model: BaseChatModel | None = None,
    judge_model: BaseChatModel | None = None,
    answer_k: int = 10,
) -> dict:
    """Every system as one LangSmith experiment on one dataset of the file's scored questions."""
    conversations = load_locomo(data)[:limit_conversations]
    examples = locomo_examples(conversations)
    if not examples:
        raise InvalidInputError(f"{data} has no question of categories 1-4 with evidence to evaluate")
    client = client or Client()
    name = dataset_name(data, examples)
    dataset = ensure_dataset(client, name, examples, f"LoCoMo questions from {Path(data).name}: {', '.join(c.sample_id for c in conversations)}")
    progress(f"dataset {name}: {len(examples)} examples")
    shared, embed_seconds = _warm_embeddings(conversations, embeddings)
    results = {}
    for system_name in systems:
        progress(f"{system_name}: ingesting {len(conversations)} conversations, then evaluating")
        results[system_name] = run_experiment(
            client,
            dataset,
            build_system(system_name, shared, memory_config),
            conversations,
            k=max(KS),
            experiment_prefix=experiment_prefix,
            metadata={"data": Path(data).name, "answer_model": getattr(answer_model, "model_name", None)},
            answer_model=answer_model,
            judge_model=judge_model,
            answer_k=answer_k,
        )
    client.flush()
    return {
        "benchmark": "locomo-langsmith",
        "data": str(data),
        "conversations": [c.sample_id for c in conversations],
        "embedder": shared.model,
        "embedding_seconds": round(embed_seconds, 1),
        "dataset": name,
        "systems": results,
    }


def format_table(report: dict) -> str:
    header = f"{'system':<26}" + "".join(f"{'R@' + str(k):>8}" for k in KS) + f"{'nDCG@10':>9}{'p50 ms':>8}{'p95 ms':>8}"
    lines = [header, "-" * len(header)]
    for name, result in report["systems"].items():
        overall = result["overall"]
        lines.append(
            f"{name:<26}"
            + "".join(f"{overall[f'recall_any@{k}']:>8.3f}" for k in KS)
            + f"{overall['ndcg@10']:>9.3f}{result['search_latency']['p50_ms']:>8.2f}{result['search_latency']['p95_ms']:>8.2f}"
        )
    lines.extend(f"{name:<26}experiment {result['experiment']}" for name, result in report["systems"].items() if "experiment" in result)
    return "\n".join(lines)


def chat_model(model: str, base_url: str | None):
    """ChatOpenAI for OpenAI or any OpenAI-compatible server (base_url)."""
    return configured_chat_model(MemoryConfig(llm={"model": model, "base_url": base_url}))


def _json_object(text: str) -> dict[str, Any]:
    """argparse type: a JSON object, or a usage error."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="langmem-plugin bench locomo", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a locomo10.json-style file")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {', '.join(SYSTEMS)}")
    parser.add_argument("--conversations", type=int, help="only the first N conversations")
    parser.add_argument(
        "--memory-config",
        type=_json_object,
        help='JSON MemoryConfig fields for the langmem systems, e.g. \'{"search": {"dense_weight": 2}}\' (one configuration per run)',
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="where JSON and PNG go")
    parser.add_argument("--qa", action="store_true", help="also answer and judge every question (needs an LLM)")
    parser.add_argument("--model", default="gpt-4o-mini", help="answering model (ChatOpenAI)")
    parser.add_argument("--judge-model", help="judging model (default: --model)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--qa-system", default="langmem-hybrid", choices=SYSTEMS)
    parser.add_argument("--qa-k", type=int, default=10)
    parser.add_argument("--qa-max-questions", type=int)
    parser.add_argument(
        "--langsmith",
        action="store_true",
        help="run every system as a LangSmith experiment on one dataset (needs LANGSMITH_API_KEY; "
        "without it the same evaluators run locally); with --qa each experiment also answers and judges",
    )
    parser.add_argument("--experiment-prefix", default="locomo", help="experiment names: PREFIX-SYSTEM-<suffix>")
    args = parser.parse_args(argv)
    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")

    from ..embeddings import MiniLMEmbeddings

    embeddings = MiniLMEmbeddings()
    if args.langsmith and not langsmith_configured():
        progress("--langsmith: neither LANGSMITH_API_KEY nor LANGCHAIN_API_KEY is set; running the same evaluators locally")
    if args.langsmith and langsmith_configured():
        report = run_langsmith(
            args.data,
            embeddings,
            systems,
            args.conversations,
            args.memory_config,
            experiment_prefix=args.experiment_prefix,
            answer_model=chat_model(args.model, args.base_url) if args.qa else None,
            judge_model=chat_model(args.judge_model or args.model, args.base_url) if args.qa else None,
            answer_k=args.qa_k,
        )
    else:
        report = run_retrieval(args.data, embeddings, systems, args.conversations, args.memory_config)
        if args.qa:
            answer_model = chat_model(args.model, args.base_url)
            judge_model = chat_model(args.judge_model or args.model, args.base_url)
            conversations = load_locomo(args.data)[: args.conversations]
            system = build_system(args.qa_system, MemoizedEmbeddings(embeddings), args.memory_config)
            report["qa"] = run_qa(system, conversations, answer_model, judge_model, args.qa_k, args.qa_max_questions)
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / ("locomo_langsmith.json" if report["benchmark"] == "locomo-langsmith" else "locomo.json")
    json_path.write_text(json.dumps(report, indent=2))
    report["plot"] = str(plot_recall_curves(report, args.out / "locomo_recall.png", KS))
    print(json.dumps(report, indent=2))
    print(format_table(report), file=sys.stderr)
    return 0
