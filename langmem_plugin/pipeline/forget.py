"""Forgetting a scope: which key-value entries belong to it, and the purge that erases them.

Two kinds of key-value entries hold a scope's data:
- entries keyed by memory id (`history`), found through the scope index (pipeline/audit.py);
- journal entries of writes in flight (pipeline/audit.py: `journal/` keys of the scope-index
  namespace, or the `journal` namespace of format-1 stores), matched by the scope of their events;
- scope-keyed namespaces, whose keys are `<scope key>` or `<scope key>/<anything>` (profiles,
  the embedding cache, cached LLM answers). `Scope.key()` never contains `/`, so each key names its scope exactly.
A purge of `user_id=U` reaches every sub-scope of U too (`agent_id=bot7` + `user_id=U`).
"""

from __future__ import annotations

from ..embeddings.cache import NAMESPACE as EMBEDDINGS
from ..llm.structured import CACHE_NAMESPACE as LLM_ANSWERS
from ..records import MemoryRecord, Scope, encode_scope_id
from ..services import MemoryServices
from .audit import HISTORY, SCOPE_INDEX, erase_journal, indexed_scopes, scope_index_prefixes

PROFILES = "profiles"
SCOPE_KEYED_NAMESPACES = (PROFILES, EMBEDDINGS, LLM_ANSWERS)
# The scope index is scanned under the most selective id the scope gives.
_SELECTIVITY = ("run_id", "user_id", "agent_id")


def scope_of_key(key: str) -> Scope:
    """The scope a scope-keyed entry belongs to (an empty Scope, matching no query, for any other key)."""
    return Scope.from_key(key.partition("/")[0])


def scope_keyed_entries(services: MemoryServices, namespace: str, scope: Scope) -> list[str]:
    """Keys of a scope-keyed namespace whose scope lies within `scope`. Scope keys start with the
    user id, so a scope with one reads only that user's keys (the key itself, or it followed by
    `|` or `/`, which no encoded id contains); any other scope reads them all."""
    if scope.user_id is None:
        candidates = services.kv.keys(namespace)
    else:
        user = f"user_id={encode_scope_id(scope.user_id)}"
        candidates = [*services.kv.get_many(namespace, [user]), *services.kv.keys(namespace, user + "|"), *services.kv.keys(namespace, user + "/")]
    return [key for key in candidates if scope.matches(scope_of_key(key))]


def indexed_memories(services: MemoryServices, scope: Scope) -> dict[str, Scope]:
    """Every memory id ever added within `scope` (deleted ones included), with its full scope."""
    ids = scope.required_filter()
    field = next(f for f in _SELECTIVITY if f in ids)
    prefix = scope_index_prefixes(Scope(**{field: ids[field]}))[0]
    entries = services.kv.get_many(SCOPE_INDEX, services.kv.keys(SCOPE_INDEX, prefix))
    return {memory_id: owner for memory_id, owner in indexed_scopes(entries, prefix).items() if scope.matches(owner)}


def users_within(services: MemoryServices, scope: Scope, purge: bool) -> set[str | None]:
    """The user ids (None for memories without one) whose data a delete_all of `scope` would remove:
    of the live memories, and with purge also of deleted memories' history and of profiles."""
    memories = indexed_memories(services, scope)
    live = {record.scope.user_id for record in services.vector.get(list(memories))}
    if not purge:
        return live
    profiles = {scope_of_key(key).user_id for key in scope_keyed_entries(services, PROFILES, scope)}
    return live | {owner.user_id for owner in memories.values()} | profiles


def purge(services: MemoryServices, scope: Scope, deleted: list[MemoryRecord]) -> None:
    """Erase what remains of `scope` after its memories were deleted: history, scope index entries
    (under every id of each memory's scope), profiles and cached embeddings of the scope and its
    sub-scopes; then have every tier overwrite what it freed."""
    memories = indexed_memories(services, scope)
    memories.update((record.id, record.scope) for record in deleted)
    services.kv.delete_many(HISTORY, memories)
    # a key is named after one memory (format 1) or after the first of its run: both are here
    services.kv.delete_many(
        SCOPE_INDEX, [prefix + memory_id for memory_id, owner in memories.items() for prefix in scope_index_prefixes(owner)]
    )
    for namespace in SCOPE_KEYED_NAMESPACES:
        services.kv.delete_many(namespace, scope_keyed_entries(services, namespace, scope))
    erase_journal(services, scope)
    services.vector.erase_deleted()
    if services.graph is not None:
        services.graph.erase_deleted()
    services.kv.erase_deleted()
