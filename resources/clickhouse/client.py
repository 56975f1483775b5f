"""Connections to ClickHouse: a server over HTTP(S) (``url``) or the embedded chdb engine (``chdb_path``).

chdb hosts one engine per process and holds its data path while any client is open, so with chdb every operation
opens its own client and closes it when done (or, inside ``session()``, the first operation opens one that the
session's later operations share until it ends, as a load does): the path is free again for the next test, the
next path, or another process (a Dagster step, the CLI) as soon as an operation or session ends. A server's HTTP
client is kept for the resource's lifetime. Errors name the endpoint and the action, never the password.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import quote as url_quote
from urllib.parse import urlparse

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.binding import bind_query
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError, OperationalError
from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from resources.clickhouse.batches import batches_of
from resources.protocol import SourceUnavailableError

DEFAULT_BLOCK_ROWS = 65_536


class ClickHouseQueryError(RuntimeError):
    """ClickHouse answered with an error (bad SQL, missing table, type mismatch): retrying will not help."""


class ClickHouseConnection(ConfigurableResource):
    """Where a ClickHouse is and how to reach it; :class:`~resources.clickhouse.ClickHouseResource` adds the
    source and destination operations."""

    url: str | None = Field(default=None, description="http(s)://host:port of a ClickHouse server")
    chdb_path: str | None = Field(default=None, description="Data directory of the embedded chdb engine")
    database: str = "default"
    user: str = "default"
    password: str = ""
    verify_tls: bool = True
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    cluster: str | None = Field(default=None, description="Run DDL ON CLUSTER this cluster (replicated tables)")
    connect_timeout_s: int = 10
    send_receive_timeout_s: int = 300
    source_name: str = ""
    compress: bool = Field(default=True, description="Compress HTTP traffic (lz4/zstd); off for plain proxies")

    dialect: ClassVar[str] = "clickhouse"
    _http_client: Client | None = PrivateAttr(default=None)
    _handed_out: weakref.WeakSet = PrivateAttr(default_factory=weakref.WeakSet)
    _in_session: bool = PrivateAttr(default=False)
    _held_chdb_client: Client | None = PrivateAttr(default=None)

    # ---- connections -------------------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """Where this resource points, for messages (never with credentials)."""
        if self.chdb_path:
            return f"chdb:{self.chdb_path}"
        parsed = urlparse(self.url or "")
        return f"{parsed.scheme}://{parsed.hostname}:{parsed.port or self._default_port(parsed.scheme)}"

    def http_client_arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``clickhouse_connect.get_client`` for a server (TLS, timeouts, credentials)."""
        parsed = urlparse(self.url or "")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"ClickHouse url must look like http(s)://host:port, got {self.endpoint!r}")
        secure = parsed.scheme == "https"
        arguments: dict[str, Any] = {
            "host": parsed.hostname, "port": parsed.port or self._default_port(parsed.scheme),
            "interface": parsed.scheme, "secure": secure, "username": self.user, "password": self.password,
            "connect_timeout": self.connect_timeout_s, "send_receive_timeout": self.send_receive_timeout_s,
            "autogenerate_session_id": False, "client_name": "aietl", "compress": self.compress,
        }
        if secure:
            arguments["verify"] = self.verify_tls
            for key, value in (("ca_cert", self.ca_cert), ("client_cert", self.client_cert),
                               ("client_cert_key", self.client_key)):
                if value:
                    arguments[key] = value
        return arguments

    @staticmethod
    def _default_port(scheme: str) -> int:
        return 8443 if scheme == "https" else 8123

    def client(self) -> Client:
        """A new clickhouse-connect client. Close it when done (``with resource.client() as client:``) or call
        ``close()``, which closes every client this resource handed out: an open chdb client keeps the engine's
        data path locked against other processes."""
        if bool(self.url) == bool(self.chdb_path):
            raise ValueError("ClickHouseResource needs exactly one of url (a server) or chdb_path (embedded chdb)")
        if self.chdb_path:
            path = Path(self.chdb_path).expanduser().resolve()
            path.mkdir(parents=True, exist_ok=True)
            client = clickhouse_connect.get_client(dsn=f"chdb://{url_quote(str(path))}")
        else:
            client = clickhouse_connect.get_client(**self.http_client_arguments())
        self._handed_out.add(client)
        return client

    def close(self) -> None:
        """Close every client this resource opened (safe to call more than once)."""
        for client in list(self._handed_out):
            client.close()
        self._handed_out.clear()
        self._http_client = self._held_chdb_client = None

    @contextmanager
    def _session(self, action: str) -> Iterator[Client]:
        """A client for one operation; connection failures become SourceUnavailableError, server errors
        ClickHouseQueryError, both naming the endpoint and the action (never the password).

        A server's HTTP client is kept and shared (it is thread-safe without a session id and pools its
        connections); a chdb client is closed after the operation (after the ``session()`` when inside one) so that
        the engine releases its data path."""
        if self.url:
            client = self._connect(action, self._shared_http_client)
        elif self._held_chdb_client is not None:
            client = self._held_chdb_client
        else:
            client = self._connect(action, self.client)
            if self._in_session:
                self._held_chdb_client = client
        keep_open = bool(self.url) or self._in_session
        try:
            yield client
        except OperationalError as error:
            self._forget_http_client()
            raise SourceUnavailableError(f"{self._who()}: {self.endpoint} stopped answering while trying to "
                                         f"{action}: {self._scrub(error)}") from None
        except DatabaseError as error:
            raise ClickHouseQueryError(f"{self._who()}: could not {action} on {self.endpoint}: "
                                       f"{self._scrub(error)}") from None
        finally:
            if not keep_open:
                client.close()

    @contextmanager
    def session(self) -> Iterator[Self]:
        """Operations inside share one chdb client, opened by the first of them and closed at the end of the
        outermost session (sessions nest), so a sequence of operations (a load's discover, read and writes) opens
        the engine once instead of per call, and the data path is free again when the session ends. A server's
        HTTP client is shared anyway."""
        if self.url or self._in_session:
            yield self
            return
        self._in_session = True
        try:
            yield self
        finally:
            self._in_session = False
            held, self._held_chdb_client = self._held_chdb_client, None
            if held is not None:  # None when close() ran inside the session
                held.close()
                self._handed_out.discard(held)

    def _connect(self, action: str, opener: Callable[[], Client]) -> Client:
        try:
            return opener()
        except ClickHouseError as error:
            raise SourceUnavailableError(f"{self._who()}: cannot connect to {self.endpoint} to {action}: "
                                         f"{self._scrub(error)}") from None

    def _shared_http_client(self) -> Client:
        if self._http_client is None:
            self._http_client = self.client()
        return self._http_client

    def _forget_http_client(self) -> None:
        if self._http_client is not None:
            self._http_client.close()
            self._http_client = None

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()

    def _who(self) -> str:
        return f"ClickHouse source {self.source_name!r}" if self.source_name else "ClickHouse"

    def _scrub(self, error: Exception) -> str:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return message.replace(self.password, "***") if self.password else message

    # ---- plain SQL ---------------------------------------------------------------------------------------------

    def query_arrow(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        with self._session("run a query") as client:
            return client.query_arrow(sql, parameters=params, use_strings=True)

    def query_elapsed(self, sql: str, params: dict[str, Any] | None = None) -> tuple[int, float | None]:
        """The row count of ``sql``'s result and the milliseconds the engine itself reports for the query (its
        summary: chdb's result statistics, a server's ``X-ClickHouse-Summary`` ``elapsed_ns``), without the client's
        transfer and conversion; None when the engine does not report it."""
        with self._session("run a query") as client:
            result = client.query(sql, parameters=params)
        elapsed_ns = (result.summary or {}).get("elapsed_ns")
        return result.row_count, int(elapsed_ns) / 1e6 if elapsed_ns else None

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        with self._session("run a statement") as client:
            client.command(sql, parameters=params)

    # ---- streaming reads ---------------------------------------------------------------------------------------

    def _blocks(self, client: Client, sql: str, parameters: dict[str, Any] | None) -> Iterator[pa.RecordBatch]:
        """The result of ``sql`` as Arrow batches, streamed block by block."""
        if self.chdb_path:
            return self._chdb_blocks(sql, parameters)
        return self._http_blocks(client, sql, parameters)

    @staticmethod
    def _http_blocks(client: Client, sql: str, parameters: dict[str, Any] | None) -> Iterator[pa.RecordBatch]:
        with client.query_arrow_stream(sql, parameters=parameters, use_strings=True,
                                       settings={"max_block_size": DEFAULT_BLOCK_ROWS}) as stream:
            for block in stream:
                yield from batches_of(block)

    def _chdb_blocks(self, sql: str, parameters: dict[str, Any] | None) -> Iterator[pa.RecordBatch]:
        """Stream from the embedded engine block by block through chdb's own streaming query: clickhouse-connect's
        chdb backend would first collect a whole Arrow result in memory."""
        import chdb
        from chdb import ChdbError

        bound_sql, bound = bind_query(sql, parameters)
        settings = f" SETTINGS max_block_size = {DEFAULT_BLOCK_ROWS}, output_format_arrow_string_as_string = 1"
        connection = chdb.connect(str(Path(self.chdb_path or "").expanduser().resolve()))
        try:
            stream = connection.send_query(str(bound_sql) + settings, "Arrow",
                                           params={key.removeprefix("param_"): value for key, value in bound.items()})
            try:
                for chunk in stream:
                    payload = chunk.bytes()
                    if payload:
                        yield from pa.ipc.open_file(payload).read_all().to_batches()
            finally:
                stream.close()
        except ChdbError as error:
            raise ClickHouseQueryError(f"{self._who()}: could not read from {self.endpoint}: "
                                       f"{self._scrub(error)}") from None
        finally:
            connection.close()
