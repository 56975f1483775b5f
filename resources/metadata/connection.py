"""The connection the metadata store shares within a session, a Dagster run or a sensor tick."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

import psycopg

from resources.metadata import sql
from resources.postgres import PostgresResource
from resources.protocol import SourceUnavailableError

IDLE_CHECK_S = 2.0
"""A shared connection idle for longer is checked with a round trip before reuse (the server may have dropped it)."""


class SharedConnection:
    """One autocommit connection, opened on first use and closed by :meth:`close`.

    It is held through :meth:`PostgresResource.connect`, so its timeouts apply, and an error that breaks it goes
    through that context manager too: the caller sees the same ``SourceUnavailableError`` (password redacted) as with
    a connection of its own, and the next use opens a new connection.
    """

    def __init__(self, postgres: PostgresResource):
        self.postgres = postgres
        self.lock = threading.RLock()
        self._scope: ExitStack | None = None
        self._connection: psycopg.Connection | None = None
        self._last_used = 0.0

    @contextmanager
    def use(self) -> Iterator[psycopg.Connection]:
        with self.lock:
            connection = self._open()
            try:
                yield connection
            except BaseException:
                if not _reusable(connection):
                    self._discard(sys.exc_info())
                raise
            finally:
                self._last_used = time.monotonic()

    def close(self) -> None:
        """Close the connection; one the server already dropped is simply forgotten."""
        with self.lock:
            if self._scope is not None:
                scope, self._scope, self._connection = self._scope, None, None
                with suppress(psycopg.Error, SourceUnavailableError):
                    scope.close()

    def _open(self) -> psycopg.Connection:
        if self._connection is not None and not self._alive(self._connection):
            self.close()
        if self._connection is None:
            scope = ExitStack()
            self._connection = scope.enter_context(self.postgres.connect(autocommit=True))
            self._scope = scope
        return self._connection

    def _alive(self, connection: psycopg.Connection) -> bool:
        if not _reusable(connection):
            return False
        if time.monotonic() - self._last_used < IDLE_CHECK_S:
            return True
        try:
            connection.execute(sql.PING)
            return True
        except psycopg.Error:
            return False

    def _discard(self, exc_info: Any) -> None:
        """Close the broken connection, handing the error to ``PostgresResource.connect`` (which re-raises it)."""
        scope, self._scope, self._connection = self._scope, None, None
        if scope is not None:
            scope.__exit__(*exc_info)


def _reusable(connection: psycopg.Connection) -> bool:
    """Open, and not inside a statement that an interrupt left unfinished."""
    return (not connection.closed and not connection.broken
            and connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE)
