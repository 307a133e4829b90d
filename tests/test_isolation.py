"""No memory of one user is ever returned for another, under many users and random operations."""

import random

from langmem_plugin import Memory

from .helpers import HashingEmbeddings

WORDS = "apple berlin cello dog engine forest guitar harbor island jazz kayak lemon mountain novel ocean piano".split()


def test_random_operations_never_cross_scopes(tmp_path):
    rng = random.Random(1234)
    users = [f"user-{i}" for i in range(12)]
    expected: dict[str, dict[str, str]] = {u: {} for u in users}  # user -> id -> text
    with Memory({"path": str(tmp_path / "iso")}, embeddings=HashingEmbeddings()) as memory:
        for step in range(600):
            user = rng.choice(users)
            action = rng.random()
            if action < 0.5 or not expected[user]:
                text = f"{user} likes " + " ".join(rng.sample(WORDS, 3)) + f" #{step}"
                ops = memory.add(text, user_id=user, infer=False)
                for op in ops:
                    expected[user][op.memory.id] = op.memory.text
            elif action < 0.65:
                memory_id = rng.choice(sorted(expected[user]))
                new_text = f"{user} now prefers " + " ".join(rng.sample(WORDS, 2)) + f" #{step}"
                memory.update(memory_id, new_text)
                expected[user][memory_id] = new_text
            elif action < 0.75:
                memory_id = rng.choice(sorted(expected[user]))
                memory.delete(memory_id)
                del expected[user][memory_id]
            elif action < 0.78:
                memory.delete_all(user_id=user)
                expected[user].clear()
            else:
                query = " ".join(rng.sample(WORDS, 2))
                for hit in memory.search(query, user_id=user, limit=20):
                    assert hit.memory.scope.user_id == user
                    assert expected[user].get(hit.memory.id) == hit.memory.text
        for user in users:
            listed = {r.id: r.text for r in memory.get_all(user_id=user, limit=1000)}
            assert listed == expected[user]
            for word in WORDS[:4]:
                hits = memory.search(word, user_id=user, limit=50)
                assert {h.memory.id for h in hits} <= set(expected[user])


def test_same_text_in_two_scopes_stays_separate(fast_memory):
    a = fast_memory.add("I love the same thing", user_id="a")[0].memory
    b_ops = fast_memory.add("I love the same thing", user_id="b")
    assert b_ops[0].event.value == "ADD" and b_ops[0].memory.id != a.id
    fast_memory.delete_all(user_id="a")
    assert [r.text for r in fast_memory.get_all(user_id="b")] == ["B loves the same thing."]


def test_keyword_index_respects_scope(fast_memory):
    fast_memory.add("zanzibar holiday plans", user_id="a", infer=False)
    fast_memory.add("unrelated note", user_id="b", infer=False)
    hits = fast_memory.search("zanzibar", user_id="b")
    assert all(h.memory.scope.user_id == "b" for h in hits)


def _snapshot(memory, **scope):
    return [(r.id, r.text, r.valid_to, r.updated_at, len(r.sources)) for r in memory.get_all(include_invalidated=True, **scope)]


def test_an_inferred_add_changes_only_memories_of_its_own_scope(memory):
    """An agent-level add spans every user of the agent when it reads, but must never rewrite,
    invalidate, retire or merge its sources into one user's memory; nor a user-level add a run's."""
    memory.add("I live in Porto.", user_id="alice", agent_id="bot")
    memory.add("I love jazz.", user_id="alice", run_id="chat-1")
    alice_bot, alice_run = _snapshot(memory, user_id="alice", agent_id="bot"), _snapshot(memory, run_id="chat-1")
    assert len(alice_bot) == len(alice_run) == 1

    said = ["Alice lives in Porto.", "Alice lives in Lisbon.", "Forget that Alice lives in Porto."]
    for text in said:
        memory.add(text, agent_id="bot")
    for text in ["Alice loves jazz.", "I no longer love jazz.", "Forget that I love jazz."]:
        memory.add(text, user_id="alice")

    assert _snapshot(memory, user_id="alice", agent_id="bot") == alice_bot
    assert _snapshot(memory, run_id="chat-1") == alice_run
    for operations_scope in ({"agent_id": "bot"}, {"user_id": "alice"}):
        for record in memory.get_all(include_invalidated=True, **operations_scope):
            assert record.id in {alice_bot[0][0], alice_run[0][0]} or record.scope.as_filter() == operations_scope


def test_an_add_still_reconciles_within_its_own_scope_beside_sub_scope_memories(memory):
    memory.add("I live in Porto.", user_id="alice", run_id="chat-1")
    porto = memory.add("I live in Porto.", user_id="alice")
    assert [op.event.value for op in porto] == ["ADD"]  # the run's memory is not the user's
    operations = memory.add("I live in Lisbon now.", user_id="alice")
    assert [(op.event.value, op.memory.id) for op in operations][0] == ("INVALIDATE", porto[0].memory.id)
    assert [r.text for r in memory.get_all(run_id="chat-1")] == ["Alice lives in Porto."]
