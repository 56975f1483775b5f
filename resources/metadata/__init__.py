"""The platform's own metadata in PostgreSQL (schema ``aietl_meta``): ingestion log, schema history, sync conflicts,
watermarks, profile history, check results and the embedding index, with the views summarising them.

``resource.py`` holds the resource, ``sql.py`` every statement, ``migrations.py`` the runner of the versioned SQL
files in ``resources/migrations``, ``connection.py`` the connection shared within a session, run or tick.
"""

from resources.metadata.migrations import MIGRATIONS_DIR, apply_migrations, migration_files
from resources.metadata.resource import MetadataResource

__all__ = ["MIGRATIONS_DIR", "MetadataResource", "apply_migrations", "migration_files"]
