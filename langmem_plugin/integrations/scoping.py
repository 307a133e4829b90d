"""Where integrations find the memory scope of a run: an explicit mapping, context first.

The scope never comes from the model: tools read it from the run, so an agent cannot read or
write another user's memories by choosing arguments. It never comes from the keys LangGraph and
the LangGraph API server put into `config["configurable"]` for their own bookkeeping either
(`run_id`, `thread_id`, `checkpoint_id`, `langgraph_*`, ...): the server sets a fresh `run_id`
for every run, and reading it as a memory scope would give every run a memory of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import ConfigurationError, MissingScopeError

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


# Set by the API server too, but identifies the authenticated user: a sound scope to name.
AUTH_USER_KEY = "langgraph_auth_user_id"


def is_platform_key(key: str) -> bool:
    return key != AUTH_USER_KEY and (key in PLATFORM_KEYS or key.startswith(PLATFORM_PREFIXES))


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
    the API server fills configurable["user_id"] with the authenticated user's id, "" without auth.
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
                f"configurable keys {platform} are set by LangGraph for its own bookkeeping and cannot be a memory scope; "
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
    """{user_id, agent_id, run_id} from the runtime context, then the mapped configurable keys.

    Raises MissingScopeError, naming where it looked, when the run carries no scope at all.
    """
    mapping = mapping or DEFAULT_MAPPING
    configurable = (config or {}).get("configurable") or {}
    scope: dict[str, str | None] = {}
    for key in SCOPE_KEYS:
        value = _lookup(context, mapping.context[key]) if key in mapping.context else None
        if value in (None, "") and key in mapping.configurable:
            value = configurable.get(mapping.configurable[key])
        scope[key] = None if value == "" else value  # the API server sets configurable user_id "" without auth
    if all(value is None for value in scope.values()):
        raise MissingScopeError(f"no memory scope in this run: looked in {mapping.describe()}; pass e.g. context={{'user_id': ...}}")
    return scope
