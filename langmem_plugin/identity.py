"""Stable names for models, so cached vectors and answers of different models never mix."""

from __future__ import annotations


def model_identity(model: object) -> str:
    """'<class>:<model name>' from the usual LangChain attributes, else the class name."""
    for attribute in ("model_name", "model"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return f"{type(model).__name__}:{value}"
    return type(model).__name__
