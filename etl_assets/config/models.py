"""Typed models of config/datasources.yaml.

Secrets never appear as values: a secret field is the *name* of an environment variable (``password_env``), which
resources read through Dagster's ``EnvVar`` so that neither logs nor the UI ever show the value.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _owner(value: object) -> object:
    text = str(value).strip()
    if not (re.fullmatch(r"team:[A-Za-z0-9_.-]+", text) or re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text)):
        raise ValueError(f"owner {value!r} must be an e-mail address or team:<name> (e.g. team:data)")
    return text


def _time_zone(value: object) -> object:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone; write e.g. UTC, Europe/Berlin, America/New_York")
    return str(value)


Owner = Annotated[str, BeforeValidator(_owner)]
TimeZone = Annotated[str, BeforeValidator(_time_zone)]


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


class RetrySettings(Strict):
    """How a source's loads retry a transient failure (a dropped connection, a timeout): up to ``max_retries`` more
    attempts, waiting ``delay_s`` seconds, doubling each time (with jitter). Permanent errors are never retried."""

    max_retries: Annotated[int, Field(ge=0)] = 3
    delay_s: Annotated[float, Field(ge=0)] = 5.0


class PartitionSettings(Strict):
    """A table landed by time partitions: each partition loads exactly its day or month of ``column``."""

    grain: Literal["daily", "monthly"]
    column: str | None = None
    """The date/timestamp column the periods are cut on; the table's sync cursor when unset."""
    start: date = date(2020, 1, 1)
    """The first partition's day (monthly: its month)."""


def _partition_shorthand(value: object) -> object:
    return {"grain": value} if isinstance(value, str) else value


class CheckSettings(Strict):
    max_null_share: dict[str, float] = Field(default_factory=dict)
    """Column -> highest allowed share of NULLs (0..1)."""
    freshness_hours: float | None = None
    row_count_tolerance: float = 0.5
    """A load whose row count differs from the recent median by more than this share fails the anomaly check."""
    blocking: bool = True
    severity: dict[Literal["null_share", "primary_key_unique", "cursor_freshness", "schema_drift",
                           "row_count_anomaly"], Literal["WARN", "ERROR"]] = Field(default_factory=dict)
    """Check name -> severity of its failure. Defaults: WARN for the statistical checks (NULL share, freshness,
    row count), ERROR for the primary key and schema drift. Only ERROR failures of blocking checks stop downstream."""


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
    partition: Annotated[PartitionSettings, BeforeValidator(_partition_shorthand)] | None = None
    """``daily`` / ``monthly`` or ``{grain, column, start}``: time-partitioned raw asset (see docs/etl-pipeline.md)."""
    column_types: dict[str, str] | None = None
    """Column -> logical type (``int32``, ``decimal(12,2)`` ...) for the recommended DDL; wins over the profile."""
    owners: list[Owner] | None = None
    """Owners of this table's assets; replaces the source's."""


class SourceDefaults(Strict):
    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)
    sync: SyncSettings = SyncSettings()
    batch_size: Annotated[int, Field(gt=0)] = 50_000
    schedule: str | None = None
    """Cron expression for scheduled refreshes of this source."""
    timezone: TimeZone | None = None
    """The IANA time zone the schedule's cron is read in (``Europe/Berlin``); default the top-level ``timezone``."""
    owners: list[Owner] | None = None
    """Owners of this source's assets (e-mail addresses or ``team:<name>``); default the top-level ``owners``."""
    semantic_search: bool = False
    tables: dict[str, TableSettings] = Field(default_factory=dict)
    target: str | None = None
    """Name of the target the raw tables land in; the warehouse when unset."""
    retry: RetrySettings = RetrySettings()


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


_PG_NAME = r"^[a-z_][a-z0-9_]{0,62}$"


class PostgresSource(SourceDefaults, PostgresConnection):
    schema_name: str = Field("public", alias="schema")
    cdc: bool = False
    """Capture changes with Debezium (pgoutput) into Kafka and apply them to replicas ``cdc_<source>.<table>``.
    Turning it off leaves the slot until ``aietl cdc-cleanup`` drops it (the server keeps WAL for a slot)."""
    cdc_kafka: str | None = None
    """The Kafka source (under sources.kafka) whose cluster carries the change events; default: the only one."""
    cdc_topic_prefix: str | None = None
    """Topics are ``<prefix>.<schema>.<table>``; default ``aietl_<source>`` (named like the slot)."""
    cdc_slot: Annotated[str, Field(pattern=_PG_NAME)] | None = None
    """The replication slot; default ``aietl_<source>`` (lower-cased, other characters as ``_``)."""
    cdc_publication: Annotated[str, Field(pattern=_PG_NAME)] | None = None
    """The publication of the captured tables; default the slot's name."""
    cdc_max_seconds: Annotated[float, Field(gt=0)] = 300.0
    """A capture run stops with an error when it has not caught up with the source after this long."""


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


_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
AGGREGATE_FUNCTIONS = ("count", "sum", "avg", "min", "max", "count_distinct")
_AGGREGATE = re.compile(r"^(count|sum|avg|min|max|count_distinct)(?:\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\))?$")
_NAME = r"^[a-z_][a-z0-9_]{0,39}$"
WINDOW_COLUMNS = ("window_start", "window_end", "final", "updated_at")
"""Columns every window table has besides its group-by keys and aggregates."""


def parse_duration(value: object) -> object:
    """``"90s"``, ``"5m"``, ``"1h30m"``, ``"250ms"``, ``"2d"`` or ``0`` as a timedelta."""
    if value == 0 or isinstance(value, timedelta):
        return timedelta(0) if value == 0 else value
    text = str(value).strip().replace(" ", "")
    if not text or _DURATION_PART.sub("", text):
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m, 1h30m, 250ms, 2d")
    return sum((timedelta(**{_DURATION_UNITS[unit]: int(n)}) for n, unit in _DURATION_PART.findall(text)),
               timedelta(0))


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class StreamWindow(Strict):
    """One event-time window of a topic, landed in ``stream_<source>.<topic>__<name>``."""

    name: Annotated[str, Field(pattern=_NAME)]
    event_time: str
    """The JSON field holding the event time (ISO 8601 or epoch seconds)."""
    kind: Literal["tumbling", "hop", "session"]
    size: Duration | None = None
    """Length of tumbling and hop windows."""
    slide: Duration | None = None
    """How far apart hop windows start (at most ``size``)."""
    gap: Duration | None = None
    """Session windows: a key's session ends after this long without events."""
    allowed_lateness: Duration = timedelta(0)
    """The watermark is the largest event time seen minus this; windows ending at or before it are final."""
    max_ahead: Duration = timedelta(days=1)
    """Events whose time is further than this ahead of their Kafka timestamp go to the late table (they would
    otherwise push the watermark forward and close every window)."""
    group_by: list[str] = Field(default_factory=list)
    aggregates: dict[str, str] = Field(min_length=1)
    """Column -> ``count``, ``count(field)``, ``sum(field)``, ``avg(field)``, ``min(field)``, ``max(field)`` or
    ``count_distinct(field)``."""

    @model_validator(mode="after")
    def _consistent(self) -> StreamWindow:
        where = f"window {self.name!r}"
        lengths = {"size": self.size, "slide": self.slide, "gap": self.gap}
        needed = {"tumbling": {"size"}, "hop": {"size", "slide"}, "session": {"gap"}}[self.kind]
        missing = sorted(name for name in needed if lengths[name] is None)
        extra = sorted(name for name, length in lengths.items() if length is not None and name not in needed)
        if missing or extra:
            raise ValueError(f"{where}: a {self.kind} window needs {' and '.join(sorted(needed))}" +
                             (f"; missing {missing}" if missing else "") + (f"; not allowed: {extra}" if extra else ""))
        for name in needed:
            if lengths[name] <= timedelta(0):
                raise ValueError(f"{where}: {name} must be positive, got {lengths[name]}")
        if self.kind == "hop" and self.slide > self.size:
            raise ValueError(f"{where}: slide {self.slide} is longer than size {self.size}, so events between "
                             f"windows would belong to none; use slide <= size")
        if self.allowed_lateness < timedelta(0):
            raise ValueError(f"{where}: allowed_lateness must not be negative")
        taken = {*WINDOW_COLUMNS, *self.group_by}
        for column, expression in self.aggregates.items():
            if not re.match(_NAME, column) or column in taken:
                raise ValueError(f"{where}: aggregate column {column!r} must be a lower-case name not among "
                                 f"{sorted(taken)}")
            match = _AGGREGATE.match(expression.strip())
            if not match:
                raise ValueError(f"{where}: aggregate {column}: {expression!r} is not one of "
                                 f"{', '.join(f + '(field)' for f in AGGREGATE_FUNCTIONS)} or count")
            if match.group(1) != "count" and not match.group(2):
                raise ValueError(f"{where}: aggregate {column}: {match.group(1)} needs a field, e.g. "
                                 f"{match.group(1)}(amount)")
        if len(set(self.group_by)) != len(self.group_by):
            raise ValueError(f"{where}: group_by repeats a field: {self.group_by}")
        return self

    def aggregate_specs(self) -> list[tuple[str, str, str | None]]:
        """(column, function, field or None) per aggregate."""
        return [(column, *_AGGREGATE.match(expression.strip()).groups()) for column, expression in
                self.aggregates.items()]


class StreamJoinSide(Strict):
    topic: str
    key: str
    """The JSON field matched with the other side's key (compared as text)."""
    event_time: str


class StreamJoin(Strict):
    """Events of two topics with equal keys whose event times are at most ``within`` apart, landed in
    ``stream_<source>.<name>`` by the asset ``stream/<source>/<name>``."""

    name: Annotated[str, Field(pattern=_NAME)]
    left: StreamJoinSide
    right: StreamJoinSide
    within: Duration


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
    client: Literal["kafka-python", "confluent-kafka"] = "kafka-python"
    """The client that reads micro-batches: confluent-kafka (librdkafka) is the fast path, with the same offsets,
    exactly-once landing and resets."""
    batch_size: Annotated[int, Field(gt=0)] = 20_000
    """Messages per micro-batch: one transaction of rows + quarantine + offsets; bounds a run's memory."""
    max_run_seconds: Annotated[float, Field(gt=0)] = 60.0
    """A stream run lands micro-batches until the topic is drained or this long has passed."""
    batch_max_wait_s: Annotated[float, Field(gt=0)] = 1.0
    """A micro-batch commits after this long even when not full, so a steady trickle of messages lands within about
    this wait instead of when the batch fills or the topic goes quiet."""
    dead_letter_topic: str | None = "{topic}.dead_letters"
    """Where quarantined messages are also published (``{topic}`` is replaced); null: quarantine table only."""
    on_offsets_reset: Literal["restart", "fail"] = "fail"
    """When stored offsets lie past a partition's end (topic recreated or truncated): land it again from its
    beginning (the earlier rows move to ``<topic>__before_reset``), or fail the run with the reason."""
    windows: dict[str, list[StreamWindow]] = Field(default_factory=dict)
    """Topic -> its event-time windows, updated after each micro-batch lands."""

    joins: list[StreamJoin] = Field(default_factory=list)
    """Time-bounded joins of two topics' events, each its own asset."""
    debezium_topics: list[str] = Field(default_factory=list)
    """Topics of Debezium-format change events (from any producer) applied to replicas ``cdc_<source>.<table>``
    (the table named by the topic's last dot-separated part), each by the asset ``cdc/<source>/<topic>``."""

    @model_validator(mode="after")
    def _joins_of_known_topics(self) -> KafkaSource:
        names = [join.name for join in self.joins]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"join names must be unique; repeated: {repeated}")
        for join in self.joins:
            unknown = sorted({join.left.topic, join.right.topic} - set(self.topics))
            if unknown:
                raise ValueError(f"join {join.name!r}: topic(s) {unknown} are not in topics {self.topics}")
            if join.name in {*self.topics, *(f"{topic}_per_minute" for topic in self.topics)}:
                raise ValueError(f"join {join.name!r}: the name is taken by a topic's table")
            if join.within <= timedelta(0):
                raise ValueError(f"join {join.name!r}: within must be positive, got {join.within}")
        return self

    @model_validator(mode="after")
    def _windows_of_known_topics(self) -> KafkaSource:
        unknown = sorted(set(self.windows) - set(self.topics))
        if unknown:
            raise ValueError(f"windows are declared for topic(s) {unknown} that are not in topics {self.topics}")
        for topic, windows in self.windows.items():
            names = [window.name for window in windows]
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"topic {topic!r}: window names must be unique; repeated: {repeated}")
            if len(f"{topic}__late_events") > 63 or any(len(f"{topic}__{name}") > 63 for name in names):
                raise ValueError(f"topic {topic!r}: <topic>__<window name> must fit PostgreSQL's 63-character "
                                 f"names; shorten the window names")
        return self


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
    owners: list[Owner] = Field(default_factory=list)
    """Owners of every asset whose source or table names none (e-mail addresses or ``team:<name>``)."""
    timezone: TimeZone = "UTC"
    """The time zone of every schedule whose source sets none."""
    automation: bool = True
    """Run the automation sensor (eager assets follow their upstream) by default; it can still be stopped in the UI."""

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
        for name, source in self.sources.postgres.items():
            if source.cdc and source.cdc_kafka and source.cdc_kafka not in self.sources.kafka:
                raise ValueError(f"sources.postgres.{name}.cdc_kafka: {source.cdc_kafka!r} is not a Kafka source; "
                                 f"known: {sorted(self.sources.kafka)}")
            if source.cdc and not source.cdc_kafka and len(self.sources.kafka) > 1:
                raise ValueError(f"sources.postgres.{name}: CDC needs cdc_kafka to choose one of the Kafka sources "
                                 f"{sorted(self.sources.kafka)}")
        return self

    def cdc_kafka(self, source: str) -> str | None:
        """The Kafka source carrying a CDC source's events (None when there is none)."""
        settings = self.sources.postgres[source]
        return settings.cdc_kafka or next(iter(self.sources.kafka), None)

    def all_sources(self) -> dict[str, tuple[str, SourceDefaults]]:
        """Source name -> (source type, its settings)."""
        return {
            name: (kind, settings)
            for kind in Sources.model_fields
            for name, settings in getattr(self.sources, kind).items()
        }
