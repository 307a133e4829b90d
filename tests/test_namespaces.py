"""Every key-value namespace the package writes is declared in langmem_plugin/namespaces.py, and a
purge finds the scope's entries in each of them by its declared rule."""

from __future__ import annotations

import json

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langmem_plugin import Memory, MemoryStore
from langmem_plugin.namespaces import (
    ACCESS_LOG,
    API_KEYS,
    GRANTS,
    LEGACY_JOURNAL,
    NAMESPACES,
    manifest_namespaces,
)
from langmem_plugin.pipeline.store_namespaces import namespace_scope
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore

from .helpers import HashingEmbeddings

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


class RecordingKeyValueStore:
    """The embedded key-value tier, recording the namespace of every write made through it."""

    def __init__(self, inner: SQLiteKeyValueStore) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities
        self.written: set[str] = set()

    def put_many(self, namespace, items, remove=()):
        self.written.add(namespace)
        self.inner.put_many(namespace, items, remove)

    def delete_many(self, namespace, keys):
        self.written.add(namespace)
        self.inner.delete_many(namespace, keys)

    def append(self, namespace, entries):
        self.written.add(namespace)
        self.inner.append(namespace, entries)

    def add_manifest(self, namespace, manifest):
        self.written.add(namespace)
        return self.inner.add_manifest(namespace, manifest)

    def set_manifest(self, namespace, manifest):
        self.written.add(namespace)
        self.inner.set_manifest(namespace, manifest)

    def __getattr__(self, name):  # reads, locks, erase_deleted, clear, close
        return getattr(self.inner, name)


def _model(*replies: dict) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(AIMessage(json.dumps(reply)) for reply in replies))


def test_every_namespace_written_is_declared_and_a_purge_empties_each(tmp_path):
    kv = RecordingKeyValueStore(SQLiteKeyValueStore(tmp_path / "kv"))
    owns = {"source": "Ana", "relation": "owns", "target": "kayak"}
    model = _model(
        {"facts": [{"text": "Ana owns a kayak", "source_message_ids": ["m1"], "relations": [owns]}]},
        {
            "entities": [],
            "relations": [{"source": "Ana", "relation": "owns", "target": "red kayak"}],
        },  # the update's
    )
    config = {"path": str(tmp_path / "mem")}
    with Memory(config, embeddings=HashingEmbeddings(), llm=model, kv=kv) as memory:
        message = {"role": "user", "name": "Ana", "content": "I own a kayak.", "id": "m1"}
        [added] = memory.add([message], user_id="ana")
        memory.update(added.memory.id, "Ana owns a red kayak")
        memory.set_profile({"sport": "kayaking"}, user_id="ana")
        vegan = [
            {"type": "text", "text": "I'm vegan."},
            {"type": "image", "base64": PNG, "mime_type": "image/png"},
        ]
        memory.add({"role": "user", "content": vegan}, user_id="ana", agent_id="coach", infer=False)
        assert memory.history(added.memory.id, user_id="ana")
        store = MemoryStore(memory)
        store.put(("notes", "ana"), "trip", {"text": "Ana paddles on Sundays"})
        assert store.search(("notes", "ana"), query="paddle")
        assert kv.written - set(NAMESPACES) == set()
        # the run wrote every namespace in use but the server's (tests/test_server_*.py)
        assert kv.written == set(NAMESPACES) - {LEGACY_JOURNAL, ACCESS_LOG, API_KEYS, GRANTS}
        memory.delete_all(user_id="ana", purge=True)
        memory.delete_all(user_id=namespace_scope(("notes", "ana")), purge=True)
        assert store.list_namespaces() == []
        assert {name: kv.keys(name) for name in NAMESPACES} == {name: [] for name in NAMESPACES}
    assert kv.written - set(NAMESPACES) == set()


def test_the_store_adapter_forgets_a_purged_namespace_and_keeps_the_others(tmp_path):
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings()) as memory:
        store = MemoryStore(memory)
        store.put(("memories", "ana"), "a", {"text": "Ana likes tea"})
        store.put(("memories", "bo"), "b", {"text": "Bo likes coffee"})
        assert sorted(store.list_namespaces()) == [("memories", "ana"), ("memories", "bo")]
        memory.delete_all(user_id=namespace_scope(("memories", "ana")), purge=True)
        assert store.list_namespaces() == [("memories", "bo")]
        assert all("ana" not in key for key in memory.services.kv.keys("store_namespaces"))


def test_the_manifest_covers_what_cannot_be_recomputed_and_only_caches_expire():
    assert manifest_namespaces() == ["history", "scope_memories", "profiles"]
    assert all(not NAMESPACES[name].expires for name in manifest_namespaces())
    assert {name for name, namespace in NAMESPACES.items() if namespace.expires} == {
        "embeddings",
        "llm_responses",
    }
