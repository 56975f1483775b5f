"""Change data capture of a PostgreSQL source: its publication and replication slot, and runs of the Debezium engine
(in a child process, see :mod:`resources.debezium.engine`) that publish the changes to Kafka topics
``<topic prefix>.<schema>.<table>`` in Debezium's JSON format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from resources.debezium.engine import MARKER_PREFIX, PASSWORD_ENV
from resources.kafka import KafkaResource
from resources.postgres import PostgresResource
from resources.postgres import sql as statements
from resources.protocol import SourceUnavailableError, redact

ENGINE_START_SLACK_S = 90
"""Time allowed beyond a run's limit for the JVM to start and the engine to stop."""


class ReplicaIdentityError(ValueError):
    """A captured table gives no key to apply its updates and deletes by."""


@dataclass(frozen=True)
class CdcNames:
    """What a source's capture is called in PostgreSQL and Kafka."""

    slot: str
    publication: str
    topic_prefix: str

    def topic(self, schema: str, table: str) -> str:
        return f"{self.topic_prefix}.{schema}.{table}"


@dataclass
class CaptureResult:
    published: dict[str, int] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    publish_seconds: float = 0.0
    """Time the engine spent publishing to Kafka (the rest of a run is the JVM start and Debezium itself)."""

    @property
    def events(self) -> int:
        return sum(self.published.values())


_KEY_STATE = """
SELECT c.relname, c.relreplident,
       EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_primary_key
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p')
"""


def check_keys(connection: psycopg.Connection, schema: str, tables: Sequence[str],
               declared_keys: dict[str, list[str]]) -> None:
    """Every table must exist and have a primary key, or REPLICA IDENTITY FULL and a key declared in config."""
    found = {name: (identity, has_pk) for name, identity, has_pk in
             connection.execute(_KEY_STATE, (schema, list(tables))).fetchall()}
    for table in tables:
        if table not in found:
            raise ReplicaIdentityError(f"CDC table {schema}.{table} does not exist in the source")
        identity, has_pk = found[table]
        if has_pk:
            continue
        if identity == "f" and declared_keys.get(table):
            continue
        raise ReplicaIdentityError(
            f"CDC table {schema}.{table} has no primary key, so its updates and deletes cannot be applied to a "
            f"replica: add a primary key, or set REPLICA IDENTITY FULL on it and declare its key columns under "
            f"tables.{table}.primary_key")


def prepare(connection: psycopg.Connection, names: CdcNames, schema: str, tables: Sequence[str]) -> list[str]:
    """Create (or re-point) the publication of ``tables`` and create the pgoutput slot; returns what was created."""
    created = []
    listed = sql.SQL(", ").join(sql.Identifier(schema, table) for table in tables)
    if publication_exists(connection, names.publication):
        connection.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(
            sql.Identifier(names.publication), listed))
    else:
        connection.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
            sql.Identifier(names.publication), listed))
        created.append(f"publication {names.publication}")
    if not slot_exists(connection, names.slot):
        connection.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (names.slot,))
        created.append(f"slot {names.slot}")
    return created


def slot_exists(connection: psycopg.Connection, slot: str) -> bool:
    return connection.execute("SELECT FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone() is not None


@dataclass(frozen=True)
class SlotState:
    exists: bool
    busy: bool = False
    pending: bool = False
    confirmed: str | None = None
    """The slot's confirmed flush position (what Debezium has acknowledged)."""


def pending_changes(connection: psycopg.Connection, names: CdcNames, timeout_s: float) -> SlotState:
    """Whether the slot holds a change of the publication not yet acknowledged (peeks one; consumes nothing)."""
    row = connection.execute("SELECT active, confirmed_flush_lsn::text FROM pg_replication_slots "
                             "WHERE slot_name = %s", (names.slot,)).fetchone()
    if row is None:
        return SlotState(exists=False)
    active, confirmed = row
    if active:
        return SlotState(exists=True, busy=True, confirmed=confirmed)
    with connection.transaction():
        connection.execute(statements.set_statement_timeout(timeout_s))
        peeked = connection.execute(
            "SELECT count(*) FROM pg_logical_slot_peek_binary_changes(%s, NULL, 1, 'proto_version', '1', "
            "'publication_names', %s)", (names.slot, names.publication)).fetchone()[0]
    return SlotState(exists=True, pending=peeked > 0, confirmed=confirmed)


def publication_exists(connection: psycopg.Connection, publication: str) -> bool:
    return connection.execute("SELECT FROM pg_publication WHERE pubname = %s", (publication,)).fetchone() is not None


def drop(connection: psycopg.Connection, names: CdcNames) -> list[str]:
    """Drop the slot (so the server stops keeping WAL for it) and the publication; returns what was dropped."""
    dropped = []
    active = connection.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s AND active",
                                (names.slot,)).fetchone()
    if active:
        connection.execute("SELECT pg_terminate_backend(%s)", (active[0],))
    if slot_exists(connection, names.slot):
        connection.execute("SELECT pg_drop_replication_slot(%s)", (names.slot,))
        dropped.append(f"slot {names.slot}")
    if publication_exists(connection, names.publication):
        connection.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(names.publication)))
        dropped.append(f"publication {names.publication}")
    return dropped


def debezium_properties(source: PostgresResource, names: CdcNames, schema: str, tables: Sequence[str],
                        offsets_file: Path, declared_keys: dict[str, list[str]] | None = None) -> dict[str, str]:
    """The connector's settings (without the password, which the engine process reads from its environment).
    Tables keyed in config (REPLICA IDENTITY FULL, no primary key) get their message key from those columns."""
    keyed = ";".join(f"{schema}.{table}:{','.join(columns)}" for table, columns in (declared_keys or {}).items()
                     if table in tables and columns)
    return {**({"message.key.columns": keyed} if keyed else {}),
        "name": names.slot,
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": source.host, "database.port": str(source.port), "database.user": source.user,
        "database.dbname": source.database, "database.sslmode": source.sslmode,
        "database.connectionTimeZone": "UTC",
        "topic.prefix": names.topic_prefix,
        "plugin.name": "pgoutput", "slot.name": names.slot, "publication.name": names.publication,
        "publication.autocreate.mode": "disabled", "slot.drop.on.stop": "false",
        "table.include.list": ",".join(f"{schema}.{table}" for table in tables),
        "snapshot.mode": "initial",
        "message.prefix.include.list": MARKER_PREFIX,
        "tombstones.on.delete": "false",
        "decimal.handling.mode": "string",
        "time.precision.mode": "isostring",
        "interval.handling.mode": "string",
        "binary.handling.mode": "hex",
        "converter.schemas.enable": "false",
        "offset.storage": "org.apache.kafka.connect.storage.FileOffsetBackingStore",
        "offset.storage.file.filename": str(offsets_file),
        "offset.flush.interval.ms": "0",
        "max.batch.size": "8192",
        "max.queue.size": "32768",
        "poll.interval.ms": "100",
        "status.update.interval.ms": "1000",
    }


def run_capture(source: PostgresResource, kafka: KafkaResource, names: CdcNames, tables: Sequence[str],
                declared_keys: dict[str, list[str]], offsets_file: Path, max_seconds: float) -> CaptureResult:
    """Prepare the publication and slot, then run the engine until every change committed before the run was
    published (or fail naming why). Offsets are kept in ``offsets_file`` (Debezium's own file store)."""
    schema = source.schema_name
    with source.connect(autocommit=True) as connection:
        check_keys(connection, schema, tables, declared_keys)
        created = prepare(connection, names, schema, tables)
    offsets_file.parent.mkdir(parents=True, exist_ok=True)
    job = {
        "properties": debezium_properties(source, names, schema, tables, offsets_file, declared_keys),
        "kafka": kafka.connection_config(), "kafka_timeout_s": kafka.request_timeout_ms / 1000,
        "token": uuid.uuid4().hex, "max_seconds": max_seconds, "conninfo": _conninfo_without_password(source),
    }
    env = {**os.environ, PASSWORD_ENV: source.password, "PGPASSWORD": source.password}
    log_dir = offsets_file.parent / "engine"
    log_dir.mkdir(exist_ok=True)
    try:
        done = subprocess.run([sys.executable, "-m", "resources.debezium.engine"], input=json.dumps(job),
                              capture_output=True, text=True, env=env, cwd=log_dir,
                              timeout=max_seconds + ENGINE_START_SLACK_S)
    except subprocess.TimeoutExpired:
        raise SourceUnavailableError(f"{source.label}: the Debezium engine did not stop within "
                                     f"{max_seconds + ENGINE_START_SLACK_S:.0f} s; its log is in {log_dir}") from None
    summary = _summary(done.stdout)
    if summary is None or not summary.get("caught_up"):
        reason = (summary or {}).get("error") or _tail(done.stderr)
        raise SourceUnavailableError(f"{source.label}: CDC capture failed: {redact(reason, source.password)} "
                                     f"(engine log in {log_dir})")
    return CaptureResult(published=summary["published"], created=created,
                         publish_seconds=summary.get("handler_seconds", 0.0))


def _conninfo_without_password(source: PostgresResource) -> str:
    parts = psycopg.conninfo.conninfo_to_dict(source.conninfo())
    parts.pop("password", None)
    return psycopg.conninfo.make_conninfo(**parts)


def _summary(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "no output"
