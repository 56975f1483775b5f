"""The embedded default as one unit: PostgreSQL, the Tansu broker, and the sample data loaded into them.

The chdb engine and Qdrant local mode need no server: they open their data paths (under the same state directory)
in the process that uses them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from resources.embedded.kafka import EmbeddedKafka
from resources.embedded.postgres import EmbeddedPostgres

DEFAULT_PG_PORT = 54329
DEFAULT_KAFKA_PORT = 19092
EMBEDDED_PASSWORD = "aietl"
DATABASES = ("warehouse", "shop")


@dataclass
class EmbeddedStack:
    home: Path
    pg_port: int = field(default_factory=lambda: int(os.environ.get("AIETL_PG_PORT", DEFAULT_PG_PORT)))
    kafka_port: int = field(default_factory=lambda: int(os.environ.get("AIETL_KAFKA_PORT", DEFAULT_KAFKA_PORT)))

    def __post_init__(self) -> None:
        self.postgres = EmbeddedPostgres(self.home / "postgres", self.pg_port, password=EMBEDDED_PASSWORD)
        self.kafka = EmbeddedKafka(self.kafka_port, self.home / "logs" / "tansu.log")

    def environment(self) -> dict[str, str]:
        """What datasources.yaml reads to find the embedded services."""
        return {
            "AIETL_PG_HOST": "127.0.0.1", "AIETL_PG_PORT": str(self.pg_port), "AIETL_PG_USER": self.postgres.user,
            "AIETL_PG_PASSWORD": EMBEDDED_PASSWORD, "AIETL_PG_SSLMODE": "disable",
            "AIETL_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
        }

    def start(self) -> EmbeddedStack:
        self.postgres.start()
        for database in DATABASES:
            self.postgres.create_database(database)
        try:
            self.kafka.start()
        except Exception:
            self.postgres.stop()
            raise
        return self

    def stop(self) -> None:
        self.kafka.stop()
        self.postgres.stop()


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
