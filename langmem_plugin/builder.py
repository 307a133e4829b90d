"""Build the `MemoryServices` a `Memory` runs on from its config: the tiers (by name through the
backend registry, langmem_plugin/backends.py, or instances the caller passes), the embedder and
the memory manager (offline, or a chat model's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from .backends import open_backend
from .config import MemoryConfig
from .embeddings.cache import CachedEmbeddings
from .encryption import KeyProvider, configured_key_provider, encrypted_tiers, open_keyring
from .errors import ConfigurationError, install_hint
from .managers.base import MemoryManager
from .managers.offline import OfflineMemoryManager
from .services import MemoryServices
from .tiers.graph import GraphStore
from .tiers.keyvalue import KeyValueStore
from .tiers.sqlite_common import make_directory
from .tiers.vector import VectorStore


def default_embeddings(config: MemoryConfig) -> Embeddings:
    from .embeddings.minilm import MiniLMEmbeddings

    embedder = config.embedder
    return MiniLMEmbeddings(
        batch_size=embedder.batch_size, runtime=embedder.runtime, threads=embedder.threads
    )


def configured_chat_model(config: MemoryConfig) -> BaseChatModel | None:
    llm = config.llm
    if llm.model is None:
        return None
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise ConfigurationError(f"llm.model needs langchain-openai: {install_hint('openai')}") from exc
    try:
        return ChatOpenAI(model=llm.model, base_url=llm.base_url, temperature=llm.temperature)
    except Exception as exc:  # the provider's own error (e.g. openai.OpenAIError: no API key)
        raise ConfigurationError(
            f"cannot build the chat model {config.llm.model!r}: {type(exc).__name__}: {exc} "
            "(set OPENAI_API_KEY, or pass any LangChain chat model as Memory(llm=...))"
        ) from exc


def _manager(config: MemoryConfig, llm: BaseChatModel | None, kv: KeyValueStore) -> MemoryManager:
    if llm is None:
        return OfflineMemoryManager(config.manager)
    from .managers.llm.manager import LLMMemoryManager
    from .managers.llm.prompts import Prompts

    return LLMMemoryManager(
        llm,
        prompts=Prompts(
            custom_extraction=config.llm.custom_extraction, custom_update=config.llm.custom_update
        ),
        cache=kv if config.llm.cache else None,
        retries=config.llm.retries,
        structured_output=config.llm.structured_output,
        vision=config.llm.vision,
    )


_PROTOCOLS = {"vector": VectorStore, "graph": GraphStore, "kv": KeyValueStore}


def _check_given(tier: str, instance: Any) -> None:
    """Refuse, with ConfigurationError and before anything opens, a tier instance the caller
    passed that lacks a method or the `capabilities` declaration of the tier's protocol."""
    protocol = _PROTOCOLS[tier]
    if not isinstance(instance, protocol):
        raise ConfigurationError(
            f"{tier}={type(instance).__name__} does not implement langmem_plugin.tiers.{protocol.__name__} "
            "(its methods and a `capabilities` declaration)"
        )


def build_services(
    config: MemoryConfig,
    embeddings: Embeddings | None = None,
    manager: MemoryManager | None = None,
    llm: BaseChatModel | None = None,
    *,
    vector: VectorStore | None = None,
    graph: GraphStore | None = None,
    kv: KeyValueStore | None = None,
    key_provider: KeyProvider | None = None,
) -> MemoryServices:
    """manager= wins over llm=, which wins over config.llm; with none of them the offline manager runs.
    A tier passed in is used as it is and stays the caller's to close; the others are opened from
    the config (the graph tier only when `graph.enabled`) and closed with the services.

    With `encryption.enabled` (or a `key_provider`), the master key is read before any tier opens
    and checked against the store right after the key-value tier opens; every tier, passed in or
    opened, is then wrapped by its encrypting tier (langmem_plugin/encryption)."""
    for name, tier in (("vector", vector), ("graph", graph), ("kv", kv)):
        if tier is not None:
            _check_given(name, tier)
    llm = llm or (None if manager is not None else configured_chat_model(config))  # before any tier opens
    if key_provider is None and config.encryption.enabled:
        key_provider = configured_key_provider(config.encryption)
    if key_provider is not None and config.retention.metadata:
        # an encrypted store holds metadata as keyed hashes, one key per user: no store-wide rule
        # can tell which memories carry a category, and guessing would erase the wrong ones
        raise ConfigurationError(
            "retention.metadata rules cannot apply to an encrypted store (its metadata is hashed per "
            "user); use the scope-kind periods or max_age, or per-memory expiry"
        )
    master_key = None if key_provider is None else key_provider.master_key()
    root = Path(config.path).expanduser()
    make_directory(root, "memory directory")
    opened: list = []  # tiers opened here so far: closed again when anything after them fails
    try:
        if kv is None:
            kv = _opened(opened, open_backend("kv", config, root))
        keyring = open_keyring(kv, master_key)
        if vector is None:
            vector = _opened(opened, open_backend("vector", config, root))
        if graph is None and config.graph.enabled:
            graph = _opened(opened, open_backend("graph", config, root))
        owned = tuple(tier for tier in (vector, graph, kv) if any(tier is o for o in opened))
        if keyring is not None:
            vector, graph, kv = encrypted_tiers(keyring, vector, graph, kv)
        return MemoryServices(
            config=config,
            vector=vector,
            graph=graph,
            kv=kv,
            embedder=CachedEmbeddings(
                embeddings or default_embeddings(config), kv if config.embedder.cache else None
            ),
            manager=manager or _manager(config, llm, kv),
            owned=owned,
        )
    except BaseException:
        for tier in reversed(opened):
            tier.close()
        raise


def _opened(opened: list, tier):
    opened.append(tier)
    return tier
