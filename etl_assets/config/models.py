"""Typed models of config/datasources.yaml.

Secrets never appear as values: a secret field is the *name* of an environment variable (``password_env``), which
resources read through Dagster's ``EnvVar`` so that neither logs nor the UI ever show the value.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyncSettings(Strict):
    mode: Literal["full", "incremental", "merge"] = "full"
    """full: replace the table; incremental: append rows past the watermark; merge: upsert them on the primary key."""
    cursor: str | None = None
    lookback: str | None = None
    """Re-read this much before the watermark for late rows, e.g. ``"2 hours"`` or ``"100"`` for numeric cursors."""

    @model_validator(mode="after")
    def _cursor_needed(self) -> SyncSettings:
        if self.mode != "full" and not self.cursor:
            raise ValueError(f"sync mode {self.mode!r} needs a cursor column (sync.cursor)")
        return self


class CheckSettings(Strict):
    max_null_share: dict[str, float] = Field(default_factory=dict)
    """Column -> highest allowed share of NULLs (0..1)."""
    freshness_hours: float | None = None
    row_count_tolerance: float = 0.5
    """A load whose row count differs from the recent median by more than this share fails the anomaly check."""
    blocking: bool = True


class TableSettings(Strict):
    """Per-table settings; any left unset fall back to the source's defaults."""

    file: str | None = None
    format: Literal["csv", "json", "ndjson", "xml"] | None = None
    delimiter: str | None = None
    encoding: str | None = None
    header: bool | None = None
    record_path: str | None = None
    sync: SyncSettings | None = None
    primary_key: list[str] | None = None
    batch_size: int | None = None
    semantic_search: bool | None = None
    text_columns: list[str] | None = None
    text_template: str | None = None
    """The document embedded per row, e.g. ``"{name}: {description} (category {category})"``: ``{column}``
    placeholders of the table's columns; NULLs read as empty. Unset: the text columns joined."""
    checks: CheckSettings | None = None
    column_types: dict[str, str] | None = None
    """Column -> logical type (``int32``, ``decimal(12,2)`` ...) for the recommended DDL; wins over the profile."""


class SourceDefaults(Strict):
    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)
    sync: SyncSettings = SyncSettings()
    batch_size: Annotated[int, Field(gt=0)] = 50_000
    schedule: str | None = None
    """Cron expression for scheduled refreshes of this source."""
    semantic_search: bool = False
    tables: dict[str, TableSettings] = Field(default_factory=dict)
    target: str | None = None
    """Name of the target the raw tables land in; the warehouse when unset."""


class FilesSource(SourceDefaults):
    path: str


class PostgresConnection(Strict):
    host: str = "127.0.0.1"
    port: int = 5432
    database: str
    user: str = "postgres"
    password_env: str | None = None
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    connect_timeout_s: int = 10


class PostgresSource(SourceDefaults, PostgresConnection):
    schema_name: str = Field("public", alias="schema")


class ClickHouseConnection(Strict):
    url: str | None = None
    """http(s)://host:port of a ClickHouse server; leave unset and give chdb_path for the embedded engine."""
    chdb_path: str | None = None
    database: str = "default"
    user: str = "default"
    password_env: str | None = None
    verify_tls: bool = True
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    cluster: str | None = None
    connect_timeout_s: int = 10
    send_receive_timeout_s: int = 300

    @model_validator(mode="after")
    def _one_endpoint(self) -> ClickHouseConnection:
        if bool(self.url) == bool(self.chdb_path):
            raise ValueError("give exactly one of url (a ClickHouse server) or chdb_path (the embedded engine)")
        return self


class ClickHouseSource(SourceDefaults, ClickHouseConnection):
    pass


class YdbSource(SourceDefaults):
    endpoint: str
    database: str
    auth: Literal["anonymous", "static", "token", "service_account_key", "metadata", "env"] = "anonymous"
    user: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    service_account_key_file: str | None = None
    timeout_s: int = 30


class KafkaSource(SourceDefaults):
    bootstrap_servers: str
    topics: list[str]
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    value_format: Literal["json"] = "json"
    request_timeout_ms: int = 30_000
    batch_size: Annotated[int, Field(gt=0)] = 20_000
    """Messages per micro-batch: one transaction of rows + quarantine + offsets; bounds a run's memory."""
    max_run_seconds: Annotated[float, Field(gt=0)] = 60.0
    """A stream run lands micro-batches until the topic is drained or this long has passed."""
    dead_letter_topic: str | None = "{topic}.dead_letters"
    """Where quarantined messages are also published (``{topic}`` is replaced); null: quarantine table only."""
    on_offsets_reset: Literal["restart", "fail"] = "fail"
    """When stored offsets lie past a partition's end (topic recreated or truncated): land it again from its
    beginning (the earlier rows move to ``<topic>__before_reset``), or fail the run with the reason."""


class Sources(Strict):
    files: dict[str, FilesSource] = Field(default_factory=dict)
    postgres: dict[str, PostgresSource] = Field(default_factory=dict)
    clickhouse: dict[str, ClickHouseSource] = Field(default_factory=dict)
    ydb: dict[str, YdbSource] = Field(default_factory=dict)
    kafka: dict[str, KafkaSource] = Field(default_factory=dict)


class PostgresTarget(PostgresConnection):
    pass


class ClickHouseTarget(ClickHouseConnection):
    pass


class Targets(Strict):
    postgres: dict[str, PostgresTarget] = Field(default_factory=dict)
    clickhouse: dict[str, ClickHouseTarget] = Field(default_factory=dict)


class QdrantSettings(Strict):
    url: str | None = None
    path: str | None = None
    api_key_env: str | None = None
    timeout_s: int = 30

    @model_validator(mode="after")
    def _one_endpoint(self) -> QdrantSettings:
        if bool(self.url) == bool(self.path):
            raise ValueError("give exactly one of url (a Qdrant server) or path (local mode)")
        return self


MINILM_DIMENSIONS = 384


class EmbedderSettings(Strict):
    """``minilm``: all-MiniLM-L6-v2 offline from its PyPI package (default); ``hashing``: the word-hashing fallback;
    ``openai``: an OpenAI-compatible embeddings endpoint at ``base_url`` (key in the env var ``api_key_env``)."""

    model: Literal["minilm", "hashing", "openai"] = "minilm"
    dimensions: int = Field(default=384, gt=0)
    chunk_tokens: int = Field(default=254, gt=1, le=254)
    chunk_overlap: int = Field(default=32, ge=0)
    max_chunks: int = Field(default=64, gt=0)
    model_file: str | None = None
    """A pre-placed copy of the ``minilm`` ONNX file instead of the packaged one; its sha256 must be the pinned one."""
    base_url: str | None = None
    endpoint_model: str = "text-embedding-3-small"
    api_key_env: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _endpoint_configured(self) -> EmbedderSettings:
        if self.model == "openai" and not self.base_url:
            raise ValueError("embedder.model 'openai' needs embedder.base_url (an OpenAI-compatible endpoint)")
        if self.model == "minilm" and self.dimensions != MINILM_DIMENSIONS:
            raise ValueError(f"embedder.model 'minilm' makes {MINILM_DIMENSIONS}-dimensional vectors; set "
                             f"embedder.dimensions: {MINILM_DIMENSIONS} (got {self.dimensions})")
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(f"embedder.chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_tokens "
                             f"({self.chunk_tokens})")
        return self


class LlmSettings(Strict):
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key_env: str | None = None
    timeout_s: float = 20.0


class DataSources(Strict):
    """The whole of config/datasources.yaml."""

    warehouse: str
    """Name of the target (under targets.postgres or targets.clickhouse) that raw tables land in by default."""
    metadata: str
    """Name of the PostgreSQL target that holds the platform's own metadata schema."""
    sources: Sources = Sources()
    targets: Targets
    qdrant: QdrantSettings | None = None
    embedder: EmbedderSettings = EmbedderSettings()
    llm: LlmSettings = LlmSettings()

    @model_validator(mode="after")
    def _targets_exist(self) -> DataSources:
        targets = {**self.targets.postgres, **self.targets.clickhouse}
        if self.warehouse not in targets:
            raise ValueError(f"warehouse {self.warehouse!r} is not a target; known targets: {sorted(targets)}")
        if self.metadata not in self.targets.postgres:
            raise ValueError(f"metadata {self.metadata!r} must name a PostgreSQL target")
        names = [name for kind in Sources.model_fields for name in getattr(self.sources, kind)]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique across types; repeated: {duplicates}")
        return self

    def all_sources(self) -> dict[str, tuple[str, SourceDefaults]]:
        """Source name -> (source type, its settings)."""
        return {
            name: (kind, settings)
            for kind in Sources.model_fields
            for name, settings in getattr(self.sources, kind).items()
        }
