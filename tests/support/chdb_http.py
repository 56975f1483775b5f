"""An HTTP front over the chdb engine: an emulator of a ClickHouse server's HTTP interface, not a ClickHouse server.

It speaks just enough of that interface for clickhouse-connect and unmodified dbt-clickhouse; nothing else of a
server is there (no native protocol, users and grants, clusters or replication).

No modern ClickHouse server can be installed on the test machines, but chdb is the same engine in-process. This
front runs it in its own process (chdb allows one data path per process) and answers ClickHouse HTTP requests:
``GET /ping``, queries from the ``query`` parameter and/or the request body, ``INSERT ... FORMAT X`` with the
data in the body, ``param_*`` query parameters, ``database`` and per-request settings (applied with ``SET``).
Requests are served one at a time: the engine session is shared.

Run: ``python -m tests.support.chdb_http --path DATA_DIR --port PORT``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import threading
import uuid
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import chdb.session

NOT_SETTINGS = frozenset({
    "query", "database", "default_format", "session_id", "session_timeout", "session_check", "query_id", "user",
    "password", "compress", "decompress", "wait_end_of_query", "send_progress_in_http_headers",
    "http_headers_progress_interval_ms", "enable_http_compression", "client_protocol_version", "buffer_size",
    "quota_key", "role", "stacktrace", "close_session",
})
FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+([A-Za-z][A-Za-z0-9]*)\s*;?\s*$", re.IGNORECASE)
INSERT_WITH_DATA = re.compile(r"^\s*INSERT\s+INTO\s+(?P<target>.+?)\s+FORMAT\s+(?P<format>\w+)\s*$",
                              re.IGNORECASE | re.DOTALL)
EXCEPTION_CODE = re.compile(r"Code: (\d+)")
VERSION = "26.9.0"


class Engine:
    """The chdb session and the per-request work: settings, database, query or insert."""

    def __init__(self, path: str):
        self.session = chdb.session.Session(path)
        self.lock = threading.Lock()
        self.applied_settings: dict[str, str] = {}

    def run(self, params: dict[str, str], body: bytes) -> tuple[bytes, str, dict[str, Any]]:
        with self.lock:
            self._apply_settings(params)
            self._use_database(params.get("database", "default"))
            query, data = self._split(params, body)
            insert = INSERT_WITH_DATA.match(query)
            if insert and data:
                written = self._insert(insert.group("target"), insert.group("format"), data)
                return b"", "", {"written_rows": written}
            return self._query(query, params)

    def _split(self, params: dict[str, str], body: bytes) -> tuple[str, bytes]:
        """ClickHouse joins the ``query`` parameter and the body, unless the query is an INSERT taking the body."""
        if "query" not in params:
            return body.decode("utf-8"), b""
        query = params["query"]
        if INSERT_WITH_DATA.match(query):
            return query, body
        return (f"{query}\n{body.decode('utf-8')}" if body else query), b""

    def _query(self, query: str, params: dict[str, str]) -> tuple[bytes, str, dict[str, Any]]:
        explicit = FORMAT_CLAUSE.search(query)
        output_format = explicit.group(1) if explicit else params.get("default_format", "TabSeparated")
        if explicit:
            query = query[: explicit.start()]
        query_params = {key[6:]: value for key, value in params.items() if key.startswith("param_")}
        result = self.session.query(query, output_format, params=query_params or None)
        summary = {"read_rows": _number(result, "rows_read"), "read_bytes": _number(result, "bytes_read")}
        return result.bytes(), output_format, summary

    def _insert(self, target: str, input_format: str, data: bytes) -> int:
        with self.session.send_insert(f"INSERT INTO {target}", input_format) as inserter:
            inserter.append(data)
            result = inserter.finish()
        return int(getattr(result, "rows_written", 0) or 0)

    def _apply_settings(self, params: dict[str, str]) -> None:
        wanted = {key: value for key, value in params.items()
                  if key not in NOT_SETTINGS and not key.startswith("param_")}
        for key, value in wanted.items():
            if self.applied_settings.get(key) == value:
                continue
            literal = value if re.fullmatch(r"-?\d+(\.\d+)?", value) else "'" + value.replace("'", "\\'") + "'"
            try:
                self.session.query(f"SET {key} = {literal}")
                self.applied_settings[key] = value
            except Exception:  # noqa: BLE001 - an unknown setting must not fail the request, as on a server
                self.applied_settings[key] = value

    def _use_database(self, database: str) -> None:
        try:
            self.session.query(f"USE `{database}`")
        except Exception:  # noqa: BLE001 - a missing database surfaces in the query that needs it
            pass


class Handler(BaseHTTPRequestHandler):
    engine: Engine
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        if url.path in ("/ping", "/"):
            if "query" not in dict(parse_qsl(url.query)):
                self._reply(HTTPStatus.OK, b"Ok.\n", {})
                return
        self._handle(b"")

    def do_POST(self) -> None:  # noqa: N802
        self._handle(self._body())

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else self._chunked()
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        if encoding:
            raise ValueError(f"Content-Encoding {encoding} is not supported by this test front")
        return body

    def _chunked(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() != "chunked":
            return b""
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _handle(self, body: bytes) -> None:
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        query_id = params.get("query_id") or str(uuid.uuid4())
        try:
            payload, output_format, summary = self.engine.run(params, body)
        except Exception as error:  # noqa: BLE001 - every engine error becomes a ClickHouse-style HTTP error
            message = str(error)
            code = EXCEPTION_CODE.search(message)
            if not code:
                message = f"Code: 1000. DB::Exception: {message}"
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"{message} (version {VERSION})\n".encode(),
                        {"X-ClickHouse-Exception-Code": code.group(1) if code else "1000",
                         "X-ClickHouse-Query-Id": query_id})
            return
        headers = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Summary": json.dumps(
            {key: str(value) for key, value in summary.items()})}
        if output_format:
            headers["X-ClickHouse-Format"] = output_format
        self._reply(HTTPStatus.OK, payload, headers)

    def _reply(self, status: HTTPStatus, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb-http")
        self.send_header("X-ClickHouse-Timezone", "UTC")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request logging
        return


def _number(result: Any, attribute: str) -> int:
    value = getattr(result, attribute, 0)
    return int(value() if callable(value) else value or 0)


def serve(path: str, port: int, host: str = "127.0.0.1") -> None:
    Handler.engine = Engine(path)
    server = ThreadingHTTPServer((host, port), Handler)
    print(f"chdb http front listening on http://{host}:{port}", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, help="chdb data directory (one process per path)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    arguments = parser.parse_args()
    serve(arguments.path, arguments.port, arguments.host)


if __name__ == "__main__":
    main()
