"""Where integrations find the memory scope of a run: the authenticated user, then an explicit
mapping, context first.

A run the LangGraph API server authenticated (LangGraph custom auth) carries the user's identity
in `config["configurable"]["langgraph_auth_user_id"]` (and the user in `langgraph_auth_user`),
keys a client cannot set. That identity is the run's user_id; a client-supplied user id (context
or configurable) that differs is refused with ForbiddenScopeError, so a logged-in user can never
name another user's memories.

The scope never comes from the model: tools read it from the run, so an agent cannot read or
write another user's memories by choosing arguments. It never comes from the keys LangGraph and
the LangGraph API server put into `config["configurable"]` for their own bookkeeping either
(`run_id`, `thread_id`, `checkpoint_id`, `langgraph_*`, ...): the server sets a fresh `run_id`
for every run, and reading it as a memory scope would give every run a memory of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, ForbiddenScopeError, MissingScopeError

SCOPE_KEYS = ("user_id", "agent_id", "run_id")

# Keys LangGraph, its API server and LangSmith set in config["configurable"] for themselves.
PLATFORM_KEYS = frozenset(
    {
        "run_id",
        "thread_id",
        "checkpoint_id",
        "checkpoint_ns",
        "checkpoint_map",
        "task_id",
        "assistant_id",
        "graph_id",
        "cron_id",
        "user_agent",
        "x-request-id",
    }
)
PLATFORM_PREFIXES = ("langgraph_", "__")


# Set by the API server (never by a client) for an authenticated run: the user's id, the user.
AUTH_USER_ID_KEY = "langgraph_auth_user_id"
AUTH_USER_KEY = "langgraph_auth_user"


def is_platform_key(key: str) -> bool:
    return key != AUTH_USER_ID_KEY and (key in PLATFORM_KEYS or key.startswith(PLATFORM_PREFIXES))


def authenticated_user(configurable: Mapping[str, Any]) -> Any:
    """The id of the user the LangGraph API server authenticated for this run; None without auth
    (the server then sets the id to "")."""
    user_id = configurable.get(AUTH_USER_ID_KEY)
    if user_id not in (None, ""):
        return user_id
    user = configurable.get(AUTH_USER_KEY)
    if user is None:
        return None
    try:
        identity = user.get("identity") if isinstance(user, Mapping) else getattr(user, "identity", None)
    except NotImplementedError:  # a BaseUser without an identity
        return None
    return identity or None


def owner_of(claimed: Any, configurable: Mapping[str, Any]) -> Any:
    """The user_id a run may use: the authenticated user's, else the one the run claims.

    Raises ForbiddenScopeError when an authenticated run claims another user."""
    identity = authenticated_user(configurable)
    if identity is None:
        return claimed
    if claimed not in (None, "") and claimed != identity:
        raise ForbiddenScopeError(
            f"this run is authenticated as user {identity!r}; "
            f"it cannot use the memories of user_id {claimed!r}"
        )
    return identity


def _default_context() -> dict[str, str]:
    return {key: key for key in SCOPE_KEYS}


def _default_configurable() -> dict[str, str]:
    return {"user_id": "user_id", "agent_id": "agent_id"}


@dataclass(frozen=True)
class ScopeMapping:
    """Which fields of a run become the memory scope.

    `context` maps a scope id (user_id, agent_id, run_id) to an attribute or key of the runtime
    context (`context_schema`), which is read first. `configurable` maps a scope id to a key of
    `config["configurable"]`, read only where the context has no value. Platform keys (run_id,
    thread_id, checkpoint_id, langgraph_*, ...) are refused as configurable sources, except
    `langgraph_auth_user_id`, the API server's authenticated user. Empty strings count as absent:
    without auth, the API server sets configurable["user_id"] to "" in a run whose client sent
    none. In an authenticated run the user_id is always the authenticated user's (scope_from).
    """

    context: Mapping[str, str] = field(default_factory=_default_context)
    configurable: Mapping[str, str] = field(default_factory=_default_configurable)

    def __post_init__(self) -> None:
        for source in (self.context, self.configurable):
            unknown = set(source) - set(SCOPE_KEYS)
            if unknown:
                raise ConfigurationError(f"scope ids are {SCOPE_KEYS}, not {sorted(unknown)}")
        platform = sorted(key for key in self.configurable.values() if is_platform_key(key))
        if platform:
            raise ConfigurationError(
                f"configurable keys {platform} are set by LangGraph for its own bookkeeping and cannot be "
                "a memory scope; "
                "pass the scope in the runtime context or under a key of your own"
            )

    def describe(self) -> str:
        context = ", ".join(f"context.{v}" for v in self.context.values()) or "nothing"
        configurable = ", ".join(f'configurable["{v}"]' for v in self.configurable.values()) or "nothing"
        return f"{context}; then {configurable}"


DEFAULT_MAPPING = ScopeMapping()


def _lookup(source: Any, key: str) -> Any:
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(key)
    return getattr(source, key, None)


def scope_from(
    context: Any = None, config: Mapping[str, Any] | None = None, mapping: ScopeMapping | None = None
) -> dict[str, str | None]:
    """{user_id, agent_id, run_id} from the runtime context, then the mapped configurable keys;
    in an authenticated run, user_id is the authenticated user's (see `owner_of`).

    Raises MissingScopeError, naming where it looked, when the run carries no scope at all, and
    ForbiddenScopeError when an authenticated run names another user.
    """
    mapping = mapping or DEFAULT_MAPPING
    configurable = (config or {}).get("configurable") or {}
    scope: dict[str, str | None] = {}
    for key in SCOPE_KEYS:
        value = _lookup(context, mapping.context[key]) if key in mapping.context else None
        if value in (None, "") and key in mapping.configurable:
            value = configurable.get(mapping.configurable[key])
        scope[key] = (
            None if value == "" else value
        )  # the API server sets configurable user_id "" without auth
    scope["user_id"] = owner_of(scope["user_id"], configurable)
    if all(value is None for value in scope.values()):
        raise MissingScopeError(
            f"no memory scope in this run: looked in {mapping.describe()}; "
            "pass e.g. context={'user_id': ...}"
        )
    return scope


# The run fields that name a user in the conventions a store-using graph follows: the scope
# mapping's defaults (context / configurable user_id) and LangMem's `{langgraph_user_id}`
# namespace templates.
CLAIMED_USER_KEYS = ("user_id", "langgraph_user_id")


def check_claimed_users(context: Any = None, config: Mapping[str, Any] | None = None) -> None:
    """For integrations that get no scope from the run (the store: its namespaces are the
    graph's): in an authenticated run, refuse every client-supplied user id of another user.

    Raises ForbiddenScopeError."""
    configurable = (config or {}).get("configurable") or {}
    for key in CLAIMED_USER_KEYS:
        owner_of(_lookup(context, key), configurable)
        owner_of(configurable.get(key), configurable)
