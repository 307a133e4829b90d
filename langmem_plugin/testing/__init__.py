"""Test support for langmem-plugin and the backends written for it.

`inspect` observes stores from outside (SQLite activity, stored bytes). The tier contract suites,
`VectorStoreContract`, `GraphStoreContract` and `KeyValueStoreContract`, are the ones the
built-in backends run; a backend written elsewhere runs them before it is passed to
`Memory(vector=..., graph=..., kv=...)` or registered (langmem_plugin/backends.py). The suites
need pytest and hypothesis (`pip install "langmem-plugin[testing]"`), imported only when a suite
is; the rest of langmem_plugin never imports this package. Subclass a suite in a test module and
define its fixture:

    from langmem_plugin.testing import KeyValueStoreContract

    class TestMyStore(KeyValueStoreContract):
        @pytest.fixture
        def kv(self, tmp_path):
            store = MyStore(tmp_path)
            yield store
            store.close()
"""

from importlib import import_module

_SUITES = {
    "GraphStoreContract": "graph_contract",
    "KeyValueStoreContract": "kv_contract",
    "VectorStoreContract": "vector_contract",
    "scopes": "scopes",
}


def __getattr__(name: str):
    module = _SUITES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = list(_SUITES)
