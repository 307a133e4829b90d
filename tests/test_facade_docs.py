"""Every public method of Memory and AsyncMemory carries its own docstring; AsyncMemory's name the
Memory method whose scope rules, results and errors they share."""

import inspect

import pytest

from langmem_plugin import AsyncMemory, Memory

SAME_OPERATION = {"aclose": "close"}  # AsyncMemory's name -> Memory's


def public_methods(cls: type) -> list[str]:
    return sorted(name for name, member in inspect.getmembers(cls, callable) if not name.startswith("_"))


def test_both_facades_offer_the_same_operations():
    async_names = [SAME_OPERATION.get(name, name) for name in public_methods(AsyncMemory)]
    assert sorted(async_names) == public_methods(Memory)


@pytest.mark.parametrize("facade", [Memory, AsyncMemory])
def test_every_public_method_has_a_docstring_of_its_own(facade):
    # __doc__, not inspect.getdoc: that would lend a method the docstring of one it overrides
    undocumented = [
        name for name in public_methods(facade) if not (getattr(facade, name).__doc__ or "").strip()
    ]
    assert undocumented == []


def test_each_async_method_names_its_memory_namesake():
    for name in [name for name in public_methods(AsyncMemory) if name in vars(AsyncMemory)]:  # not from_env
        assert f"`Memory.{SAME_OPERATION.get(name, name)}`" in getattr(AsyncMemory, name).__doc__, name
