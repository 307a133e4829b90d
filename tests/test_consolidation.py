"""Consolidation (`Memory.consolidate`): near-duplicates merged with their provenance folded,
superseded facts retired, old verbatim turns summarised by an LLM manager (scripted fake chat
models: GenericFakeChatModel raises when called once more than scripted), every change audited
and reverted from history, one scope never touching another, and the background option."""

import json
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from langmem_plugin import AsyncMemory, EventType, Memory
from langmem_plugin.errors import InvalidInputError, MissingScopeError
from langmem_plugin.managers.llm.prompts import SUMMARISE
from langmem_plugin.managers.offline.manager import OfflineMemoryManager
from langmem_plugin.pipeline.consolidate import (
    CONSOLIDATION_ACTOR,
    REVERT_ACTOR,
    kind_of,
    plan_consolidation,
    said_order,
    stored_scopes,
)
from langmem_plugin.pipeline.ingest import message_memory_ids, new_record
from langmem_plugin.records import ConversationMessage, Scope

from .backends import GRAPH_BACKENDS, KV_BACKENDS, VECTOR_BACKENDS
from .helpers import HashingEmbeddings, cli, processes_at_once
from .test_llm_manager import decisions, facts, scripted, stated

OLD = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)


def turn(text: str, mid: str, when: datetime, name: str = "Alice") -> dict:
    return {"role": "user", "name": name, "content": text, "id": mid, "timestamp": when.isoformat()}


def said(memory: Memory, *texts: str, user_id: str = "alice", **scope) -> list[str]:
    """Each text stored verbatim as its own message, a minute apart; the memory ids."""
    ids = []
    for index, text in enumerate(texts):
        message = turn(text, f"{user_id}-{len(ids)}-{index}", OLD + timedelta(minutes=index))
        ids += [op.memory.id for op in memory.add(message, user_id=user_id, infer=False, **scope)]
    return ids


def snapshot(memory: Memory, queries: list[str], **scope) -> list:
    """What search answers: ids, texts, sources and rounded scores of each query's hits."""
    return [
        [
            (h.memory.id, h.memory.text, [s.message_id for s in h.memory.sources], round(h.score, 6))
            for h in memory.search(query, limit=10, **scope)
        ]
        for query in queries
    ]


def valid_state(memory: Memory, **scope) -> list:
    return sorted(
        (r.id, r.text, r.valid_to, tuple(s.message_id for s in r.sources))
        for r in memory.get_all(limit=1000, include_invalidated=True, **scope)
    )


# -- near-duplicates --------------------------------------------------------------------------


def test_near_duplicates_merge_into_one_survivor_with_provenance_and_history_folded(memory):
    first, repeat, paraphrase, other = said(
        memory,
        "I love hiking in the Alps with my dog.",
        "I love hiking in the Alps with my dog.",
        "I love hiking in the Alps with my dog!!",
        "My brother is a chef in Rome.",
    )
    report = memory.consolidate(user_id="alice")
    assert [(m.survivor_id, sorted(m.merged_ids)) for m in report.merges] == [
        (first, sorted([repeat, paraphrase]))
    ]
    assert (report.merged, report.retired, report.summarised) == (2, 0, 0)
    survivor = memory.get(first)
    assert [s.message_id for s in survivor.sources] == ["alice-0-0", "alice-1-1", "alice-2-2"]
    assert survivor.valid_to is None
    hits = memory.search("hiking in the Alps", user_id="alice")
    assert [h.memory.id for h in hits].count(first) == 1
    assert not {repeat, paraphrase} & {h.memory.id for h in hits}
    assert memory.get(other).valid_to is None
    # the survivor's UPDATE event holds the sources folded in; each merged one points at it
    update = memory.history(first)[-1]
    assert (update.event, update.actor, update.old_text, update.new_text) == (
        EventType.UPDATE,
        CONSOLIDATION_ACTOR,
        survivor.text,
        survivor.text,
    )
    assert [s.message_id for s in update.sources] == ["alice-1-1", "alice-2-2"]
    for merged in (repeat, paraphrase):
        event = memory.history(merged)[-1]
        assert (event.event, event.actor, event.replaced_by) == (
            EventType.INVALIDATE,
            CONSOLIDATION_ACTOR,
            first,
        )
        assert event.to_dict()["replaced_by"] == first
        assert memory.get(merged).valid_to == report.at


def test_a_second_consolidation_finds_nothing_left_to_do(memory):
    said(memory, "Thanks a lot!", "Thanks a lot!")
    assert memory.consolidate(user_id="alice").merged == 1
    again = memory.consolidate(user_id="alice")
    assert (again.merged, again.retired, again.summarised) == (0, 0, 0)


def test_verbatim_turns_that_say_different_things_are_never_merged(memory):
    ids = said(memory, "I moved to Lisbon in May.", "I moved to Porto in May.", "I love Lisbon.")
    report = memory.consolidate(user_id="alice")
    assert report.merged == 0 and report.retired == 0
    assert all(memory.get(i).valid_to is None for i in ids)


def test_turns_merge_only_with_the_same_speakers_and_never_with_facts(memory):
    alice = memory.add(turn("Bye, see you tomorrow!", "a1", OLD), user_id="alice", infer=False)[0].memory
    bob = memory.add(turn("Bye, see you tomorrow!", "b1", OLD, "Bob"), user_id="alice", infer=False)[0].memory
    reply = {
        "role": "assistant",
        "content": "Bye, see you tomorrow!",
        "id": "r1",
        "timestamp": OLD.isoformat(),
    }
    assistant = memory.add(reply, user_id="alice", infer=False)[0].memory
    fact = memory.add("I love jazz.", user_id="alice")[0].memory
    spoken = memory.add(turn(fact.text, "a2", OLD), user_id="alice", infer=False)[0].memory
    again = memory.add(
        turn("Bye, see you tomorrow!", "a3", OLD + timedelta(days=1)), user_id="alice", infer=False
    )
    report = memory.consolidate(user_id="alice")
    assert [(m.survivor_id, m.merged_ids) for m in report.merges] == [(alice.id, [again[0].memory.id])]
    assert all(memory.get(r.id).valid_to is None for r in (bob, assistant, fact, spoken))


# -- superseded facts (a manager that missed a contradiction) ---------------------------------


@pytest.fixture
def stack():
    """Closes what a test enters into it."""
    with ExitStack() as entered:
        yield entered


def llm_memory(path, model, **consolidation) -> Memory:
    """A memory whose manager is the LLM manager of `model`, with these consolidation settings."""
    config = {"path": str(path / "llm"), "consolidation": consolidation}
    return Memory(config, embeddings=HashingEmbeddings(), llm=model)


def test_facts_superseded_by_later_ones_are_retired_from_the_later_ones_time(tmp_path, stack):
    model, recorder = scripted(
        facts(("Alice lives in Paris", ["m1"], {"relations": []})),
        facts(("Alice lives in Lyon", ["m2"], {"relations": []})),
        decisions(("ADD", [])),  # the model missed that Lyon replaces Paris
    )
    memory = stack.enter_context(llm_memory(tmp_path, model))
    paris = memory.add(turn("I live in Paris.", "m1", OLD), user_id="alice")[0].memory
    lyon = memory.add(turn("I live in Lyon now.", "m2", OLD + timedelta(days=30)), user_id="alice")[0].memory
    assert len(recorder.calls) == 3
    report = memory.consolidate(user_id="alice")  # no verbatim turns: no call
    assert len(recorder.calls) == 3
    assert [(r.memory_id, r.superseded_by) for r in report.retirements] == [(paris.id, lyon.id)]
    assert (report.merged, report.retired, report.summarised) == (0, 1, 0)
    assert memory.get(paris.id).valid_to == lyon.valid_from
    assert [r.id for r in memory.get_all(user_id="alice")] == [lyon.id]
    assert [h.memory.id for h in memory.search("where does Alice live?", user_id="alice")] == [lyon.id]
    event = memory.history(paris.id)[-1]
    assert (event.event, event.actor, event.replaced_by) == (
        EventType.INVALIDATE,
        CONSOLIDATION_ACTOR,
        lyon.id,
    )
    # as_of still reads the fact true then
    assert [h.memory.id for h in memory.search("where does Alice live?", user_id="alice", as_of=OLD)] == [
        paris.id
    ]


# -- summarising old verbatim turns (LLM manager) ---------------------------------------------


def summary_of(*items):
    """A summarising answer citing turns by their message ids."""
    return facts(*((text, ids, {"relations": []}) for text, ids in items))


def test_an_llm_manager_summarises_old_turns_in_one_call_per_chunk(tmp_path, stack):
    model, recorder = scripted(
        summary_of(("Alice adopted a beagle named Rex", ["t0", "t1"]), ("Alice works as a nurse", ["t2"])),
        summary_of(("Alice plans a trip to Japan in April 2024", ["t3", "t4"])),
    )
    memory = stack.enter_context(llm_memory(tmp_path, model, chunk_turns=3, summarise_after_days=7))
    texts = [
        "We got a puppy!",
        "He's a beagle, we called him Rex.",
        "Long shift at the hospital again, nursing is tiring.",
        "I'm saving up for Japan.",
        "Going in April!",
    ]
    old = [turn(text, f"t{i}", OLD + timedelta(minutes=i)) for i, text in enumerate(texts)]
    recent = turn("What's the weather like?", "t5", datetime.now(UTC) - timedelta(hours=1))
    turns = [op.memory for op in memory.add([*old, recent], user_id="alice", infer=False)]
    assert recorder.calls == []  # verbatim adds make no call

    report = memory.consolidate(user_id="alice")

    assert len(recorder.calls) == 2  # 5 old turns, 3 per chunk; the recent turn is left alone
    system, user = recorder.calls[0][0].content, recorder.calls[0][1].content
    assert system.startswith(SUMMARISE.split("\n")[0])
    assert [f"[id=t{i}]" in user for i in range(6)] == [True] * 3 + [False] * 3
    assert [f"[id=t{i}]" in recorder.calls[1][1].content for i in range(6)] == [False] * 3 + [True] * 2 + [
        False
    ]
    assert "Alice: We got a puppy!" in user
    assert report.summarised == 5 and len(report.summaries) == 2
    fact_ids = [i for s in report.summaries for i in s.fact_ids]
    stored = {r.id: r for r in memory.get_all(user_id="alice")}
    assert set(stored) == {*fact_ids, turns[5].id}
    beagle = next(r for r in stored.values() if "beagle" in r.text)
    assert [s.message_id for s in beagle.sources] == ["t0", "t1"]
    assert memory.history(beagle.id)[0].actor == CONSOLIDATION_ACTOR
    replaced = [memory.history(t.id)[-1].replaced_by for t in turns[:5]]
    japan = next(i for i in fact_ids if "Japan" in stored[i].text)
    nurse = next(i for i in fact_ids if "nurse" in stored[i].text)
    assert replaced == [beagle.id, beagle.id, nurse, japan, japan]
    assert memory.search("What is the name of Alice's dog?", user_id="alice")[0].memory.id == beagle.id


# -- reversal ---------------------------------------------------------------------------------


QUERIES = ["hiking in the Alps", "where does Alice live?", "Alice's brother", "thanks"]


def test_revert_restores_the_store_as_search_saw_it_before(memory):
    said(
        memory,
        "I love hiking in the Alps with my dog.",
        "Thanks a lot!",
        "I love hiking in the Alps with my dog!",
        "My brother is a chef in Rome.",
        "Thanks a lot!",
    )
    memory.add("I live in Madrid.", user_id="alice")
    before, state = snapshot(memory, QUERIES, user_id="alice"), valid_state(memory, user_id="alice")
    report = memory.consolidate(user_id="alice")
    assert report.merged == 2
    assert snapshot(memory, QUERIES, user_id="alice") != before

    reversal = memory.revert_consolidation(user_id="alice")

    assert reversal.consolidated_at == report.at and reversal.removed_ids == []
    assert sorted(reversal.restored_ids) == sorted(
        [m.survivor_id for m in report.merges] + [i for m in report.merges for i in m.merged_ids]
    )
    assert snapshot(memory, QUERIES, user_id="alice") == before
    assert valid_state(memory, user_id="alice") == state
    assert memory.history(report.merges[0].merged_ids[0])[-1].actor == REVERT_ACTOR
    with pytest.raises(InvalidInputError, match="no consolidation left"):
        memory.revert_consolidation(user_id="alice")
    # consolidating again after a revert does the same again
    assert memory.consolidate(user_id="alice").merged == 2


def test_revert_of_an_llm_consolidation_retires_its_summaries_and_reopens_what_it_retired(tmp_path, stack):
    model, recorder = scripted(
        facts(("Alice lives in Paris", ["m1"], {"relations": stated(("Alice", "lives in", "Paris"))})),
        facts(("Alice lives in Lyon", ["m2"], {"relations": stated(("Alice", "lives in", "Lyon"))})),
        decisions(("ADD", [])),
        summary_of(("Alice adopted a beagle named Rex", ["t0", "t1"])),
    )
    memory = stack.enter_context(llm_memory(tmp_path, model, summarise_after_days=1))
    memory.add(turn("I live in Paris.", "m1", OLD), user_id="alice")
    memory.add(turn("I live in Lyon now.", "m2", OLD + timedelta(days=30)), user_id="alice")
    old = [turn("We got a puppy!", "t0", OLD), turn("A beagle, Rex.", "t1", OLD + timedelta(minutes=1))]
    memory.add(old, user_id="alice", infer=False)
    queries = ["where does Alice live?", "Alice's dog", "puppy"]
    before, state = snapshot(memory, queries, user_id="alice"), valid_state(memory, user_id="alice")

    def homes() -> list[str]:
        graph = memory.related(["Alice"], user_id="alice")
        names = {e.id: e.name for e in graph.entities}
        return sorted(names[r.target_id] for r in graph.relations if r.relation == "LIVES_IN")

    assert homes() == ["Lyon", "Paris"]
    report = memory.consolidate(user_id="alice")
    assert (report.retired, report.summarised, len(recorder.calls)) == (1, 2, 4)
    assert homes() == ["Lyon"]  # the superseded fact's relation is closed with it
    reversal = memory.revert_consolidation(user_id="alice")
    assert homes() == ["Lyon", "Paris"]

    assert reversal.removed_ids == report.summaries[0].fact_ids
    assert snapshot(memory, queries, user_id="alice") == before
    assert [x for x in valid_state(memory, user_id="alice") if x[0] not in reversal.removed_ids] == state
    assert memory.history(reversal.removed_ids[0])[-1].event is EventType.DELETE
    assert len(recorder.calls) == 4  # reverting asks the model nothing


# -- scopes -----------------------------------------------------------------------------------


def test_consolidating_alice_never_touches_bob_nor_merges_across_her_sub_scopes(memory):
    alice = said(memory, "Thanks a lot!", "Thanks a lot!")
    bob = said(memory, "Thanks a lot!", "Thanks a lot!", user_id="bob")
    with_bot = said(memory, "Thanks a lot!", agent_id="bot")
    bob_state, bob_history = valid_state(memory, user_id="bob"), [memory.history(i) for i in bob]

    report = memory.consolidate(user_id="alice")

    assert [(m.survivor_id, m.merged_ids) for m in report.merges] == [(alice[0], [alice[1]])]
    assert memory.get(with_bot[0]).valid_to is None  # alice/bot is a scope of its own
    assert valid_state(memory, user_id="bob") == bob_state
    assert [memory.history(i) for i in bob] == bob_history
    with pytest.raises(InvalidInputError):
        memory.revert_consolidation(user_id="bob")
    with pytest.raises(MissingScopeError):
        memory.consolidate()


async def test_async_consolidate_and_revert(tmp_path):
    async with AsyncMemory({"path": str(tmp_path / "a")}, embeddings=HashingEmbeddings()) as memory:
        for index in range(2):
            await memory.add(turn("See you tomorrow!", f"s{index}", OLD), user_id="alice", infer=False)
        report = await memory.consolidate(user_id="alice")
        assert report.merged == 1
        assert len(await memory.get_all(user_id="alice")) == 1
        reversal = await memory.revert_consolidation(user_id="alice")
        assert len(reversal.restored_ids) == 2
        assert len(await memory.get_all(user_id="alice")) == 2


# -- every input: provenance is never lost, and a revert gives back the store -----------------

PHRASES = ["I love jazz.", "I love jazz!", "Thanks!", "My sister lives in Rome.", "I work at Acme.", "ok"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spoken=st.lists(st.tuples(st.sampled_from(PHRASES), st.sampled_from(["alice", "bob"])), max_size=12),
    facts_said=st.lists(st.sampled_from(PHRASES), max_size=4),
)
def test_consolidation_keeps_every_source_and_revert_gives_the_store_back(
    tmp_path_factory, spoken, facts_said
):
    path = tmp_path_factory.mktemp("prop")
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        for index, (text, user) in enumerate(spoken):
            memory.add(turn(text, f"v{index}", OLD + timedelta(minutes=index)), user_id=user, infer=False)
        for index, text in enumerate(facts_said):
            memory.add(turn(text, f"f{index}", OLD + timedelta(hours=index)), user_id="alice")
        states = {u: valid_state(memory, user_id=u) for u in ("alice", "bob")}
        sources = {
            u: sorted(s.message_id for r in memory.get_all(user_id=u, limit=1000) for s in r.sources)
            for u in ("alice", "bob")
        }
        report = memory.consolidate(user_id="alice")
        after = memory.get_all(user_id="alice", limit=1000)
        # every message still backs a valid memory, exactly once; merged ones point at a survivor
        assert sorted(s.message_id for r in after for s in r.sources) == sources["alice"]
        assert len(after) == len(states["alice"]) - report.merged - report.retired
        valid_ids = {r.id for r in after}
        for merge in report.merges:
            assert merge.survivor_id in valid_ids
            for merged in merge.merged_ids:
                assert memory.history(merged)[-1].replaced_by == merge.survivor_id
        assert valid_state(memory, user_id="bob") == states["bob"]
        if report.merges or report.retirements:
            memory.revert_consolidation(user_id="alice")
            assert [x[:2] + x[3:] for x in valid_state(memory, user_id="alice")] == [
                x[:2] + x[3:] for x in states["alice"]
            ]
            assert all(r.valid_to is None for r in memory.get_all(user_id="alice", limit=1000))


# -- background consolidation -----------------------------------------------------------------


def consolidation_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "langmem-consolidation"]


def test_background_consolidation_runs_every_interval_over_every_scope_and_stops_on_close(tmp_path):
    hostile = "a/b|user_id=c%2F"
    config = {"path": str(tmp_path / "bg"), "consolidation": {"interval_seconds": 0.2}}
    memory = Memory(config, embeddings=HashingEmbeddings())
    assert len(consolidation_threads()) == 1
    scopes = [{"user_id": "alice"}, {"user_id": hostile}, {"user_id": None, "agent_id": "bot"}]
    for scope in scopes:
        said(memory, "See you tomorrow!", "See you tomorrow!", **scope)
    assert {s.key() for s in stored_scopes(memory.services)} == {
        "user_id=alice",
        "user_id=a%2Fb%7Cuser_id%3Dc%252F",
        "agent_id=bot",
    }
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(len(memory.get_all(**s)) > 1 for s in scopes):
        time.sleep(0.05)
    assert [len(memory.get_all(**s)) for s in scopes] == [1, 1, 1]
    assert all(
        memory.history(r.id)[-1].actor == CONSOLIDATION_ACTOR for s in scopes for r in memory.get_all(**s)
    )
    memory.close()
    assert consolidation_threads() == []


def test_no_background_thread_unless_configured(fast_memory):
    assert consolidation_threads() == []


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_consolidate_and_revert(tmp_path):
    path = str(tmp_path / "cli")
    for _ in range(2):
        added = cli("--path", path, "add", "Thanks a lot!", "--user-id", "alice", "--no-infer")
        assert added.returncode == 0, added.stderr
    done = cli("--path", path, "--json", "consolidate", "--user-id", "alice")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["merged"], report["retired"], report["summarised"]) == (1, 0, 0)
    text = cli("--path", path, "consolidate", "--user-id", "alice", "--revert")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("reverted the consolidation of ") and "2 memories restored" in text.stdout
    again = cli("--path", path, "consolidate", "--user-id", "alice", "--revert")
    assert again.returncode == 2 and "no consolidation left" in again.stderr
    missing = cli("--path", path, "consolidate")
    assert missing.returncode == 2 and missing.stderr.startswith("error:")


# -- several processes, and the server backends -----------------------------------------------


def _consolidator(path: str, barrier, results) -> None:
    with Memory({"path": path}, embeddings=HashingEmbeddings()) as memory:
        barrier.wait()
        results.put(memory.consolidate(user_id="alice").merged)


@pytest.mark.slow
def test_processes_consolidating_one_store_at_once_merge_each_memory_once(tmp_path):
    path = str(tmp_path / "mp")
    with Memory({"path": path}, embeddings=HashingEmbeddings()) as memory:
        ids = said(memory, *["See you tomorrow!"] * 6, "I love jazz.", "I love jazz.")
    assert sorted(processes_at_once(_consolidator, [(path,)] * 3)) == [0, 0, 6]
    with Memory({"path": path}, embeddings=HashingEmbeddings()) as memory:
        survivors = memory.get_all(user_id="alice")
        assert sorted(len(r.sources) for r in survivors) == [2, 6]
        for memory_id in ids:
            consolidation = [e for e in memory.history(memory_id) if e.actor == CONSOLIDATION_ACTOR]
            assert len(consolidation) == 1


def test_consolidate_and_revert_on_weaviate_neo4j_and_redis(tmp_path, request):
    vector = VECTOR_BACKENDS["weaviate"](tmp_path, request)
    graph = GRAPH_BACKENDS["neo4j"](tmp_path, request)
    kv = KV_BACKENDS["redis"](tmp_path, request)
    model, recorder = scripted(
        facts(("Alice lives in Paris", ["m1"], {"relations": stated(("Alice", "lives in", "Paris"))})),
        facts(("Alice lives in Lyon", ["m2"], {"relations": stated(("Alice", "lives in", "Lyon"))})),
        decisions(("ADD", [])),
    )
    # turns of 2024 are not summarised: the model is asked nothing by the consolidation
    config = {"path": str(tmp_path / "servers"), "consolidation": {"summarise_after_days": 36500}}
    try:
        with Memory(
            config, embeddings=HashingEmbeddings(), llm=model, vector=vector, graph=graph, kv=kv
        ) as memory:
            paris = memory.add(turn("I live in Paris.", "m1", OLD), user_id="alice")[0].memory
            memory.add(turn("I live in Lyon now.", "m2", OLD + timedelta(days=30)), user_id="alice")
            repeats = said(memory, "Thanks a lot!", "Thanks a lot!")
            queries = ["where does Alice live?", "thanks"]
            before, state = snapshot(memory, queries, user_id="alice"), valid_state(memory, user_id="alice")
            relations = len(memory.related(["Alice"], user_id="alice").relations)

            report = memory.consolidate(user_id="alice")

            assert [r.memory_id for r in report.retirements] == [paris.id]
            assert [(m.survivor_id, m.merged_ids) for m in report.merges] == [(repeats[0], [repeats[1]])]
            assert len(memory.related(["Alice"], user_id="alice").relations) == relations - 1
            memory.revert_consolidation(user_id="alice")
            assert snapshot(memory, queries, user_id="alice") == before
            assert valid_state(memory, user_id="alice") == state
            assert len(memory.related(["Alice"], user_id="alice").relations) == relations
            assert len(recorder.calls) == 3
    finally:
        for tier in (vector, graph, kv):
            tier.close()


# -- the plan, over any records ---------------------------------------------------------------

SPEAKERS = st.sampled_from([("user", "Alice"), ("user", "Bob"), ("assistant", None)])


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(
        st.tuples(
            st.sampled_from([*PHRASES, "Alice lives in Paris.", "Alice lives in Lyon.", "Alice loves jazz."]),
            SPEAKERS,
            st.sampled_from([Scope(user_id="alice"), Scope(user_id="alice", run_id="r")]),
            st.booleans(),  # stored verbatim, or as a fact
        ),
        max_size=25,
    )
)
def test_a_plan_merges_and_retires_each_memory_once_within_its_scope_and_kind(items):
    records = []
    for index, (text, (role, name), scope, verbatim) in enumerate(items):
        when = OLD + timedelta(minutes=index)
        message = ConversationMessage(
            role=role, content=text, name=name, message_id=f"m{index}", turn_id=f"m{index}", timestamp=when
        )
        memory_id = message_memory_ids(scope, [message])[0] if verbatim else f"fact-{index}"
        records.append(new_record(memory_id, text, scope, {}, [message.source()], when))
    vectors = np.array(HashingEmbeddings().embed_documents([r.text for r in records]), dtype=np.float32)
    plan = plan_consolidation(records, vectors, OfflineMemoryManager())
    by_id = {r.id: r for r in records}
    merged = [m.id for ms in plan.merges.values() for m in ms]
    retired = [old.id for old, _ in plan.retirements]
    assert len(merged + retired) == len(set(merged + retired))  # each memory goes once
    assert not set(plan.merges) & set(merged)  # a survivor is never merged away itself
    for survivor, group in plan.merges.items():
        assert all((m.scope, kind_of(m)) == (by_id[survivor].scope, kind_of(by_id[survivor])) for m in group)
    for old, later in plan.retirements:
        assert kind_of(old) == kind_of(later) == ("fact",) and old.scope == later.scope
        assert said_order(old) <= said_order(later)


def test_facts_said_at_one_moment_consolidate_the_same_whatever_their_ids():
    """Facts of one message share their times; their random ids never decide what merges: the
    fact saying more stands, and the one it contains merges into it."""
    scope = Scope(user_id="alice")
    message = ConversationMessage(
        role="user", content="...", name="Melanie", message_id="m1", turn_id="m1", timestamp=OLD
    )
    longer, shorter = "Melanie and others can make a real impact together!", "Melanie and others can do it."
    vectors = np.ones((2, 4), dtype=np.float32) / 2  # as alike as can be
    for ids in (["a", "b"], ["b", "a"]):
        records = [
            new_record(i, t, scope, {}, [message.source()], OLD)
            for i, t in zip(ids, [longer, shorter], strict=True)
        ]
        plan = plan_consolidation(records, vectors, OfflineMemoryManager())
        assert {(s, tuple(m.text for m in group)) for s, group in plan.merges.items()} == {
            (ids[0], (shorter,))
        }
