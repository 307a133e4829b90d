"""The tier contract suites, for any backend: the built-in ones run them in this project's tests,
and a backend written elsewhere runs the same ones before it is passed to
`Memory(vector=..., graph=..., kv=...)` or registered (langmem_plugin/backends.py).

Importing this package needs pytest and hypothesis (`pip install "langmem-plugin[testing]"`);
the rest of langmem_plugin never imports it. Subclass a suite in a test module and define its
fixture:

    from langmem_plugin.testing import KeyValueStoreContract

    class TestMyStore(KeyValueStoreContract):
        @pytest.fixture
        def kv(self, tmp_path):
            store = MyStore(tmp_path)
            yield store
            store.close()
"""

from .graph_contract import GraphStoreContract
from .kv_contract import KeyValueStoreContract
from .scopes import scopes
from .vector_contract import VectorStoreContract

__all__ = ["GraphStoreContract", "KeyValueStoreContract", "VectorStoreContract", "scopes"]
