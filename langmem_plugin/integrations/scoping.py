"""Where integrations find the memory scope: the runtime context first, then config["configurable"].

The scope never comes from the model: tools read it from the run, so an agent cannot read or
write another user's memories by choosing arguments.
"""

from __future__ import annotations

from typing import Any, Mapping

SCOPE_KEYS = ("user_id", "agent_id", "run_id")


def _lookup(source: Any, key: str) -> Any:
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(key)
    return getattr(source, key, None)


def scope_from(context: Any = None, config: Mapping[str, Any] | None = None) -> dict[str, str | None]:
    """{user_id, agent_id, run_id} from a runtime context object or mapping, else from configurable."""
    configurable = (config or {}).get("configurable", {})
    return {key: _lookup(context, key) or configurable.get(key) for key in SCOPE_KEYS}
