"""Gather what the health report shows, from the sources, the Kafka offsets, the ingestion log, the Dagster instance,
the warehouse and Qdrant.

Every call that reaches a system runs in a daemon thread and is given up after ``timeout_s`` (the probes of all
sources run side by side, so the whole gathering takes about one timeout at worst); a failure is recorded with its
reason, secrets redacted, and never stops the rest.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg

from etl_assets.catalog import SourceTable
from etl_assets.config.models import DataSources
from etl_assets.keys import source_resource_key
from etl_assets.reports.health import HealthInputs, SourceProbe, StoreSize, TableState, TopicLag
from etl_assets.reports.model import Issue
from etl_assets.reports.quality import CheckOutcome
from resources.postgres.stream_store import open_stream_store
from resources.protocol import error_text

PROBE_TIMEOUT_S = 10.0
HISTORY_LIMIT = 200
"""Loads read per table: enough for the rows-over-time chart, cheap for the store."""
CHECK_EVENTS_SCANNED = 2000
LAG_READ_LIMIT = 10_000
"""Messages read per topic to count its lag; beyond, the lag shows as "at least"."""
SECRET_FIELDS = ("password", "sasl_password", "token", "api_key")
PG_SCHEMA_SIZES = """
SELECT n.nspname AS name, count(*) AS tables, sum(pg_total_relation_size(c.oid))::bigint AS size_bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
GROUP BY n.nspname"""
CH_DATABASE_SIZES = """
SELECT database AS name, count() AS tables, sum(total_bytes) AS size_bytes FROM system.tables
WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') AND NOT is_temporary
GROUP BY database"""


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: str = ""
    seconds: float = 0.0


def run_bounded(calls: Mapping[str, Callable[[], Any]], timeout_s: float,
                secrets: Mapping[str, Sequence[str]] | None = None) -> dict[str, Outcome]:
    """Run ``calls`` side by side; each gives its value, or the reason it failed or did not answer in time."""
    results: dict[str, Outcome] = {}
    started = time.monotonic()

    def work(name: str, call: Callable[[], Any]) -> None:
        begin = time.monotonic()
        try:
            results[name] = Outcome(call(), seconds=time.monotonic() - begin)
        except Exception as error:  # the reason goes into the report; no probe may stop the others
            hidden = (secrets or {}).get(name, ())
            results[name] = Outcome(error=error_text(error, *hidden, whole=True, limit=400),
                                    seconds=time.monotonic() - begin)

    threads = [threading.Thread(target=work, args=(name, call), name=f"aietl-health-{name}", daemon=True)
               for name, call in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(timeout_s - (time.monotonic() - started), 0.0))
    done = dict(results)
    return {name: done.get(name) or Outcome(error=f"no answer within {timeout_s:g} s", seconds=timeout_s)
            for name in calls}


def secrets_of(resource: Any) -> list[str]:
    """The secret values a resource holds (an ``EnvVar`` not yet resolved holds only a variable's name)."""
    return [value for name in SECRET_FIELDS
            if isinstance(value := getattr(resource, name, None), str) and value and not isinstance(value, dg.EnvVar)]


def unset_variables(resource: Any) -> list[str]:
    """The environment variables a resource (or a resource nested in it) reads that are not set."""
    unset = []
    for _, value in resource:
        if isinstance(value, dg.EnvVar) and value.env_var_name not in os.environ:
            unset.append(value.env_var_name)
        elif isinstance(value, dg.ConfigurableResource):
            unset.extend(unset_variables(value))
    return sorted(set(unset))


# ------------------------------------------------------------------------------------------------------- probes

def probe(kind: str, resource: Any, tables: Sequence[str], timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """Ask a source for the cheapest real answer; returns what it said, raises when it cannot be reached.

    A Kafka client waits up to its bootstrap timeout; the probe asks for less than ``timeout_s`` so that
    a broker that is down is reported with its reason rather than as not answering."""
    if kind in ("postgres", "clickhouse", "ydb"):
        if kind == "clickhouse":
            resource.query_arrow("SELECT 1")
        else:
            resource.execute("SELECT 1")
        return "answered SELECT 1"
    if kind == "files":
        return _probe_files(resource, tables)
    if kind == "kafka":
        with resource.open_consumer(bootstrap_timeout_ms=max(500, int(timeout_s * 600))) as consumer:
            present = consumer.topics()
        missing = sorted(set(tables) - present)
        if missing:
            raise LookupError(f"{resource.label}: topic(s) {', '.join(missing)} do not exist")
        return f"broker answered; {len(tables)} topic(s) present"
    raise ValueError(f"no probe for sources of kind {kind!r}")


def _probe_files(resource: Any, tables: Sequence[str]) -> str:
    directory = resource.directory()
    empty = [table for table in tables if not resource.files_for(table)]
    if empty:
        raise FileNotFoundError(f"files source {resource.source_name!r}: no file for table(s) {', '.join(empty)} "
                                f"under {directory}")
    return f"{len(tables)} table(s) have files under {directory}"


def probe_sources(datasources: DataSources, tables: Sequence[SourceTable], resources: Any,
                  timeout_s: float = PROBE_TIMEOUT_S, unavailable: Mapping[str, str] | None = None
                  ) -> list[SourceProbe]:
    """Probe every configured source; ``unavailable`` gives, by resource key, why a resource could not be built."""
    names = _source_tables(datasources, tables)
    kinds = {name: kind for name, (kind, _) in datasources.all_sources().items()}
    calls, secrets, missing = {}, {}, {}
    for name, kind in kinds.items():
        key = source_resource_key(name)
        resource = getattr(resources, key, None)
        if resource is None:
            missing[name] = (unavailable or {}).get(key) or f"no resource {key!r} configured"
            continue
        calls[name] = lambda kind=kind, resource=resource, name=name: probe(kind, resource, names[name], timeout_s)
        secrets[name] = secrets_of(resource)
    outcomes = run_bounded(calls, timeout_s, secrets)
    return [SourceProbe(name, kinds[name], False, missing[name]) if name in missing else
            SourceProbe(name, kinds[name], not outcomes[name].error, outcomes[name].error or outcomes[name].value,
                        outcomes[name].seconds)
            for name in kinds]


def _source_tables(datasources: DataSources, tables: Sequence[SourceTable]) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {name: [] for name in datasources.all_sources()}
    for table in tables:
        names.setdefault(table.source, []).append(table.name)
    for name, settings in datasources.sources.kafka.items():
        names[name] = list(settings.topics)
    return names


# ------------------------------------------------------------------------------------------------------ kafka lag

def kafka_lags(datasources: DataSources, resources: Any, reachable: set[str],
               timeout_s: float = PROBE_TIMEOUT_S) -> list[TopicLag]:
    """Per topic: the broker's end offsets and the offsets landed in the warehouse (read side by side)."""
    warehouse = getattr(resources, "warehouse", None)
    calls, secrets = {}, {}
    for source, settings in datasources.sources.kafka.items():
        kafka = getattr(resources, source_resource_key(source), None)
        if source not in reachable or kafka is None:
            continue
        for topic in settings.topics:
            calls[f"{source}/{topic}"] = lambda kafka=kafka, source=source, topic=topic: _topic_lag(
                kafka, warehouse, source, topic, timeout_s / 2)
            secrets[f"{source}/{topic}"] = [*secrets_of(kafka), *secrets_of(warehouse)]
    outcomes = run_bounded(calls, timeout_s, secrets)
    lags = []
    for source, settings in datasources.sources.kafka.items():
        for topic in settings.topics:
            outcome = outcomes.get(f"{source}/{topic}")
            if outcome is None:
                lags.append(TopicLag(source, topic, error="the source is unreachable"))
            elif outcome.error:
                lags.append(TopicLag(source, topic, error=outcome.error))
            else:
                lags.append(outcome.value)
    return lags


def _topic_lag(kafka: Any, warehouse: Any, source: str, topic: str, read_seconds: float) -> TopicLag:
    """End offsets alone may under-report (Tansu), so the messages past the landed offsets are also counted by
    reading them, up to LAG_READ_LIMIT messages or ``read_seconds``."""
    landed = _landed_offsets(warehouse, source, topic)
    ends = kafka.end_offsets(topic)
    batch = kafka.read_batch(topic, landed, max_messages=LAG_READ_LIMIT, max_seconds=read_seconds)
    return TopicLag(source, topic, ends, landed, read=len(batch.messages), drained=batch.drained)


def _landed_offsets(warehouse: Any, source: str, topic: str) -> dict[int, int]:
    if warehouse is None or getattr(warehouse, "dialect", "") != "postgres":
        return {}
    with open_stream_store(warehouse, source) as store:
        return store.read_offsets(topic)


# ----------------------------------------------------------------------------------------------- ingestion log

def table_states(datasources: DataSources, tables: Sequence[SourceTable],
                 metadata: Any) -> tuple[list[TableState], list[Issue]]:
    """Every catalog table and Kafka topic with its ingestion log and last profiled row count."""
    sources = datasources.all_sources()
    wanted = [(t.source, t.name, t.kind, t.checks.freshness_hours) for t in tables]
    wanted += [(source, topic, "kafka", None) for source, settings in datasources.sources.kafka.items()
               for topic in settings.topics]
    history = getattr(metadata, "ingestion_history", None)
    notes: list[Issue] = []
    if history is None:
        notes.append(Issue("warn", "the ingestion log is not configured (no 'metadata' resource): last syncs are "
                                   "unknown"))
    states = []
    for source, table, kind, freshness in wanted:
        loads, rows = None, None
        if history is not None and not notes:
            try:
                loads = history(source, table, limit=HISTORY_LIMIT)
                counts = metadata.previous_row_counts(source, table, limit=1) if kind != "kafka" else []
                rows = counts[0] if counts else None
            except Exception as error:  # the store being down makes syncs unknown, not the report impossible
                notes.append(Issue("warn", f"the ingestion log could not be read: "
                                           f"{error_text(error, *secrets_of(metadata.postgres), whole=True)}"))
                loads = None
        schedule = sources[source][1].schedule if source in sources else None
        states.append(TableState(source, table, kind, schedule, freshness, loads, rows))
    return states, notes


# ------------------------------------------------------------------------------------------------------ checks

def latest_check_outcomes(instance: dg.DagsterInstance, check_keys: Sequence[dg.AssetCheckKey],
                          tables: Sequence[tuple[str, str]] | None = None) -> list[CheckOutcome]:
    """The last completed result of every check in ``check_keys`` on a ``<layer>/S/T`` asset (of ``tables``, given
    as key components, when given), by asset and check name."""
    wanted = None if tables is None else set(tables)
    keys = [key for key in check_keys if len(key.asset_key.path) == 3
            and (wanted is None or tuple(key.asset_key.path[1:]) in wanted)]
    if not keys:
        return []
    summaries = instance.event_log_storage.get_asset_check_summary_records(keys)
    outcomes = []
    for key in sorted(keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        summary = summaries.get(key)
        record = summary.last_completed_check_execution_record if summary else None
        evaluation = record.event.dagster_event.event_specific_data if record and record.event else None
        if isinstance(evaluation, dg.AssetCheckEvaluation):
            _, source, table = key.asset_key.path
            outcomes.append(CheckOutcome(
                source=source, table=table, asset=key.asset_key.to_user_string(), name=key.name,
                passed=evaluation.passed, severity=evaluation.severity.value, description=evaluation.description or "",
            ))
    return outcomes


def recent_check_keys(instance: dg.DagsterInstance, limit: int = CHECK_EVENTS_SCANNED) -> list[dg.AssetCheckKey]:
    """The checks evaluated among the instance's latest ``limit`` check results, for callers without the code
    location's asset graph (``aietl status``: loading every definition takes longer than the probes)."""
    from dagster._core.events import DagsterEventType

    records = instance.event_log_storage.get_event_records(
        dg.EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION), limit=limit, ascending=False)
    keys = {record.event_log_entry.dagster_event.event_specific_data.asset_check_key for record in records
            if record.event_log_entry.dagster_event is not None}
    return sorted(keys, key=lambda k: (k.asset_key.to_user_string(), k.name))


# ------------------------------------------------------------------------------------------------------- sizes

def storage_sizes(resources: Any, timeout_s: float = PROBE_TIMEOUT_S) -> tuple[list[StoreSize], list[Issue]]:
    """Sizes of the warehouse's schemas (ClickHouse: databases) and of the Qdrant collections."""
    warehouse = getattr(resources, "warehouse", None)
    qdrant = getattr(resources, "qdrant", None)
    calls: dict[str, Callable[[], list[StoreSize]]] = {}
    if warehouse is not None:
        calls["warehouse"] = lambda: _warehouse_sizes(warehouse)
    if qdrant is not None:
        calls["qdrant"] = lambda: _qdrant_sizes(qdrant)
    outcomes = run_bounded(calls, timeout_s, {"warehouse": secrets_of(warehouse), "qdrant": secrets_of(qdrant)})
    sizes, notes = [], []
    for name, outcome in outcomes.items():
        if outcome.error:
            notes.append(Issue("warn", f"the {name} sizes could not be read: {outcome.error}"))
        else:
            sizes.extend(outcome.value)
    return sizes, notes


def _warehouse_sizes(warehouse: Any) -> list[StoreSize]:
    statement = CH_DATABASE_SIZES if warehouse.dialect == "clickhouse" else PG_SCHEMA_SIZES
    return [StoreSize("warehouse", str(row["name"]), _int(row["size_bytes"]), _int(row["tables"]))
            for row in warehouse.query_arrow(statement).to_pylist()]


def _qdrant_sizes(qdrant: Any) -> list[StoreSize]:
    with qdrant.open() as client:
        names = sorted(c.name for c in client.get_collections().collections)
        points = {name: client.get_collection(name).points_count for name in names}
    return [StoreSize("qdrant", name, _local_size(qdrant, name), points[name]) for name in names]


def _local_size(qdrant: Any, collection: str) -> int | None:
    """Bytes under a local-mode collection's directory; None for a server (it does not report disk use)."""
    if not qdrant.path:
        return None
    directory = Path(qdrant.path) / "collection" / collection
    return sum(os.path.getsize(Path(root) / name) for root, _, files in os.walk(directory) for name in files)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


# ------------------------------------------------------------------------------------------------------- all

def collect_health(datasources: DataSources, tables: Sequence[SourceTable], resources: Any,
                   instance: dg.DagsterInstance | None, check_keys: Sequence[dg.AssetCheckKey],
                   timeout_s: float = PROBE_TIMEOUT_S, unavailable: Mapping[str, str] | None = None
                   ) -> HealthInputs:
    """Everything the report shows. ``resources`` has the configured resources as attributes (a Dagster context's
    ``resources``, or :func:`open_resources`); missing ones are reported, not required."""
    probes = probe_sources(datasources, tables, resources, timeout_s, unavailable)
    states, notes = table_states(datasources, tables, getattr(resources, "metadata", None))
    notes = [*(Issue("warn", f"resource {key}: {reason}") for key, reason in (unavailable or {}).items()
               if not key.startswith("source_")), *notes]
    lags = kafka_lags(datasources, resources, {p.source for p in probes if p.reachable}, timeout_s)
    sizes, size_notes = storage_sizes(resources, timeout_s)
    checks = latest_check_outcomes(instance, check_keys) if instance is not None else []
    if instance is None:
        notes.append(Issue("warn", "no Dagster instance: asset check results are unknown"))
    return HealthInputs(probes=probes, tables=states, lags=lags, checks=checks, sizes=sizes,
                        notes=[*notes, *size_notes])


@contextmanager
def open_resources(datasources: DataSources) -> Iterator[tuple[SimpleNamespace, dict[str, str]]]:
    """The resources the health report reads, initialized one by one outside Dagster's runs (as ``aietl status``
    needs them), and by key the reason each one that could not be built failed (e.g. a secret's variable unset)."""
    from etl_assets.wiring import build_resources

    wanted = {"metadata", "warehouse", "qdrant", *(source_resource_key(name) for name in datasources.all_sources())}
    configured = {key: value for key, value in build_resources(datasources).items() if key in wanted}
    opened, failed = SimpleNamespace(), {}
    with ExitStack() as stack:
        for key, resource in configured.items():
            unset = unset_variables(resource)
            if unset:
                failed[key] = f"environment variable(s) {', '.join(unset)} not set"
                continue
            try:
                setattr(opened, key, getattr(stack.enter_context(dg.build_resources({key: resource})), key))
            except Exception as error:  # reported per source, like an unreachable one
                failed[key] = error_text(error, *secrets_of(resource), whole=True, limit=400)
        yield opened, failed
