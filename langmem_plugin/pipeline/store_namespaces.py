"""How the LangGraph store adapter (integrations/store.py) maps its namespaces to memory scopes.

It imports no LangGraph: a purge, which runs without the adapter, finds here the scope of each
entry of the adapter's namespace list (namespaces.STORE_NAMESPACES), so forgetting a scope also
forgets that it had a namespace.
"""

from __future__ import annotations

import json

from ..errors import InvalidInputError
from ..records import Scope
from ..storable import check_encodable
from .validation import NAMESPACE_PREFIX, NamespaceUserId


def namespace_scope(namespace: tuple[str, ...]) -> NamespaceUserId:
    """The user id a store namespace's items are stored under: a `NamespaceUserId`, the only kind
    of id `Memory` accepts with the reserved prefix (pipeline/validation.py)."""
    if (
        not isinstance(namespace, tuple)
        or not namespace
        or not all(isinstance(part, str) and part for part in namespace)
    ):
        raise InvalidInputError(f"a namespace is a non-empty tuple of non-empty strings, got {namespace!r}")
    for part in namespace:
        check_encodable(part, "namespace label")
    return NamespaceUserId(NAMESPACE_PREFIX + json.dumps(list(namespace), ensure_ascii=False))


def listed_namespace_scope(key: str) -> Scope:
    """The scope of the store namespace an entry of namespaces.STORE_NAMESPACES lists (an empty
    Scope, which no purge matches, for a key that lists no namespace)."""
    try:
        namespace = json.loads(key)
    except ValueError:
        return Scope()
    if not isinstance(namespace, list):
        return Scope()
    try:
        return Scope(user_id=namespace_scope(tuple(namespace)))
    except InvalidInputError:
        return Scope()
