"""A verbatim add of many messages costs a fixed number of SQL statements and transactions,
however many messages it holds; batches larger than one write chunk are atomic per chunk."""

import gc
import sqlite3
import uuid
from datetime import datetime, timezone

import pytest

from langmem_plugin import EventType, InvalidInputError, Memory
from langmem_plugin.pipeline import ingest
from langmem_plugin.namespaces import SCOPE_INDEX
from langmem_plugin.pipeline.audit import JOURNAL_PREFIX, journal_keys
from langmem_plugin.config import LimitsConfig, PrivacyConfig
from langmem_plugin.pipeline.forget import indexed_memories
from langmem_plugin.pipeline.messages import normalize_messages
from langmem_plugin.records import Scope, new_uuids, utc_now
from langmem_plugin.testing.inspect import sqlite_activity
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore
from langmem_plugin.tiers.sqlite_common import scope_clause

from .helpers import HashingEmbeddings


def _messages(count: int, tag: str) -> list[dict]:
    return [{"role": "user", "content": f"{tag} note {i} about topic {i % 17}"} for i in range(count)]


def _cost_of_add(tmp_path, count: int) -> dict[str, int]:
    with Memory({"path": str(tmp_path / f"m{count}"), "graph": {"enabled": False}}, embeddings=HashingEmbeddings()) as memory:
        memory.add("warm up every tier", user_id="u", infer=False)
        with sqlite_activity() as activity:
            operations = memory.add(_messages(count, "batch"), user_id="u", infer=False)
        assert len(operations) == count
        assert memory.services.vector.count(Scope(user_id="u")) == count + 1
        return {"statements": activity.calls, "transactions": activity.transactions}


def test_a_thousand_message_add_costs_what_a_ten_message_add_costs(tmp_path):
    small = _cost_of_add(tmp_path, 10)
    large = _cost_of_add(tmp_path, 1000)
    assert large == small
    # journal entry with the scope index (removing the previous write's entry), vector rows,
    # history; the embedding cache is only read
    assert large["transactions"] <= 3
    assert large["statements"] <= 30


def _journal_after_close(path) -> list[str]:
    kv = SQLiteKeyValueStore(path / "kv")
    try:
        return kv.keys(SCOPE_INDEX, JOURNAL_PREFIX)
    finally:
        kv.close()


def test_a_batch_over_the_write_chunk_is_written_chunk_by_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "WRITE_CHUNK", 40)
    with Memory({"path": str(tmp_path / "m"), "graph": {"enabled": False}}, embeddings=HashingEmbeddings()) as memory:
        operations = memory.add(_messages(100, "chunked"), user_id="u", infer=False)
        assert [op.memory.text for op in operations] == [m["content"] for m in _messages(100, "chunked")]
        for operation in operations:
            assert [e.event for e in memory.history(operation.memory.id)] == [EventType.ADD]
        # each chunk's journal entry goes with the next chunk's journal write; the last one waits
        assert len(journal_keys(memory.services)) == 1
    assert _journal_after_close(tmp_path / "m") == []


def test_a_failed_chunk_keeps_the_chunks_before_it_with_their_history(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "WRITE_CHUNK", 40)
    with Memory({"path": str(tmp_path / "m"), "graph": {"enabled": False}}, embeddings=HashingEmbeddings()) as memory:
        insert = memory.services.vector.insert
        calls = []

        def failing_second_insert(records, vectors):
            calls.append(len(records))
            if len(calls) == 2:
                raise sqlite3.OperationalError("disk I/O error")
            insert(records, vectors)

        monkeypatch.setattr(memory.services.vector, "insert", failing_second_insert)
        with pytest.raises(sqlite3.OperationalError):
            memory.add(_messages(100, "partial"), user_id="u", infer=False)
        stored = memory.get_all(user_id="u", limit=1000)
        assert len(stored) == 40
        for record in stored:
            assert [e.event for e in memory.history(record.id)] == [EventType.ADD]
        # the failed chunk's scope-index entries, filed with its journal entry, went with it
        assert set(indexed_memories(memory.services, Scope(user_id="u"))) == {r.id for r in stored}
    assert _journal_after_close(tmp_path / "m") == []


def test_a_bad_message_anywhere_in_a_large_batch_stores_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "WRITE_CHUNK", 40)
    with Memory({"path": str(tmp_path / "m"), "graph": {"enabled": False}}, embeddings=HashingEmbeddings()) as memory:
        messages = _messages(100, "bad") + [{"role": "user", "content": 42}]
        with pytest.raises(InvalidInputError):
            memory.add(messages, user_id="u", infer=False)
        assert memory.get_all(user_id="u", limit=1000) == []
        assert memory.services.kv.keys("history") == []


def test_new_facts_of_one_message_share_one_write(tmp_path):
    """infer=True: consecutive ADD decisions go to the tiers together, as one journaled write."""
    costs = []
    for count, message in enumerate(["I live in Berlin.", "I live in Berlin. I work at Acme Corp as an engineer. I love eating sushi on Fridays."]):
        with Memory({"path": str(tmp_path / f"m{count}"), "graph": {"enabled": False}}, embeddings=HashingEmbeddings()) as memory:
            memory.add("warm up every tier today please", user_id="u", infer=False)
            with sqlite_activity() as activity:
                operations = memory.add(message, user_id="u")
            assert [op.event for op in operations] == [EventType.ADD] * (1 + 2 * count)
            for operation in operations:
                assert [e.event for e in memory.history(operation.memory.id)] == [EventType.ADD]
            costs.append(activity.transactions)
    assert costs[1] == costs[0]


def test_a_verbatim_add_keeps_its_vectors_in_the_vector_tier_only(tmp_path):
    """The embedding cache would hold a second copy of every vector the vector tier stores;
    it still serves what it holds, and queries still fill it."""
    with Memory({"path": str(tmp_path / "m"), "graph": {"enabled": False}}, embeddings=HashingEmbeddings()) as memory:
        memory.add(_messages(50, "bulk"), user_id="u", infer=False)
        assert memory.services.kv.keys("embeddings") == []
        hits = memory.search("bulk note 7", user_id="u", limit=3)
        assert hits and memory.services.kv.keys("embeddings") != []


def test_new_uuids_are_distinct_version_4_uuids():
    ids = new_uuids(5000)
    assert len(set(ids)) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_crash_after_a_finished_write_replays_its_journal_entry_harmlessly(tmp_path):
    """A finished entry still in the journal (the process died before its next write or close)
    is settled on the next open: the history is not repeated and the entry goes."""
    path = tmp_path / "m"
    memory = Memory({"path": str(path), "graph": {"enabled": False}}, embeddings=HashingEmbeddings())
    record = memory.add("I keep bees", user_id="u", infer=False)[0].memory
    assert len(journal_keys(memory.services)) == 1
    memory.services.close()  # as a crash would leave it: the finished entry is not removed
    with Memory({"path": str(path), "graph": {"enabled": False}}, embeddings=HashingEmbeddings()) as reopened:
        assert [e.event for e in reopened.history(record.id)] == [EventType.ADD]
        assert journal_keys(reopened.services) == []


def _index_sql(path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'memories_%'"))


def test_agent_and_run_indexes_skip_rows_without_those_ids_and_still_serve_their_scopes(tmp_path):
    """Most memories have no agent or run id: the new stores' agent and run indexes hold only the
    rows that have one, and scope queries on those ids still search them, not the whole table."""
    path = tmp_path / "m"
    with Memory({"path": str(path), "graph": {"enabled": False}}, embeddings=HashingEmbeddings()) as memory:
        memory.add(_messages(30, "plain"), user_id="u", infer=False)
        memory.add(_messages(3, "bot"), user_id="u", agent_id="bot", run_id="r1", infer=False)
        vector = memory.services.vector
        with sqlite3.connect(path / "vectors.sqlite3") as conn:
            for scope, index in (({"agent_id": "bot"}, "memories_agent"), ({"run_id": "r1"}, "memories_run")):
                clause, params = scope_clause(scope)
                query = f"EXPLAIN QUERY PLAN SELECT rowid, vector FROM memories WHERE {clause}"
                assert f"USING INDEX {index}" in " ".join(row[3] for row in conn.execute(query, params))
                assert vector.count(Scope(**scope)) == 3
            assert conn.execute("SELECT count(*) FROM memories INDEXED BY memories_agent WHERE agent_id IS NOT NULL").fetchone() == (3,)
    indexes = _index_sql(path / "vectors.sqlite3")
    assert "WHERE agent_id IS NOT NULL" in indexes["memories_agent"] and "WHERE run_id IS NOT NULL" in indexes["memories_run"]


def test_a_store_with_the_earlier_full_agent_and_run_indexes_keeps_them_and_its_answers(tmp_path):
    path = tmp_path / "m"
    with Memory({"path": str(path), "graph": {"enabled": False}}, embeddings=HashingEmbeddings()) as memory:
        memory.add(_messages(5, "bot"), user_id="u", agent_id="bot", infer=False)
    with sqlite3.connect(path / "vectors.sqlite3") as conn:  # as earlier versions created them
        conn.execute("DROP INDEX memories_agent")
        conn.execute("DROP INDEX memories_run")
        conn.execute("CREATE INDEX memories_agent ON memories (agent_id, run_id)")
        conn.execute("CREATE INDEX memories_run ON memories (run_id)")
    with Memory({"path": str(path), "graph": {"enabled": False}}, embeddings=HashingEmbeddings()) as memory:
        memory.add(_messages(2, "more"), user_id="u", agent_id="bot", infer=False)
        assert len(memory.get_all(agent_id="bot", limit=100)) == 7
    assert "WHERE" not in _index_sql(path / "vectors.sqlite3")["memories_agent"]


def test_a_verbatim_batch_builds_the_records_new_record_builds():
    """The batch (one validation for all the records) holds what `new_record` makes of each message."""
    messages = normalize_messages(
        [
            "plain",
            {"role": "assistant", "content": "  spaced.  ", "name": "Bot", "timestamp": "2024-05-01T10:00:00Z"},
            {"role": "user", "content": "turned", "id": "m-7", "turn_id": "t-7", "timestamp": 1_700_000_000},
        ],
        LimitsConfig(),
        PrivacyConfig(),
    ).messages
    scope, metadata, now = Scope(user_id="u", run_id="r"), {"source": "import", "n": 2}, utc_now()
    records = ingest.verbatim_records(messages, scope, metadata, now)
    expected = [ingest.new_record(r.id, m.content, scope, metadata, [m.source()], now) for r, m in zip(records, messages)]
    assert records == expected
    assert records[1].valid_from == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert [r.id for r in records] == ingest.message_memory_ids(scope, messages)  # named after their messages
    assert len({r.id for r in records}) == 3 and all(uuid.UUID(r.id).version == 8 for r in records)
    records[0].metadata["n"] = 3  # each record holds a metadata dict of its own
    assert records[1].metadata == metadata == {"source": "import", "n": 2}


def test_a_verbatim_add_pauses_the_garbage_collector_for_its_writes_only(tmp_path, monkeypatch):
    """Paused while the batch is written, on while the embedder (the caller's code) runs, and
    left as found afterwards, failed or not."""
    paused = []
    with Memory({"path": str(tmp_path / "m"), "graph": {"enabled": False}}, embeddings=HashingEmbeddings()) as memory:
        insert, embed = memory.services.vector.insert, memory.services.embedder.embed

        def watched_insert(records, vectors):
            paused.append(("insert", not gc.isenabled()))
            insert(records, vectors)

        def watched_embed(*args, **kwargs):
            paused.append(("embed", not gc.isenabled()))
            return embed(*args, **kwargs)

        monkeypatch.setattr(memory.services.vector, "insert", watched_insert)
        monkeypatch.setattr(memory.services.embedder, "embed", watched_embed)
        assert gc.isenabled()
        memory.add(_messages(5, "gc"), user_id="u", infer=False)
        assert paused == [("embed", False), ("insert", True)] and gc.isenabled()

        def failing_insert(records, vectors):
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(memory.services.vector, "insert", failing_insert)
        with pytest.raises(sqlite3.OperationalError):
            memory.add(_messages(5, "fails"), user_id="u", infer=False)
        assert gc.isenabled()
        monkeypatch.setattr(memory.services.vector, "insert", insert)
        gc.disable()  # the caller's own pause is left in place
        try:
            memory.add(_messages(5, "caller"), user_id="u", infer=False)
            assert not gc.isenabled()
        finally:
            gc.enable()
        assert memory.services.vector.count(Scope(user_id="u")) == 10
