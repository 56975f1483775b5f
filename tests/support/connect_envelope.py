"""Debezium change events as Kafka Connect's JsonConverter writes them with ``schemas.enable=true``: a schema
envelope around the payload, with Debezium's semantic type names and JsonConverter's value encodings (base64 bytes
and decimals, epoch integers for dates and timestamps)."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

ORDERS_FIELDS = [
    {"type": "int64", "optional": False, "field": "id"},
    {"type": "int16", "optional": True, "field": "qty"},
    {"type": "int32", "optional": True, "field": "units"},
    {"type": "float", "optional": True, "field": "ratio"},
    {"type": "double", "optional": True, "field": "score"},
    {"type": "boolean", "optional": True, "field": "paid"},
    {"type": "string", "optional": True, "field": "status"},
    {"type": "bytes", "optional": True, "field": "raw"},
    {"type": "int32", "optional": True, "name": "io.debezium.time.Date", "version": 1, "field": "day"},
    {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp", "version": 1, "field": "at"},
    {"type": "string", "optional": True, "name": "io.debezium.time.ZonedTimestamp", "version": 1, "field": "at_tz"},
    {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTime", "version": 1, "field": "clock"},
    {"type": "bytes", "optional": True, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
     "parameters": {"scale": "3", "connect.decimal.precision": "12"}, "field": "amount"},
    {"type": "string", "optional": True, "name": "io.debezium.data.Json", "version": 1, "field": "doc"},
    {"type": "string", "optional": True, "name": "io.debezium.data.Uuid", "version": 1, "field": "ident"},
]


def decimal_bytes(value: str, scale: int) -> str:
    """A decimal as JsonConverter sends it by default: base64 of the unscaled big-endian two's complement."""
    unscaled = int(Decimal(value).scaleb(scale))
    return base64.b64encode(unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)).decode()


def envelope(op: str, after: dict[str, Any] | None, lsn: int, fields: list[dict] = ORDERS_FIELDS,
             table: str = "orders") -> bytes:
    row = {"type": "struct", "fields": fields, "optional": True, "name": f"erp.public.{table}.Value"}
    schema = {"type": "struct", "optional": False, "name": f"erp.public.{table}.Envelope", "fields": [
        {**row, "field": "before"}, {**row, "field": "after"},
        {"type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.Source", "field": "source",
         "fields": [{"type": "string", "optional": False, "field": "table"},
                    {"type": "int64", "optional": True, "field": "lsn"}]},
        {"type": "string", "optional": False, "field": "op"},
        {"type": "int64", "optional": True, "field": "ts_ms"}]}
    payload = {"before": None, "after": after, "op": op, "ts_ms": 1_700_000_000_000,
               "source": {"table": table, "lsn": lsn}}
    return json.dumps({"schema": schema, "payload": payload}).encode()


def key_envelope(row_id: int) -> bytes:
    schema = {"type": "struct", "optional": False, "name": "erp.public.orders.Key",
              "fields": [{"type": "int64", "optional": False, "field": "id"}]}
    return json.dumps({"schema": schema, "payload": {"id": row_id}}).encode()


ORDER_ONE = {"id": 1, "qty": 3, "units": 70000, "ratio": 0.5, "score": 0.125, "paid": True, "status": "new",
             "raw": base64.b64encode(b"\x00\xff\x10").decode(), "day": 20513, "at": 1_772_359_872_345_678,
             "at_tz": "2026-03-01T08:11:12.5Z", "clock": 86_398_250_000,
             "amount": decimal_bytes("-12345.678", 3), "doc": '{"a": [1, 2], "b": null}',
             "ident": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}
"""2026-03-01 (day 20513), 2026-03-01 10:11:12.345678, 23:59:58.25, -12345.678."""
