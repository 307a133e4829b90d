"""A scripted multi-session conversation, stored and searched offline on the embedded tiers."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from . import progress
from .history_text import history_lines
from .memory import Memory

SESSIONS = [
    (
        "2024-03-04T09:15:00+00:00",
        [
            ("user", "Hi! I'm Alice. I live in Lisbon and I work at Bluefin Labs as a data engineer."),
            ("assistant", "Nice to meet you, Alice! How can I help?"),
            (
                "user",
                "I'm allergic to peanuts, so please keep that in mind for recipes. I love spicy Thai food.",
            ),
        ],
    ),
    (
        "2024-04-22T18:40:00+00:00",
        [
            ("user", "Big news: I moved to Berlin last week for a new job."),
            ("user", "I love spicy Thai food."),
            ("user", "I adopted a dog named Miso yesterday."),
        ],
    ),
    (
        "2024-06-02T11:05:00+00:00",
        [
            ("user", "I love spicy Thai food, especially green curry."),
            ("user", "Miso and I went hiking in Saxon Switzerland last weekend."),
            ("user", "What's a good restaurant near me?"),
        ],
    ),
]

QUERIES = [
    "Where does Alice live?",
    "What food allergies does Alice have?",
    "What is the name of Alice's dog?",
    "What does Alice like to eat?",
]


def run_demo(path: Path | None = None, echo: Callable[[str], None] = print) -> Memory:
    """Replay the sessions for user 'alice', print every decision, then query the memory."""
    directory = path or Path(tempfile.mkdtemp(prefix="langmem-demo-"))
    with progress.step("loading the all-MiniLM-L6-v2 embedding model"):
        memory = Memory({"path": str(directory)})
    echo(f"memory directory: {directory}")
    for number, (timestamp, turns) in enumerate(SESSIONS, start=1):
        echo(f"\n== session {number} ({timestamp[:10]})")
        messages = [
            {"role": role, "content": text, "name": "Alice" if role == "user" else None}
            for role, text in turns
        ]
        for role, text in turns:
            echo(f"  {role:>9}: {text}")
        for op in memory.add(messages, user_id="alice", timestamp=timestamp):
            detail = f"  (was: {op.previous_text})" if op.previous_text and op.event.value == "UPDATE" else ""
            echo(f"  -> {op.event.value:<10} {op.memory.text}{detail}")
    memory.add("I prefer window seats on flights.", user_id="bob", timestamp=SESSIONS[0][0])

    echo("\n== what alice's memory holds now")
    for record in memory.get_all(user_id="alice"):
        echo(f"  - {record.text}  [since {record.valid_from:%Y-%m-%d}]")
    echo("\n== retrieval")
    for query in QUERIES:
        hits = memory.search(query, user_id="alice", limit=2)
        echo(f"  ? {query}")
        for hit in hits:
            echo(f"      {hit.score:.4f}  {hit.memory.text}")
    moved = memory.search(
        "Where does Alice live?", user_id="alice", as_of="2024-04-01T00:00:00+00:00", limit=1
    )
    echo(f"\n== as of 2024-04-01, alice lived: {moved[0].memory.text if moved else '(nothing)'}")
    invalidated = [r for r in memory.get_all(user_id="alice", include_invalidated=True) if r.valid_to]
    for record in invalidated:
        echo(f"\n== history of '{record.text}'")
        for line in history_lines(record.id, record, memory.history(record.id)):
            echo(f"  {line}")
    graph = memory.related(["Alice"], user_id="alice")
    names = {e.id: e.name for e in graph.entities}
    echo("\n== graph around Alice")
    for relation in graph.relations:
        echo(f"  ({names[relation.source_id]}) -[{relation.relation}]-> ({names[relation.target_id]})")
    bob_hits = memory.search("Where does Alice live?", user_id="bob")
    leaked = [h for h in bob_hits if h.memory.scope.user_id != "bob"]
    echo(
        f"\n== isolation: bob's search returns {len(bob_hits)} of bob's memories and {len(leaked)} of alice's"
    )
    return memory
