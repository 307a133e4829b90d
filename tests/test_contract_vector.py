"""The vector tier's contract (langmem_plugin.testing), run against every vector backend."""

import pytest

from langmem_plugin.testing import VectorStoreContract

from .backends import VECTOR_BACKENDS


class TestVectorContract(VectorStoreContract):
    @pytest.fixture(params=sorted(VECTOR_BACKENDS))
    def open_store(self, request, tmp_path):
        opened = []

        def factory():
            store = VECTOR_BACKENDS[request.param](tmp_path, request)
            opened.append(store)
            return store

        yield factory
        for store in opened:
            store.close()
