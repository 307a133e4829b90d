from __future__ import annotations

import os

import pytest

from langmem_plugin import AsyncMemory, Memory
from langmem_plugin.embeddings import MiniLMEmbeddings

from .helpers import HashingEmbeddings
from .servers import start_neo4j, start_redis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    yield from start_redis(tmp_path_factory.mktemp("redis"))


@pytest.fixture(scope="session")
def weaviate_url():
    url = os.environ.get("WEAVIATE_URL")
    if not url:
        pytest.skip(
            "no Weaviate server: it cannot be installed here (no Docker; embedded mode downloads a binary). "
            "Set WEAVIATE_URL=http://127.0.0.1:8080 with a server started as in docs/backends/weaviate.md"
        )
    return url


@pytest.fixture(scope="session")
def neo4j_uri(tmp_path_factory):
    yield from start_neo4j(tmp_path_factory.mktemp("neo4j"))


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
