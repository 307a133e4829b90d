"""An import is checked whole before its first write (every message, every owner), its errors
name the place in the file, and an import interrupted while storing says where to resume."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from langmem_plugin import BackendError, ImportFormatError, ImportInterruptedError, InputTooLargeError
from langmem_plugin import InvalidInputError, Memory, Scope, ValueOutOfRangeError
from langmem_plugin.config import LimitsConfig
from langmem_plugin.managers.offline.manager import OfflineMemoryManager
from langmem_plugin.transfer import plan_import, read_document, run_import

from .helpers import HashingEmbeddings


def test_every_message_is_checked_before_anything_is_stored_and_errors_name_the_place(tmp_path):
    good = [{"role": "user", "content": f"fact number {i}"} for i in range(6)]
    for bad, error, message in (
        ({"role": "user", "content": 7}, InvalidInputError, "message 4: content must be text or a list of content blocks, got int"),
        ({"role": "wizard", "content": "hi"}, InvalidInputError, "message 4: unknown role 'wizard'"),
        ({"role": "user", "content": "x" * 30}, InputTooLargeError, "message 4 has 30 characters"),
        (
            {"role": "user", "content": "a fine text", "timestamp": 10**20},
            ValueOutOfRangeError,
            "message 4: message timestamp",
        ),
    ):
        document = good[:3] + [bad] + good[3:]
        with pytest.raises(error, match=f"^{message}"):
            plan_import(document, 2, LimitsConfig(max_text_chars=20))
    jsonl = tmp_path / "chat.jsonl"
    jsonl.write_text("".join(json.dumps(m) + "\n\n" for m in good[:3] + [{"role": "user", "content": ""}]))
    with pytest.raises(InvalidInputError, match="^line 7 is empty"):
        plan_import(read_document(str(jsonl)), 20)


def test_empty_replies_carry_nothing_and_are_counted():
    messages = [
        {"role": "user", "content": "I fly to Oslo."},
        {"role": "assistant", "content": ""},
        {"role": "tool", "content": []},
    ]
    plan = plan_import(messages, 20)
    assert (plan.messages, plan.skipped_empty) == (1, 2)


class FailingOnce:
    """The offline manager, failing its `fail_at`-th extraction as a dead LLM server would."""

    def __init__(self, fail_at: int):
        self.inner = OfflineMemoryManager()
        self.name = self.inner.name
        self.calls = 0
        self.fail_at = fail_at

    def extract_facts(self, messages, scope):
        self.calls += 1
        if self.calls == self.fail_at:
            raise BackendError("the manager's server went away")
        return self.inner.extract_facts(messages, scope)

    def reconcile(self, facts, neighbours, scope):
        return self.inner.reconcile(facts, neighbours, scope)

    def extract_relations(self, facts, scope):
        return self.inner.extract_relations(facts, scope)


def test_an_interrupted_import_says_where_to_resume_and_resuming_adds_the_rest(tmp_path):
    messages = [{"role": "user", "content": f"I collect stamp series number {i}."} for i in range(7)]
    plan = plan_import(messages, 2)
    alice = Scope(user_id="alice")
    with Memory(
        {"path": str(tmp_path / "m")}, embeddings=HashingEmbeddings(), manager=FailingOnce(3)
    ) as memory:
        with pytest.raises(
            ImportInterruptedError, match="message 5 of 7.*messages 1-4 are stored.*--start 5"
        ) as raised:
            run_import(memory, plan, alice, infer=True)
        assert raised.value.resume_at == 5 and len(memory.get_all(user_id="alice")) == 4
        summary = run_import(memory, plan, alice, infer=True, start=raised.value.resume_at)
        assert (summary.messages, summary.started_at, summary.events) == (3, 5, {"ADD": 3})
        assert "from message 5" in summary.lines()[0]
        stored = sorted(m.text for m in memory.get_all(user_id="alice"))
    assert stored == sorted(f"Alice collects stamp series number {i}." for i in range(7))
    with pytest.raises(InvalidInputError, match="start"):
        run_import(memory, plan, alice, infer=True, start=8)


def test_a_memory_is_imported_only_into_the_scope_it_names():
    items = [
        {"id": "a", "memory": "Likes tea", "user_id": "alex"},
        {"id": "b", "memory": "Likes jazz", "user_id": "sam"},
    ]
    with pytest.raises(ImportFormatError, match=r"memory 2 belongs to \{'user_id': 'sam'\}.*--user-id sam"):
        plan_import(items, 20, scope=Scope(user_id="alex"))
    with pytest.raises(ImportFormatError, match="result 1 belongs"):
        plan_import({"results": items}, 20, scope=Scope(user_id="alex", agent_id="bot"))
    assert plan_import(items[:1], 20, scope=Scope(user_id="alex")).format == "Mem0 memories"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "role",
                    "content",
                    "memory",
                    "id",
                    "results",
                    "messages",
                    "mapping",
                    "conversation",
                    "user_id",
                    "metadata",
                    "timestamp",
                    "created_at",
                    "name",
                    "sources",
                    "hash",
                    "format",
                    "version",
                    "memories",
                    "speaker_a",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(document=JSON_VALUES, batch_size=st.integers(1, 5))
def test_any_json_document_is_planned_or_refused_with_a_typed_error(document, batch_size):
    try:
        plan = plan_import(json.loads(json.dumps(document)), batch_size, scope=Scope(user_id="u"))
    except InvalidInputError:
        return
    assert all(batch.messages and len(batch.places) == len(batch.messages) for batch in plan.batches)
