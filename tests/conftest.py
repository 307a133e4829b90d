from __future__ import annotations

import pytest

from langmem_plugin import AsyncMemory, Memory
from langmem_plugin.embeddings import MiniLMEmbeddings

from .helpers import HashingEmbeddings
from .servers import server_network, start_neo4j, start_redis, start_weaviate


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    yield from start_redis(tmp_path_factory.mktemp("redis"))


@pytest.fixture(scope="session")
def weaviate_node(tmp_path_factory):
    """One single-node Weaviate for the session; tests keep apart by collection name."""
    yield from start_weaviate(tmp_path_factory.mktemp("weaviate"))


@pytest.fixture(scope="session")
def neo4j_uri(tmp_path_factory):
    yield from start_neo4j(tmp_path_factory.mktemp("neo4j"))


@pytest.fixture
def weaviate_network():
    """A private network namespace for the Weaviate nodes a test starts itself (see tests/servers.py)."""
    with server_network() as network:
        yield network


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbeddings:
    return MiniLMEmbeddings()


@pytest.fixture
def memory(tmp_path, minilm):
    with Memory({"path": str(tmp_path / "mem")}, embeddings=minilm) as instance:
        yield instance


@pytest.fixture
def fast_memory(tmp_path):
    with Memory({"path": str(tmp_path / "fast")}, embeddings=HashingEmbeddings()) as instance:
        yield instance


@pytest.fixture
async def async_memory(tmp_path, minilm):
    instance = AsyncMemory({"path": str(tmp_path / "amem")}, embeddings=minilm)
    yield instance
    await instance.aclose()


@pytest.fixture
def served(fast_memory):
    """`fast_memory` served by `langmem-plugin serve`'s app on 127.0.0.1: its base URL."""
    from .serving import serving  # the server extra: imported by the tests that use it

    with serving(fast_memory) as url:
        yield url
