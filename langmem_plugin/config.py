"""One pydantic config object selecting backends, paths, embedder and thresholds."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .backends import Tier, checked_backend_name
from .errors import ConfigurationError
from .filters import KEY_PATTERN

ENV_PREFIX = "LANGMEM_"
# The master key's variable: setting it (with LANGMEM_PATH) opens an encrypted store.
ENCRYPTION_KEY_ENV = "LANGMEM_ENCRYPTION_KEY"


def _registered(tier: Tier) -> AfterValidator:
    """The check of a backend name field: it accepts the names registered for `tier`
    (langmem_plugin/backends.py)."""

    def check(name: str) -> str:
        try:
            return checked_backend_name(tier, name)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None

    return AfterValidator(check)


VectorBackendName = Annotated[str, _registered("vector")]
GraphBackendName = Annotated[str, _registered("graph")]
KeyValueBackendName = Annotated[str, _registered("kv")]


class VectorTierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: VectorBackendName = "sqlite"
    url: str = Field(default="http://127.0.0.1:8080", description="Weaviate HTTP URL, for backend 'weaviate'")
    grpc_port: int = Field(default=50051, ge=1, le=65535, description="Weaviate gRPC port on the same host")
    replication_factor: int = Field(
        default=1, ge=1, description="Weaviate: copies of each memory, set when the collection is created"
    )
    api_key: str | None = Field(default=None, repr=False)
    collection: str = "LangmemMemory"
    multi_tenancy: bool = Field(
        default=False, description="Weaviate: one tenant per user_id instead of a filtered property"
    )
    ann_min_rows: int | None = Field(
        default=None,
        ge=1,
        description="Scopes with at least this many memories get an HNSW index (needs hnswlib), built "
        "in the background and saved next to the store (vectors.ann/); searches stay exact until it "
        "is ready. None keeps exact search everywhere.",
    )
    ann_ef_search: int = Field(
        default=1024,
        ge=1,
        description="HNSW candidate list size per search: higher raises recall and latency "
        "(see docs/benchmarks.md for recall@10 at 1M memories).",
    )
    cache_mib: int = Field(
        default=256,
        ge=1,
        description="Embedded backend: memory for cached per-scope search data (vectors, small scopes' "
        "rows and keyword statistics); the least recently searched scopes are dropped beyond it and "
        "reloaded with one query.",
    )


class GraphTierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: GraphBackendName = "sqlite"
    enabled: bool = True
    uri: str = Field(default="bolt://127.0.0.1:7687", description="Neo4j URI, for backend 'neo4j'")
    user: str | None = None
    password: str | None = Field(default=None, repr=False)
    database: str | None = None
    retry_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Neo4j: how long a query is retried while the server is unreachable (or a cluster elects "
        "a leader) before the call raises BackendError",
    )


class KeyValueTierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: KeyValueBackendName = "diskcache"
    url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis URL, for backend 'redis'")
    prefix: str = Field(default="langmem", min_length=1, description="Redis key prefix: one per memory")


class EmbedderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: Literal["minilm"] = "minilm"
    batch_size: int = Field(default=64, ge=1)
    cache: bool = True
    runtime: Literal["auto", "numpy", "onnx"] = Field(
        default="auto",
        description="MiniLM's forward pass: ONNX Runtime (installed with the local extra; about twice as "
        "fast on a query) when installed, else numpy; or either one by name",
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        description="cores a batch of texts is spread over (None: all); a single text uses one",
    )


class SearchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rrf_k: int = Field(default=60, ge=1)
    dense_weight: float = Field(default=1.0, ge=0)
    keyword_weight: float = Field(default=1.0, ge=0)
    candidates: int = Field(default=50, ge=1, description="Candidates taken from each ranker.")
    graph_weight: float = Field(
        default=1.0,
        ge=0,
        description="Weight of memories linked by the graph to entities named in the query.",
    )
    neighbour_context: bool = Field(
        default=True,
        description="A memory's neighbouring turns (stored just before and after it, within an hour) add "
        "weaker evidence to its relevance (tiers/vector/relevance.py: CONTEXT_WEIGHT).",
    )
    keyword_max_docs: int = Field(
        default=2000,
        ge=1,
        description="Query terms found in more of the scope's memories than this are left out of the "
        "keyword ranker: their BM25 weight is negligible and scoring them costs time in large scopes.",
    )


class ManagerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duplicate_threshold: float = Field(
        default=0.9, gt=0, le=1, description="Cosine similarity at or above which a fact is a NOOP."
    )
    slot_update_threshold: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="Minimum similarity for a same-slot fact to replace an older one, or a refinement "
        "to update it.",
    )
    min_words: int = Field(
        default=3,
        ge=1,
        description="Offline manager: shortest clause kept as a fact when it does not mention the speaker; "
        'first-person statements ("I\'m vegan.") are kept at any length.',
    )
    entity_match_threshold: float = Field(
        default=0.85,
        gt=0,
        le=1,
        description="Cosine similarity of entity names at which a new mention is the same node as a "
        "known entity.",
    )


class LLMConfig(BaseModel):
    """The LLM memory manager. Pass any chat model as `Memory(llm=...)`, or name an OpenAI-compatible
    model here (built with langchain-openai's ChatOpenAI). Neither: the offline manager is used."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint, e.g. a local server")
    temperature: float = Field(default=0.0, ge=0)
    retries: int = Field(default=2, ge=0, description="extra attempts after an invalid answer")
    structured_output: Literal[
        "auto", "json_schema", "function_calling", "json_mode", "json_object_schema", "prompt"
    ] = Field(
        default="auto",
        description="how answers are constrained: the model's default structured output with a "
        "JSON-in-prompt fallback (auto), a given with_structured_output method, or the prompt alone",
    )
    cache: bool = Field(
        default=True, description="cache answers in the key-value tier by model + prompt hash"
    )
    vision: bool = Field(
        default=True,
        description="the model accepts images: the extraction call shows it the images of the turn as "
        "standard image blocks; false for a text-only model, which is told in words what was shared",
    )
    custom_extraction: str | None = None
    custom_update: str | None = None


class LimitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_text_chars: int = Field(default=20_000, ge=1)
    max_messages: int = Field(default=100_000, ge=1)
    max_metadata_keys: int = Field(default=64, ge=1)
    max_metadata_depth: int = Field(default=8, ge=1, le=32, description="nesting levels of metadata")
    max_metadata_bytes: int = Field(default=65_536, ge=1, description="metadata's size as UTF-8 JSON")
    max_scope_id_chars: int = Field(default=256, ge=1)
    max_limit: int = Field(default=1_000, ge=1)
    max_attachment_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        description="largest image, file or audio clip a message may carry inline (decoded bytes); "
        "a larger one is an InputTooLargeError and nothing of the call is stored",
    )


class FilesConfig(BaseModel):
    """How `add_file` reads a document: its bounds, and the size of the memories it is cut into."""

    model_config = ConfigDict(extra="forbid")
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1, description="largest file read")
    max_pages: int = Field(default=500, ge=1, description="most pages of a PDF read")
    chunk_chars: int = Field(
        default=2_000, ge=100, description="longest chunk of a document (at most limits.max_text_chars)"
    )


PiiAction = Literal["keep", "redact", "refuse"]


class PiiPolicy(BaseModel):
    """What happens to each category of personal data found in text before it is stored:
    `keep` it, `redact` it (replaced by a placeholder such as `[payment card]`) or `refuse` the
    whole write (SensitiveDataError, nothing stored). Secrets and card numbers are redacted unless
    configured otherwise."""

    model_config = ConfigDict(extra="forbid")
    email: PiiAction = "keep"
    phone: PiiAction = "keep"
    payment_card: PiiAction = "redact"
    iban: PiiAction = "keep"
    national_id: PiiAction = "keep"
    secret: PiiAction = "redact"


class PrivacyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pii: PiiPolicy = Field(default_factory=PiiPolicy)
    phone_region: str = Field(
        default="US",
        min_length=2,
        max_length=2,
        description="ISO 3166 region whose national phone format is recognised without a +country code",
    )


def _positive(duration: timedelta) -> timedelta:
    if duration <= timedelta(0):
        raise ValueError(f"a retention period must be positive, got {duration}")
    return duration


def _seconds_text(value: Any) -> Any:
    """A number of seconds written as text (an environment variable) as the number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


# Seconds (a number, or its text) or an ISO-8601 duration ("P30D", "PT12H").
RetentionPeriod = Annotated[timedelta, BeforeValidator(_seconds_text), AfterValidator(_positive)]


def _metadata_rules(rules: dict[str, dict[str, timedelta]]) -> dict[str, dict[str, timedelta]]:
    for key in rules:
        if not KEY_PATTERN.match(key):
            raise ValueError(f"invalid metadata key {key!r}: use letters, digits, '_' or '-'")
    return rules


class RetentionConfig(BaseModel):
    """How long memories are kept at most (docs/configuration.md, "Retention"). Each period is a
    limit: a memory expires at the earliest of its own expiry and every period that applies to
    it, counted from its creation; the sweeper erases it then, also when it was written before
    the policy was set."""

    model_config = ConfigDict(extra="forbid")
    user: RetentionPeriod | None = Field(
        default=None, description="memories of scopes with a user_id only (no agent_id, no run_id)"
    )
    agent: RetentionPeriod | None = Field(
        default=None, description="memories of scopes with an agent_id, no run_id"
    )
    run: RetentionPeriod | None = Field(default=None, description="memories of scopes with a run_id")
    metadata: Annotated[dict[str, dict[str, RetentionPeriod]], AfterValidator(_metadata_rules)] = Field(
        default_factory=dict,
        description='{"category": {"health": "P30D"}}: memories whose metadata holds that value under '
        "that key (compared as strings)",
    )
    max_age: RetentionPeriod | None = Field(default=None, description="every memory")
    sweep_batch: int = Field(
        default=10_000,
        ge=1,
        description="memories a sweep erases per batch: each batch holds the deletion lock and ends with "
        "the embedded tiers rewriting their files, so fewer, larger batches cost less",
    )
    sweep_interval_seconds: float | None = Field(
        default=None,
        gt=0,
        description="run the sweeper every so many seconds in a background thread of each open memory "
        "(None: only when `sweep()` is called)",
    )


class ConsolidationConfig(BaseModel):
    """Consolidation (`Memory.consolidate`): merging near-duplicates, retiring superseded facts and,
    with an LLM manager, summarising old verbatim turns into facts."""

    model_config = ConfigDict(extra="forbid")
    interval_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Consolidate every scope of the store this often in a background thread of each "
        "open memory (stopped by close); None consolidates only when asked.",
    )
    summarise_after_days: float = Field(
        default=7.0,
        ge=0,
        description="LLM manager: verbatim turns (infer=False) said longer ago than this are "
        "summarised into facts and retired.",
    )
    chunk_turns: int = Field(
        default=40, ge=1, description="LLM manager: turns summarised per call (one call per chunk)"
    )
    wait_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a consolidation waits for another one on the same store (consolidations "
        "run one at a time across threads and processes) before raising StoreBusyError.",
    )


class EncryptionConfig(BaseModel):
    """Encryption at rest (docs/security.md). The master key is never part of the config: it comes
    from `key_file`, else from the environment variable `key_env`, else from a key provider passed
    to `Memory(key_provider=...)`."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    key_file: Path | None = Field(
        default=None, description="file holding the master key: 32 random bytes, URL-safe base64"
    )
    key_env: str = Field(
        default=ENCRYPTION_KEY_ENV,
        min_length=1,
        description="environment variable holding the master key when there is no key_file",
    )


class MemoryConfig(BaseModel):
    """Everything `Memory` needs to know; build it in code, from a dict, or from LANGMEM_* env vars."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(default_factory=lambda: Path(".langmem"))
    synchronous: Literal["NORMAL", "FULL"] = Field(
        default="FULL",
        description="SQLite fsync level; FULL survives power loss, NORMAL only process crashes.",
    )
    delete_all_wait_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a delete_all (purge or not) waits for those of other threads and "
        "processes on the same store, which run one at a time, before raising StoreBusyError.",
    )
    vector: VectorTierConfig = Field(default_factory=VectorTierConfig)
    graph: GraphTierConfig = Field(default_factory=GraphTierConfig)
    kv: KeyValueTierConfig = Field(default_factory=KeyValueTierConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    manager: ManagerConfig = Field(default_factory=ManagerConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    files: FilesConfig = Field(default_factory=FilesConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    consolidation: ConsolidationConfig = Field(default_factory=ConsolidationConfig)
    encryption: EncryptionConfig = Field(default_factory=EncryptionConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MemoryConfig:
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ConfigurationError(f"invalid memory config: {exc}") from exc

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MemoryConfig:
        """Read LANGMEM_PATH and LANGMEM_<SECTION>__<FIELD> (e.g. LANGMEM_SEARCH__RRF_K=30), at any
        depth (LANGMEM_PRIVACY__PII__EMAIL=redact). LANGMEM_ENCRYPTION_KEY, the master key, turns
        encryption on; its value is read when the store opens, never kept in the config."""
        environ = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        for name, value in environ.items():
            if not name.startswith(ENV_PREFIX):
                continue
            if name == ENCRYPTION_KEY_ENV:
                data.setdefault("encryption", {}).setdefault("enabled", "true")
                continue
            *sections, field = name[len(ENV_PREFIX) :].lower().split("__")
            node = data
            for section in sections:
                node = node.setdefault(section, {})
                if not isinstance(node, dict):
                    raise ConfigurationError(f"cannot map environment variable {name}")
            node[field] = value
        return cls.from_dict(data)
