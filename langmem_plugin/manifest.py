"""The store manifest: one identity shared by every embedded tier of a memory directory.

Each tier file (vectors.sqlite3, graph.sqlite3, and the kv namespaces that hold data nothing
can recompute) carries the same manifest: a format version, a store id and the list of parts
the store has. A file truncated, replaced or deleted comes back empty, without the manifest,
while the other parts still name it: opening then raises StoreCorruptedError instead of
serving an empty store next to surviving history and profiles.

Only tiers whose backend declares `capabilities.manifest` take part: the embedded ones. Redis,
Neo4j and Weaviate are shared servers (several memory directories may use one Redis prefix) with
their own durability; they carry no manifest.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import NamedTuple, cast

from .errors import ConfigurationError, StoreCorruptedError
from .namespaces import manifest_namespaces
from .services import MemoryServices
from .tiers.capabilities import CarriesManifest, CarriesNamespaceManifests

# 2: the scope index files a write's new memories in runs (pipeline/audit.py), which format-1
# readers would skip on purge. Opening a format-1 store restamps it: what it holds stays valid.
FORMAT_VERSION = 2


class _Part(NamedTuple):
    read: Callable[[], dict | None]
    add: Callable[[dict], dict]
    set: Callable[[dict], None]


def _parts(services: MemoryServices) -> dict[str, _Part]:
    parts: dict[str, _Part] = {}
    for name, tier in (("vectors.sqlite3", services.vector), ("graph.sqlite3", services.graph)):
        if tier is not None and tier.capabilities.manifest:
            carrier = cast(CarriesManifest, tier)
            parts[name] = _Part(carrier.read_manifest, carrier.add_manifest, carrier.set_manifest)
    if services.kv.capabilities.manifest:
        kv = cast(CarriesNamespaceManifests, services.kv)
        for namespace in manifest_namespaces():  # those whose loss is silent data loss
            parts[f"kv/{namespace}"] = _Part(
                partial(kv.read_manifest, namespace),
                partial(kv.add_manifest, namespace),
                partial(kv.set_manifest, namespace),
            )
    return parts


def check_manifest(services: MemoryServices) -> None:
    """Raise StoreCorruptedError when the tiers disagree; stamp parts that are new (on open).

    New parts are stamped in two passes, the list of parts last, so that a crash while a store
    is created never makes it look damaged.
    """
    parts = _parts(services)
    found = {name: part.read() for name, part in parts.items()}
    present = {name: manifest for name, manifest in found.items() if manifest is not None}
    store_ids = {manifest["store_id"] for manifest in present.values()}
    if len(store_ids) > 1:
        groups = {sid: sorted(n for n, m in present.items() if m["store_id"] == sid) for sid in store_ids}
        raise StoreCorruptedError(
            f"the tier files belong to different stores "
            f"({'; '.join(', '.join(g) for g in groups.values())}): "
            "a file was copied in from another memory directory; restore the directory from a backup"
        )
    newest = max((manifest["format"] for manifest in present.values()), default=FORMAT_VERSION)
    if newest > FORMAT_VERSION:
        raise ConfigurationError(
            f"this store has format {newest}; upgrade langmem-plugin (it reads format {FORMAT_VERSION})"
        )
    listed = {name for manifest in present.values() for name in manifest["parts"]}
    lost = sorted(name for name, manifest in found.items() if manifest is None and name in listed)
    if lost:
        raise StoreCorruptedError(
            f"{', '.join(lost)} lost its data (truncated, replaced or deleted) while "
            f"{', '.join(sorted(present))} still hold the store; restore the memory directory from a backup"
        )
    complete = sorted(listed | set(parts))
    if len(present) == len(parts) and all(
        m["parts"] == complete and m["format"] == FORMAT_VERSION for m in present.values()
    ):
        return
    manifest = next(iter(present.values()), None) or {"format": FORMAT_VERSION, "store_id": uuid.uuid4().hex}
    manifest = {**manifest, "parts": sorted(listed)}
    for part in parts.values():
        manifest = part.add(manifest)  # a process creating the store at the same time may win the first part
    for part in parts.values():
        part.set({**manifest, "format": FORMAT_VERSION, "parts": complete})


def restamp_manifest(services: MemoryServices) -> None:
    """After `reset` emptied every tier: a fresh manifest, as for a new store."""
    manifest = {"format": FORMAT_VERSION, "store_id": uuid.uuid4().hex}
    parts = _parts(services)
    for part in parts.values():
        part.set({**manifest, "parts": sorted(parts)})
