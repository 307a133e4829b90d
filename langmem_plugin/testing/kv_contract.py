"""The key-value tier's contract (langmem_plugin.tiers.KeyValueStore), for any backend.

Subclass `KeyValueStoreContract` in a test module and define the `kv` fixture: an empty, opened
backend, closed when the test ends.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from ..errors import InvalidInputError, StoreBusyError
from ..namespaces import PROFILES
from ..pipeline.audit import log_events
from ..pipeline.forget import indexed_memories, scope_keyed_entries
from ..records import EventType, HistoryEvent, Scope, utc_now
from ..tiers.keyvalue import KeyValueStore
from .scopes import scopes

if TYPE_CHECKING:
    from ..services import MemoryServices

_KEY_TEXT = st.text(
    alphabet=st.sampled_from(["a", "b", "/", "|", "é", "\ud7ff", "\ue000", "\U0010ffff", "日"]), max_size=4
)


def _added(memory_id: str, scope: Scope) -> HistoryEvent:
    return HistoryEvent(
        memory_id=memory_id, event=EventType.ADD, new_text="t", actor="api", at=utc_now(), scope=scope
    )


class KeyValueStoreContract:
    @pytest.fixture
    def kv(self) -> KeyValueStore:
        raise NotImplementedError("define the kv fixture: an empty, opened key-value backend")

    def test_protocol_is_implemented(self, kv):
        assert isinstance(kv, KeyValueStore)

    def test_put_get_delete(self, kv):
        kv.put_many("profiles", {"a": {"name": "Ana"}, "b": [1, 2], "c": b"\x00\x01"})
        assert kv.get("profiles", "a") == {"name": "Ana"}
        assert kv.get_many("profiles", ["a", "b", "c", "missing"]) == {
            "a": {"name": "Ana"},
            "b": [1, 2],
            "c": b"\x00\x01",
        }
        assert kv.get("other", "a") is None
        kv.delete_many("profiles", ["a", "missing"])
        assert kv.get("profiles", "a") is None

    def test_append_is_atomic_under_threads(self, kv):
        def writer(worker: int) -> None:
            for i in range(50):
                kv.append("history", {"log": [f"{worker}-{i}"]})

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        log = kv.get("history", "log")
        assert sorted(log) == sorted(f"{w}-{i}" for w in range(4) for i in range(50))

    def test_keys_by_prefix(self, kv):
        kv.put_many("scope_memories", {"user_id=a\x1f1": 1, "user_id=a\x1f2": 1, "user_id=ab\x1f3": 1})
        assert sorted(kv.keys("scope_memories", "user_id=a\x1f")) == ["user_id=a\x1f1", "user_id=a\x1f2"]
        assert len(kv.keys("scope_memories")) == 3
        assert kv.keys("empty_namespace", "x") == []

    def test_append_many_keys_and_clear(self, kv):
        kv.append("history", {"x": [1], "y": [2, 3]})
        kv.append("history", {"x": [4]})
        assert kv.get_many("history", ["x", "y"]) == {"x": [1, 4], "y": [2, 3]}
        kv.clear()
        assert kv.get("history", "x") is None

    def test_append_skips_items_already_present(self, kv):
        """A journal replay may append events that were already logged: they must not repeat."""
        kv.append("history", {"x": [{"event": "ADD", "at": 1}]})
        kv.append("history", {"x": [{"event": "ADD", "at": 1}, {"event": "UPDATE", "at": 2}]})
        assert kv.get("history", "x") == [{"event": "ADD", "at": 1}, {"event": "UPDATE", "at": 2}]

    def test_batches_larger_than_one_query_and_values_larger_than_a_page(self, kv):
        """Batch writes of many keys, and big values (a batch's journal entry; more than one SQLite
        page, more than Redis's small-value encodings) are replaced, appended to and deleted like
        small ones."""
        many = {f"k{i}": {"n": i} for i in range(1234)}
        kv.put_many("history", many)
        assert kv.get_many("history", [*many, "missing"]) == many
        big = {"text": "x" * 100_000}
        kv.put_many("journal", {"big": big, "small": [1]})
        kv.put_many("journal", {"big": {"text": "y" * 100_000}})
        assert kv.get("journal", "big") == {"text": "y" * 100_000}
        kv.append("history", {f"a{i}": [i] for i in range(1234)} | {"log": [big]})
        kv.append("history", {"a7": [7, 8], "log": [{"text": "z" * 50_000}]})
        assert kv.get_many("history", ["a0", "a7", "a1233"]) == {"a0": [0], "a7": [7, 8], "a1233": [1233]}
        assert kv.get("history", "log") == [big, {"text": "z" * 50_000}]
        kv.delete_many("journal", ["big", "small"])
        kv.delete_many("history", list(many))
        assert kv.get_many("journal", ["big", "small"]) == {}
        assert kv.get_many("history", list(many)) == {}

    def test_put_many_removes_keys_in_the_same_write(self, kv):
        kv.put_many("journal", {"done": {"text": "x" * 100_000}, "kept": [1]})
        kv.put_many("journal", {"next": [2]}, remove=["done", "missing"])
        assert kv.get_many("journal", ["done", "kept", "next"]) == {"kept": [1], "next": [2]}
        kv.put_many("journal", {}, remove=["kept", "next"])
        assert kv.keys("journal") == []

    def test_lock_has_one_holder_among_threads_and_gives_up_after_its_wait(self, kv):
        holders, overlaps = [], []

        def worker() -> None:
            for _ in range(5):
                with kv.lock("delete_all", 30):
                    holders.append(threading.get_ident())
                    overlaps.append(len(holders) > 1)
                    time.sleep(0.005)
                    holders.pop()

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert overlaps == [False] * 20
        refused = []

        def late() -> None:
            started = time.monotonic()
            with pytest.raises(StoreBusyError), kv.lock("delete_all", 0.2):
                pass
            refused.append(time.monotonic() - started)

        with kv.lock("delete_all", 1), kv.lock("another_lock", 0.1):  # locks of other names are free
            waiter = threading.Thread(target=late)
            waiter.start()
            waiter.join()
        assert len(refused) == 1 and 0.15 <= refused[0] < 5  # redis-py gives up a poll (20 ms) early
        with kv.lock("delete_all", 0.2):  # free again
            pass

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(first=scopes(), second=scopes())
    def test_scope_entries_never_leak_between_scopes(self, kv, first, second):
        assume(first != second)
        assert first.key() != second.key()
        kv.clear()
        # the scope index and scope-keyed lookups read nothing of the services but the key-value tier
        services = cast("MemoryServices", SimpleNamespace(kv=kv))
        log_events(services, [_added("m-first", first), _added("m-second", second)])
        kv.put_many(PROFILES, {first.key(): {"owner": "first"}, second.key(): {"owner": "second"}})
        for query, other, own_id, other_id, owner in (
            (first, second, "m-first", "m-second", "first"),
            (second, first, "m-second", "m-first", "second"),
        ):
            found = indexed_memories(services, query)
            assert found[own_id] == query
            # the other scope's memory is found exactly when it lies within the query scope (Mem0 semantics)
            assert (other_id in found) == query.matches(other)
            profiles = scope_keyed_entries(services, PROFILES, query)
            assert (other.key() in profiles) == query.matches(other)
            assert kv.get(PROFILES, query.key()) == {"owner": owner}

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(keys=st.sets(_KEY_TEXT.filter(bool), max_size=8), prefix=_KEY_TEXT)
    def test_prefix_scan_returns_exactly_the_keys_with_the_prefix(self, kv, keys, prefix):
        kv.clear()
        kv.put_many("scope_memories", dict.fromkeys(keys, 1))
        assert sorted(kv.keys("scope_memories", prefix)) == sorted(k for k in keys if k.startswith(prefix))

    def refuses_key(self, kv, key: str) -> bool:
        """Whether `kv` refuses `key` with InvalidInputError (override for a backend that does)."""
        return False

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(keys=st.sets(st.text(min_size=1, max_size=6), min_size=1, max_size=6))
    def test_any_key_written_reads_back_or_is_refused_before_anything_is_written(self, kv, keys):
        """A key is found by every read once written. A backend that refuses a key (`refuses_key`)
        raises a typed error and writes none of the batch."""
        kv.clear()
        items = {key: [i] for i, key in enumerate(sorted(keys))}
        for write in (lambda: kv.put_many("profiles", items), lambda: kv.append("profiles", items)):
            try:
                write()
            except InvalidInputError:
                assert any(self.refuses_key(kv, key) for key in keys)
                assert kv.keys("profiles") == []
                continue
            assert kv.get_many("profiles", keys) == items
            assert {key: kv.get("profiles", key) for key in keys} == items
            assert sorted(kv.keys("profiles")) == sorted(keys)
            assert {key for key in keys if key in kv.keys("profiles", key)} == keys

    def test_append_mixing_new_keys_and_keys_that_hold_a_list(self, kv):
        """New keys are inserted as they come; a key that already holds a list is extended in the
        same atomic write, items it holds skipped, and a repeated item within one append kept once."""
        kv.append("history", {"old": [{"event": "ADD"}]})
        kv.append(
            "history", {"new-1": [1, 1, 2], "old": [{"event": "ADD"}, {"event": "UPDATE"}], "new-2": [3]}
        )
        assert kv.get_many("history", ["old", "new-1", "new-2"]) == {
            "old": [{"event": "ADD"}, {"event": "UPDATE"}],
            "new-1": [1, 2],
            "new-2": [3],
        }
        kv.append("history", {"new-1": [2, 4], "new-2": [3]})  # a replay with one more item
        assert kv.get_many("history", ["new-1", "new-2"]) == {"new-1": [1, 2, 4], "new-2": [3]}
