"""The embedded default as one unit: PostgreSQL, the Tansu broker, and the sample data loaded into them.

The chdb engine and Qdrant local mode need no server: they open their data paths (under the same state directory)
in the process that uses them. One process at a time owns a state directory (:mod:`resources.embedded.lock`): a
second ``aietl demo``/``ui`` on it stops at once with one line naming the owner, and touches none of its services.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from resources.embedded.kafka import EmbeddedKafka, port_open
from resources.embedded.lock import StateLock
from resources.embedded.postgres import EmbeddedPostgres

DEFAULT_PG_PORT = 54329
DEFAULT_KAFKA_PORT = 19092
EMBEDDED_PASSWORD = "aietl"
DATABASES = ("warehouse", "shop")


class PortInUseError(RuntimeError):
    """A port the embedded default needs is taken by another program; the message names it and the env var."""


@dataclass
class EmbeddedStack:
    home: Path
    pg_port: int = field(default_factory=lambda: int(os.environ.get("AIETL_PG_PORT", DEFAULT_PG_PORT)))
    kafka_port: int = field(default_factory=lambda: int(os.environ.get("AIETL_KAFKA_PORT", DEFAULT_KAFKA_PORT)))

    def __post_init__(self) -> None:
        self.postgres = EmbeddedPostgres(self.home / "postgres", self.pg_port, password=EMBEDDED_PASSWORD)
        self.kafka = EmbeddedKafka(self.kafka_port, self.home / "logs" / "tansu.log")
        self.lock = StateLock(self.home)
        self._started: list[str] = []

    def environment(self) -> dict[str, str]:
        """What datasources.yaml reads to find the embedded services."""
        return {
            "AIETL_PG_HOST": "127.0.0.1", "AIETL_PG_PORT": str(self.pg_port), "AIETL_PG_USER": self.postgres.user,
            "AIETL_PG_PASSWORD": EMBEDDED_PASSWORD, "AIETL_PG_SSLMODE": "disable",
            "AIETL_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
        }

    def start(self) -> EmbeddedStack:
        """Take the state directory, check the ports, then start; on any failure, stop only what this call started.

        A server still running on this directory once the lock is taken was left by a process that died: it is
        this directory's, so it is reused and stopped at the end like one started here.
        """
        self.lock.acquire()
        try:
            self._check_ports()
            self._started.append("postgres")
            self.postgres.start()
            for database in DATABASES:
                self.postgres.create_database(database)
            self.kafka.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop what :meth:`start` started (the broker object only ever stops its own process), then give the state
        directory up."""
        try:
            self.kafka.stop()
            if "postgres" in self._started:
                self.postgres.stop()
        finally:
            self._started.clear()
            self.lock.release()

    def _check_ports(self) -> None:
        busy = [(port, env, what) for port, env, what, ours in (
            (self.pg_port, "AIETL_PG_PORT", "PostgreSQL", self.postgres.is_running()),
            (self.kafka_port, "AIETL_KAFKA_PORT", "the Kafka broker", False)) if not ours and port_open(port)]
        if busy:
            port, env, what = busy[0]
            raise PortInUseError(f"port {port} (for {what} of the embedded default) is already in use by another "
                                 f"program; stop it or set {env} to a free port")


def run_sql_file(dsn: str, sql_file: Path) -> None:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql_file.read_text(encoding="utf-8"))


def run_clickhouse_file(client, sql_file: Path) -> None:
    """Run each statement of a ClickHouse SQL file (statements end with ';' at the end of a line)."""
    text = "\n".join(line for line in sql_file.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("--"))
    for statement in (part.strip() for part in text.split(";\n")):
        if statement.strip(" ;\n"):
            client.command(statement.rstrip(";"))
