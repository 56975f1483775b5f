"""The PostgreSQL connector: a source (discovery, COPY streaming) and a destination (binary COPY via pgpq)."""

from resources.postgres.resource import PostgresResource
from resources.postgres.types import POSTGRES_TYPES_MAPPER, SchemaConflictError, ddl_type, logical_type

__all__ = ["POSTGRES_TYPES_MAPPER", "PostgresResource", "SchemaConflictError", "ddl_type", "logical_type"]
