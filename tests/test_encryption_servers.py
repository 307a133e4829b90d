"""Encryption at rest on the server backends: a raw read of Redis (keys, values, its dump after
BGSAVE), of Neo4j (nodes, relationships) and of Weaviate (objects) finds none of the test user's
text or metadata; a purge leaves a Redis dump, and Weaviate's and Neo4j's files, copied before it
undecryptable."""

from __future__ import annotations

import dataclasses
import shutil
import time
import uuid

import pytest
import redis

from langmem_plugin import Memory
from langmem_plugin.encryption import StaticKey, generate_master_key
from langmem_plugin.encryption.graph import EncryptedGraphStore
from langmem_plugin.encryption.keyring import Keyring
from langmem_plugin.encryption.keyvalue import EncryptedKeyValueStore
from langmem_plugin.encryption.vector import EncryptedVectorStore
from langmem_plugin.namespaces import HISTORY
from langmem_plugin.records import Scope
from langmem_plugin.tiers.graph.neo4j_backend import Neo4jGraphStore
from langmem_plugin.tiers.keyvalue.redis_backend import RedisKeyValueStore
from langmem_plugin.tiers.keyvalue.sqlite_backend import SQLiteKeyValueStore
from langmem_plugin.tiers.vector.weaviate_backend import WeaviateVectorStore

from .helpers import HashingEmbeddings
from .servers import Neo4jServer, RedisServer, WeaviateNode
from .test_encryption import SECRET_WORDS, _fill, _found_words, _manager_model


def _redis_contents(client: redis.Redis) -> bytes:
    """Every key and value of the server, read raw, as one lower-cased blob."""
    parts: list[bytes] = []
    for key in client.scan_iter(count=1000):
        parts.append(key)
        kind = client.type(key)
        if kind == b"string":
            parts.append(client.get(key) or b"")
        elif kind == b"hash":
            parts.extend(b for pair in client.hgetall(key).items() for b in pair)
        elif kind == b"list":
            parts.extend(client.lrange(key, 0, -1))
        elif kind == b"set":
            parts.extend(client.smembers(key))
        elif kind == b"zset":
            parts.extend(client.zrange(key, 0, -1))
        else:
            parts.append(client.dump(key) or b"")
    return b"\n".join(parts).lower()


def _bgsave(client: redis.Redis) -> None:
    client.bgsave()
    deadline = time.monotonic() + 120
    while (persistence := client.info("persistence"))["rdb_bgsave_in_progress"]:
        assert time.monotonic() < deadline, "BGSAVE did not finish"
        time.sleep(0.05)
    assert persistence["rdb_last_bgsave_status"] == "ok" and persistence["rdb_changes_since_last_save"] == 0


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    client = redis.Redis.from_url(server.url)
    client.config_set("rdbcompression", "no")  # the dump holds values as they are: a scan can see them
    yield server, client
    client.close()
    server.stop()


def test_redis_keys_values_and_dump_hold_no_user_text_and_a_purge_shreds_the_dump(tmp_path, redis_server):
    server, client = redis_server
    prefix = uuid.uuid4().hex
    config = {"path": str(tmp_path / "mem"), "kv": {"backend": "redis", "url": server.url, "prefix": prefix}}
    key = StaticKey(generate_master_key())
    with Memory(config, embeddings=HashingEmbeddings(), llm=_manager_model(), key_provider=key) as memory:
        memory_id = _fill(memory)
        contents = _redis_contents(client)
        assert prefix.encode() in contents and b"sealed" in contents  # the scan reads the entries
        assert [w for w in SECRET_WORDS if w.encode() in contents] == []
        _bgsave(client)
        dump = (server.directory / "dump.rdb").read_bytes().lower()
        assert b"sealed" in dump
        assert [w for w in SECRET_WORDS if w.encode() in dump] == []
        assert _found_words(tmp_path / "mem", SECRET_WORDS) == {}

        backup = tmp_path / "backup"
        backup.mkdir()
        shutil.copy(server.directory / "dump.rdb", backup / "dump.rdb")
        live = memory.services.kv.keyring
        memory.delete_all(user_id="u-481", purge=True)

    restored = RedisServer(backup)  # the dump made before the purge, served again
    restored.start()
    try:
        copied = RedisKeyValueStore(restored.url, prefix=prefix)
        try:
            assert copied.get(HISTORY, memory_id)  # the history is in the copy, sealed
            # the copy's own keys open it; with the live ones it reads as absent: shredded
            assert EncryptedKeyValueStore(copied, Keyring.open(copied, key.master_key())).get(
                HISTORY, memory_id
            )
            assert EncryptedKeyValueStore(copied, live).get(HISTORY, memory_id) is None
        finally:
            copied.close()
    finally:
        restored.stop()


def test_neo4j_nodes_and_relationships_hold_no_user_text(tmp_path, neo4j_uri):
    import neo4j

    config = {"path": str(tmp_path / "mem"), "graph": {"backend": "neo4j", "uri": neo4j_uri}}
    key = StaticKey(generate_master_key())
    user = f"u-{uuid.uuid4().hex[:8]}"
    with Memory(config, embeddings=HashingEmbeddings(), llm=_manager_model(), key_provider=key) as memory:
        _fill(memory, user_id=user)
        related = memory.related(["Ximena"], user_id=user)
        assert {e.name for e in related.entities} == {"Ximena", "saxophone"}
        with neo4j.GraphDatabase.driver(neo4j_uri) as driver:
            records, _, _ = driver.execute_query(
                "MATCH (n {user_id: $user}) OPTIONAL MATCH (n)-[r]-() "
                "RETURN labels(n) AS labels, properties(n) AS node, type(r) AS type, properties(r) AS rel",
                user=user,
            )
        assert records  # the user's nodes are there
        contents = repr([record.data() for record in records]).lower()
        assert [w for w in SECRET_WORDS if w in contents] == []


def _weaviate_vector(node: WeaviateNode) -> dict:
    """Vector settings for the node, in a collection of the test's own."""
    collection = "E" + uuid.uuid4().hex[:12]
    return {"backend": "weaviate", "url": node.url, "grpc_port": node.grpc_port, "collection": collection}


def test_weaviate_objects_hold_no_user_text_and_keyword_search_works(tmp_path, weaviate_node):
    import weaviate

    vector = _weaviate_vector(weaviate_node)
    collection = vector["collection"]
    config = {"path": str(tmp_path / "mem"), "vector": vector, "search": {"dense_weight": 0.0}}
    key = StaticKey(generate_master_key())
    with Memory(config, embeddings=HashingEmbeddings(), llm=_manager_model(), key_provider=key) as memory:
        _fill(memory)
        memory.add("My brother restores old motorbikes", user_id="u-481", infer=False)
        hits = memory.search("saxophones", user_id="u-481")
        assert hits[0].memory.text == "Ximena's saxophone is in Valparaiso" and hits[0].keyword_rank == 1
        host, port = weaviate_node.url.removeprefix("http://").split(":")
        with weaviate.connect_to_local(
            host=host, port=int(port), grpc_port=weaviate_node.grpc_port
        ) as client:
            objects = list(client.collections.get(collection).iterator())
        assert len(objects) == 2
        contents = repr([o.properties for o in objects]).lower()
        assert [w for w in [*SECRET_WORDS, "motorbikes", "brother"] if w in contents] == []


def _kill(*servers: WeaviateNode | Neo4jServer) -> None:
    """SIGKILL the servers that started: nothing more is read from them, no need to wait for a shutdown."""
    for server in servers:
        if server.process is not None:
            server.kill()


@pytest.mark.slow
def test_a_purge_leaves_raw_copies_of_weaviate_and_neo4j_files_undecryptable(tmp_path, weaviate_network):
    """The Weaviate and Neo4j data directories and the key-value tier copied as they lie on disk
    while the servers run (a disk image, a backup); the user purged; servers started on the copies:
    the user's objects, entities and relations are in them, sealed, and open with the keys copied
    beside them, but with the keys left after the purge none of them opens."""
    weaviate = WeaviateNode("node1", tmp_path / "weaviate", weaviate_network)
    neo4j = Neo4jServer(tmp_path / "neo4j")
    neo4j.directory.mkdir()
    copy = tmp_path / "copy"
    key = StaticKey(generate_master_key())
    scope = Scope(user_id="u-481")
    try:
        weaviate.start()
        neo4j.start()
        weaviate.wait_ready()
        vector = _weaviate_vector(weaviate)
        collection = vector["collection"]
        config = {
            "path": str(tmp_path / "mem"),
            "vector": vector,
            "graph": {"backend": "neo4j", "uri": neo4j.uri},
        }
        with Memory(config, embeddings=HashingEmbeddings(), llm=_manager_model(), key_provider=key) as memory:
            memory_id = _fill(memory)
            memory.add("I keep bees", user_id="other", infer=False)
            shutil.copytree(weaviate.data_dir, copy / "weaviate")
            shutil.copytree(neo4j.directory / "home", copy / "neo4j" / "home")
            shutil.copytree(tmp_path / "mem", copy / "mem")
            memory.delete_all(user_id="u-481", purge=True)
            assert memory.get_all(user_id="other")[0].text == "I keep bees"
    finally:
        _kill(weaviate, neo4j)

    copied_weaviate = dataclasses.replace(weaviate, data_dir=copy / "weaviate", process=None)  # its ports
    copied_neo4j = Neo4jServer(copy / "neo4j")
    live_kv, copied_kv = (
        SQLiteKeyValueStore(tmp_path / "mem" / "kv"),
        SQLiteKeyValueStore(copy / "mem" / "kv"),
    )
    try:
        copied_weaviate.start()
        copied_neo4j.start()
        copied_weaviate.wait_ready()
        vectors = WeaviateVectorStore(
            copied_weaviate.url, grpc_port=copied_weaviate.grpc_port, collection=collection
        )
        graph = Neo4jGraphStore(copied_neo4j.uri)
        try:
            assert vectors.get([memory_id]) and graph.entities(scope)  # in the copies, sealed
            before, after = Keyring.open(copied_kv, key.master_key()), Keyring.open(live_kv, key.master_key())
            assert (
                EncryptedVectorStore(vectors, before).get([memory_id])[0].text
                == "Ximena's saxophone is in Valparaiso"
            )
            assert {e.name for e in EncryptedGraphStore(graph, before).entities(scope)} == {
                "Ximena",
                "saxophone",
            }
            assert EncryptedVectorStore(vectors, after).get([memory_id]) == []
            assert EncryptedVectorStore(vectors, after).list(scope, limit=100, include_invalidated=True) == []
            assert EncryptedGraphStore(graph, after).entities(scope) == []
            assert EncryptedGraphStore(graph, after).neighbourhood(scope, ["Ximena"]).relations == []
        finally:
            vectors.close()
            graph.close()
    finally:
        live_kv.close()
        copied_kv.close()
        _kill(copied_weaviate, copied_neo4j)
    assert _found_words(copy / "weaviate", SECRET_WORDS) == {}
