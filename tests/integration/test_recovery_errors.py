"""Which failures are worth a retry (issue 11, point 7), decided on the errors the real systems raise."""

from __future__ import annotations

import psycopg
import pytest

from resources.files import FilesResource, FileTable
from resources.postgres import PostgresResource
from resources.protocol import PermanentError, is_transient

pytestmark = pytest.mark.integration


def raised(action) -> BaseException:
    try:
        action()
    except BaseException as error:  # noqa: BLE001 - the error is what the test looks at
        return error
    raise AssertionError("nothing was raised")


def connect(resource: PostgresResource) -> None:
    with resource.connect() as connection:
        connection.execute("SELECT 1")


def test_deterministic_failures_are_not_retried(pg_dsn, tmp_path):
    wrong_password = PostgresResource.from_dsn(pg_dsn, password="not-the-password")
    missing_file = FilesResource(path=str(tmp_path), source_name="s", tables={"t": FileTable(file="gone.csv")})
    missing_dir = FilesResource(path=str(tmp_path / "nope"), source_name="s")
    unknown_database = PostgresResource.from_dsn(pg_dsn, database="no_such_database")
    failures = {
        "wrong password": raised(lambda: connect(wrong_password)),
        "unknown database": raised(lambda: connect(unknown_database)),
        "unknown table": raised(lambda: PostgresResource.from_dsn(pg_dsn).execute("SELECT * FROM no_such_table")),
        "missing file": raised(lambda: list(missing_file.read(missing_file.discover_table("t")))),
        "missing directory": raised(lambda: missing_dir.discover()),
        "permanent": PermanentError("invalid config"),
    }
    assert {name: is_transient(error) for name, error in failures.items()} == dict.fromkeys(failures, False)


def test_transient_failures_are_retried(pg_dsn):
    refused = PostgresResource.from_dsn(pg_dsn, port=1, connect_timeout_s=2)
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE counter (n int)")
        connection.execute("INSERT INTO counter VALUES (0)")
    with psycopg.connect(pg_dsn) as first, psycopg.connect(pg_dsn) as second:
        for connection in (first, second):
            connection.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            connection.execute("SELECT n FROM counter").fetchall()
        first.execute("UPDATE counter SET n = n + 1")
        first.commit()
        serialization = raised(lambda: second.execute("UPDATE counter SET n = n + 1"))
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute("SET statement_timeout = '50ms'")
        timeout = raised(lambda: connection.execute("SELECT pg_sleep(2)"))
    failures = {"connection refused": raised(lambda: connect(refused)), "serialization failure": serialization,
                "statement timeout": timeout, "timeout": TimeoutError("read timed out")}
    assert {name: is_transient(error) for name, error in failures.items()} == dict.fromkeys(failures, True)
