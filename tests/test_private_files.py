"""The embedded store is readable by its owner alone: every directory it creates is 0700 and every
file it writes 0600 (SQLite's -wal and -shm, the ANN index, the lock files included), whatever the
umask of the process that writes it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import given, settings, strategies as st

from langmem_plugin import Memory
from langmem_plugin.cli import main
from langmem_plugin.integrations.store import MemoryStore
from langmem_plugin.tiers.sqlite_common import open_sqlite

from .helpers import HashingEmbeddings


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    """Every path under `root` (itself included) with its permission bits."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def exercise(memory: Memory) -> None:
    """Write to every tier and every kind of file the embedded store keeps."""
    memory.add([f"Note {i} about the Lisbon office." for i in range(12)], user_id="ana", infer=False)
    memory.add("I'm vegetarian and I live in Porto.", user_id="ana")
    memory.search("office", user_id="ana")
    assert memory.services.vector.wait_for_ann(timeout=60)
    MemoryStore(memory).put(("notes", "ana"), "k", {"content": "the spare key is under the mat"})
    memory.add("I keep bees.", user_id="bo", infer=False)
    memory.delete_all(user_id="bo", purge=True)  # takes the deletion lock


@settings(max_examples=8, deadline=None)
@given(mask=st.integers(min_value=0, max_value=0o077))  # the group's and others' bits
def test_every_directory_is_0700_and_every_file_0600_whatever_the_umask(mask):
    with tempfile.TemporaryDirectory() as directory:
        check_private_store(Path(directory), mask)


def check_private_store(tmp_path: Path, mask: int) -> None:
    root = tmp_path / "nested" / "store"
    config = {"path": str(root), "vector": {"ann_min_rows": 10}}
    with umask(mask), Memory(config, embeddings=HashingEmbeddings()) as memory:
        exercise(memory)
        found = modes(tmp_path / "nested")  # while open: the -wal and -shm files exist
    names = set(found)
    assert any(name.endswith("-wal") for name in names) and any(name.endswith("-shm") for name in names)
    assert any("vectors.ann" in name and name.endswith(".npz") for name in names)
    assert any(name.endswith(".lock") for name in names)
    wrong = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (tmp_path / "nested" / name).is_dir() else 0o600)
    }
    assert wrong == {}


def test_an_existing_directory_keeps_its_mode_and_the_files_in_it_are_private(tmp_path):
    """The caller's own directory (here 0755) is not changed; what the store writes in it is."""
    tmp_path.chmod(0o755)
    with umask(0o022), Memory({"path": str(tmp_path)}, embeddings=HashingEmbeddings()) as memory:
        memory.add("Parcel 77 reached depot 3.", user_id="ana", infer=False)
        found = modes(tmp_path)
    assert found.pop(".") == 0o755
    assert found and all(mode in (0o600, 0o700) for mode in found.values()), found


def test_a_database_written_before_its_files_were_private_is_made_private_on_open(tmp_path):
    path = tmp_path / "old.sqlite3"
    with umask(0o022):
        conn = open_sqlite(path)
        conn.execute("CREATE TABLE t (x)")
        for file in tmp_path.iterdir():
            file.chmod(0o644)
        reopened = open_sqlite(path)
        reopened.execute("SELECT * FROM t").fetchall()
        assert {file.name: oct(stat.S_IMODE(file.stat().st_mode)) for file in tmp_path.iterdir()} == {
            "old.sqlite3": "0o600",
            "old.sqlite3-wal": "0o600",
            "old.sqlite3-shm": "0o600",
        }
        reopened.close()
        conn.close()


def test_an_export_is_readable_by_its_owner_alone(tmp_path):
    store = tmp_path / "store"
    with Memory({"path": str(store)}, embeddings=HashingEmbeddings()) as memory:
        memory.add("My locker code is 4417.", user_id="ana", infer=False)
    output = tmp_path / "ana.json"
    with umask(0o022):
        assert main(["--path", str(store), "export", "--user-id", "ana", "--output", str(output)]) == 0
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert "4417" in output.read_text()


READ_IN_ANOTHER_PROCESS = """
import sys
from langmem_plugin import Memory
from tests.helpers import HashingEmbeddings
with Memory({"path": sys.argv[1]}, embeddings=HashingEmbeddings()) as memory:
    print(sorted(r.text for r in memory.get_all(user_id="ana")))
"""


def _read_in_another_process(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", READ_IN_ANOTHER_PROCESS, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return done.stdout.strip()


def test_a_second_memory_on_the_same_files_loses_no_commit_of_the_first(tmp_path):
    """One process with two memories on one path (a LangGraph server: its graphs' memories and
    its store's), another process opening and closing the memory: every commit of the first
    still reaches the files. Opening the second must not drop the process's SQLite locks, or the
    other process deletes the write-ahead log the first still writes to."""
    path = tmp_path / "memory"
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as first:
        first.add("one", user_id="ana", infer=False)
        Memory({"path": str(path)}, embeddings=HashingEmbeddings()).close()
        assert _read_in_another_process(path) == "['one']"
        first.add("two", user_id="ana", infer=False)
        assert _read_in_another_process(path) == "['one', 'two']"
