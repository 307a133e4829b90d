"""Every key-value namespace the package writes, declared once with its rules.

A purge (pipeline/forget.py), the store manifest (manifest.py) and any pass over the whole
key-value tier (an expiry sweep, encryption at rest) read the namespaces and their rules from
here, so none of them can miss one. Adding a namespace is one `_declare` line; a test fails when
code writes a namespace not declared here (tests/test_namespaces.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class PurgeRule(Enum):
    """How a purge of a scope finds the scope's entries of a namespace, in the order purges apply
    them: memory-keyed entries go before the scope index through which they are found, so that a
    purge repeated after a crash still finds what is left."""

    # keys are memory ids: those of the scope's memories, found through the scope index
    BY_MEMORY_ID = "memory id"
    # the scope index: `<scope field>=<id>...` keys per memory, plus the journal of writes in
    # flight (`journal/` keys) whose entries name their events' scopes
    SCOPE_INDEX = "scope index"
    # keys are `<scope key>` or `<scope key>/<anything>` (`Scope.key()` never contains `/`)
    BY_SCOPE_KEY = "scope key"
    # keys are LangGraph store namespaces (JSON arrays), each its own scope (pipeline/store_namespaces.py)
    BY_STORE_NAMESPACE = "store namespace"
    # journal entries of writes in flight, matched by the scopes of their events
    BY_EVENT_SCOPE = "event scope"
    # not user data (credentials, grants): a purge leaves it
    KEPT = "kept"


@dataclass(frozen=True)
class Namespace:
    name: str
    holds: str
    purge: PurgeRule
    # a cache: anything in it can be recomputed, so it may expire or be dropped at any time
    expires: bool
    # holds text the users wrote (or ids they chose): encrypted where the store encrypts at rest
    user_text: bool
    # carries the store manifest on backends that keep one: its loss would be silent data loss
    manifest: bool = False


NAMESPACES: dict[str, Namespace] = {}


def _declare(
    name: str, holds: str, purge: PurgeRule, *, expires: bool, user_text: bool, manifest: bool = False
) -> str:
    NAMESPACES[name] = Namespace(name, holds, purge, expires, user_text, manifest)
    return name


HISTORY = _declare(
    "history",
    "each memory's audit events, with its old and new text",
    PurgeRule.BY_MEMORY_ID,
    expires=False,
    user_text=True,
    manifest=True,
)
SCOPE_INDEX = _declare(
    "scope_memories",
    "the memory ids of each scope, the write journal and the delete_all journal",
    PurgeRule.SCOPE_INDEX,
    expires=False,
    user_text=True,
    manifest=True,
)
PROFILES = _declare(
    "profiles",
    "each scope's profile values",
    PurgeRule.BY_SCOPE_KEY,
    expires=False,
    user_text=True,
    manifest=True,
)
EMBEDDINGS = _declare(
    "embeddings",
    "vectors of the texts each scope embedded, keyed by the text's hash",
    PurgeRule.BY_SCOPE_KEY,
    expires=True,
    user_text=False,
)
LLM_ANSWERS = _declare(
    "llm_responses",
    "the chat model's answers for each scope, by model and prompt hash",
    PurgeRule.BY_SCOPE_KEY,
    expires=True,
    user_text=True,
)
ATTACHMENTS = _declare(
    "attachments",
    "the bytes of the images, files and audio each scope's messages carried, keyed by their sha256",
    PurgeRule.BY_SCOPE_KEY,
    expires=False,
    user_text=True,
)
STORE_NAMESPACES = _declare(
    "store_namespaces",
    "the LangGraph store namespaces that hold items (their labels name users)",
    PurgeRule.BY_STORE_NAMESPACE,
    expires=False,
    user_text=True,
)
LEGACY_JOURNAL = _declare(
    "journal",
    "the write journal of stores of format 1 (read on open and on purge only)",
    PurgeRule.BY_EVENT_SCOPE,
    expires=False,
    user_text=True,
)

ACCESS_LOG = _declare(
    "access_log",
    "who read or changed which memories of a scope, when and through which door (never memory text)",
    PurgeRule.BY_SCOPE_KEY,
    expires=False,
    user_text=True,
)
API_KEYS = _declare(
    "api_keys",
    "the server's API keys by key id: principal, hash, label (a credential, never its secret)",
    PurgeRule.KEPT,
    expires=False,
    user_text=False,
)
GRANTS = _declare(
    "grants",
    "each principal's grants over scopes (a grant over a purged scope stays and finds nothing)",
    PurgeRule.KEPT,
    expires=False,
    user_text=True,
)


def with_rule(rule: PurgeRule) -> list[str]:
    """The names of the namespaces a purge erases by `rule`."""
    return [name for name, namespace in NAMESPACES.items() if namespace.purge is rule]


def manifest_namespaces() -> list[str]:
    return [name for name, namespace in NAMESPACES.items() if namespace.manifest]
