"""What a tier backend declares it supports, so that the rest of the package asks the backend
instead of checking its class (a backend written outside this package works the same way)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Capabilities:
    """Every tier protocol has `capabilities: Capabilities`.

    manifest: the backend keeps its own copy of the store manifest (manifest.py), with the
      methods of `CarriesManifest` (vector, graph) or `CarriesNamespaceManifests` (key-value).
      Embedded files take part; shared servers, with their own durability, do not.
    keyword_search: vector search ranks by the query's words as well as by its vector.
    expiry: entries can be given a lifetime that the backend enforces (key-value tier).
    encryption: the backend encrypts what it stores at rest.
    range_filters: metadata filters may compare values in order ($gt, $gte, $lt, $lte); a vector
      backend that holds metadata as keyed hashes (an encrypted one) raises InvalidFilterError.
    """

    manifest: bool = False
    keyword_search: bool = False
    expiry: bool = False
    encryption: bool = False
    range_filters: bool = True


class CarriesManifest(Protocol):
    """A vector or graph backend whose `capabilities.manifest` is true."""

    def read_manifest(self) -> dict | None: ...

    def add_manifest(self, manifest: dict) -> dict:
        """Store the manifest unless one is there already; return the one stored."""
        ...

    def set_manifest(self, manifest: dict) -> None: ...


class CarriesNamespaceManifests(Protocol):
    """A key-value backend whose `capabilities.manifest` is true: one manifest per namespace file."""

    def read_manifest(self, namespace: str) -> dict | None: ...

    def add_manifest(self, namespace: str, manifest: dict) -> dict: ...

    def set_manifest(self, namespace: str, manifest: dict) -> None: ...
