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
