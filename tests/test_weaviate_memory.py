"""The Memory API with Weaviate as its vector tier, on real servers started by the fixtures:
the session's single node (both scope modes), a restart on the same data directory, and a
three-node cluster that loses a node to SIGKILL mid-write."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest

from langmem_plugin import EventType, Memory, MemoryNotFoundError

from .servers import WeaviateNode, host_listeners, skip_unless_ci, start_weaviate_cluster


def weaviate_config(tmp_path, node: WeaviateNode, *, multi_tenancy: bool, **vector) -> dict:
    return {
        "path": str(tmp_path / "m"),
        "vector": {
            "backend": "weaviate",
            "url": node.url,
            "grpc_port": node.grpc_port,
            "collection": "M" + uuid.uuid4().hex[:12],
            "multi_tenancy": multi_tenancy,
            **vector,
        },
    }


def listeners_beyond_the_namespace(node: WeaviateNode) -> list[str]:
    """What the node and its forwarders listen on in the host's network namespace."""
    forwarders = {forwarder.pid for port, forwarder in node.network.forwarders.items() if port in node.ports}
    return sorted(host_listeners(pids={node.process.pid, *forwarders}, ports=node.ports))


def only_the_forwarders(node: WeaviateNode) -> list[str]:
    return sorted(f"tcp 127.0.0.1:{port}" for port in (node.http_port, node.grpc_port))


@pytest.fixture(params=[False, True], ids=["filtered", "tenants"])
def weaviate_memory(request, tmp_path, weaviate_node, minilm):
    with Memory(weaviate_config(tmp_path, weaviate_node, multi_tenancy=request.param), embeddings=minilm) as memory:
        yield memory


def say(memory, text, when, user_id="ana"):
    return memory.add({"role": "user", "name": "Ana", "content": text, "timestamp": when}, user_id=user_id)


def test_add_search_update_and_delete_by_id(weaviate_memory):
    tea = weaviate_memory.add("I drink green tea every morning.", user_id="ana", infer=False)[0].memory
    weaviate_memory.add("My sister lives in Oslo.", user_id="ana", infer=False)
    assert weaviate_memory.search("what does Ana drink", user_id="ana")[0].memory.id == tea.id
    assert weaviate_memory.get(tea.id).text == "I drink green tea every morning."  # by id: no scope needed
    weaviate_memory.update(tea.id, "I drink black coffee every morning.")
    assert weaviate_memory.search("coffee", user_id="ana")[0].memory.text == "I drink black coffee every morning."
    assert [e.event for e in weaviate_memory.history(tea.id)] == [EventType.ADD, EventType.UPDATE]
    weaviate_memory.delete(tea.id)
    with pytest.raises(MemoryNotFoundError):
        weaviate_memory.get(tea.id)
    assert [r.text for r in weaviate_memory.get_all(user_id="ana")] == ["My sister lives in Oslo."]


def test_contradiction_invalidates_and_as_of_finds_the_past(weaviate_memory):
    porto = say(weaviate_memory, "I live in Porto.", "2024-01-01T10:00:00Z")[0].memory
    ops = say(weaviate_memory, "I moved to Lisbon last week.", "2024-03-10T10:00:00Z")
    assert [op.event for op in ops] == [EventType.INVALIDATE, EventType.ADD]
    assert weaviate_memory.get(porto.id).valid_to == datetime(2024, 3, 10, 10, tzinfo=timezone.utc)
    assert weaviate_memory.search("where does Ana live", user_id="ana", as_of="2024-02-01T00:00:00Z")[0].memory.id == porto.id
    assert all(h.memory.id != porto.id for h in weaviate_memory.search("where does Ana live", user_id="ana"))
    assert len(weaviate_memory.get_all(user_id="ana", include_invalidated=True)) == 2


def test_users_are_isolated(weaviate_memory):
    weaviate_memory.add("My locker code is 4711.", user_id="ana", infer=False)
    weaviate_memory.add("Bob plays chess.", user_id="Bob Smith", infer=False)  # not a valid tenant name as is
    assert weaviate_memory.search("locker code", user_id="Bob Smith")[0].memory.text == "Bob plays chess."
    assert all("4711" not in h.memory.text for h in weaviate_memory.search("locker code", user_id="Bob Smith"))
    assert weaviate_memory.search("locker code", user_id="nobody") == []  # a user that never wrote
    assert [r.text for r in weaviate_memory.get_all(user_id="ana")] == ["My locker code is 4711."]


def test_delete_all_purge_leaves_nothing_of_the_user(weaviate_memory):
    record = weaviate_memory.add("a secret", user_id="ana", agent_id="bot", infer=False)[0].memory
    kept = weaviate_memory.add("bob's fact", user_id="bob", infer=False)[0].memory
    weaviate_memory.delete_all(user_id="ana", purge=True)
    assert weaviate_memory.get_all(user_id="ana", include_invalidated=True) == []
    assert weaviate_memory.search("secret", user_id="ana") == []
    with pytest.raises(MemoryNotFoundError):
        weaviate_memory.get(record.id)
    with pytest.raises(MemoryNotFoundError):
        weaviate_memory.history(record.id)
    assert weaviate_memory.get(kept.id).text == "bob's fact"


def test_nothing_of_the_server_listens_on_the_host_beyond_127_0_0_1(weaviate_node):
    """Weaviate 1.35.2 binds gRPC and its cluster data API to every interface; the server runs in
    a namespace whose only interface is its own loopback, so on the host only the forwarders of
    HTTP and gRPC listen, on 127.0.0.1, and nothing on any other address or port of the node."""
    network = weaviate_node.network
    if not network.confined:
        skip_unless_ci(network.unconfined_reason)
    assert os.readlink(f"/proc/{weaviate_node.process.pid}/ns/net") == os.readlink(network.namespace)
    assert os.readlink(network.namespace) != os.readlink("/proc/self/ns/net")
    assert network.interfaces() == ["lo"]
    assert listeners_beyond_the_namespace(weaviate_node) == only_the_forwarders(weaviate_node)


@pytest.mark.parametrize("multi_tenancy", [False, True], ids=["filtered", "tenants"])
def test_server_restart_on_the_same_data_directory_loses_nothing(tmp_path, minilm, weaviate_network, multi_tenancy):
    node = WeaviateNode("node1", tmp_path / "data", weaviate_network)
    node.start()
    try:
        node.wait_ready()
        config = weaviate_config(tmp_path, node, multi_tenancy=multi_tenancy)
        with Memory(config, embeddings=minilm) as memory:
            ids = [memory.add(f"Fact number {i}: I visited city {i}.", user_id=f"user {i % 3}", infer=False)[0].memory.id for i in range(30)]
        node.stop()
        node.start()
        node.wait_ready()
        with Memory(config, embeddings=minilm) as memory:
            assert [m.id for m in (memory.get(i) for i in ids)] == ids
            assert memory.search("city 7", user_id="user 1")[0].memory.id == ids[7]
            assert sum(len(memory.get_all(user_id=f"user {u}", limit=100)) for u in range(3)) == 30
    finally:
        node.stop()


@pytest.mark.slow
def test_three_node_cluster_survives_sigkill_of_one_node_mid_write(tmp_path, minilm, weaviate_network):
    """Replication factor 3 on three local nodes: node3 is SIGKILLed while a writer adds memories
    through node1; every add that returned must be readable then, and through node3 once it has
    rejoined and caught up. An add that raised may still have landed (the cluster applied it, the
    client saw the error): what is stored holds every acknowledged add and nothing but attempted ones."""
    nodes = [WeaviateNode(f"node{i}", tmp_path / f"node{i}" / "data", weaviate_network) for i in (1, 2, 3)]
    try:
        start_weaviate_cluster(nodes)
        if weaviate_network.confined:  # unconfined, the single-node listener test skips or fails with the reason
            assert [listeners_beyond_the_namespace(node) for node in nodes] == [only_the_forwarders(node) for node in nodes]
        config = weaviate_config(tmp_path, nodes[0], multi_tenancy=False, replication_factor=3)
        acknowledged: list[str] = []
        failures: list[Exception] = []
        failed_texts: set[str] = set()
        with Memory(config, embeddings=minilm) as memory:
            def writer() -> None:
                for i in range(60):
                    text = f"Cluster note {i}: the parcel went to locker {i}."
                    try:
                        acknowledged.append(memory.add(text, user_id="ana", infer=False)[0].memory.id)
                    except Exception as exc:  # noqa: BLE001 - a failed add is allowed; a lost acknowledged one is not
                        failures.append(exc)
                        failed_texts.add(text)

            thread = threading.Thread(target=writer)
            thread.start()
            while len(acknowledged) < 20 and thread.is_alive():
                threading.Event().wait(0.05)
            nodes[2].kill()
            thread.join()
            assert len(acknowledged) >= 40, failures[:3]  # writes go on with two of three replicas
            assert {memory.get(i).id for i in acknowledged} == set(acknowledged)
            assert memory.search("which locker did the parcel go to", user_id="ana", limit=5)
            nodes[2].start(nodes)
            nodes[2].wait_ready(seconds=180)
        rejoined = {**config, "path": str(tmp_path / "other")}
        rejoined["vector"] = {**config["vector"], "url": nodes[2].url, "grpc_port": nodes[2].grpc_port}
        with Memory(rejoined, embeddings=minilm) as memory:
            # queries read the replica of the node they reach: node3 catches up by async replication
            deadline = time.monotonic() + 180
            while not set(acknowledged) <= {r.id for r in memory.get_all(user_id="ana", limit=1000)}:
                if time.monotonic() > deadline:
                    break
                time.sleep(2)
            stored = {r.id: r.text for r in memory.get_all(user_id="ana", limit=1000)}
            assert set(acknowledged) <= set(stored)
            assert {stored[i] for i in set(stored) - set(acknowledged)} <= failed_texts
            assert {memory.get(i).id for i in acknowledged} == set(acknowledged)
    finally:
        for node in nodes:
            node.stop()
