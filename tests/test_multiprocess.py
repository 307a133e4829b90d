"""Two processes writing into one memory directory at the same time lose nothing."""

import multiprocessing as mp
from pathlib import Path

import pytest

from langmem_plugin import EventType, Memory
from langmem_plugin.errors import BackendError
from langmem_plugin.tiers.sqlite_common import open_sqlite

from .helpers import HashingEmbeddings, processes_at_once

WRITES = 60


def _writer(path: str, worker: int, barrier) -> None:
    with Memory({"path": path}, embeddings=HashingEmbeddings()) as memory:
        barrier.wait()
        for i in range(WRITES):
            memory.add(f"worker {worker} fact {i}", user_id="shared", infer=False)
            if i % 10 == 0:
                memory.search(f"fact {i}", user_id="shared")


@pytest.mark.slow
def test_two_processes_write_concurrently(tmp_path):
    path = str(tmp_path / "mp")
    context = mp.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=_writer, args=(path, w, barrier)) for w in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    with Memory({"path": path}, embeddings=HashingEmbeddings()) as memory:
        records = memory.get_all(user_id="shared", limit=1000)
        assert sorted(r.text for r in records) == sorted(
            f"worker {w} fact {i}" for w in range(2) for i in range(WRITES)
        )
        for record in records:
            assert [e.event for e in memory.history(record.id)] == [EventType.ADD]


@pytest.mark.slow
def test_reader_sees_writes_of_another_process(tmp_path):
    """The reader's cached dense index must be refreshed when another process commits."""
    path = str(tmp_path / "mp2")
    with Memory({"path": path}, embeddings=HashingEmbeddings()) as reader:
        reader.add("first note", user_id="shared", infer=False)
        assert len(reader.search("note", user_id="shared")) == 1  # builds the in-memory index
        context = mp.get_context("spawn")
        barrier = context.Barrier(1)
        process = context.Process(target=_writer, args=(path, 7, barrier))
        process.start()
        process.join(timeout=120)
        assert process.exitcode == 0
        hits = reader.search("worker 7 fact 59", user_id="shared", limit=100)
        assert hits[0].memory.text == "worker 7 fact 59"
        assert len(hits) == WRITES + 1


def _opener(path: str, barrier, results) -> None:
    barrier.wait()
    try:
        open_sqlite(Path(path)).close()
        results.put("ok")
    except BackendError as exc:
        results.put(str(exc))


def test_processes_opening_one_new_database_at_once_all_open_it(tmp_path):
    """Switching a new SQLite file to WAL is told 'locked' without waiting when another process
    switches it at the same moment (7 of 60 trials of 4 processes before open_sqlite retried)."""
    for trial in range(30):
        path = str(tmp_path / f"new-{trial}.db")
        outcomes = processes_at_once(_opener, [(path,)] * 4, start_method="fork", timeout=60)
        assert outcomes == ["ok"] * 4, outcomes
