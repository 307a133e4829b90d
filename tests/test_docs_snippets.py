"""Every ```python block of README.md and docs/ runs, as a reader would paste it.

The blocks of one file run in order in one namespace (a later block may use what an earlier one
defined), in a fresh working directory, offline. A block may be marked by an HTML comment on the
line just before its fence:

- `<!-- snippet: needs OPENAI_API_KEY -->`: it calls a hosted model. It runs with
  `langchain_openai.ChatOpenAI` replaced by a scripted fake chat model (answers "OK", binds
  tools), so everything around the model call is still executed.
- `<!-- snippet: needs <anything else> -->` (a server, e.g. "needs a Neo4j server"): it is
  compiled, not run; the marker says why.

Unmarked blocks run as they are, with no API key in the environment.
"""

import os
import re
from pathlib import Path

import langchain_openai
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langmem_plugin.backends import backend_names, unregister_backend

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"(?:<!--\s*snippet:\s*(?P<marker>[^>]*?)\s*-->\s*\n)?```python\n(?P<code>.*?)```", re.S)
NEEDS_KEY = "needs OPENAI_API_KEY"


def snippets(path: Path) -> list[tuple[str, str, int]]:
    text = path.read_text()
    return [(m["marker"] or "", m["code"], text.count("\n", 0, m.start("code")) + 1) for m in FENCE.finditer(text)]


class OfflineChatModel(GenericFakeChatModel):
    """Stands in for ChatOpenAI in blocks marked as needing a key: same constructor, no network."""

    def __init__(self, **kwargs):
        super().__init__(messages=iter(AIMessage("OK") for _ in range(1000)))

    def bind_tools(self, tools, **kwargs):
        return self


def test_every_marker_is_understood():
    for path in DOCS:
        for marker, _, line in snippets(path):
            assert marker == "" or marker.startswith("needs "), f"{path.name}:{line}: unknown snippet marker {marker!r}"


@pytest.fixture
def backend_registry():
    """Backends a block registers (docs/architecture.md) are unregistered after its file: the
    registry is process-wide, and later tests list its names."""
    tiers = ("vector", "graph", "kv")
    before = {tier: set(backend_names(tier)) for tier in tiers}
    yield
    for tier in tiers:
        for name in set(backend_names(tier)) - before[tier]:
            unregister_backend(tier, name)


@pytest.mark.parametrize("path", [p for p in DOCS if snippets(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_snippets_run(path, tmp_path, monkeypatch, backend_registry):
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("OPENAI_", "LANGMEM_", "LANGSMITH_", "LANGCHAIN_"))]:
        monkeypatch.delenv(name)
    namespace: dict = {"__name__": "__snippet__"}
    for marker, code, line in snippets(path):
        compiled = compile(code, f"{path.name}:{line}", "exec")
        if marker.startswith("needs ") and marker != NEEDS_KEY:
            continue  # compiled above: it needs a server the docs name
        with monkeypatch.context() as patch:
            if marker == NEEDS_KEY:
                patch.setattr(langchain_openai, "ChatOpenAI", OfflineChatModel)
            exec(compiled, namespace)
