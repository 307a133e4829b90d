"""LangSmith spans for memory operations: search is a retriever run, the rest are chain runs, each
tagged with its scope ids and result count. Tracing follows LangSmith's own switches
(LANGSMITH_TRACING, `tracing_context`); with tracing off the decorator costs one check of them:
LangSmith's own wrapper, which inspects the function's signature on every call (~0.1 ms), is
entered only when a run is recorded."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Literal

from langchain_core.tracers.langchain import LangChainTracer
from langsmith import get_current_run_tree, traceable
from langsmith.utils import tracing_is_enabled

from .records import Scope, SearchHit


def _inputs(inputs: dict) -> dict:
    """Drop the services bundle (not data); flatten the scope into plain ids."""
    shown = {k: v for k, v in inputs.items() if k != "services"}
    scope = shown.pop("scope", None)
    if isinstance(scope, Scope):
        shown.update(scope.as_filter())
    return shown


def _documents(outputs: Any) -> dict:
    """Search hits as LangSmith retriever documents."""
    hits = outputs.get("output", outputs) if isinstance(outputs, dict) else outputs
    if isinstance(hits, list) and all(isinstance(h, SearchHit) for h in hits):
        return {
            "documents": [
                {
                    "page_content": h.memory.text,
                    "type": "Document",
                    "metadata": {"id": h.memory.id, "score": h.score},
                }
                for h in hits
            ]
        }
    return outputs if isinstance(outputs, dict) else {"output": outputs}


def traced(name: str, run_type: Literal["chain", "retriever"] = "chain") -> Callable:
    """Trace an operation `fn(services, ..., scope=..., ...)` as a LangSmith run named `name`."""

    def decorator(function: Callable) -> Callable:
        @functools.wraps(function)
        def annotate(*args: Any, **kwargs: Any) -> Any:
            result = function(*args, **kwargs)
            run = get_current_run_tree()
            if run is not None:
                scope = kwargs.get("scope") or next((a for a in args if isinstance(a, Scope)), None)
                metadata = {"langmem_operation": name, **(scope.as_filter() if scope else {})}
                if isinstance(result, (list, tuple)):
                    metadata["count"] = len(result)
                run.add_metadata(metadata)
            return result

        recorded = traceable(
            name=name, run_type=run_type, process_inputs=_inputs, process_outputs=_documents
        )(annotate)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            return recorded(*args, **kwargs) if tracing_is_enabled() else function(*args, **kwargs)

        return run

    return decorator


def tag_enclosing_runs(scope: Mapping[str, str | None], config: Mapping[str, Any] | None) -> None:
    """Add the scope ids to the metadata of the current LangGraph run and every run enclosing it, up
    to the trace's root: LangSmith filters traces on the root run, so a graph or agent that uses
    memory can be found by user. Ids a run already carries are kept (a trace keeps its first scope)."""
    run = get_current_run_tree()
    if run is None:
        return
    callbacks = (config or {}).get("callbacks")
    handlers = getattr(callbacks, "handlers", callbacks) or []
    open_runs = {
        key: value
        for handler in handlers
        if isinstance(handler, LangChainTracer)
        for key, value in handler.run_map.items()
    }
    ids = {key: value for key, value in scope.items() if value is not None}
    seen: set[str] = set()
    while run is not None and str(run.id) not in seen:
        seen.add(str(run.id))
        present = (run.extra or {}).get("metadata", {})
        run.add_metadata({key: value for key, value in ids.items() if key not in present})
        run = open_runs.get(str(run.parent_run_id)) if run.parent_run_id else None
