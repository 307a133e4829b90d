"""Import shapes, export round trip and progress reporting (the CLI itself: test_cli_and_config.py)."""

import io
import json
import sys

import pytest

from langmem_plugin import ImportFormatError, InputTooLargeError, InvalidInputError, Memory, Scope
from langmem_plugin import progress
from langmem_plugin.transfer import export_document, plan_import, read_document, run_import

from .helpers import HashingEmbeddings

LOCOMO_SAMPLE = {
    "sample_id": "conv-x",
    "conversation": {
        "speaker_a": "Caroline",
        "speaker_b": "Mel",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Caroline", "dia_id": "D1:1", "text": "I went to a support group yesterday."},
            {"speaker": "Mel", "dia_id": "D1:2", "text": "", "blip_caption": "a photo of a lake"},
        ],
    },
    "qa": [],
}
CHATGPT_EXPORT = [
    {
        "title": "Trip",
        "create_time": 1714000000.0,
        "mapping": {
            "root": {"message": None, "parent": None, "children": ["b"]},
            "b": {"message": {"id": "m2", "author": {"role": "assistant"}, "content": {"parts": ["Sounds fun!"]}, "create_time": 1714000060.0}},
            "a": {"message": {"id": "m1", "author": {"role": "user"}, "content": {"parts": ["I fly to Oslo in June."]}, "create_time": 1714000000.0}},
            "s": {"message": {"id": "m0", "author": {"role": "system"}, "content": {"parts": [""]}, "create_time": None}},
        },
    }
]


@pytest.fixture
def memory(tmp_path):
    with Memory({"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings()) as opened:
        yield opened


def test_recognised_shapes_become_add_batches():
    messages = [{"role": "user", "content": f"fact number {i}"} for i in range(5)]
    plan = plan_import(messages, batch_size=2)
    assert plan.format == "messages" and [len(b.messages) for b in plan.batches] == [2, 2, 1]
    assert plan_import({"messages": messages}, 5).batches[0].messages == messages
    days = [{"content": "a", "timestamp": "2024-01-01T10:00:00Z"}, {"content": "b", "timestamp": "2024-01-01T23:00:00Z"},
            {"content": "c", "timestamp": 1704153600}]  # 2024-01-02: a new day starts a new batch
    assert [[m["content"] for m in b.messages] for b in plan_import(days, 20).batches] == [["a", "b"], ["c"]]
    locomo = plan_import([LOCOMO_SAMPLE], 20)
    assert locomo.format == "LoCoMo"
    assert [(m["name"], m["content"], m["id"]) for m in locomo.batches[0].messages] == [
        ("Caroline", "I went to a support group yesterday.", "conv-x:D1:1"),
        ("Mel", "[shares a photo: a photo of a lake]", "conv-x:D1:2"),
    ]
    assert str(locomo.batches[0].messages[0]["timestamp"]) == "2023-05-08 13:56:00+00:00"
    chatgpt = plan_import(CHATGPT_EXPORT, 20)
    assert chatgpt.format == "ChatGPT export"
    assert [(m["role"], m["content"]) for m in chatgpt.batches[0].messages] == [("user", "I fly to Oslo in June."), ("assistant", "Sounds fun!")]


@pytest.mark.parametrize(
    "document, error",
    [([{"who": "x"}], ImportFormatError), ([], ImportFormatError), (["text"], ImportFormatError), ({"format": "langmem-plugin/export", "version": 9}, ImportFormatError)],
)
def test_unrecognised_documents_are_refused(document, error):
    with pytest.raises(error):
        plan_import(document, 20)
    with pytest.raises(InvalidInputError):
        plan_import([{"content": "x"}], 0)


def test_json_and_jsonl_files_are_read(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"content": "x"}]))
    (tmp_path / "b.jsonl").write_text('{"content": "x"}\n\n{"content": "y"}\n')
    (tmp_path / "c.json").write_text('{"content": "x"}\n{oops')
    assert read_document(str(tmp_path / "a.json")).value == [{"content": "x"}]
    jsonl = read_document(str(tmp_path / "b.jsonl"))
    assert (jsonl.value, jsonl.lines) == ([{"content": "x"}, {"content": "y"}], [1, 3])
    with pytest.raises(ImportFormatError, match="line 2"):
        read_document(str(tmp_path / "c.json"))
    with pytest.raises(InvalidInputError):
        read_document(str(tmp_path / "missing.json"))


def test_export_round_trips_and_reports_what_it_cannot_carry(memory, tmp_path):
    alice = Scope(user_id="alice")
    memory.add({"role": "user", "content": "I live in Porto.", "timestamp": "2024-01-05T10:00:00Z"}, user_id="alice", metadata={"topic": "home"})
    memory.add({"role": "user", "content": "I live in Oslo.", "timestamp": "2024-03-01T10:00:00Z"}, user_id="alice")
    memory.add({"role": "user", "content": "I love sailing.", "timestamp": "2024-03-02T10:00:00Z"}, user_id="alice")
    memory.add({"role": "user", "content": "I love sailing!", "timestamp": "2024-04-02T10:00:00Z"}, user_id="alice")  # NOOP: 2 sources
    memory.add("I live elsewhere.", user_id="bob")
    document = export_document(memory, alice, include_invalidated=True)
    assert [(m["memory"], m["valid_to"] is not None) for m in document["memories"]] == [
        ("Alice lives in Porto.", True), ("Alice lives in Oslo.", False), ("Alice loves sailing.", False)
    ]
    assert [e["event"] for e in document["memories"][0]["history"]] == ["ADD", "INVALIDATE"]
    with Memory({"path": str(tmp_path / "copy")}, embeddings=HashingEmbeddings()) as copy:
        summary = run_import(copy, plan_import(document, 20), alice, infer=True)
        assert (summary.events, summary.skipped_invalidated, summary.sources_not_carried) == ({"ADD": 2}, 1, 1)
        assert any("skipped 1 invalidated" in line for line in summary.lines())
        again = export_document(copy, alice, include_invalidated=True)["memories"]
    current = [m for m in document["memories"] if m["valid_to"] is None]
    keep = ("memory", "metadata", "valid_from", "user_id")
    assert [{k: m[k] for k in keep} for m in again] == [{k: m[k] for k in keep} for m in current]
    assert again[1]["sources"][0]["timestamp"] == "2024-03-02T10:00:00Z"


def test_export_refuses_to_truncate(tmp_path):
    with Memory({"path": str(tmp_path / "m"), "limits": {"max_limit": 2}}, embeddings=HashingEmbeddings()) as memory:
        memory.add(["one fact here", "two facts here"], user_id="u", infer=False)
        with pytest.raises(InputTooLargeError, match="MAX_LIMIT"):
            export_document(memory, Scope(user_id="u"), include_invalidated=False)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_plain_lines_off_a_terminal_and_a_bar_on_one(monkeypatch):
    log = io.StringIO()
    with progress.tracked("importing", 3, log) as bar:
        bar.advance(3)
    assert log.getvalue().splitlines()[0] == "importing: started, 3 to do"
    assert log.getvalue().splitlines()[-1].endswith(", done") and "3/3" in log.getvalue()

    monkeypatch.setitem(sys.modules, "tqdm", None)  # the in-house bar, as without tqdm
    screen = Terminal()
    with progress.tracked("importing", 4, screen) as bar:
        bar.advance(4)
    assert f"\rimporting [{'#' * progress.BAR_WIDTH}] 4/4" in screen.getvalue() and screen.getvalue().endswith("\n")

    monkeypatch.delitem(sys.modules, "tqdm")
    pytest.importorskip("tqdm")
    screen = Terminal()
    with progress.tracked("importing", 4, screen) as bar:
        bar.advance(4)
    assert "importing: 100%" in screen.getvalue() and "4/4" in screen.getvalue()

    steps = io.StringIO()
    with progress.step("loading", steps):
        pass
    assert steps.getvalue().startswith("loading... done in ")
