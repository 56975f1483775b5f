"""Real services for the tests: PostgreSQL, the Tansu Kafka-protocol broker and the chdb engine.

PostgreSQL is the server named by ``AIETL_TEST_PG_DSN`` (``make test`` starts Debian's PostgreSQL and sets it);
without it, an embedded PostgreSQL is started for the session. Every test that asks for ``pg_dsn`` gets a database
of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from resources.embedded import EmbeddedKafka, EmbeddedPostgres
from resources.embedded.kafka import free_port
from tests.support.llm_stub import ChatStub
from tests.support.llm_stub import chat_stub as serve_chat_stub


class PostgresServer:
    def __init__(self, admin_dsn: str):
        self.admin_dsn = admin_dsn

    def dsn(self, database: str) -> str:
        return psycopg.conninfo.make_conninfo(self.admin_dsn, dbname=database)

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    configured = os.environ.get("AIETL_TEST_PG_DSN")
    if configured:
        yield PostgresServer(configured)
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), port=free_port()).start()
    try:
        yield PostgresServer(embedded.dsn())
    finally:
        embedded.stop()


@pytest.fixture
def pg_dsn(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for this test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield pg_server.create_database(name)
    pg_server.drop_database(name)


@pytest.fixture(params=["kafka-python", "confluent-kafka"])
def kafka_client(request: pytest.FixtureRequest) -> str:
    """Each client the Kafka resource reads micro-batches with: a test taking this runs once per client."""
    return request.param


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("AIETL_TEST_KAFKA_BOOTSTRAP")
    if configured:
        yield configured
        return
    broker = EmbeddedKafka(free_port(), tmp_path_factory.mktemp("kafka") / "tansu.log").start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def chat_stub() -> Iterator[tuple[str, ChatStub]]:
    """A running OpenAI-compatible chat-completions stub: its base URL and the stub (set ``reply``, read ``requests``)."""
    with serve_chat_stub() as stub:
        yield stub.url, stub


@pytest.fixture
def chdb_path(tmp_path: Path) -> str:
    """A fresh data path for the in-process ClickHouse engine (one process may hold a path at a time)."""
    return str(tmp_path / "chdb")


@pytest.fixture
def sample_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "data" / "sample"
