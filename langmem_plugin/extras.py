"""Optional dependencies, checked before long work: a missing package should cost a second and
name the extra to install, not surface as ModuleNotFoundError after minutes of computing."""

from __future__ import annotations

from importlib.util import find_spec

from .errors import MissingDependencyError, install_hint

Requirement = tuple[str, str, str]  # (module imported, pip package, extra of langmem-plugin)


def missing_modules(requirements: list[Requirement]) -> list[Requirement]:
    return [r for r in dict.fromkeys(requirements) if find_spec(r[0]) is None]


def require(requirements: list[Requirement], command: str) -> None:
    """Raise MissingDependencyError listing every missing package and the extras that provide them."""
    missing = missing_modules(requirements)
    if not missing:
        return
    extras = ",".join(dict.fromkeys(extra for _, _, extra in missing))
    packages = ", ".join(package for _, package, _ in missing)
    raise MissingDependencyError(f"{command} needs {packages}, not installed: {install_hint(extras)}")
