"""The LoCoMo harness: data loading, metrics, every system, QA with scripted models, CLI, plots."""

import json
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from langmem_plugin.cli import main as cli_main
from langmem_plugin.errors import InvalidInputError
from langmem_plugin.locomo_format import parse_session_time
from langmem_plugin_bench.locomo import (
    KS,
    SYSTEMS,
    build_system,
    format_table,
    run_retrieval,
    run_score_reading,
)
from langmem_plugin_bench.locomo_data import load_locomo
from langmem_plugin_bench.metrics import ndcg, recall_all, recall_any, token_f1
from langmem_plugin_bench.qa import JudgeFormatError, parse_judgement, run_qa
from langmem_plugin_bench.retrievers import MemoizedEmbeddings
from langmem_plugin_bench.score_reading import (
    EVIDENCE_KEPT,
    THRESHOLDS,
    UNRELATED_QUESTIONS,
    ScoreSample,
    format_scores,
    recommended_threshold,
    speaker_conversations,
    summarise_sample,
)

from .helpers import HashingEmbeddings

LOCOMO_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo" / "locomo_dev.json"


def tiny_locomo() -> list[dict]:
    """Two small conversations in the locomo10.json layout, written for these tests."""
    return [
        {
            "sample_id": "conv-a",
            "conversation": {
                "speaker_a": "Nora",
                "speaker_b": "Ivan",
                "session_1_date_time": "10:00 am on 3 March, 2023",
                "session_1": [
                    {"speaker": "Nora", "dia_id": "D1:1", "text": "I adopted a grey kitten called Pixel yesterday."},
                    {"speaker": "Ivan", "dia_id": "D1:2", "text": "Congratulations! I started learning the violin."},
                    {"speaker": "Nora", "dia_id": "D1:3", "text": "Lovely.", "blip_caption": "a photo of a kitten on a sofa"},
                ],
                "session_2_date_time": "4:30 pm on 12 April, 2023",
                "session_2": [
                    {"speaker": "Ivan", "dia_id": "D2:1", "text": "My violin teacher moved to Vienna."},
                    {"speaker": "Nora", "dia_id": "D2:2", "text": "Pixel broke my favourite mug this morning."},
                ],
            },
            "qa": [
                {"question": "What is the name of Nora's kitten?", "answer": "Pixel", "evidence": ["D1:1"], "category": 4},
                {"question": "Where did Ivan's violin teacher move?", "answer": "Vienna", "evidence": ["D2:1"], "category": 4},
                {"question": "When did Nora adopt a kitten?", "answer": "2 March 2023", "evidence": ["D1:1"], "category": 2},
                {"question": "What did Pixel break?", "answer": "a mug", "evidence": ["D2:2", "D1:1"], "category": 1},
                {"question": "Did Ivan adopt a dog?", "adversarial_answer": "no", "evidence": ["D1:2"], "category": 5},
            ],
        },
        {
            "sample_id": "conv-b",
            "speaker_a": "Omar",
            "speaker_b": "Lea",
            "session_1_date_time": "9:15 pm on 1 June, 2023",
            "session_1": [
                {"speaker": "Omar", "dia_id": "D1:1", "text": "I ran my first marathon in Berlin."},
                {"speaker": "Lea", "dia_id": "D1:2", "text": "I am planting tomatoes in my garden."},
            ],
            "qa": [{"question": "Which city hosted Omar's marathon?", "answer": "Berlin", "evidence": ["D1:1"], "category": 4}],
        },
    ]


@pytest.fixture
def locomo_file(tmp_path) -> Path:
    path = tmp_path / "tiny_locomo.json"
    path.write_text(json.dumps(tiny_locomo()))
    return path


def test_loading_keeps_sessions_turns_captions_and_questions(locomo_file):
    first, second = load_locomo(locomo_file)
    assert first.speakers == ("Nora", "Ivan") and second.speakers == ("Omar", "Lea")
    assert [s.number for s in first.sessions] == [1, 2]
    assert first.sessions[1].timestamp.isoformat() == "2023-04-12T16:30:00+00:00"
    assert first.turns[2].render() == "Nora: Lovely. [shares a photo: a photo of a kitten on a sofa]"
    assert [q.category for q in first.questions] == [4, 4, 2, 1, 5]
    assert first.questions[4].answer == "no"


def test_bad_data_is_a_typed_error(tmp_path):
    with pytest.raises(InvalidInputError):
        load_locomo(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps([{"qa": []}]))
    with pytest.raises(InvalidInputError):
        load_locomo(tmp_path / "bad.json")
    with pytest.raises(InvalidInputError):
        parse_session_time("sometime in May")


def test_metrics():
    retrieved = [{"a"}, {"x"}, {"b", "c"}]
    assert recall_any(retrieved, {"b"}, 1) == 0.0 and recall_any(retrieved, {"b"}, 3) == 1.0
    assert recall_all(retrieved, {"a", "b"}, 2) == 0.0 and recall_all(retrieved, {"a", "b"}, 3) == 1.0
    assert ndcg([{"a"}], {"a"}, 10) == 1.0
    assert ndcg([{"x"}, {"a"}], {"a"}, 10) == pytest.approx(1 / 1.5849625, rel=1e-6)
    assert ndcg([{"a"}, {"a"}], {"a", "b"}, 10) == pytest.approx(1 / (1 + 1 / 1.5849625))
    assert token_f1("The Pixel", "pixel") == 1.0
    assert token_f1("a grey cat", "grey kitten") == pytest.approx(0.5)
    assert token_f1("", "x") == 0.0


def test_every_system_runs_and_is_scored(locomo_file):
    report = run_retrieval(locomo_file, HashingEmbeddings(), SYSTEMS)
    assert set(report["systems"]) == set(SYSTEMS)
    for name, result in report["systems"].items():
        assert result["questions"] == 5  # category 5 is excluded
        overall = result["overall"]
        for k in KS:
            assert 0.0 <= overall[f"recall_all@{k}"] <= overall[f"recall_any@{k}"] <= 1.0
        assert overall["recall_any@20"] == 1.0, name  # every turn fits in 20 results
        assert result["search_latency"]["p95_ms"] >= result["search_latency"]["p50_ms"] >= 0
    assert report["systems"]["langmem-hybrid"]["overall"]["recall_any@1"] >= 0.6
    assert "langmem-hybrid" in format_table(report)
    assert set(report["hybrid_recall_any@10_ratio"]) == set(SYSTEMS) - {"langmem-hybrid"}


def test_manager_system_maps_memories_back_to_dia_ids(locomo_file):
    conversation = load_locomo(locomo_file)[0]
    system = build_system("langmem-manager", MemoizedEmbeddings(HashingEmbeddings()))
    system.ingest(conversation)
    items = system.search(conversation, "Nora kitten Pixel", 5)
    assert items and all(item.dia_ids <= {t.dia_id for t in conversation.turns} for item in items)
    assert any("Nora adopted a grey kitten called Pixel on 2 March 2023" in item.text for item in items)
    system.close()


def test_qa_with_scripted_models(locomo_file):
    conversations = load_locomo(locomo_file)
    questions = [q for c in conversations for q in c.questions if q.category != 5]
    answers = FakeListChatModel(responses=["Pixel", "Vienna", "2 March 2023", "a plate", "Berlin"])
    judge = FakeListChatModel(
        responses=['{"label": "CORRECT"}', "```json\n{\"label\": \"CORRECT\"}\n```", "CORRECT", '{"label": "WRONG"}', "Label: correct."]
    )
    system = build_system("langmem-hybrid", MemoizedEmbeddings(HashingEmbeddings()))
    report = run_qa(system, conversations, answers, judge, k=3)
    assert report["questions"] == len(questions) == 5
    assert report["overall"]["judge_accuracy"] == pytest.approx(0.8)
    assert report["by_category"]["multi-hop"] == {"judge_accuracy": 0.0, "f1": 0.0}
    assert report["by_category"]["single-hop"]["f1"] == 1.0
    assert [s["correct"] for s in report["samples"]] == [True, True, True, False, True]


def test_judge_without_a_label_is_an_error():
    assert parse_judgement('{"label": "wrong"}') is False
    with pytest.raises(JudgeFormatError):
        parse_judgement("I am not sure.")


def test_cli_bench_writes_json_and_plot(locomo_file, tmp_path, capsys):
    out = tmp_path / "results"
    assert cli_main(["bench", "locomo", "--data", str(locomo_file), "--systems", "langmem-hybrid,bm25", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["systems"]) == {"langmem-hybrid", "bm25"}
    assert json.loads((out / "locomo.json").read_text())["benchmark"] == "locomo-retrieval"
    assert (out / "locomo_recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_speaker_scopes_hold_one_speakers_turns_and_the_questions_naming_only_that_speaker(locomo_file):
    nora, ivan = speaker_conversations(load_locomo(locomo_file)[0])
    assert (nora.sample_id, ivan.sample_id) == ("conv-a:Nora", "conv-a:Ivan")
    assert [t.dia_id for t in nora.turns] == ["D1:1", "D1:3", "D2:2"]
    assert [t.dia_id for t in ivan.turns] == ["D1:2", "D2:1"]
    assert [q.question for q in nora.questions] == [
        "What is the name of Nora's kitten?",
        "When did Nora adopt a kitten?",
    ]
    assert [(q.question, q.evidence) for q in ivan.questions] == [
        ("Where did Ivan's violin teacher move?", ["D2:1"]),
        ("Did Ivan adopt a dog?", ["D1:2"]),
    ]


def test_score_reading_sorts_every_hit_and_recommends_a_threshold(locomo_file):
    report = run_score_reading(locomo_file, HashingEmbeddings())
    assert set(report["layouts"]) == {"conversation", "speaker"}
    questions = {"conversation": 5, "speaker": 4}  # Nora 2, Ivan 1 (his other: adversarial), Omar 1, Lea 0
    for layout, systems in report["layouts"].items():
        assert set(systems) == {"langmem-hybrid", "langmem-manager"}
        for summary in systems.values():
            assert summary["questions"] == questions[layout]
            everything = summary["by_threshold"]["0.00"]
            assert everything["hits_kept"] == summary["hits"]["evidence"] + summary["hits"]["other"] > 0
            assert everything["evidence_kept"] == 1.0 and everything["other_removed"] == 0.0
            assert everything["unrelated_questions_with_a_hit"] == 1.0
            kept = [summary["by_threshold"][f"{t:.2f}"]["evidence_kept"] for t in THRESHOLDS]
            assert kept == sorted(kept, reverse=True)
            assert set(summary["unrelated_top_by_question"]) == set(UNRELATED_QUESTIONS)
    chosen = report["recommended_threshold"]
    summaries = [s for systems in report["layouts"].values() for s in systems.values()]
    assert all(s["by_threshold"][f"{chosen:.2f}"]["evidence_kept"] >= EVIDENCE_KEPT for s in summaries)
    assert f"recommended threshold {chosen:.2f}" in format_scores(report)


def test_the_recommended_threshold_is_the_highest_that_keeps_the_evidence_of_every_sample():
    strong = summarise_sample(ScoreSample(evidence=[0.9] * 99 + [0.42], other=[0.3]))
    weak = summarise_sample(ScoreSample(evidence=[0.8] * 98 + [0.62] * 2, other=[0.7]))
    assert recommended_threshold([strong]) == 0.9  # 99 of 100 at 0.90
    assert recommended_threshold([weak]) == 0.6  # at 0.65 only 98 of 100
    assert recommended_threshold([strong, weak]) == 0.6
    assert strong["evidence_share_of_hits_at_least_0.5"] == pytest.approx(99 / 99)
    assert weak["evidence_share_of_hits_at_least_0.5"] == pytest.approx(100 / 101)


def test_cli_bench_scores_writes_json(locomo_file, tmp_path, capsys):
    out = tmp_path / "results"
    arguments = ["--data", str(locomo_file), "--scores", "--systems", "langmem-hybrid", "--out", str(out)]
    assert cli_main(["bench", "locomo", *arguments]) == 0
    report = json.loads((out / "locomo_scores.json").read_text())
    assert report["benchmark"] == "locomo-scores"
    assert set(report["layouts"]["conversation"]) == {"langmem-hybrid"}
    assert json.loads(capsys.readouterr().out)["recommended_threshold"] == report["recommended_threshold"]


@pytest.mark.locomo
@pytest.mark.skipif(not LOCOMO_DEV.exists(), reason="LoCoMo dev split not present in ../shared/data")
def test_hybrid_beats_baselines_on_a_locomo_conversation(minilm):
    report = run_retrieval(LOCOMO_DEV, minilm, ("langmem-hybrid", "dense-only", "bm25"), limit_conversations=1)
    ratios = report["hybrid_recall_any@10_ratio"]
    assert ratios["dense-only"] > 1.1 and ratios["bm25"] > 1.1, ratios
