"""The integrations are importable from the package top level, lazily: the core needs no LangGraph."""

import subprocess
import sys

import pytest

import langmem_plugin
from langmem_plugin.integrations import classic, middleware, scoping, store, subgraph, tools


def test_importing_the_core_does_not_import_langgraph():
    code = "import sys, langmem_plugin; print(sorted(m for m in sys.modules if m.split('.')[0] in ('langgraph', 'langchain', 'langchain_classic')))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_the_core_imports_no_test_framework():
    """pytest and hypothesis are needed by langmem_plugin.testing only (the `testing` extra)."""
    code = (
        "import sys, langmem_plugin, langmem_plugin.builder; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', 'hypothesis', '_pytest')))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "name, module",
    [
        ("create_memory_tools", tools),
        ("MemoryMiddleware", middleware),
        ("build_memory_graph", subgraph),
        ("MemoryStore", store),
        ("LangMemBaseMemory", classic),
        ("ScopeMapping", scoping),
    ],
)
def test_integrations_are_top_level_exports(name, module):
    assert getattr(langmem_plugin, name) is getattr(module, name)
    assert name in langmem_plugin.__all__ and name in dir(langmem_plugin)


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        langmem_plugin.nothing  # noqa: B018
