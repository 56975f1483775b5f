"""Connections to PostgreSQL: the libpq connection string (keepalives, timeouts), and every failure to reach the
server turned into a :class:`SourceUnavailableError` whose message names the database and never the password."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from resources.protocol import SourceUnavailableError

TCP_USER_TIMEOUT_MS = 120_000
SERVER_GONE = (psycopg.errors.AdminShutdown, psycopg.errors.CrashShutdown, psycopg.errors.CannotConnectNow,
               psycopg.errors.ConnectionException)
"""Errors that mean the server went away, whatever state the connection object reports."""


def make_conninfo(*, host: str, port: int, database: str, user: str, password: str, sslmode: str,
                  connect_timeout_s: int, application_name: str) -> str:
    return psycopg.conninfo.make_conninfo(
        host=host, port=port, dbname=database, user=user, password=password or None, sslmode=sslmode,
        connect_timeout=connect_timeout_s, application_name=application_name,
        keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3,
        tcp_user_timeout=TCP_USER_TIMEOUT_MS,
    )


def redact(error: BaseException, password: str) -> str:
    """The first line of the error's message, with the password masked."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return message.replace(password, "***") if password else message


def server_gone(connection: psycopg.Connection, error: BaseException) -> bool:
    return connection.broken or isinstance(error, SERVER_GONE)


@contextmanager
def connect(conninfo: str, label: str, password: str, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A psycopg 3 connection (committed on success, rolled back on error, then closed); failing to connect or
    losing the server raises :class:`SourceUnavailableError` prefixed with ``label``."""
    try:
        connection = psycopg.connect(conninfo, autocommit=autocommit)
    except psycopg.OperationalError as error:
        raise SourceUnavailableError(f"{label}: cannot connect: {redact(error, password)}") from None
    try:
        with connection:
            yield connection
    except psycopg.OperationalError as error:
        if server_gone(connection, error):
            raise SourceUnavailableError(f"{label}: connection lost: {redact(error, password)}") from None
        raise
