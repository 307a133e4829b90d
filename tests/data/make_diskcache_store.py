"""Write tests/data/diskcache_store.tar.gz: a memory directory whose key-value tier the diskcache
backend wrote, and what that version read back from it (expected.json), through the public API.

It was run at commit 1c70d50, the last with that backend:

    git archive 1c70d50 | tar -x -C /tmp/old
    cd /tmp/old && PYTHONPATH=$PWD python <worktree>/tests/data/make_diskcache_store.py <worktree>/tests/data/diskcache_store.tar.gz

tests/test_kv_diskcache_stores.py opens a copy with the current code and compares.
"""

from __future__ import annotations

import base64
import json
import sys
import tarfile
import tempfile
from pathlib import Path

from langmem_plugin import Memory
from tests.helpers import HashingEmbeddings

SCOPES = {"ana": {"user_id": "ana"}, "bo_helper": {"user_id": "bo", "agent_id": "helper"}}


def _plain(value):
    """JSON for expected.json: bytes (the embedding cache's vectors) base64-wrapped."""
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


def fill(memory: Memory) -> None:
    memory.add("I live in Lisbon and I work at Microsoft", user_id="ana", infer=True)
    memory.add("I work at Google now", user_id="ana", infer=True)
    notes = memory.add(
        [f"note {i} about the garden, bees and tomatoes" for i in range(40)], user_id="ana", infer=False
    )
    memory.update(notes[0].memory.id, "note 0 about the garden, rewritten")
    memory.delete(notes[1].memory.id)
    memory.add("Ich wohne in München und trinke gern grünen Tee", user_id="bo", agent_id="helper", infer=True)
    memory.add("私は猫が好きです", user_id="bo", agent_id="helper", infer=False)
    memory.set_profile({"city": "Lisbon", "age": 30}, user_id="ana")
    memory.set_profile({"city": "München"}, user_id="bo", agent_id="helper")


def read_back(memory: Memory) -> dict:
    expected: dict = {"memories": {}, "history": {}, "profiles": {}, "kv": {}, "manifests": {}}
    for name, scope in SCOPES.items():
        records = memory.get_all(**scope, limit=1000)
        expected["memories"][name] = sorted(r.text for r in records)
        expected["profiles"][name] = memory.get_profile(**scope)
        for record in records:
            expected["history"][record.id] = [
                [e.event.value, e.old_text, e.new_text] for e in memory.history(record.id)
            ]
    kv = memory.services.kv
    for namespace in ("history", "scope_memories", "profiles", "embeddings"):
        entries = kv.get_many(namespace, kv.keys(namespace))
        expected["kv"][namespace] = {key: _plain(value) for key, value in entries.items()}
    for namespace in ("history", "scope_memories", "profiles"):
        expected["manifests"][namespace] = kv.read_manifest(namespace)
    return expected


def main(target: Path) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        with Memory({"path": str(root / "store")}, embeddings=HashingEmbeddings()) as memory:
            fill(memory)
        with Memory({"path": str(root / "store")}, embeddings=HashingEmbeddings()) as memory:
            expected = read_back(memory)
        (root / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False))
        with tarfile.open(target, "w:gz") as archive:
            archive.add(root / "store", arcname="store")
            archive.add(root / "expected.json", arcname="expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
