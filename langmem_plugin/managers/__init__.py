"""Memory managers: what decides which facts to remember, update, invalidate or forget.

`base` is the protocol the pipeline calls; `offline` is the deterministic default (no model,
rules over the sentence's grammar); `llm` runs any LangChain chat model. The builder
(langmem_plugin/builder.py) picks one; a caller may pass any object with the protocol's methods
as `Memory(manager=...)`.
"""

from .base import Decision, MemoryManager, Neighbour

__all__ = ["Decision", "MemoryManager", "Neighbour"]
