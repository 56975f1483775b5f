"""Kafka clients (consumer, producer, admin) built with the cluster's security settings and timeouts.

Every client has request, connection and bootstrap timeouts; a client that cannot be built raises
SourceUnavailableError naming the cluster.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

from resources.protocol import SourceUnavailableError, redact

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.errors import KafkaError


class KafkaSettings(Protocol):
    """What connecting needs (the fields of KafkaResource)."""

    bootstrap_servers: str
    security_protocol: str
    sasl_mechanism: str | None
    sasl_username: str | None
    sasl_password: str | None
    ssl_cafile: str | None
    ssl_certfile: str | None
    ssl_keyfile: str | None
    request_timeout_ms: int

    @property
    def label(self) -> str: ...


def connection_config(settings: KafkaSettings) -> dict[str, Any]:
    """Settings shared by consumers, producers and admin clients (security and timeouts)."""
    check_security(settings)
    config: dict[str, Any] = {
        "bootstrap_servers": [server.strip() for server in settings.bootstrap_servers.split(",") if server.strip()],
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": settings.request_timeout_ms,
        "bootstrap_timeout_ms": min(settings.request_timeout_ms, 10_000),
        "connections_max_idle_ms": max(settings.request_timeout_ms + 10_000, 60_000),
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        config.update(ssl_cafile=settings.ssl_cafile, ssl_certfile=settings.ssl_certfile,
                      ssl_keyfile=settings.ssl_keyfile)
    if settings.security_protocol.startswith("SASL"):
        config.update(sasl_mechanism=settings.sasl_mechanism, sasl_plain_username=settings.sasl_username,
                      sasl_plain_password=settings.sasl_password)
    return config


def check_security(settings: KafkaSettings) -> None:
    """Refuse incomplete SASL or client-certificate settings (naming what is missing, never a secret)."""
    if settings.security_protocol.startswith("SASL"):
        missing = [name for name in ("sasl_mechanism", "sasl_username", "sasl_password")
                   if not getattr(settings, name)]
        if missing:
            raise ValueError(f"{settings.label}: security_protocol {settings.security_protocol} needs "
                             f"{', '.join(missing)}")
    if bool(settings.ssl_certfile) != bool(settings.ssl_keyfile):
        raise ValueError(f"{settings.label}: give both ssl_certfile and ssl_keyfile for client certificates, "
                         f"or neither")


def consumer(settings: KafkaSettings, **overrides: Any) -> KafkaConsumer:
    """A consumer outside any group, auto-commit off; ``overrides`` are kafka-python consumer settings."""
    config = {"group_id": None, "enable_auto_commit": False, "auto_offset_reset": "earliest",
              **connection_config(settings), **overrides}
    return _connect(settings, KafkaConsumer, config)


def producer(settings: KafkaSettings, **overrides: Any) -> KafkaProducer:
    config = {"acks": "all", "max_block_ms": settings.request_timeout_ms, **connection_config(settings),
              **overrides}
    return _connect(settings, KafkaProducer, config)


def admin(settings: KafkaSettings) -> KafkaAdminClient:
    return _connect(settings, KafkaAdminClient, connection_config(settings))


def _connect(settings: KafkaSettings, client_class: type, config: dict[str, Any]) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return client_class(**config)
    except KafkaError as error:
        reason = redact(f"{type(error).__name__}: {error}", settings.sasl_password or "")
        raise SourceUnavailableError(f"{settings.label}: cannot connect: {reason}") from None
