"""Inputs no tier can store, damaged files and unusable paths each raise a typed LangMemError,
before anything is written."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langmem_plugin import Memory
from langmem_plugin import (
    InvalidFilterError,
    InvalidMetadataError,
    InvalidScopeError,
    InvalidTextError,
    StoreCorruptedError,
    StorePathError,
    ValueOutOfRangeError,
)

from .helpers import HashingEmbeddings

LONE = "caf\udce9"  # a lone surrogate, e.g. from bytes decoded with errors="surrogateescape"


def _open(path) -> Memory:
    return Memory({"path": str(path)}, embeddings=HashingEmbeddings())


def _snapshot(memory: Memory):
    records = memory.get_all(user_id="u", limit=1000, include_invalidated=True)
    return (
        sorted((r.id, r.text, r.updated_at, tuple(sorted(r.metadata.items()))) for r in records),
        {r.id: len(memory.history(r.id)) for r in records},
        memory.get_profile(user_id="u"),
        memory.services.kv.keys("scope_memories"),
    )


CALLS = {
    "text": (InvalidTextError, lambda m, mid: m.add(f"I live in {LONE}", user_id="u", infer=False)),
    "inferred text": (InvalidTextError, lambda m, mid: m.add(f"I live in {LONE}", user_id="u")),
    "message name": (InvalidTextError, lambda m, mid: m.add([{"role": "user", "content": "hi there", "name": LONE}], user_id="u")),
    "message id": (InvalidTextError, lambda m, mid: m.add([{"role": "user", "content": "hi there", "id": LONE}], user_id="u")),
    "query": (InvalidTextError, lambda m, mid: m.search(f"where {LONE}", user_id="u")),
    "update text": (InvalidTextError, lambda m, mid: m.update(mid, f"now in {LONE}")),
    "get id": (InvalidTextError, lambda m, mid: m.get(mid + LONE)),
    "update id": (InvalidTextError, lambda m, mid: m.update(mid + LONE, "a new text")),
    "delete id": (InvalidTextError, lambda m, mid: m.delete(mid + LONE)),
    "history id": (InvalidTextError, lambda m, mid: m.history(mid + LONE)),
    "user id": (InvalidScopeError, lambda m, mid: m.add("a fine text", user_id=LONE, infer=False)),
    "run id": (InvalidScopeError, lambda m, mid: m.search("fine", user_id="u", run_id=LONE)),
    "metadata value": (InvalidMetadataError, lambda m, mid: m.add("a fine text", user_id="u", metadata={"k": LONE})),
    "metadata key": (InvalidMetadataError, lambda m, mid: m.add("a fine text", user_id="u", metadata={LONE: 1})),
    "profile value": (InvalidMetadataError, lambda m, mid: m.set_profile({"city": LONE}, user_id="u")),
    "entity name": (InvalidTextError, lambda m, mid: m.related([LONE], user_id="u")),
    "filter value": (InvalidFilterError, lambda m, mid: m.search("fine", user_id="u", filters={"k": LONE})),
    "huge filter": (InvalidFilterError, lambda m, mid: m.search("fine", user_id="u", filters={"x": 10**30})),
    "nan filter": (InvalidFilterError, lambda m, mid: m.search("fine", user_id="u", filters={"x": {"$lt": float("nan")}})),
    "huge filter in list": (InvalidFilterError, lambda m, mid: m.get_all(user_id="u", filters={"x": {"$in": [1, -(10**30)]}})),
    "huge metadata": (InvalidMetadataError, lambda m, mid: m.add("a fine text", user_id="u", metadata={"x": 10**30})),
    "huge update metadata": (InvalidMetadataError, lambda m, mid: m.update(mid, "a new text", metadata={"x": 2**63})),
    "huge profile value": (InvalidMetadataError, lambda m, mid: m.set_profile({"x": 10**30}, user_id="u")),
    "as_of": (ValueOutOfRangeError, lambda m, mid: m.search("fine", user_id="u", as_of=10**20)),
    "add timestamp": (ValueOutOfRangeError, lambda m, mid: m.add("a fine text", user_id="u", timestamp=10**20)),
    "message timestamp": (
        ValueOutOfRangeError,
        lambda m, mid: m.add([{"role": "user", "content": "a fine text", "timestamp": 10**20}], user_id="u"),
    ),
    "negative timestamp": (ValueOutOfRangeError, lambda m, mid: m.add("a fine text", user_id="u", timestamp=-(10**20))),
    "iso timestamp at the edge": (
        ValueOutOfRangeError,
        lambda m, mid: m.add("a fine text", user_id="u", timestamp="0001-01-01T00:00:00+05:00"),
    ),
}


@pytest.mark.parametrize("case", sorted(CALLS))
def test_unstorable_input_is_rejected_before_any_write(tmp_path, case):
    error, call = CALLS[case]
    with _open(tmp_path / "m") as memory:
        memory.set_profile({"city": "Paris"}, user_id="u")
        memory_id = memory.add("I like tea", user_id="u", infer=False, metadata={"x": 1})[0].memory.id
        before = _snapshot(memory)
        with pytest.raises(error) as caught:
            call(memory, memory_id)
        assert str(caught.value)
        assert _snapshot(memory) == before


def _filled_store(path) -> None:
    with _open(path) as memory:
        memory.set_profile({"city": "Paris"}, user_id="u")
        for i in range(300):
            memory.add(f"note number {i} about the garden and the kitchen", user_id="u", infer=False)


def _use(path) -> None:
    with _open(path) as memory:
        records = memory.get_all(user_id="u", limit=1000)
        memory.search("garden note", user_id="u")
        for record in records:
            memory.history(record.id)
        memory.get_profile(user_id="u")


@pytest.mark.parametrize(
    "relative, page",
    [
        ("vectors.sqlite3", 0),
        ("vectors.sqlite3", 3),
        ("graph.sqlite3", 0),
        ("kv/history/cache.db", 0),
        ("kv/history/cache.db", 5),
        ("kv/profiles/cache.db", 0),
    ],
)
def test_garbled_page_raises_store_corrupted(tmp_path, relative, page):
    path = tmp_path / "m"
    _filled_store(path)
    damaged = path / relative
    assert damaged.stat().st_size > (page + 1) * 4096 or page == 0
    with damaged.open("r+b") as handle:
        handle.seek(page * 4096)
        handle.write(b"\xab" * 4096)
    with pytest.raises(StoreCorruptedError, match="damaged"):
        _use(path)


def test_store_path_that_is_a_file(tmp_path):
    path = tmp_path / "m"
    path.write_text("not a directory")
    with pytest.raises(StorePathError, match="not a directory"):
        _open(path)


def test_kv_directory_that_is_a_file(tmp_path):
    path = tmp_path / "m"
    path.mkdir()
    (path / "kv").write_text("not a directory")
    with pytest.raises(StorePathError, match="not a directory"):
        _open(path)
    assert not (path / "vectors.sqlite3").exists()


def test_store_path_under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorePathError):
        _open(tmp_path / "file" / "m")


# -- property-based: any lone surrogate, any integer beyond 64 bits ---------------------------

surrogates = st.integers(0xD800, 0xDFFF).map(chr)
huge_integers = st.one_of(st.integers(min_value=2**63), st.integers(max_value=-(2**63) - 1))


@pytest.fixture(scope="module")
def shared_memory(tmp_path_factory):
    with _open(tmp_path_factory.mktemp("prop") / "m") as memory:
        memory.add("I like tea", user_id="u", infer=False)
        yield memory


@settings(max_examples=60, deadline=None)
@given(prefix=st.text(max_size=12), surrogate=surrogates, suffix=st.text(max_size=12))
def test_any_lone_surrogate_is_rejected(shared_memory, prefix, surrogate, suffix):
    text = f"{prefix}x{surrogate}{suffix}"
    before = _snapshot(shared_memory)
    with pytest.raises(InvalidTextError):
        shared_memory.add(text, user_id="u", infer=False)
    with pytest.raises(InvalidTextError):
        shared_memory.search(text, user_id="u")
    with pytest.raises(InvalidScopeError):
        shared_memory.add("a fine text", user_id=text, infer=False)
    with pytest.raises(InvalidMetadataError):
        shared_memory.add("a fine text", user_id="u", metadata={"k": text})
    assert _snapshot(shared_memory) == before


@settings(max_examples=40, deadline=None)
@given(value=huge_integers)
def test_any_integer_beyond_64_bits_is_rejected(shared_memory, value):
    before = _snapshot(shared_memory)
    with pytest.raises(InvalidFilterError):
        shared_memory.search("tea", user_id="u", filters={"x": {"$gte": value}})
    with pytest.raises(InvalidMetadataError):
        shared_memory.add("a fine text", user_id="u", metadata={"x": value})
    with pytest.raises(ValueOutOfRangeError):
        shared_memory.search("tea", user_id="u", as_of=value)
    assert _snapshot(shared_memory) == before
