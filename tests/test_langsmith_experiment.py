"""`bench locomo --langsmith`: the real LangSmith client against a recording server on 127.0.0.1.

Nothing leaves loopback: proxies are unset and any connection to another address fails the test.
"""

import json
import socket

import langsmith.utils
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langsmith import Client

from langmem_plugin.cli import main as cli_main
from langmem_plugin_bench import locomo
from langmem_plugin_bench.evaluators import KS
from langmem_plugin_bench.experiment import ExperimentError
from langmem_plugin_bench.locomo import run_langsmith, run_retrieval
from langmem_plugin_bench.metrics import token_f1

from .helpers import HashingEmbeddings
from .langsmith_server import RecordingLangSmith
from .test_bench_locomo import tiny_locomo

LOOPBACK = ("127.0.0.1", "::1")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
TUNED = {"search": {"dense_weight": 2.0, "keyword_weight": 0.5}}
RETRIEVAL_KEYS = {f"{metric}@{k}" for metric in ("recall_any", "recall_all", "ndcg") for k in KS}


@pytest.fixture
def loopback_only(monkeypatch):
    """Refuse (and record) every connection that is not to the loopback interface."""
    real_connect = socket.socket.connect
    refused = []

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            refused.append(address)
            raise ConnectionRefusedError(f"test allows loopback only, not {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield refused
    assert refused == []


@pytest.fixture
def langsmith_env(monkeypatch, loopback_only):
    """A recording LangSmith on 127.0.0.1 and the environment a LangSmith user sets, pointed at it."""
    with RecordingLangSmith() as server:
        for name in PROXY_VARIABLES + ("LANGCHAIN_API_KEY", "LANGCHAIN_ENDPOINT", "LANGSMITH_PROJECT", "LANGCHAIN_PROJECT"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("LANGSMITH_ENDPOINT", server.url)
        monkeypatch.setenv("LANGSMITH_API_KEY", "test-key-not-a-secret")
        monkeypatch.setenv("LANGSMITH_TRACING", "true")
        langsmith.utils.get_env_var.cache_clear()  # the client memoises environment variables
        yield server
    langsmith.utils.get_env_var.cache_clear()


@pytest.fixture
def one_conversation(tmp_path):
    path = tmp_path / "locomo_one.json"
    path.write_text(json.dumps(tiny_locomo()[:1]))
    return path


def test_experiment_creates_dataset_runs_and_feedback(langsmith_env, one_conversation, tmp_path, capsys, minilm):
    server = langsmith_env
    argv = ["bench", "locomo", "--data", str(one_conversation), "--systems", "langmem-hybrid,bm25"]
    argv += ["--memory-config", json.dumps(TUNED), "--langsmith", "--experiment-prefix", "ci", "--out", str(tmp_path / "out")]
    assert cli_main(argv) == 0
    report = json.loads(capsys.readouterr().out)  # stdout stays the JSON report
    state = server.state
    assert {request.host for request in state.requests} == {"127.0.0.1"}
    assert [r for r in state.requests if r.status >= 400] == []  # the stand-in answered every call the client made
    assert all(request.path == "/info" or request.api_key == "test-key-not-a-secret" for request in state.requests)

    # the dataset: one example per scored question (categories 1-4), with its reference outputs
    (dataset,) = state.datasets.values()
    assert dataset["name"] == report["dataset"]
    examples = sorted(state.examples.values(), key=lambda e: e["inputs"]["question"])
    assert [e["dataset_id"] for e in examples] == [dataset["id"]] * 4
    assert examples[0]["inputs"] == {"conversation": "conv-a", "question": "What did Pixel break?"}
    assert examples[0]["outputs"] == {"answer": "a mug", "evidence": ["D2:2", "D1:1"], "category": 1}
    assert examples[0]["metadata"]["category"] == "multi-hop"
    assert {e["outputs"]["category"] for e in examples} == {1, 2, 4}

    # one experiment per system, on that dataset, named by the prefix, its metadata the configuration
    experiments = {s["name"]: s for s in state.sessions.values() if s.get("reference_dataset_id")}
    assert set(experiments) == {report["systems"][name]["experiment"] for name in ("langmem-hybrid", "bm25")}
    hybrid = experiments[report["systems"]["langmem-hybrid"]["experiment"]]
    assert hybrid["name"].startswith("ci-langmem-hybrid-") and hybrid["reference_dataset_id"] == dataset["id"]
    configuration = hybrid["extra"]["metadata"]
    assert configuration["system"] == "langmem-hybrid" and configuration["manager"] == "none (verbatim turns)"
    assert configuration["vector_backend"] == "sqlite" and configuration["kv_backend"] == "diskcache"
    assert configuration["search.dense_weight"] == 2.0 and configuration["search.keyword_weight"] == 0.5
    assert configuration["search.rrf_k"] == 60 and configuration["graph_backend"] == "disabled"
    assert configuration["embedder"].startswith("memo:") and configuration["k"] == max(KS)

    # every example ran once per experiment as a root run, the memory search nested under it
    roots = [r for r in state.runs.values() if r.get("name") == "Target"]
    assert len(roots) == 8
    for experiment in experiments.values():
        ran = [r for r in roots if r["session_name"] == experiment["name"]]
        assert sorted(r["reference_example_id"] for r in ran) == sorted(e["id"] for e in examples)
    hybrid_roots = {r["id"] for r in roots if r["session_name"] == hybrid["name"]}
    searches = [r for r in state.runs.values() if r.get("name") == "langmem.search"]
    assert {r["parent_run_id"] for r in searches} == hybrid_roots
    assert {r["extra"]["metadata"]["user_id"] for r in searches} == {"conv-a"}

    # feedback: every retrieval score on every root run, averaging to the printed report
    by_run: dict[str, dict[str, float]] = {}
    for feedback in state.feedback:
        by_run.setdefault(feedback["run_id"], {})[feedback["key"]] = feedback["score"]
    assert set(by_run) == {r["id"] for r in roots}
    assert all(set(scores) == RETRIEVAL_KEYS for scores in by_run.values())
    for name in ("langmem-hybrid", "bm25"):
        session = report["systems"][name]["experiment"]
        runs = [r["id"] for r in roots if r["session_name"] == session]
        mean = sum(by_run[run]["recall_any@1"] for run in runs) / len(runs)
        assert report["systems"][name]["overall"]["recall_any@1"] == pytest.approx(mean, abs=1e-4)

    # the same evaluators, run locally on the embedder the command uses, give the same numbers
    local = run_retrieval(one_conversation, minilm, ("langmem-hybrid", "bm25"), memory_config=TUNED)
    for name in ("langmem-hybrid", "bm25"):
        assert local["systems"][name]["overall"] == report["systems"][name]["overall"]
        assert local["systems"][name]["by_category"] == report["systems"][name]["by_category"]


def test_a_second_run_reuses_the_dataset(langsmith_env, one_conversation):
    client = Client()
    first = run_langsmith(one_conversation, HashingEmbeddings(), ("bm25",), client=client)
    second = run_langsmith(one_conversation, HashingEmbeddings(), ("bm25",), client=client)
    assert first["dataset"] == second["dataset"]
    assert [r.method for r in langsmith_env.state.requests if r.path == "/datasets"].count("POST") == 1
    assert len(langsmith_env.state.examples) == 4
    assert first["systems"]["bm25"]["experiment"] != second["systems"]["bm25"]["experiment"]

    # an upload that lost examples is reported instead of evaluated on
    langsmith_env.state.examples.popitem()
    with pytest.raises(ExperimentError, match="holds 3 examples, not 4"):
        run_langsmith(one_conversation, HashingEmbeddings(), ("bm25",), client=client)


def test_experiment_with_answers_adds_f1_and_judge_feedback(langsmith_env, one_conversation):
    answers = FakeListChatModel(responses=["Pixel", "Vienna", "2 March 2023", "a plate"])
    judge = FakeListChatModel(responses=['{"label": "CORRECT"}', '{"label": "WRONG"}'])
    report = run_langsmith(
        one_conversation, HashingEmbeddings(), ("langmem-hybrid",), client=Client(), answer_model=answers, judge_model=judge, answer_k=3
    )
    state = langsmith_env.state
    assert {f["key"] for f in state.feedback} == RETRIEVAL_KEYS | {"f1", "judge_accuracy"}
    scores = {(f["run_id"], f["key"]): f["score"] for f in state.feedback}
    roots = [r for r in state.runs.values() if r.get("name") == "Target"]
    assert {r["outputs"]["answer"] for r in roots} == {"Pixel", "Vienna", "2 March 2023", "a plate"}
    for run in roots:
        gold = state.examples[run["reference_example_id"]]["outputs"]["answer"]
        assert scores[(run["id"], "f1")] == pytest.approx(token_f1(run["outputs"]["answer"], gold))
        assert scores[(run["id"], "judge_accuracy")] in (0.0, 1.0)
    overall = report["systems"]["langmem-hybrid"]["overall"]
    assert overall["judge_accuracy"] == pytest.approx(0.5)
    assert overall["f1"] == pytest.approx(sum(scores[(r["id"], "f1")] for r in roots) / 4, abs=1e-4)


def test_without_credentials_the_same_evaluators_run_locally(langsmith_env, monkeypatch, one_conversation, tmp_path, capsys):
    monkeypatch.delenv("LANGSMITH_API_KEY")
    langsmith.utils.get_env_var.cache_clear()
    argv = ["bench", "locomo", "--data", str(one_conversation), "--systems", "bm25", "--langsmith", "--out", str(tmp_path / "out")]
    assert cli_main(argv) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["benchmark"] == "locomo-retrieval" and report["systems"]["bm25"]["questions"] == 4
    assert "running the same evaluators locally" in captured.err and "R@10" in captured.err
    assert langsmith_env.state.requests == []


def test_memory_config_must_be_a_json_object(one_conversation, capsys):
    with pytest.raises(SystemExit):
        cli_main(["bench", "locomo", "--data", str(one_conversation), "--memory-config", "[1, 2]"])
    assert "expected a JSON object" in capsys.readouterr().err


def test_a_file_without_scored_questions_is_an_error(tmp_path):
    from langmem_plugin.errors import InvalidInputError

    conversation = tiny_locomo()[0]
    conversation["qa"] = [q for q in conversation["qa"] if q["category"] == 5]
    path = tmp_path / "adversarial_only.json"
    path.write_text(json.dumps([conversation]))
    with pytest.raises(InvalidInputError, match="no question of categories 1-4"):
        run_langsmith(path, HashingEmbeddings(), ("bm25",))


def test_an_example_for_a_conversation_never_ingested_is_an_error(one_conversation):
    from langmem_plugin.errors import InvalidInputError
    from langmem_plugin_bench.experiment import MemoryTarget
    from langmem_plugin_bench.locomo_data import load_locomo

    target = MemoryTarget(locomo.build_system("bm25", None), load_locomo(one_conversation), k=5)
    with pytest.raises(InvalidInputError):
        target({"conversation": "conv-z", "question": "Who?"})
