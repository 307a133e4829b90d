"""Encryption at rest on the embedded store: keys and their failures, no user text in any file,
keyword search through the blind index, crypto-shredding of copies made before a purge."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langmem_plugin import Memory, MemoryConfig
from langmem_plugin.encryption import (
    StaticKey,
    blind,
    generate_master_key,
    parse_master_key,
    vector as encrypted_vector,
)
from langmem_plugin.encryption.blind import TOKEN_CHARS, blind_query, blind_terms, blind_text, legacy_token
from langmem_plugin.encryption.graph import EncryptedGraphStore
from langmem_plugin.encryption.keyring import CIPHER, Keyring
from langmem_plugin.encryption.keys import MARKER
from langmem_plugin.encryption.keyvalue import EncryptedKeyValueStore
from langmem_plugin.encryption.rotation import rotate_master_key
from langmem_plugin.encryption.vector import EncryptedVectorStore
from langmem_plugin.errors import (
    ConfigurationError,
    EncryptionKeyError,
    EncryptionMismatchError,
    InvalidFilterError,
    UndecryptableError,
)
from langmem_plugin.namespaces import DATA_KEYS, ENCRYPTION, HISTORY
from langmem_plugin.records import Scope
from langmem_plugin.tiers.graph.sqlite_backend import SQLiteGraphStore
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore
from langmem_plugin.tiers.vector import sqlite_backend
from langmem_plugin.tiers.vector.relevance import MIN_ROOT, STOPWORDS, WORD, keyword_terms, term_pattern
from langmem_plugin.tiers.vector.sqlite_backend import SQLiteVectorStore

from .helpers import HashingEmbeddings, cli, expire_now, processes_at_once

# what the test user says, and the words of it no stored byte may hold
SAID = "My grandmother Ximena left me her saxophone in Valparaiso"
METADATA = {"instrument": "tenorsax", "year": 1957}
PROFILE = {"hometown": "Quillota"}
RELATION = {"source": "Ximena", "relation": "bequeathed", "target": "saxophone"}
SECRET_WORDS = ["ximena", "saxophone", "valparaiso", "grandmother", "tenorsax", "quillota", "bequeathed"]


def _model(*replies: dict) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(AIMessage(json.dumps(reply)) for reply in replies))


def _config(path: Path, **extra) -> dict:
    return {"path": str(path), "encryption": {"enabled": True}, **extra}


def _found_words(root: Path, words: list[str]) -> dict[str, list[str]]:
    """Every file under root holding one of the words (case-insensitive, UTF-8 or UTF-16)."""
    found: dict[str, list[str]] = {}
    for file in root.rglob("*"):
        if file.is_file():
            content = file.read_bytes().lower()
            hits = [w for w in words if w.encode() in content or w.encode("utf-16-le") in content]
            if hits:
                found[str(file.relative_to(root))] = hits
    return found


def _fill(memory: Memory, user_id: str = "u-481") -> str:
    """Every kind of stored user value: a memory the LLM manager extracted (with a relation and
    its cached answer), its update, metadata, a profile, history."""
    [added] = memory.add([{"role": "user", "content": SAID, "id": "m1"}], user_id=user_id, metadata=METADATA)
    memory.update(added.memory.id, "Ximena's saxophone is in Valparaiso")
    memory.set_profile(PROFILE, user_id=user_id)
    return added.memory.id


def _manager_model() -> GenericFakeChatModel:
    fact = {
        "text": "Ximena, the grandmother of the user, left a saxophone in Valparaiso",
        "source_message_ids": ["m1"],
    }
    return _model(
        {"facts": [{**fact, "relations": [RELATION]}]},
        {"entities": [], "relations": [RELATION]},
    )


@pytest.fixture
def key():
    return StaticKey(generate_master_key())


# -- keys --------------------------------------------------------------------------------------


def test_a_generated_key_is_32_random_bytes_in_url_safe_base64():
    first, second = generate_master_key(), generate_master_key()
    assert first != second
    assert len(parse_master_key(first, "test")) == 32


@given(st.binary().filter(lambda b: len(b) != 32))
@settings(max_examples=50, deadline=None)
def test_a_key_of_another_length_is_refused(raw):
    import base64

    with pytest.raises(EncryptionKeyError, match="bytes, not 32"):
        parse_master_key(base64.urlsafe_b64encode(raw).decode(), "test")


@pytest.mark.parametrize("text", ["not base64 at all!", "é" * 44, ""])
def test_a_key_that_is_not_base64_is_refused(text):
    with pytest.raises(EncryptionKeyError):
        parse_master_key(text, "test")


def test_from_env_with_the_key_variable_opens_an_encrypted_store(tmp_path, monkeypatch):
    monkeypatch.setenv("LANGMEM_PATH", str(tmp_path / "mem"))
    monkeypatch.setenv("LANGMEM_ENCRYPTION_KEY", generate_master_key())
    assert MemoryConfig.from_env().encryption.enabled
    with Memory.from_env(embeddings=HashingEmbeddings()) as memory:
        memory.add("I collect vintage typewriters", user_id="u", infer=False)
        assert isinstance(memory.services.vector, EncryptedVectorStore)
    with Memory.from_env(embeddings=HashingEmbeddings()) as memory:
        assert [r.text for r in memory.get_all(user_id="u")] == ["I collect vintage typewriters"]
    assert not _found_words(tmp_path / "mem", ["typewriters"])


def test_a_key_file_opens_the_store(tmp_path):
    key_file = tmp_path / "master.key"
    key_file.write_text(generate_master_key())
    config = _config(tmp_path / "mem", encryption={"enabled": True, "key_file": str(key_file)})
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        memory.add("I breed axolotls", user_id="u", infer=False)
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        assert memory.get_all(user_id="u")[0].text == "I breed axolotls"
    key_file.write_text("short")
    with pytest.raises(EncryptionKeyError):
        Memory(config, embeddings=HashingEmbeddings())


class CountingKms:
    """A key provider as a KMS client would be: asked once per open."""

    def __init__(self, key: str):
        self.key = parse_master_key(key, "kms")
        self.calls = 0

    def master_key(self) -> bytes:
        self.calls += 1
        return self.key


def test_a_key_provider_supplies_the_master_key(tmp_path):
    kms = CountingKms(generate_master_key())
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings(), key_provider=kms) as memory:
        memory.add("I restore pinball machines", user_id="u", infer=False)
    assert kms.calls == 1
    with pytest.raises(EncryptionKeyError, match="encrypted"):
        Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings())


def _tier_files(root: Path) -> dict[str, bytes]:
    return {
        str(f.relative_to(root)): f.read_bytes()
        for f in root.rglob("*")
        if f.is_file() and f.name.startswith(("vectors", "graph"))
    }


def test_a_wrong_or_missing_key_is_a_typed_error_before_any_memory_is_read_or_written(
    tmp_path, key, monkeypatch
):
    monkeypatch.delenv("LANGMEM_ENCRYPTION_KEY", raising=False)
    path = tmp_path / "mem"
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings(), key_provider=key) as memory:
        memory.add("I juggle flaming torches", user_id="u", infer=False)
    before = _tier_files(path)
    with pytest.raises(EncryptionKeyError, match="another key"):
        Memory(
            {"path": str(path)}, embeddings=HashingEmbeddings(), key_provider=StaticKey(generate_master_key())
        )
    with pytest.raises(EncryptionKeyError, match="no master key"):
        Memory(_config(path), embeddings=HashingEmbeddings())
    with pytest.raises(EncryptionKeyError, match="this store is encrypted"):
        Memory({"path": str(path)}, embeddings=HashingEmbeddings())
    assert _tier_files(path) == before  # the vector and graph tiers were never opened
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings(), key_provider=key) as memory:
        assert [r.text for r in memory.get_all(user_id="u")] == ["I juggle flaming torches"]


def test_an_unencrypted_store_is_never_mixed_with_encrypted_writes(tmp_path, key):
    path = tmp_path / "mem"
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        memory.add("I grow bonsai", user_id="u", infer=False)
    with pytest.raises(EncryptionMismatchError):
        Memory({"path": str(path)}, embeddings=HashingEmbeddings(), key_provider=key)
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        assert [r.text for r in memory.get_all(user_id="u")] == ["I grow bonsai"]


def test_rotation_rewraps_the_data_keys_under_the_new_master_key(tmp_path, key):
    path = tmp_path / "mem"
    config = {"path": str(path)}
    with Memory(config, embeddings=HashingEmbeddings(), key_provider=key) as memory:
        memory.add("I fly gliders", user_id="u", infer=False)
        memory.add("I knit scarves", user_id="v", infer=False)
    new_key = StaticKey(generate_master_key())
    # u's and v's keys, the store's (journals) and the users' roots coincide with their scopes
    assert rotate_master_key(MemoryConfig.from_dict(config), new_key, current_key=key) == 3
    with pytest.raises(EncryptionKeyError, match="another key"):
        Memory(config, embeddings=HashingEmbeddings(), key_provider=key)
    with Memory(config, embeddings=HashingEmbeddings(), key_provider=new_key) as memory:
        assert memory.get_all(user_id="u")[0].text == "I fly gliders"
        assert memory.search("scarves", user_id="v")[0].memory.text == "I knit scarves"


def test_rotation_of_an_unencrypted_store_or_with_a_wrong_key_is_refused(tmp_path, key):
    config = MemoryConfig.from_dict({"path": str(tmp_path / "mem")})
    with Memory(config, embeddings=HashingEmbeddings()) as memory:
        memory.add("I fly kites", user_id="u", infer=False)
    with pytest.raises(EncryptionKeyError, match="not encrypted"):
        rotate_master_key(config, StaticKey(generate_master_key()), current_key=key)
    other = MemoryConfig.from_dict({"path": str(tmp_path / "other")})
    with Memory(other, embeddings=HashingEmbeddings(), key_provider=key) as memory:
        memory.add("I fly kites", user_id="u", infer=False)
    with pytest.raises(EncryptionKeyError, match="another key"):
        rotate_master_key(other, key, current_key=StaticKey(generate_master_key()))


def test_the_cli_generates_and_rotates_keys(tmp_path):
    env = {**os.environ, "LANGMEM_PATH": str(tmp_path / "mem")}
    generated = cli("encryption", "generate-key", env=env, timeout=120)
    assert generated.returncode == 0, generated.stderr
    env["LANGMEM_ENCRYPTION_KEY"] = generated.stdout.strip()
    added = cli("add", "I carve wooden spoons", "--user-id", "u", "--no-infer", env=env, timeout=120)
    assert added.returncode == 0, added.stderr
    new_key = tmp_path / "new.key"
    new_key.write_text(cli("encryption", "generate-key", env=env, timeout=120).stdout)
    rotated = cli("encryption", "rotate", "--new-key-file", str(new_key), "--json", env=env, timeout=120)
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["rewrapped"] >= 1
    stale = cli("list", "--user-id", "u", env=env, timeout=120)
    assert stale.returncode == 2 and "another key" in stale.stderr
    env["LANGMEM_ENCRYPTION_KEY"] = new_key.read_text().strip()
    listed = cli("list", "--user-id", "u", env=env, timeout=120)
    assert listed.returncode == 0 and "I carve wooden spoons" in listed.stdout
    assert not _found_words(tmp_path / "mem", ["carve", "wooden", "spoons"])


# -- no user text at rest ------------------------------------------------------------------------


def test_no_file_of_the_store_holds_the_users_text_metadata_or_profile(tmp_path, key):
    path = tmp_path / "mem"
    with Memory(
        {"path": str(path)}, embeddings=HashingEmbeddings(), llm=_manager_model(), key_provider=key
    ) as memory:
        memory_id = _fill(memory)
        # everything reads back in clear through the API
        record = memory.get(memory_id)
        assert record.text == "Ximena's saxophone is in Valparaiso" and record.metadata == METADATA
        assert memory.get_profile(user_id="u-481") == PROFILE
        assert [e.new_text for e in memory.history(memory_id)][-1] == "Ximena's saxophone is in Valparaiso"
        graph = memory.related(["Ximena"], user_id="u-481")
        assert {e.name for e in graph.entities} == {"Ximena", "saxophone"}
        assert {r.relation for r in graph.relations} == {"BEQUEATHED"}
        assert _found_words(path, SECRET_WORDS) == {}  # WAL files included, while the store is open
    assert _found_words(path, SECRET_WORDS) == {}


def test_the_same_run_without_encryption_does_store_the_words(tmp_path):
    """The scan finds the words when they are there: the check above is not blind."""
    path = tmp_path / "mem"
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings(), llm=_manager_model()) as memory:
        _fill(memory)
    found = {word for words in _found_words(path, SECRET_WORDS).values() for word in words}
    assert found == set(SECRET_WORDS)


# -- search keeps working ------------------------------------------------------------------------


@pytest.mark.parametrize("scan_max_rows", [sqlite_backend.KEYWORD_SCAN_MAX_ROWS, 0], ids=["scanned", "fts5"])
def test_keyword_search_finds_memories_through_the_blind_index(tmp_path, key, monkeypatch, scan_max_rows):
    monkeypatch.setattr(sqlite_backend, "KEYWORD_SCAN_MAX_ROWS", scan_max_rows)
    config = {"path": str(tmp_path / "mem"), "search": {"dense_weight": 0.0}}
    texts = ["I am allergic to peanuts", "My sister plays the cello", "We adopted two kittens"]
    with Memory(config, embeddings=HashingEmbeddings(), key_provider=key) as memory:
        for text in texts:
            memory.add(text, user_id="u", agent_id="a", infer=False)
        memory.add("Peanuts are my favourite snack", user_id="w", infer=False)
        for query, expected in [("peanut allergies", texts[0]), ("cellos", texts[1]), ("kitten", texts[2])]:
            hits = memory.search(query, user_id="u")
            assert hits[0].memory.text == expected and hits[0].keyword_rank == 1
            assert all(hit.memory.scope.user_id == "u" for hit in hits)
    with sqlite3.connect(tmp_path / "mem" / "vectors.sqlite3") as conn:
        indexed = " ".join(text for (text,) in conn.execute("SELECT text FROM memory_fts"))
        stored = " ".join(text for (text,) in conn.execute("SELECT text FROM memories"))
    assert set(indexed.split()) and all(_is_blind_token(token) for token in indexed.split())
    assert all(_is_blind_token(token) for token in stored.split())


def _is_blind_token(token: str) -> bool:
    """Lower-case letters and digits ending in a digit: what no stemmer or stopword list alters."""
    return len(token) == TOKEN_CHARS and token.isalnum() and token.islower() and token[-1].isdigit()


def test_metadata_filters_compare_keyed_hashes(tmp_path, key):
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings(), key_provider=key) as memory:
        memory.add("I play chess", user_id="u", metadata={"topic": "games", "rank": 3}, infer=False)
        memory.add("I play go", user_id="u", metadata={"topic": "games", "rank": 5}, infer=False)
        memory.add("I bake bread", user_id="u", metadata={"topic": "food"}, infer=False)
        assert {r.text for r in memory.get_all(user_id="u", filters={"topic": "games"})} == {
            "I play chess",
            "I play go",
        }
        assert [r.text for r in memory.get_all(user_id="u", filters={"rank": {"$in": [3.0]}})] == [
            "I play chess"
        ]
        assert [r.text for r in memory.get_all(user_id="u", filters={"topic": {"$ne": "games"}})] == [
            "I bake bread"
        ]
        assert [h.memory.text for h in memory.search("play", user_id="u", filters={"rank": 5})] == [
            "I play go"
        ]
        with pytest.raises(InvalidFilterError, match="encrypted"):
            memory.get_all(user_id="u", filters={"rank": {"$gt": 2}})


def test_dotted_filters_reach_nested_metadata_on_an_encrypted_store(tmp_path, key):
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings(), key_provider=key) as memory:
        order = {"order": {"id": 17, "shop": {"city": "Porto"}}, "v1.2": "yes", "tags": ["a"]}
        memory.add("I ordered a kayak", user_id="u", metadata=order, infer=False)
        memory.add("I ordered a paddle", user_id="u", metadata={"order": {"id": 18}}, infer=False)
        assert [r.text for r in memory.get_all(user_id="u", filters={"order.id": 17})] == [
            "I ordered a kayak"
        ]
        assert [r.text for r in memory.get_all(user_id="u", filters={"order.shop.city": "Porto"})] == [
            "I ordered a kayak"
        ]
        assert [r.text for r in memory.get_all(user_id="u", filters={"v1\\.2": "yes"})] == [
            "I ordered a kayak"
        ]
        assert [r.text for r in memory.get_all(user_id="u", filters={"order.id": {"$ne": 17}})] == [
            "I ordered a paddle"
        ]
        assert memory.get_all(user_id="u", filters={"tags": "a"}) == []  # a list matches no filter
        [kayak] = memory.get_all(user_id="u", filters={"order.id": 17})
        assert kayak.metadata == order


def test_expiry_on_an_encrypted_store_hides_and_sweeps(tmp_path, key):
    config = {"path": str(tmp_path / "mem")}
    with Memory(config, embeddings=HashingEmbeddings(), key_provider=key) as memory:
        kept = memory.add("I keep this", user_id="u", infer=False)[0].memory
        doomed = memory.add("I lose this", user_id="u", infer=False, ttl=3600)[0].memory
        assert memory.get(doomed.id).expires_at == doomed.expires_at
        expire_now(memory, doomed.id)
        assert [r.id for r in memory.get_all(user_id="u")] == [kept.id]
        assert {r.id for r in memory.get_all(user_id="u", include_expired=True)} == {kept.id, doomed.id}
        assert memory.sweep() == 1
        assert [r.id for r in memory.get_all(user_id="u", include_expired=True)] == [kept.id]


def test_metadata_retention_rules_are_refused_on_an_encrypted_store(tmp_path, key):
    config = {"path": str(tmp_path / "mem"), "retention": {"metadata": {"category": {"health": 60}}}}
    with pytest.raises(ConfigurationError, match="encrypted"):
        Memory(config, embeddings=HashingEmbeddings(), key_provider=key)


@given(
    words=st.lists(st.from_regex(r"[a-zà-ÿ]{2,12}", fullmatch=True), min_size=1, max_size=30),
    picked=st.integers(min_value=0),
)
@settings(max_examples=200, deadline=None)
def test_every_keyword_term_of_a_text_has_its_token_in_the_texts_blind_index(words, picked):
    key = b"k" * 32
    text = " ".join(words)
    terms = keyword_terms(text)
    indexed = set(blind_text(key, text).split())
    assert set(blind_query(key, text).split()) <= indexed
    if terms:
        query_word = terms[picked % len(terms)]
        assert set(blind_query(key, query_word).split()) <= indexed
    assert not set(blind_query(b"o" * 32, text).split()) & indexed  # another scope's key matches nothing


_STOPWORDS = st.sampled_from(sorted(STOPWORDS))
_WORDS = st.one_of(
    st.from_regex(r"[a-eisy]{1,8}", fullmatch=True),
    _STOPWORDS,
    st.builds(str.__add__, _STOPWORDS, st.sampled_from(["s", "es", "ed", "ing", "y", "ly"])),
)


@given(stored=st.lists(_WORDS, min_size=1, max_size=20), query=st.lists(_WORDS, min_size=1, max_size=5))
@settings(max_examples=300, deadline=None)
def test_a_query_token_is_in_a_blind_text_as_often_as_its_plain_term_finds_a_word(stored, query):
    """Exactly, both ways: the tokens a word gets (stopwords' short roots and words no query finds get
    none) lose no match and add none."""
    key = b"k" * 32
    text = " ".join(stored)
    indexed = blind_text(key, text).split()
    for token, term in blind_terms(key, keyword_terms(" ".join(query))).items():
        assert indexed.count(token) == len(term_pattern(term).findall(text))


def test_the_tokens_kept_for_a_key_are_dropped_past_their_limit_never_changed(monkeypatch):
    key = b"v" * 32
    texts = [f"word{i} shared{i % 3} allergies" for i in range(40)]
    first = [blind_text(key, text) for text in texts]
    monkeypatch.setattr(blind, "_WORDS_KEPT", 8)  # every text below brings words past the limit
    blind_text(key, " ".join(f"unseen{i}" for i in range(12)))
    assert [blind_text(key, text) for text in reversed(texts)] == first[::-1]


def _blind_text_of_version_1(key: bytes, text: str) -> str:
    """The first blind index's text: a legacy token for every root that finds each word (stopwords'
    short roots too), one for a word no root finds."""

    def roots(word: str) -> list[str]:
        shortest = max(2, len(word) - 2)
        found = range(min(shortest, MIN_ROOT), len(word) + 1)
        return [word[:n] for n in found if n >= MIN_ROOT or n >= shortest] or [word]

    return " ".join(legacy_token(key, root) for word in WORD.findall(text.lower()) for root in roots(word))


@pytest.mark.parametrize("scan_max_rows", [sqlite_backend.KEYWORD_SCAN_MAX_ROWS, 0], ids=["scanned", "fts5"])
def test_a_store_of_the_first_blind_index_keeps_finding_its_memories(
    tmp_path, key, monkeypatch, scan_max_rows
):
    monkeypatch.setattr(sqlite_backend, "KEYWORD_SCAN_MAX_ROWS", scan_max_rows)
    config = {"path": str(tmp_path / "mem"), "search": {"dense_weight": 0.0}}
    with monkeypatch.context() as first_version:
        first_version.setattr(encrypted_vector, "blind_text", _blind_text_of_version_1)
        with Memory(config, embeddings=HashingEmbeddings(), key_provider=key) as memory:
            memory.add("I am allergic to peanuts", user_id="u", infer=False)
            memory.services.kv.put_many(ENCRYPTION, {MARKER: {"cipher": CIPHER}})  # as version 1 wrote it
    with Memory(config, embeddings=HashingEmbeddings(), key_provider=key) as memory:
        memory.add("My peanut butter is homemade", user_id="u", infer=False)
        found = {hit.memory.text for hit in memory.search("peanuts allergies", user_id="u")}
        assert found == {"I am allergic to peanuts", "My peanut butter is homemade"}
        assert memory.search("allergy", user_id="u")[0].memory.text == "I am allergic to peanuts"
    with Memory({"path": str(tmp_path / "new")}, embeddings=HashingEmbeddings(), key_provider=key) as memory:
        memory.add("I am allergic to peanuts", user_id="u", infer=False)
        assert not memory.services.vector.keyring.legacy_blind_index  # a new store asks one token a term
        memory.services.kv.put_many(ENCRYPTION, {MARKER: {"cipher": CIPHER, "blind_index": 3}})
    with pytest.raises(EncryptionMismatchError, match="newer"):
        Memory({"path": str(tmp_path / "new")}, embeddings=HashingEmbeddings(), key_provider=key)


# -- crypto-shredding ----------------------------------------------------------------------------


def test_a_purge_leaves_every_copy_made_before_it_undecryptable(tmp_path, key):
    path = tmp_path / "mem"
    with Memory(
        {"path": str(path)}, embeddings=HashingEmbeddings(), llm=_manager_model(), key_provider=key
    ) as memory:
        memory_id = _fill(memory)
        memory.add("I keep bees", user_id="other", infer=False)
        copy = tmp_path / "copy"
        shutil.copytree(path, copy)  # files and their -wal, as a backup or a disk image would hold
        assert any(f.name.endswith("-wal") for f in copy.rglob("*"))
        wrapped = memory.services.kv.keyring  # the live keyring: what decrypts after the purge
        memory.delete_all(user_id="u-481", purge=True)
        assert memory.get_all(user_id="other")[0].text == "I keep bees"  # other users keep their keys

        copied_vectors = SQLiteVectorStore(copy / "vectors.sqlite3")
        copied_kv = SQLiteKeyValueStore(copy / "kv")
        copied_graph = SQLiteGraphStore(copy / "graph.sqlite3")
        try:
            scope = Scope(user_id="u-481")
            sealed_records = copied_vectors.list(scope, limit=100, include_invalidated=True)
            assert sealed_records and copied_kv.get(HISTORY, memory_id)
            # with the keys the copy holds, the copy opens; with the live ones, nothing of the user does
            # (a sealed value whose data key is gone reads as absent: it was shredded)
            copied_keyring = Keyring.open(copied_kv, key.master_key())
            assert EncryptedVectorStore(copied_vectors, copied_keyring).get([memory_id])[0].text == (
                "Ximena's saxophone is in Valparaiso"
            )
            assert EncryptedKeyValueStore(copied_kv, copied_keyring).get(HISTORY, memory_id)
            assert EncryptedGraphStore(copied_graph, copied_keyring).entities(scope)
            assert EncryptedVectorStore(copied_vectors, wrapped).get([memory_id]) == []
            assert EncryptedVectorStore(copied_vectors, wrapped).list(scope, limit=100) == []
            assert EncryptedKeyValueStore(copied_kv, wrapped).get(HISTORY, memory_id) is None
            assert EncryptedGraphStore(copied_graph, wrapped).entities(scope) == []
            # the copy's own keyring holds the user's wrapped keys; the live store holds them nowhere
            copied_keys = [k for k in copied_kv.keys(DATA_KEYS) if k.startswith("user_id=u-481")]
            assert copied_keys
            traces = [
                wrapped_key
                for k in copied_keys
                for wrapped_key in copied_kv.get(DATA_KEYS, k)
                if any(wrapped_key.encode() in f.read_bytes() for f in path.rglob("*") if f.is_file())
            ]
            assert traces == []
        finally:
            copied_vectors.close()
            copied_kv.close()
            copied_graph.close()
    assert _found_words(copy, SECRET_WORDS) == {}


def test_a_write_that_read_its_keys_before_another_process_purged_the_scope_goes_again_under_new_keys(
    tmp_path, key, monkeypatch
):
    """The writer reads the user's data keys, another process purges the user (destroying them), the
    writer stores its memory under the destroyed keys: it sees that they are gone and writes again
    under new ones, so the memory is kept whole (as when the purge came first) and read alike by
    every process, the writer too; a later purge deletes it."""
    config = {"path": str(tmp_path / "mem")}
    with (
        Memory(config, embeddings=HashingEmbeddings(), key_provider=key) as writer,
        Memory(config, embeddings=HashingEmbeddings(), key_provider=key) as purger,
    ):
        writer.add("I keep bees", user_id="u-481", infer=False)
        writer_keys, raced = writer.services.vector.keyring, []
        read_keys = Keyring.keys

        def keys_then_purged(keyring, scopes, *, fresh=False):
            found = read_keys(keyring, scopes, fresh=fresh)
            if keyring is writer_keys and fresh and not raced:  # the memory's write has read its keys
                raced.append(purger.delete_all(user_id="u-481", purge=True))
            return found

        with monkeypatch.context() as racing:
            racing.setattr(Keyring, "keys", keys_then_purged)
            [added] = writer.add("I keep wasps", user_id="u-481", infer=False)
        assert raced == [1]  # "I keep bees"
        with Memory(config, embeddings=HashingEmbeddings(), key_provider=key) as reopened:
            for memory in (writer, purger, reopened):
                assert [m.text for m in memory.get_all(user_id="u-481")] == ["I keep wasps"]
                assert memory.search("wasps", user_id="u-481")[0].memory.id == added.memory.id
                assert [e.new_text for e in memory.history(added.memory.id)] == ["I keep wasps"]
        purger.delete_all(user_id="u-481", purge=True)
        assert writer.services.vector.inner.count(Scope(user_id="u-481")) == 0
        assert writer.get_all(user_id="u-481") == []


def test_a_sealed_value_altered_under_its_own_key_is_an_error_not_an_absence(tmp_path, key):
    with Memory({"path": str(tmp_path / "mem")}, embeddings=HashingEmbeddings(), key_provider=key) as memory:
        [added] = memory.add("I keep bees", user_id="u", infer=False)
        vectors, kv = memory.services.vector.inner, memory.services.kv.inner
        [stored] = vectors.get([added.memory.id])
        sealed = stored.metadata["sealed"]
        flipped = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
        vectors.replace(stored.model_copy(update={"metadata": {**stored.metadata, "sealed": flipped}}))
        with pytest.raises(UndecryptableError, match="altered"):
            memory.get(added.memory.id)
        [event] = kv.get(HISTORY, added.memory.id)
        value = event["sealed"]
        kv.put_many(
            HISTORY,
            {
                added.memory.id: [
                    {**event, "sealed": value[:4] + ("A" if value[4] != "A" else "B") + value[5:]}
                ]
            },
        )
        with pytest.raises(UndecryptableError, match="altered"):
            memory.history(added.memory.id)


def _add_while_purged(path: str, encoded_key: str, role: str, seconds: float, barrier, results) -> None:
    """The writer adds for `seconds` and one more, reporting when each add started and what it
    stored; the purger purges the user (and searches) for `seconds`, reporting when its last purge
    ended. Both report every error."""
    errors, added, purged_at = [], {}, 0.0
    with Memory(
        {"path": path}, embeddings=HashingEmbeddings(), key_provider=StaticKey(encoded_key)
    ) as memory:
        barrier.wait()
        deadline = time.monotonic() + seconds + (1.0 if role == "writer" else 0.0)
        while time.monotonic() < deadline:
            try:
                if role == "writer":
                    started = time.time()
                    [result] = memory.add(
                        f"Note {len(added)}: the parcel went to locker {len(added)}", user_id="u", infer=False
                    )
                    added[result.memory.id] = (started, result.memory.text)
                else:
                    memory.delete_all(user_id="u", purge=True)
                    purged_at = time.time()
                    memory.search("parcel locker", user_id="u")
            except Exception as exc:  # noqa: BLE001 - reported to the test
                errors.append(repr(exc))
    results.put((role, errors[:3], added if role == "writer" else purged_at))


@pytest.mark.slow
def test_processes_adding_and_purging_one_user_at_once_never_fail_and_lose_nothing_added_after(tmp_path):
    """Every add and purge succeeds; what is stored afterwards is what the writer added, every add
    that started after the last purge among it; a purge then leaves nothing."""
    encoded_key = generate_master_key()
    path = str(tmp_path / "mem")
    reports = dict(
        (role, (errors, outcome))
        for role, errors, outcome in processes_at_once(
            _add_while_purged, [(path, encoded_key, role, 8.0) for role in ("writer", "purger")]
        )
    )
    assert [reports["writer"][0], reports["purger"][0]] == [[], []]
    added, last_purge = reports["writer"][1], reports["purger"][1]
    after_the_last_purge = {i: text for i, (started, text) in added.items() if started > last_purge}
    assert len(added) > 50 and len(after_the_last_purge) > 5
    with Memory(
        {"path": path}, embeddings=HashingEmbeddings(), key_provider=StaticKey(encoded_key)
    ) as memory:
        stored = {m.id: m.text for m in memory.get_all(user_id="u", limit=1000)}
        assert after_the_last_purge.items() <= stored.items()
        assert stored.items() <= {i: text for i, (_, text) in added.items()}.items()
        memory.delete_all(user_id="u", purge=True)
        assert memory.services.vector.inner.count(Scope(user_id="u")) == 0
