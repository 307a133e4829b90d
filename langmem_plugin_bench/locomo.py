"""LoCoMo retrieval (and optional QA) benchmark: langmem-plugin beside baselines, one run, one embedder.

For every question of categories 1-4 each system retrieves k memories; a memory covers the
dia_ids it was built from (its provenance), and the question's evidence dia_ids decide
Recall@k (any / all evidence) and NDCG@k. Latency is the search call alone: queries are
embedded before timing, and the time to embed a text first seen within a search (the question
less the words common in the scope, which langmem embeds instead) is left out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langsmith import Client

from langmem_plugin import progress
from langmem_plugin.builder import configured_chat_model
from langmem_plugin.config import LLMConfig, MemoryConfig
from langmem_plugin.errors import InvalidInputError
from langmem_plugin.extras import Requirement, require
from langmem_plugin.locomo_format import Conversation

from .evaluators import KS, retrieval_evaluator, retrieval_outputs, run_evaluators
from .experiment import (
    dataset_name,
    ensure_dataset,
    langsmith_configured,
    locomo_examples,
    run_experiment,
    summarise,
)
from .locomo_data import load_locomo, retrieval_questions
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
from .score_reading import UNRELATED_QUESTIONS, format_scores, read_scores

SYSTEMS = ("langmem-hybrid", "langmem-manager", "dense-only", "bm25", "langgraph-inmemorystore")
SCORED_SYSTEMS = ("langmem-hybrid", "langmem-manager")  # the systems whose hits carry a relevance score
SCORES_K = 10


# What each part of the run imports, checked before any work: (module, pip package, extra).
ALWAYS_NEEDED: list[Requirement] = [
    ("matplotlib", "matplotlib", "bench"),
    ("tokenizers", "tokenizers", "local"),
    ("safetensors", "safetensors", "local"),
]
NEEDED_BY_SYSTEM: dict[str, list[Requirement]] = {
    "bm25": [("bm25s", "bm25s", "bench")],
    "langgraph-inmemorystore": [("langgraph", "langgraph", "bench")],
}
NEEDED_FOR_QA: list[Requirement] = [("langchain_openai", "langchain-openai", "openai")]


def required_modules(systems: tuple[str, ...], qa: bool) -> list[Requirement]:
    needed = ALWAYS_NEEDED + [m for name in systems for m in NEEDED_BY_SYSTEM.get(name, [])]
    return needed + (NEEDED_FOR_QA if qa else [])


def build_langmem_system(
    name: str, embeddings: MemoizedEmbeddings, memory_config: dict[str, Any] | None = None
) -> LangMemRetriever:
    """One of SCORED_SYSTEMS: langmem-plugin storing turns verbatim, or through its memory manager."""
    return LangMemRetriever(name, embeddings, infer=name == "langmem-manager", config=memory_config)


def build_system(
    name: str, embeddings: MemoizedEmbeddings, memory_config: dict[str, Any] | None = None
) -> Retriever:
    """`memory_config` (MemoryConfig fields, e.g. {"search": {"dense_weight": 2}}) tunes the langmem
    systems."""
    factories: dict[str, Callable[[], Retriever]] = {
        "langmem-hybrid": lambda: build_langmem_system("langmem-hybrid", embeddings, memory_config),
        "langmem-manager": lambda: build_langmem_system("langmem-manager", embeddings, memory_config),
        "dense-only": lambda: DenseRetriever(embeddings),
        "bm25": BM25Retriever,
        "langgraph-inmemorystore": lambda: InMemoryStoreRetriever(embeddings),
    }
    return factories[name]()


def evaluate_system(
    system: Retriever, conversations: list[Conversation], k_max: int, embeddings: MemoizedEmbeddings
) -> dict:
    """`embeddings`: the memo the system embeds with, whose embedding time the search latency leaves out."""
    rows: list[tuple[int, dict[str, float], float]] = []  # (category, scores, search ms) per question
    retrieved_tokens: list[int] = []
    ingest_seconds = 0.0
    bar = progress.start(f"[locomo] {system.name}: conversations", len(conversations))
    for conversation in conversations:
        started = time.perf_counter()
        system.ingest(conversation)
        ingest_seconds += time.perf_counter() - started
        for question in retrieval_questions(conversation):
            started, embedding = time.perf_counter(), embeddings.seconds
            items = system.search(conversation, question.question, k_max)
            elapsed_ms = (time.perf_counter() - started - (embeddings.seconds - embedding)) * 1000
            outputs = {"retrieved": retrieval_outputs(items)}
            scores = run_evaluators(
                [retrieval_evaluator],
                {"question": question.question},
                outputs,
                {"evidence": question.evidence},
            )
            rows.append((question.category, scores, elapsed_ms))
            retrieved_tokens.append(sum(len(item.text.split()) for item in items[:10]))
        bar.advance()
    bar.close()
    system.close()
    return {
        **summarise(rows),
        "ingest_seconds": round(ingest_seconds, 2),
        "retrieved_words_per_query_at_10": round(sum(retrieved_tokens) / max(len(retrieved_tokens), 1), 1),
    }


def _warm_embeddings(
    conversations: list[Conversation], embeddings: Embeddings
) -> tuple[MemoizedEmbeddings, float]:
    """Embed every turn and question once for all systems; returns the memo and the seconds it took."""
    shared = MemoizedEmbeddings(embeddings)
    started = time.perf_counter()
    texts = shared.missing(
        [t.render() for c in conversations for t in c.turns]
        + [q.question for c in conversations for q in c.questions]
    )
    with progress.tracked("[locomo] embedding turns and questions", len(texts)) as bar:
        shared.warm(texts, bar.advance)
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
    results = {
        name: evaluate_system(build_system(name, shared, memory_config), conversations, max(KS), shared)
        for name in systems
    }
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


def run_score_reading(
    data: str | Path,
    embeddings: Embeddings,
    systems: tuple[str, ...] = SCORED_SYSTEMS,
    limit_conversations: int | None = None,
    memory_config: dict[str, Any] | None = None,
    k: int = SCORES_K,
) -> dict:
    """`score_reading.read_scores` of the langmem systems among `systems`, over shared embeddings."""
    conversations = load_locomo(data)[:limit_conversations]
    shared, _ = _warm_embeddings(conversations, embeddings)
    shared.warm(list(UNRELATED_QUESTIONS))
    scored = tuple(name for name in systems if name in SCORED_SYSTEMS)
    report = read_scores(
        lambda name: build_langmem_system(name, shared, memory_config), conversations, scored, k
    )
    sample_ids = [c.sample_id for c in conversations]
    return {**report, "data": str(data), "conversations": sample_ids, "embedder": shared.model}


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
    dataset = ensure_dataset(
        client,
        name,
        examples,
        f"LoCoMo questions from {Path(data).name}: {', '.join(c.sample_id for c in conversations)}",
    )
    progress.note(f"[locomo] dataset {name}: {len(examples)} examples")
    shared, embed_seconds = _warm_embeddings(conversations, embeddings)
    results = {}
    for system_name in systems:
        progress.note(
            f"[locomo] {system_name}: ingesting {len(conversations)} conversations, then evaluating"
        )
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
    header = (
        f"{'system':<26}"
        + "".join(f"{'R@' + str(k):>8}" for k in KS)
        + f"{'nDCG@10':>9}{'p50 ms':>8}{'p95 ms':>8}"
    )
    lines = [header, "-" * len(header)]
    for name, result in report["systems"].items():
        overall = result["overall"]
        lines.append(
            f"{name:<26}"
            + "".join(f"{overall[f'recall_any@{k}']:>8.3f}" for k in KS)
            + f"{overall['ndcg@10']:>9.3f}"
            + f"{result['search_latency']['p50_ms']:>8.2f}{result['search_latency']['p95_ms']:>8.2f}"
        )
    lines.extend(
        f"{name:<26}experiment {result['experiment']}"
        for name, result in report["systems"].items()
        if "experiment" in result
    )
    return "\n".join(lines)


def chat_model(model: str, base_url: str | None):
    """ChatOpenAI for OpenAI or any OpenAI-compatible server (base_url)."""
    return configured_chat_model(MemoryConfig(llm=LLMConfig(model=model, base_url=base_url)))


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
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {', '.join(SYSTEMS)}"
    )
    parser.add_argument("--conversations", type=int, help="only the first N conversations")
    parser.add_argument(
        "--memory-config",
        type=_json_object,
        help="JSON MemoryConfig fields for the langmem systems, "
        """e.g. '{"search": {"dense_weight": 2}}' (one configuration per run)""",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="where JSON and PNG go")
    parser.add_argument(
        "--qa", action="store_true", help="also answer and judge every question (needs an LLM)"
    )
    parser.add_argument("--model", default="gpt-4o-mini", help="answering model (ChatOpenAI)")
    parser.add_argument("--judge-model", help="judging model (default: --model)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument(
        "--qa-system",
        default="langmem-hybrid",
        choices=SYSTEMS,
        help="the system whose hits the local --qa run answers from",
    )
    parser.add_argument("--qa-k", type=int, default=10, help="how many hits the answering model sees")
    parser.add_argument(
        "--qa-max-questions", type=int, help="answer only the first N questions in the local --qa run"
    )
    parser.add_argument(
        "--langsmith",
        action="store_true",
        help="run every system as a LangSmith experiment on one dataset (needs LANGSMITH_API_KEY; "
        "without it the same evaluators run locally); with --qa each experiment also answers and judges",
    )
    parser.add_argument(
        "--experiment-prefix", default="locomo", help="experiment names: PREFIX-SYSTEM-<suffix>"
    )
    parser.add_argument(
        "--scores",
        action="store_true",
        help=f"instead of comparing systems, read the relevance scores of {', '.join(SCORED_SYSTEMS)} "
        f"(top {SCORES_K} hits): the share of hits at or above each threshold that are evidence, "
        "unrelated questions' scores, a recommended recall threshold; writes locomo_scores.json",
    )
    args = parser.parse_args(argv)
    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    require(required_modules(systems, args.qa), "langmem-plugin bench locomo")

    from langmem_plugin.embeddings import MiniLMEmbeddings

    with progress.step("[locomo] loading the all-MiniLM-L6-v2 embedding model"):
        embeddings = MiniLMEmbeddings()
    if args.scores:
        report = run_score_reading(args.data, embeddings, systems, args.conversations, args.memory_config)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "locomo_scores.json").write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
        print(format_scores(report), file=sys.stderr)
        return 0
    if args.langsmith and not langsmith_configured():
        progress.note(
            "[locomo] --langsmith: neither LANGSMITH_API_KEY nor LANGCHAIN_API_KEY is set; "
            "running the same evaluators locally"
        )
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
            report["qa"] = run_qa(
                system, conversations, answer_model, judge_model, args.qa_k, args.qa_max_questions
            )
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / (
        "locomo_langsmith.json" if report["benchmark"] == "locomo-langsmith" else "locomo.json"
    )
    json_path.write_text(json.dumps(report, indent=2))
    report["plot"] = str(plot_recall_curves(report, args.out / "locomo_recall.png", KS))
    print(json.dumps(report, indent=2))
    print(format_table(report), file=sys.stderr)
    return 0
